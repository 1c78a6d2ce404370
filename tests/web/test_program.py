"""The program dashboard page (TestClient, real SQLite): tables, charts, CSV links, the year
filter, Korean, small counts of people hidden, and a 403 page for everybody else."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from medhaven.hub.db import Database
from medhaven.hub.models import CourseMember, ProgramTarget, Role
from medhaven.hub.services import courses, identity
from medhaven.hub.services.common import SYSTEM_ACTOR, Principal
from web.conftest import PASSWORD, Seed, sign_in


def seed_program(db: Database, world: Seed) -> None:
    """An instructor at University U, 8 students in 2026 (2 completed), 3 in 2025, targets."""
    with db.unit() as s:
        teacher = identity.create_user(s, email=Seed.email("instructor"), password=PASSWORD,
                                       name="Prof. Choi", org_id=world.orgs["University U"],
                                       role=Role.INSTRUCTOR, actor=SYSTEM_ACTOR)  # fmt: skip
        emails = []
        for i in range(8):
            email = f"trainee{i}@example.org"
            identity.create_user(s, email=email, password=PASSWORD, name=f"Trainee {i}",
                                 org_id=world.orgs["University U"], role=Role.STUDENT,
                                 actor=SYSTEM_ACTOR)  # fmt: skip
            emails.append(email)
        me = Principal(teacher.id, identity.roles_of(teacher), "cli")
        c26 = courses.seed_course(s, instructor=me, student_emails=emails, year=2026)
        courses.seed_course(s, instructor=me, student_emails=emails[:3], code="MAI100",
                            term="2025-2", year=2025)  # fmt: skip
        for m in s.query(CourseMember).filter_by(course_id=c26.id, role="student").limit(2):
            m.completed_at = dt.datetime.now(dt.UTC)
        s.add(ProgramTarget(year=2026, org_id=None, trainees=16))


def _table(html: str, name: str) -> str:
    start = html.index(f'id="program-{name}"')
    return html[start : html.index("</table>", start)]


def test_officer_sees_tables_charts_and_csv_links(
    client: TestClient, world: Seed, web_db: Database
) -> None:
    seed_program(web_db, world)
    sign_in(client, "officer")
    page = client.get("/program", params={"year": 2026})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="program-trainees"' in html and 'id="program-projects"' in html
    assert 'id="program-nodes"' not in html and "Nothing in this period." in html  # no jobs
    assert "<svg" in html  # server-rendered charts
    assert "<script" not in html.split("<main", 1)[-1]  # no JavaScript for the charts
    assert "/api/v1/program/tables/trainees.csv?year=2026" in html
    # 8 enrolled shown, target 16 -> 50%; 2 completed is a small count: hidden
    trainees = _table(html, "trainees")
    assert "<td>8</td>" in trainees and "<td>50</td>" in trainees
    assert "<td>&lt;5</td>" in trainees and "<td>2</td>" not in trainees
    # the CSV link answers with the cookie
    r = client.get("/api/v1/program/tables/trainees.csv", params={"year": 2026})
    assert r.status_code == 200 and "2026,total,8,<5,16,50.0," in r.text
    # 2025: 3 enrolled, and the total equal to it: both hidden
    old = _table(client.get("/program", params={"year": 2025}).text, "trainees")
    assert old.count("<td>&lt;5</td>") == 2 and "<td>3</td>" not in old
    assert client.get("/program", params={"year": "20x6"}).status_code == 400


def test_korean(client: TestClient, world: Seed, web_db: Database) -> None:
    seed_program(web_db, world)
    sign_in(client, "admin")
    html = client.get("/program", params={"lang": "ko", "year": 2026}).text
    assert "사업 현황판" in html and "목표 대비 교육생" in html and "CSV 내려받기" in html
    assert "합계" in html and "등록 교육생" in html
    assert "Program dashboard" not in html


def test_others_get_a_403_page_and_no_nav_link(client: TestClient, world: Seed) -> None:
    for who in ("researcher", "student", "custodian", "reviewer"):
        sign_in(client, who)
        r = client.get("/program")
        assert r.status_code == 403, who
        assert "You may not open this page" in r.text
        assert 'href="/program"' not in client.get("/").text
        client.cookies.clear()
    sign_in(client, "officer")
    assert 'href="/program"' in client.get("/").text
