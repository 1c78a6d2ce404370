"""The program dashboard on a seeded hub (real SQLite and PostgreSQL).

Every expected figure is counted in the test from the seeded rows by direct
SQL, never by the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import distinct, func, select

from hub.conftest import World
from medhaven.hub.models import (
    AccessRequest,
    AuditEntry,
    Course,
    CourseMember,
    Dataset,
    Grant,
    Job,
    OrgKind,
    ProgramTarget,
    Project,
    Role,
    User,
)
from medhaven.hub.services import courses, identity
from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

V1 = "/api/v1"
NOW = dt.datetime.now(dt.UTC)


def _principal(w: World, key: str) -> Principal:
    with w.db.unit() as s:
        user = s.get(User, w.users[key])
        assert user is not None
        return Principal(user.id, identity.roles_of(user), "cli")


def _students(w: World, org: str, prefix: str, n: int) -> list[str]:
    emails = []
    with w.db.unit() as s:
        for i in range(n):
            email = f"{prefix}{i}@example.org"
            identity.create_user(s, email=email, password="correct horse battery staple",
                                 name=f"{prefix}{i}", org_id=w.orgs[org], role=Role.STUDENT,
                                 actor=SYSTEM_ACTOR)  # fmt: skip
            emails.append(email)
    return emails


def _course(w: World, instructor: str, code: str, year: int, emails: list[str], done: int) -> int:
    me = _principal(w, instructor)
    with w.db.unit() as s:
        course = courses.seed_course(s, instructor=me, student_emails=emails, code=code,
                                     term=f"{year}-1", year=year)  # fmt: skip
        members = s.execute(
            select(CourseMember).where(CourseMember.course_id == course.id,
                                       CourseMember.role == "student").order_by(CourseMember.id)
        ).scalars().all()  # fmt: skip
        for m in members[:done]:
            m.completed_at = NOW
        return course.id


def _job(w: World, project_id: int, dataset_ids: list[int], kind: str, status: str,
         when: dt.datetime, nodes: dict[str, str]) -> None:  # fmt: skip
    with w.db.unit() as s:
        s.add(Job(uid=uuid.uuid4().hex, project_id=project_id, grant_ids=[], kind=kind,
                  parameters={}, dataset_ids=dataset_ids, targets=list(nodes), status=status,
                  reason=None, node_status={n: {"status": v, "reason": None} for n, v in nodes.items()},
                  result=None, signed_job="{}", expires_at=when + dt.timedelta(days=1),
                  submitted_by=w.users["researcher"], created_at=when, updated_at=when))  # fmt: skip


def _seed(w: World) -> dict[str, Any]:
    """Two universities: U (7 students in 2026, 3 completed), V (3 students, 1 completed)."""
    with w.db.unit() as s:
        w.orgs["University V"] = identity.create_org(
            s, name="University V", kind=OrgKind.UNIVERSITY, actor=SYSTEM_ACTOR).id  # fmt: skip
    w.add_user("instructor_v", org="University V", role=Role.INSTRUCTOR)
    u = _students(w, "University U", "su", 7)
    v = _students(w, "University V", "sv", 3)
    cu = _course(w, "instructor", "MAI101", 2026, u, done=3)
    _course(w, "instructor_v", "MAI102", 2026, v, done=1)
    _course(w, "instructor", "MAI201", 2025, u[:6], done=6)
    with w.db.unit() as s:
        s.add(ProgramTarget(year=2026, org_id=None, trainees=40))
        s.add(ProgramTarget(year=2026, org_id=w.orgs["University U"], trainees=20))
        course = s.get(Course, cu)
        assert course is not None
        project_id = course.project_id
        ds = Dataset(org_id=w.orgs["Hospital A"], name="Teaching cohort", cdm_version="5.4",
                     domains="|condition|", period_start=None, period_end=None, person_count=100,
                     person_count_marker=None, characterization={}, quality_summary={},
                     published_by=w.users["custodian"], created_at=NOW, teaching=True)  # fmt: skip
        s.add(ds)
        s.flush()
        req = AccessRequest(project_id=project_id, org_id=w.orgs["University U"],
                            requested_by=w.users["instructor"], justification="teach",
                            status="approved", required_approvals=1, created_at=NOW)  # fmt: skip
        s.add(req)
        s.flush()
        s.add(Grant(project_id=project_id, dataset_id=ds.id, request_id=req.id, granted_at=NOW,
                    expires_at=NOW + dt.timedelta(days=90)))  # fmt: skip
        s.add(Grant(project_id=project_id, dataset_id=ds.id, request_id=req.id, granted_at=NOW,
                    expires_at=NOW + dt.timedelta(days=90), revoked_at=NOW))  # fmt: skip
        dataset_id = ds.id
    jan, feb = dt.datetime(2026, 1, 10, tzinfo=dt.UTC), dt.datetime(2026, 2, 3, tzinfo=dt.UTC)
    _job(w, project_id, [dataset_id], "cohort_count", "completed", jan, {"north": "released"})
    _job(w, project_id, [dataset_id], "cohort_count", "completed", jan, {"north": "released"})
    _job(w, project_id, [dataset_id], "train", "failed", feb,
         {"north": "failed", "south": "released"})  # fmt: skip
    _job(w, project_id, [dataset_id], "train", "completed", dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
         {"south": "released"})  # fmt: skip
    return {"project_id": project_id, "dataset_id": dataset_id}


def _dash(c: TestClient, w: World, year: int | None = None, who: str = "officer") -> Any:
    r = c.get(f"{V1}/program/dashboard", params={} if year is None else {"year": year},
              headers=w.auth(who))  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def _rows(out: Any, table: str) -> list[dict[str, Any]]:
    t = out["tables"][table]
    return [dict(zip(t["columns"], r, strict=True)) for r in t["rows"]]


def test_figures_equal_direct_counts(client: TestClient, world: World) -> None:
    seeded = _seed(world)
    out = _dash(client, world, 2026)
    with world.db.unit(readonly=True) as s:

        def students(org: str, completed: bool) -> int:
            q = (select(func.count(distinct(CourseMember.user_id)))
                 .join(Course, Course.id == CourseMember.course_id)
                 .where(Course.year == 2026, Course.org_id == world.orgs[org],
                        CourseMember.role == "student"))  # fmt: skip
            if completed:
                q = q.where(CourseMember.completed_at.is_not(None))
            return int(s.execute(q).scalar_one())

        u_enrolled, u_done = students("University U", False), students("University U", True)
        projects_by_type = dict(
            s.execute(
                select(Project.type, func.count())
                .where(
                    Project.start_date <= dt.date(2026, 12, 31),
                    Project.end_date >= dt.date(2026, 1, 1),
                )
                .group_by(Project.type)
            ).all()
        )
        jobs_2026 = s.execute(select(Job).where(Job.created_at >= dt.datetime(2026, 1, 1,
                              tzinfo=dt.UTC))).scalars().all()  # fmt: skip
        active_grants = s.execute(select(func.count()).select_from(Grant).where(
            Grant.revoked_at.is_(None))).scalar_one()  # fmt: skip
    rows = {r["university"]: r for r in _rows(out, "trainees")}
    assert (u_enrolled, u_done) == (7, 3)  # the seed itself
    assert rows["University U"]["enrolled"] == u_enrolled
    assert rows["University U"]["target"] == 20
    assert rows["University U"]["enrolled_pct"] == round(100 * u_enrolled / 20, 1)
    assert rows["total"]["target"] == 40
    assert {r["year"] for r in _rows(out, "trainees")} == {2026}
    # projects running in 2026: every course project is an education project at a university
    proj = {r["org_kind"]: r for r in _rows(out, "projects")}
    assert proj["university"]["education"] == projects_by_type["education"]
    assert proj["total"]["total"] == sum(projects_by_type.values())
    # datasets in use: the active grant only, and the 2026 jobs on it
    (d,) = _rows(out, "datasets")
    assert d["dataset_id"] == seeded["dataset_id"]
    assert d["active_grants"] == active_grants == 1
    assert d["jobs"] == len(jobs_2026) == 3
    jobs = {(r["month"], r["kind"], r["status"]): r["jobs"] for r in _rows(out, "jobs")}
    assert jobs == {("2026-01", "cohort_count", "completed"): 2, ("2026-02", "train", "failed"): 1}
    nodes = {(r["node"], r["outcome"]): r["jobs"] for r in _rows(out, "nodes")}
    assert nodes == {("north", "released"): 2, ("north", "failed"): 1, ("south", "released"): 1}
    # without a year: 2025 appears too, and its job
    every = _dash(client, world)
    assert {r["year"] for r in _rows(every, "trainees")} == {2025, 2026}
    assert sum(r["jobs"] for r in _rows(every, "nodes")) == 5


def test_small_cells_and_the_complementary_total_are_suppressed(
    client: TestClient, world: World
) -> None:
    _seed(world)
    out = _dash(client, world, 2026)
    rows = {r["university"]: r for r in _rows(out, "trainees")}
    # V: 3 enrolled, 1 completed: below 5, hidden; U completed 3: hidden
    assert rows["University V"]["enrolled"] == "<5"
    assert rows["University V"]["completed"] == "<5"
    assert rows["University U"]["completed"] == "<5"
    assert rows["University V"]["enrolled_pct"] is None
    # U enrolled 7: shown as it is; the total (10) would give V's 3 away: hidden
    assert rows["University U"]["enrolled"] == 7
    assert rows["total"]["enrolled"] == "hidden"
    assert rows["total"]["enrolled_pct"] is None
    assert rows["total"]["completed"] == "<5"  # 4: small itself
    # 2025: one university with 6 enrolled, 6 completed: shown, and the total too
    r2025 = {r["university"]: r for r in _rows(_dash(client, world, 2025), "trainees")}
    assert r2025["University U"]["enrolled"] == 6
    assert r2025["total"]["completed"] == 6
    # the raw small numbers appear nowhere in the payload's trainee cells
    for r in _rows(out, "trainees"):
        assert r["enrolled"] not in (1, 2, 3, 4) and r["completed"] not in (1, 2, 3, 4)


def test_single_small_university_hides_its_total(client: TestClient, world: World) -> None:
    emails = _students(world, "University U", "solo", 3)
    _course(world, "instructor", "SOLO1", 2027, emails, done=0)
    out = _dash(client, world, 2027)
    rows = {r["university"]: r for r in _rows(out, "trainees")}
    assert rows["University U"]["enrolled"] == "<5"
    assert rows["total"]["enrolled"] == "<5"  # the total equals the only cell
    assert rows["total"]["completed"] == 0  # zero is not a small cell


def test_csv_export_matches_the_tables(client: TestClient, world: World) -> None:
    _seed(world)
    out = _dash(client, world, 2026)
    for name in ("trainees", "projects", "datasets", "jobs", "nodes"):
        r = client.get(f"{V1}/program/tables/{name}.csv", params={"year": 2026},
                       headers=world.auth("admin"))  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        assert f"program-{name}-2026.csv" in r.headers["content-disposition"]
        got = list(csv.reader(io.StringIO(r.text)))
        table = out["tables"][name]
        assert got[0] == table["columns"]
        assert got[1:] == [["" if v is None else str(v) for v in row] for row in table["rows"]]
    text = client.get(f"{V1}/program/tables/trainees.csv", params={"year": 2026},
                      headers=world.auth("officer")).text  # fmt: skip
    assert "University V,<5,<5" in text
    assert client.get(f"{V1}/program/tables/secrets.csv",
                      headers=world.auth("officer")).status_code == 400  # fmt: skip


def test_permissions_and_audited_targets(client: TestClient, world: World) -> None:
    for who in ("researcher", "instructor", "student", "custodian", "reviewer"):
        assert client.get(f"{V1}/program/dashboard", headers=world.auth(who)).status_code == 403
        r = client.post(f"{V1}/program/targets", json={"year": 2026, "trainees": 5},
                        headers=world.auth(who))  # fmt: skip
        assert r.status_code == 403
    assert client.get(f"{V1}/program/dashboard").status_code == 401
    r = client.post(f"{V1}/program/targets", json={"year": 2026, "trainees": 30},
                    headers=world.auth("officer"))  # fmt: skip
    assert r.status_code == 201, r.text
    r = client.post(f"{V1}/program/targets", json={"year": 2026, "trainees": 35},
                    headers=world.auth("admin"))  # fmt: skip
    assert r.status_code == 201
    r = client.post(f"{V1}/program/targets",
                    json={"year": 2026, "trainees": 9, "org_id": world.orgs["University U"]},
                    headers=world.auth("officer"))  # fmt: skip
    assert r.status_code == 201
    bad = client.post(f"{V1}/program/targets",
                      json={"year": 2026, "trainees": 9, "org_id": world.orgs["Hospital A"]},
                      headers=world.auth("officer"))  # fmt: skip
    assert bad.status_code == 400 and "not a university" in bad.json()["error"]["message"]
    assert client.post(f"{V1}/program/targets", json={"year": 1999, "trainees": 1},
                       headers=world.auth("officer")).status_code == 400  # fmt: skip
    with world.db.unit(readonly=True) as s:
        targets = {(t.org_id, t.trainees) for t in s.execute(select(ProgramTarget)).scalars()}
        actions = s.execute(select(AuditEntry.action).where(
            AuditEntry.action == "program.target")).scalars().all()  # fmt: skip
    assert targets == {(None, 35), (world.orgs["University U"], 9)}
    assert len(actions) == 3
    rows = {r["university"]: r for r in _rows(_dash(client, world, 2026, "admin"), "trainees")}
    assert rows["total"]["target"] == 35 and rows["University U"]["target"] == 9
