"""Course pages (TestClient, real SQLite): an instructor creates a course, enrols a student and
adds labs through the forms; the student sees the labs without their checks, answers the quiz,
submits their own finished job, and downloads the certificate; the instructor's progress table
and CSV show it. Korean and English."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import Job, Role
from medhaven.hub.services import identity, jobs
from medhaven.hub.services.common import SYSTEM_ACTOR
from web.conftest import PASSWORD, Seed, sign_in

QUIZ = ('{"questions": [{"id": "q1", "text": "Which figure says how well a model ranks?", '
        '"choices": ["AUROC", "Brier"], "answer": "AUROC"}]}')  # fmt: skip


@pytest.fixture
def app(web_db: Database, world: Seed, tmp_path: Path) -> FastAPI:
    with web_db.unit() as s:
        user = identity.create_user(s, email=Seed.email("instructor"), password=PASSWORD,
                                    name="Prof. Choi", org_id=world.orgs["University U"],
                                    role=Role.INSTRUCTOR, actor=SYSTEM_ACTOR)  # fmt: skip
        world.users["instructor"] = user.id
    config = HubConfig(database_url=web_db.url, secure_cookies=False, keys_dir=tmp_path / "keys")
    return create_app(config, database=web_db)


@pytest.fixture
def teacher(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def pupil(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def _count_job(db: Database, project_id: int, user_id: int, north: int) -> int:
    """A completed cohort count job as the hub stores it (the nodes' released counts)."""
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        job = Job(uid=uuid.uuid4().hex, project_id=project_id, grant_ids=[], kind="cohort_count",
                  parameters={}, dataset_ids=[], targets=["north"], min_nodes=1, status="running",
                  node_status={}, result=None, signed_job="-", expires_at=now + dt.timedelta(hours=1),
                  submitted_by=user_id, created_at=now, updated_at=now)  # fmt: skip
        s.add(job)
        s.flush()
        job_id = job.id
    doc = {"kind": "cohort_count", "status": "completed", "nodes": [
        {"node": "north", "status": "ok", "result": {"persons": {"value": north},
                                                     "records": {"value": north}}}]}  # fmt: skip
    jobs.record_result(db, job_id, doc)
    return job_id


def test_course_pages_end_to_end(
    teacher: TestClient, pupil: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(teacher, "instructor")
    page = teacher.get("/courses")
    assert page.status_code == 200 and 'action="/courses"' in page.text
    assert 'href="/courses"' in page.text  # the nav entry
    r = teacher.post("/courses", data={"csrf_token": csrf, "code": "MAI101",
                     "title": "Medical AI 101", "term": "2026-2", "year": "2026"},
                     follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    url = r.headers["location"]
    cid = int(url.rsplit("/", 1)[1])
    r = teacher.post(f"{url}/members", data={"csrf_token": csrf, "email": "student@example.org",
                     "role": "student"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    with web_db.unit(readonly=True) as s:
        from medhaven.hub.models import Course

        course = s.get(Course, cid)
        assert course is not None
        pid = course.project_id
    ref = _count_job(web_db, pid, world.users["instructor"], 120)
    for title, kind, check in [("Count the cohort", "cohort_count", f'{{"reference_job_id": {ref}}}'),
                               ("Read a model card", "model_card", QUIZ)]:  # fmt: skip
        r = teacher.post(f"{url}/labs", data={"csrf_token": csrf, "title": title, "kind": kind,
                         "instructions": "Step by step.", "check": check},
                         follow_redirects=False)  # fmt: skip
        assert r.status_code == 303, r.text
    # bad check JSON: a page naming the field
    r = teacher.post(f"{url}/labs", data={"csrf_token": csrf, "title": "x", "kind": "train",
                     "check": "{"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 400 and "check: not JSON" in r.text
    staff_page = teacher.get(url).text
    assert "Automatic check" in staff_page and f'"reference_job_id": {ref}' in staff_page
    assert "Lee Student" in staff_page and 'id="progress-table"' in staff_page

    # the student: labs without their checks; the quiz form; their own finished job to pick
    mine = _count_job(web_db, pid, world.users["student"], 120)
    wrong = _count_job(web_db, pid, world.users["student"], 130)
    pcsrf = sign_in(pupil, "student")
    assert 'href="/courses"' in pupil.get("/courses").text
    page = pupil.get(url).text
    assert "Automatic check" not in page and "reference_job_id" not in page
    assert 'name="q:q1"' in page and f'<option value="{mine}">' in page
    assert f'<option value="{ref}">' not in page  # the instructor's job is not theirs to pick
    labs = [int(x) for x in re.findall(r'id="lab-(\d+)"', page)]
    count_lab, quiz_lab = labs
    r = pupil.post(f"{url}/labs/{quiz_lab}/attempts", data={"csrf_token": pcsrf, "q:q1": "Brier"},
                   follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    r = pupil.post(f"{url}/labs/{count_lab}/attempts", data={"csrf_token": pcsrf,
                   "job_id": str(wrong)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = pupil.get(url).text
    assert "0 of 1 answers are right" in page
    assert "the released count 130 differs from the reference" in page
    assert 'id="certificate"' not in page
    for lab, data in ((quiz_lab, {"q:q1": "AUROC"}), (count_lab, {"job_id": str(mine)})):
        r = pupil.post(f"{url}/labs/{lab}/attempts", data={"csrf_token": pcsrf, **data},
                       follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
    page = pupil.get(url).text
    assert "2 of 2 labs passed" in page and 'id="certificate"' in page
    pdf = pupil.get(f"/api/v1/courses/{cid}/certificate")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # Korean
    ko = pupil.get(f"{url}?lang=ko").text
    assert "수료증 내려받기 (PDF)" in ko and "실습 2개 중 2개 통과" in ko

    # the instructor's progress table and CSV
    page = teacher.get(url).text
    row = re.search(r"<tr><th scope=\"row\">Lee Student</th>(.*?)</tr>", page, re.S)
    assert row is not None and row.group(1).count("s-passed") == 2 and "2/2" in row.group(1)
    text = teacher.get(f"/api/v1/courses/{cid}/progress.csv").text
    assert text.count("student@example.org") == 2 and ",yes," in text
    # a custodian has no nav entry and cannot open the course
    other = TestClient(teacher.app, base_url="http://testserver")
    sign_in(other, "custodian")
    assert 'href="/courses"' not in other.get("/").text
    assert other.get(url).status_code == 404
