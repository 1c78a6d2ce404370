"""Challenge pages in a real browser (Debian's Chromium through Playwright) against a real hub.

A course's challenge with scored submissions of two students (stored as the service records
them); the student sees the rules, their submissions, the form and the leaderboard without a
private column, in Korean and English; after the close the private column appears. Screenshots
``challenge-*.png`` in var/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from web.conftest import PASSWORD, Seed, browser_missing_reason, seed

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


class Hub:
    """A running hub and its challenge."""

    def __init__(self, url: str, challenge_id: int, db: object) -> None:
        self.url, self.challenge_id, self.db = url, challenge_id, db


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    import uvicorn

    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database
    from medhaven.hub.models import Challenge, ChallengeSubmission, Role
    from medhaven.hub.services import courses, identity
    from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

    root = tmp_path_factory.mktemp("challenges-hub")
    db = Database(f"sqlite:///{root / 'hub.db'}")
    world = seed(db)
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        teacher = identity.create_user(s, email=Seed.email("instructor"), password=PASSWORD,
                                       name="Prof. Choi", org_id=world.orgs["University U"],
                                       role=Role.INSTRUCTOR, actor=SYSTEM_ACTOR)  # fmt: skip
        other = identity.create_user(s, email=Seed.email("s2"), password=PASSWORD,
                                     name="Han Student", org_id=world.orgs["University U"],
                                     role=Role.STUDENT, actor=SYSTEM_ACTOR)  # fmt: skip
        me = Principal(teacher.id, identity.roles_of(teacher), "cli")
        course = courses.seed_course(s, instructor=me,
                                     student_emails=[Seed.email("student"), Seed.email("s2")])  # fmt: skip
        ch = Challenge(course_id=course.id, project_id=course.project_id, title="Predict CKD",
                       description="Who among persons with hypertension develops chronic "
                       "kidney disease within a year?", mode="model",
                       task={"name": "ckd", "target_cohort": "essential_hypertension",
                             "outcome_cohort": "chronic_kidney_disease"},
                       dataset_ids=[1], test_fraction=0.3, public_fraction=0.5, score_digits=3,
                       max_daily=5, split_seed=1234, opens_at=now - dt.timedelta(days=1),
                       closes_at=now + dt.timedelta(days=6), created_by=teacher.id,
                       created_at=now)  # fmt: skip
        s.add(ch)
        s.flush()
        for user, public, private in ((world.users["student"], 0.712, 0.698),
                                      (other.id, 0.744, 0.731),
                                      (world.users["student"], 0.731, 0.705)):  # fmt: skip
            s.add(ChallengeSubmission(challenge_id=ch.id, user_id=user, job_id=None,
                                      spec={"model": {"kind": "logistic_l2"}}, status="scored",
                                      reason=None, public_score=public, private_score=private,
                                      created_at=now, scored_at=now))  # fmt: skip
        cid = ch.id
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
    yield Hub(f"http://127.0.0.1:{port}", cid, db)
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


def test_student_sees_the_challenge_and_the_private_column_after_close(
    browser: Browser, hub: Hub
) -> None:
    from medhaven.hub.models import Challenge

    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub, "student")
    page.goto(f"{hub.url}/challenges?lang=ko")
    expect(page.locator("#challenges")).to_contain_text("Predict CKD")
    page.goto(f"{hub.url}/challenges/{hub.challenge_id}?lang=ko")
    expect(page.locator("#board")).to_contain_text("0.744")
    expect(page.locator("#board tbody tr").first).to_contain_text("Han Student")
    expect(page.locator("#board")).not_to_contain_text("비공개 점수")
    expect(page.locator("#submit")).to_be_visible()
    _shot(page, "challenge-student-ko")
    ctx.close()

    with hub.db.unit() as s:  # type: ignore[attr-defined]
        s.execute(update(Challenge).where(Challenge.id == hub.challenge_id)
                  .values(closes_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))  # fmt: skip
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub, "student")
    page.goto(f"{hub.url}/challenges/{hub.challenge_id}?lang=en")
    expect(page.locator("#board")).to_contain_text("Private score")
    expect(page.locator("#board")).to_contain_text("0.731")
    expect(page.locator("#submit")).to_have_count(0)
    _shot(page, "challenge-closed-en")
    ctx.close()
