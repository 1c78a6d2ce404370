"""Courses and labs over the REST API (real SQLite and PostgreSQL hubs).

Jobs are stored the way the hub stores them (``jobs.record_result`` of a dispatcher's
document made of the nodes' released replies), so the checks read what the hub really keeps.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World, dataset_body
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Job, Role
from medhaven.hub.services import jobs

V1 = "/api/v1"
QUIZ = {
    "questions": [
        {"id": "q1", "text": "What does AUROC measure?", "choices": ["discrimination",
         "calibration"], "answer": "discrimination"},
        {"id": "q2", "text": "Is a model card optional?", "choices": ["yes", "no"],
         "answer": "no"},
    ]
}  # fmt: skip


@pytest.fixture
def cc(db: Database, tmp_path: Path) -> Iterator[TestClient]:
    """A hub with a data directory (the certificate secret lives there)."""
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=tmp_path / "keys")
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        yield c


def _later(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def _course(c: TestClient, w: World, **over: Any) -> dict[str, Any]:
    body = {"code": "MAI101", "title": "Medical AI 101", "term": "2026-2", "year": 2026, **over}
    r = c.post(f"{V1}/courses", json=body, headers=w.auth("instructor"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _enrol(c: TestClient, w: World, course_id: int, who: str, role: str = "student") -> None:
    r = c.post(f"{V1}/courses/{course_id}/members",
               json={"email": f"{who}@example.org", "role": role}, headers=w.auth("instructor"))  # fmt: skip
    assert r.status_code == 201, r.text


def _store_job(
    db: Database, project_id: int, user_id: int, kind: str, params: dict[str, Any],
    doc: dict[str, Any] | None,
) -> int:  # fmt: skip
    """A job of ``user_id`` in the project; ``doc``: its dispatcher document (None: running)."""
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        job = Job(uid=uuid.uuid4().hex, project_id=project_id, grant_ids=[], kind=kind,
                  parameters=params, dataset_ids=[], targets=["north", "south"], min_nodes=1,
                  status="running", node_status={}, result=None, signed_job="-",
                  expires_at=now + dt.timedelta(hours=1), submitted_by=user_id,
                  created_at=now, updated_at=now)  # fmt: skip
        s.add(job)
        s.flush()
        job_id = job.id
    if doc is not None:
        jobs.record_result(db, job_id, doc)
    return job_id


def _count_doc(north: int, south: int) -> dict[str, Any]:
    """What two nodes released for a cohort count (each count already disclosure-checked)."""
    return {"kind": "cohort_count", "status": "completed", "nodes": [
        {"node": "north", "status": "ok", "result": {"persons": {"value": north},
                                                     "records": {"value": 2 * north}}},
        {"node": "south", "status": "ok", "result": {"persons": {"value": south},
                                                     "records": {"value": 2 * south}}}]}  # fmt: skip


def _train_doc(north: float, south: float) -> dict[str, Any]:
    def node(name: str, auroc: float) -> dict[str, Any]:
        return {"node": name, "status": "ok",
                "result": {"evaluation": {"released": True, "metrics": {"auroc": auroc}}}}  # fmt: skip

    return {"kind": "train", "status": "completed",
            "nodes": [node("north", north), node("south", south)]}  # fmt: skip


def _characterize_doc(persons: int) -> dict[str, Any]:
    def node(name: str, value: int) -> dict[str, Any]:
        return {"node": name, "status": "ok", "result": {"kind": "cohort", "sections": [
            {"name": "persons", "title": "Persons", "type": "count", "value": value}]}}  # fmt: skip

    return {"kind": "characterize", "status": "completed",
            "nodes": [node("north", persons), node("south", 10)]}  # fmt: skip


def _attempt(c: TestClient, w: World, who: str, course: int, lab: int, **body: Any) -> Any:
    return c.post(f"{V1}/courses/{course}/labs/{lab}/attempts", json=body, headers=w.auth(who))


def _lab(c: TestClient, w: World, course: int, kind: str, check: dict[str, Any]) -> int:
    r = c.post(f"{V1}/courses/{course}/labs",
               json={"title": f"Lab {kind}", "kind": kind, "check": check,
                     "instructions": "Count the cohort."}, headers=w.auth("instructor"))  # fmt: skip
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def test_create_enrol_list_and_visibility(cc: TestClient, world: World, db: Database) -> None:
    course = _course(cc, world)
    assert course["my_role"] == "instructor"
    _enrol(cc, world, course["id"], "student")
    # the student became a member of the course's education project
    r = cc.get(f"{V1}/projects/{course['project_id']}", headers=world.auth("student"))
    assert r.status_code == 200 and r.json()["type"] == "education"
    mine = cc.get(f"{V1}/courses", headers=world.auth("student")).json()
    assert [c["id"] for c in mine["items"]] == [course["id"]]
    assert mine["items"][0]["my_role"] == "student"
    # outsiders do not see it; the program officer does
    assert (
        cc.get(f"{V1}/courses/{course['id']}", headers=world.auth("researcher")).status_code == 404
    )
    assert cc.get(f"{V1}/courses", headers=world.auth("researcher")).json()["total"] == 0
    assert cc.get(f"{V1}/courses/{course['id']}", headers=world.auth("officer")).status_code == 200
    # a student cannot enrol people; only instructors create courses
    r = cc.post(f"{V1}/courses/{course['id']}/members",
                json={"email": "researcher@example.org"}, headers=world.auth("student"))  # fmt: skip
    assert r.status_code == 403
    r = cc.post(f"{V1}/courses", json={"code": "X", "title": "X", "term": "1", "year": 2026},
                headers=world.auth("researcher"))  # fmt: skip
    assert r.status_code == 403
    # enrolling twice, an unknown email, someone without the student role
    r = cc.post(f"{V1}/courses/{course['id']}/members", json={"email": "student@example.org"},
                headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 409
    r = cc.post(f"{V1}/courses/{course['id']}/members", json={"email": "nobody@example.org"},
                headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 404
    r = cc.post(f"{V1}/courses/{course['id']}/members", json={"email": "custodian@example.org"},
                headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 400 and "student role" in r.json()["error"]["message"]
    # a teaching assistant enrols a student
    world.add_user("ta", org="University U", role=Role.RESEARCHER)
    world.add_user("student2", org="University U", role=Role.STUDENT)
    _enrol(cc, world, course["id"], "ta", "teaching_assistant")
    r = cc.post(f"{V1}/courses/{course['id']}/members", json={"email": "student2@example.org"},
                headers=world.auth("ta"))  # fmt: skip
    assert r.status_code == 201, r.text
    # a student sees the staff and themself, not the other students
    people = cc.get(f"{V1}/courses/{course['id']}/members", headers=world.auth("student")).json()[
        "items"
    ]
    assert sorted(p["role"] for p in people) == ["instructor", "student", "teaching_assistant"]
    with db.unit(readonly=True) as s:
        from sqlalchemy import select

        actions = list(s.execute(select(AuditEntry.action)).scalars())
    assert actions.count("course.enrol") == 3 and "course.create" in actions
    # duplicate code in the same term
    r = cc.post(f"{V1}/courses", json={"code": "MAI101", "title": "Again", "term": "2026-2",
                                       "year": 2026}, headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 409
    # closing stops enrolment
    assert (
        cc.post(f"{V1}/courses/{course['id']}/close", headers=world.auth("instructor")).status_code
        == 200
    )
    r = cc.post(f"{V1}/courses/{course['id']}/members", json={"email": "researcher@example.org"},
                headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 409


def test_teaching_datasets_through_the_access_review(cc: TestClient, world: World) -> None:
    course = _course(cc, world)
    org = world.orgs["Hospital A"]
    ids = {}
    for name, teaching in (("north", True), ("south", False)):
        r = cc.post(f"{V1}/datasets", json=dataset_body(org, name=name, teaching=teaching),
                    headers=world.auth("custodian"))  # fmt: skip
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    r = cc.post(f"{V1}/courses/{course['id']}/datasets",
                json={"dataset_ids": [ids["south"]], "justification": "teaching"},
                headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 400
    assert "not flagged for teaching" in r.json()["error"]["message"]
    r = cc.post(f"{V1}/courses/{course['id']}/datasets",
                json={"dataset_ids": [ids["north"]], "justification": "teaching"},
                headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["project_id"] == course["project_id"]
    assert cc.get(f"{V1}/courses/{course['id']}/datasets",
                  headers=world.auth("instructor")).json()["items"] == []  # fmt: skip
    r = cc.post(f"{V1}/requests/{r.json()['request_id']}/reviews",
                json={"decision": "approve", "expires_at": _later(30)},
                headers=world.auth("reviewer"))  # fmt: skip
    assert r.status_code == 201, r.text
    _enrol(cc, world, course["id"], "student")
    shown = cc.get(f"{V1}/courses/{course['id']}/datasets", headers=world.auth("student")).json()[
        "items"
    ]
    assert [(d["dataset_id"], d["name"]) for d in shown] == [(ids["north"], "north")]


def test_labs_checks_progress_and_certificate(cc: TestClient, world: World, db: Database) -> None:
    course = _course(cc, world)
    cid, pid = course["id"], course["project_id"]
    _enrol(cc, world, cid, "student")
    world.add_user("student2", org="University U", role=Role.STUDENT)
    _enrol(cc, world, cid, "student2")
    me, other = world.users["student"], world.users["student2"]
    ref = _store_job(db, pid, world.users["instructor"], "cohort_count", {}, _count_doc(120, 40))
    lab_count = _lab(cc, world, cid, "cohort_count", {"reference_job_id": ref})
    lab_train = _lab(cc, world, cid, "train", {"min_auroc": 0.7})
    lab_quiz = _lab(cc, world, cid, "model_card", QUIZ)
    # students never see the check, nor the quiz key
    seen = cc.get(f"{V1}/courses/{cid}/labs", headers=world.auth("student")).json()["items"]
    assert [lab["check"] for lab in seen] == [None, None, None]
    assert "answer" not in str(seen) and seen[2]["questions"][0]["choices"][0] == "discrimination"
    staff = cc.get(f"{V1}/courses/{cid}/labs", headers=world.auth("instructor")).json()["items"]
    assert staff[0]["check"] == {"reference_job_id": ref}
    # a bad check is refused, naming the field
    r = cc.post(f"{V1}/courses/{cid}/labs", json={"title": "t", "kind": "train",
                "check": {"min_auroc": 1.5}}, headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 400 and "check.min_auroc" in r.json()["error"]["message"]

    # cohort count: a different released count fails with the student's count only
    wrong = _store_job(db, pid, me, "cohort_count", {}, _count_doc(120, 45))
    r = _attempt(cc, world, "student", cid, lab_count, job_id=wrong)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "failed"
    assert r.json()["detail"] == "the released count 165 differs from the reference"
    # someone else's job, and a job of the wrong kind, are refused
    theirs = _store_job(db, pid, other, "cohort_count", {}, _count_doc(120, 40))
    assert _attempt(cc, world, "student", cid, lab_count, job_id=theirs).status_code == 403
    train_job = _store_job(db, pid, me, "train", {}, _train_doc(0.81, 0.64))
    assert _attempt(cc, world, "student", cid, lab_count, job_id=train_job).status_code == 400
    # the instructor cannot attempt
    assert _attempt(cc, world, "instructor", cid, lab_count, job_id=ref).status_code == 403
    # a running job is pending, then passes once its result is stored and it is looked at
    running = _store_job(db, pid, me, "cohort_count", {}, None)
    r = _attempt(cc, world, "student", cid, lab_count, job_id=running)
    assert r.json()["status"] == "pending"
    jobs.record_result(db, running, _count_doc(120, 40))
    got = cc.get(f"{V1}/courses/{cid}/labs/{lab_count}/attempts",
                 headers=world.auth("student")).json()["items"]  # fmt: skip
    assert [a["status"] for a in got] == ["failed", "passed"]
    assert got[-1]["detail"] == "the released count 160 matches the reference"

    # train: every node's released AUROC must reach the minimum
    r = _attempt(cc, world, "student", cid, lab_train, job_id=train_job)
    assert r.json()["status"] == "failed"
    assert r.json()["detail"] == "the released AUROC 0.640 at node south is below 0.700"
    good = _store_job(db, pid, me, "train", {}, _train_doc(0.81, 0.74))
    assert _attempt(cc, world, "student", cid, lab_train, job_id=good).json()["status"] == "passed"

    # certificate before completion: 409
    r = cc.get(f"{V1}/courses/{cid}/certificate", headers=world.auth("student"))
    assert r.status_code == 409
    # the quiz: a wrong answer, a choice that does not exist, then all right
    r = _attempt(cc, world, "student", cid, lab_quiz, answers={"q1": "calibration", "q2": "no"})
    assert (r.json()["status"], r.json()["detail"]) == ("failed", "1 of 2 answers are right")
    r = _attempt(cc, world, "student", cid, lab_quiz, answers={"q1": "maybe"})
    assert r.status_code == 400 and "answers.q1" in r.json()["error"]["message"]
    r = _attempt(cc, world, "student", cid, lab_quiz, answers={"q1": "discrimination", "q2": "no"})
    assert r.json()["status"] == "passed"

    # progress: the instructor sees both students, a student only themself
    prog = cc.get(f"{V1}/courses/{cid}/progress", headers=world.auth("instructor")).json()
    rows = {s["email"]: s for s in prog["students"]}
    assert rows["student@example.org"]["passed"] == 3
    assert rows["student@example.org"]["completed_at"] is not None
    assert rows["student2@example.org"]["passed"] == 0
    assert [p["attempts"] for p in rows["student@example.org"]["labs"]] == [
        2,
        2,
        2,
    ]  # a refused attempt leaves no row
    own = cc.get(f"{V1}/courses/{cid}/progress", headers=world.auth("student2")).json()
    assert [lab["check"] for lab in own["labs"]] == [None, None, None]
    assert [s["email"] for s in own["students"]] == ["student2@example.org"]
    text = cc.get(f"{V1}/courses/{cid}/progress.csv", headers=world.auth("instructor")).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 6
    mine = [t for t in table if t["email"] == "student@example.org"]
    assert [t["passed"] for t in mine] == ["yes", "yes", "yes"]
    assert mine[0]["lab_title"] == "Lab cohort_count"

    # the certificate: a PDF with the verification code, valid at the hub; others refused
    r = cc.get(f"{V1}/courses/{cid}/certificate", headers=world.auth("student"))
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"%PDF") and r.headers["content-type"] == "application/pdf"
    assert b"NanumGothic" in r.content  # the Korean font is embedded
    code = r.headers["x-certificate-code"]
    v = cc.get(f"{V1}/certificates/verify", params={"code": code},
               headers=world.auth("officer")).json()  # fmt: skip
    assert v["valid"] is True and v["name"] == "student"
    assert (v["course"], v["term"], v["labs_passed"]) == ("MAI101 Medical AI 101", "2026-2", 3)
    assert v["university"] == "University U"
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert cc.get(f"{V1}/certificates/verify", params={"code": forged},
                  headers=world.auth("officer")).json() == {"valid": False, "name": None,
                  "course": None, "university": None, "term": None, "completed_on": None,
                  "labs_passed": None}  # fmt: skip
    assert (
        cc.get(f"{V1}/courses/{cid}/certificate", headers=world.auth("student2")).status_code == 409
    )


def test_characterize_lab_needs_the_same_cohort(cc: TestClient, world: World, db: Database) -> None:
    course = _course(cc, world)
    cid, pid = course["id"], course["project_id"]
    _enrol(cc, world, cid, "student")
    me = world.users["student"]
    ref = _store_job(db, pid, world.users["instructor"], "characterize",
                     {"cohort": "essential_hypertension"}, _characterize_doc(90))  # fmt: skip
    lab = _lab(cc, world, cid, "characterize", {"reference_job_id": ref})
    other = _store_job(db, pid, me, "characterize", {"cohort": "type_2_diabetes"},
                       _characterize_doc(90))  # fmt: skip
    r = _attempt(cc, world, "student", cid, lab, job_id=other)
    assert r.json()["detail"] == "the cohort definition differs from the reference's"
    fewer = _store_job(db, pid, me, "characterize", {"cohort": "essential_hypertension"},
                       _characterize_doc(85))  # fmt: skip
    r = _attempt(cc, world, "student", cid, lab, job_id=fewer)
    assert r.json()["detail"] == "the released count 95 differs from the reference"
    same = _store_job(db, pid, me, "characterize", {"cohort": "essential_hypertension"},
                      _characterize_doc(90))  # fmt: skip
    assert _attempt(cc, world, "student", cid, lab, job_id=same).json()["status"] == "passed"
    # a reference that is not a job of the course is refused when the lab is added
    r = cc.post(f"{V1}/courses/{cid}/labs", json={"title": "t", "kind": "characterize",
                "check": {"reference_job_id": 99999}}, headers=world.auth("instructor"))  # fmt: skip
    assert r.status_code == 400 and "reference_job_id" in r.json()["error"]["message"]


def test_certificate_font_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from medhaven.errors import ConfigError
    from medhaven.hub import certificates

    monkeypatch.setenv(certificates.FONT_ENV, "/nonexistent/NoFont.ttf")
    with pytest.raises(ConfigError, match="fonts-nanum"):
        certificates.font_path()
