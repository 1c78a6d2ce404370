"""Course pages in a real browser (Debian's Chromium through Playwright) against a real hub.

An instructor's course with a cohort-count lab and a quiz; the student answers the quiz in the
browser and sees the verdict; screenshots ``course-*.png`` in var/screenshots/ (English and
Korean).
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.conftest import PASSWORD, Seed, browser_missing_reason, seed

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
QUIZ = {"questions": [{"id": "q1", "text": "Which figure says how well a model ranks patients?",
                       "choices": ["AUROC", "Brier score"], "answer": "AUROC"}]}  # fmt: skip


class Hub:
    """A running hub and its course."""

    def __init__(self, url: str, course_id: int) -> None:
        self.url, self.course_id = url, course_id


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    import uvicorn

    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database
    from medhaven.hub.models import Job, Role
    from medhaven.hub.services import courses, identity, jobs
    from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

    root = tmp_path_factory.mktemp("courses-hub")
    db = Database(f"sqlite:///{root / 'hub.db'}")
    world = seed(db)
    with db.unit() as s:
        teacher = identity.create_user(s, email=Seed.email("instructor"), password=PASSWORD,
                                       name="Prof. Choi", org_id=world.orgs["University U"],
                                       role=Role.INSTRUCTOR, actor=SYSTEM_ACTOR)  # fmt: skip
        me = Principal(teacher.id, identity.roles_of(teacher), "cli")
        course = courses.seed_course(s, instructor=me, student_emails=[Seed.email("student")])
        cid, pid = course.id, course.project_id
    now = dt.datetime.now(dt.UTC)
    job_ids = []
    for who, persons in ((teacher.id, 120), (world.users["student"], 130)):
        with db.unit() as s:
            job = Job(uid=uuid.uuid4().hex, project_id=pid, grant_ids=[], kind="cohort_count",
                      parameters={}, dataset_ids=[], targets=["north"], min_nodes=1,
                      status="running", node_status={}, result=None, signed_job="-",
                      expires_at=now + dt.timedelta(hours=1), submitted_by=who, created_at=now,
                      updated_at=now)  # fmt: skip
            s.add(job)
            s.flush()
            job_ids.append(job.id)
        jobs.record_result(db, job_ids[-1], {"kind": "cohort_count", "status": "completed",
                           "nodes": [{"node": "north", "status": "ok", "result": {
                               "persons": {"value": persons}, "records": {"value": persons}}}]})  # fmt: skip
    with db.unit() as s:
        courses.add_lab(s, me, cid, title="Count the hypertension cohort", kind="cohort_count",
                        check={"reference_job_id": job_ids[0]},
                        instructions="Run a cohort count of essential hypertension on the "
                        "teaching dataset, then submit your job.")  # fmt: skip
        courses.add_lab(s, me, cid, title="Read a model card", kind="model_card", check=QUIZ)
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=root / "keys")
    app = create_app(config, database=db)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.05)
    yield Hub(f"http://127.0.0.1:{port}", cid)
    server.should_exit = True
    thread.join(10)
    db.close()


def _sign_in(page: Page, hub: Hub, key: str) -> None:
    page.goto(f"{hub.url}/signin")
    page.locator("#email").fill(Seed.email(key))
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_student_answers_a_quiz_and_instructor_sees_progress(browser: Browser, hub: Hub) -> None:
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub, "student")
    page.goto(f"{hub.url}/courses/{hub.course_id}?lang=ko")
    expect(page.get_by_role("heading", name="실습")).to_be_visible()
    page.locator("select[name=job_id]").select_option(index=0)
    page.locator("#lab-1 button[type=submit]").click()
    expect(page.locator("#lab-1")).to_contain_text("the released count 130 differs")
    page.get_by_label("AUROC").check()
    page.locator("#lab-2 button[type=submit]").click()
    expect(page.locator("#lab-2")).to_contain_text("all 1 answers are right")
    expect(page.locator("#completion")).to_contain_text("실습 2개 중 1개 통과")
    _shot(page, "course-student-ko")
    ctx.close()

    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub, "instructor")
    page.goto(f"{hub.url}/courses/{hub.course_id}")
    expect(page.locator("#progress-table")).to_contain_text("Lee Student")
    expect(page.locator("#progress-table")).to_contain_text("1/2")
    _shot(page, "course-instructor-en")
    page.goto(f"{hub.url}/courses")
    expect(page.locator("#courses")).to_contain_text("Medical AI 101")
    _shot(page, "course-list-en")
    ctx.close()
