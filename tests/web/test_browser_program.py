"""The program dashboard in a real browser (Debian's Chromium through Playwright) against a
real hub: a program officer opens /program in Korean and English, filters by year; screenshots
``program-*.png`` in var/screenshots/.
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


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database
    from medhaven.hub.models import CourseMember, Job, OrgKind, ProgramTarget, Role
    from medhaven.hub.services import courses, identity
    from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

    root = tmp_path_factory.mktemp("program-hub")
    db = Database(f"sqlite:///{root / 'hub.db'}")
    world = seed(db)
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        second = identity.create_org(s, name="University V", kind=OrgKind.UNIVERSITY,
                                     actor=SYSTEM_ACTOR).id  # fmt: skip
        for key, org, n in (
            ("instructor", world.orgs["University U"], 12),
            ("teacher_v", second, 3),
        ):
            t = identity.create_user(s, email=Seed.email(key), password=PASSWORD, name=key,
                                     org_id=org, role=Role.INSTRUCTOR, actor=SYSTEM_ACTOR)  # fmt: skip
            emails = []
            for i in range(n):
                email = f"{key}-s{i}@example.org"
                identity.create_user(s, email=email, password=PASSWORD, name=f"S{i}", org_id=org,
                                     role=Role.STUDENT, actor=SYSTEM_ACTOR)  # fmt: skip
                emails.append(email)
            me = Principal(t.id, identity.roles_of(t), "cli")
            course = courses.seed_course(s, instructor=me, student_emails=emails, year=2026,
                                         code=f"MAI-{key}")  # fmt: skip
            for m in s.query(CourseMember).filter_by(course_id=course.id, role="student").limit(7):
                m.completed_at = now
            pid = course.project_id
        s.add(ProgramTarget(year=2026, org_id=None, trainees=30))
        s.add(ProgramTarget(year=2026, org_id=world.orgs["University U"], trainees=20))
        for month, kind, status, nodes in (
            (1, "cohort_count", "completed", ["north"]),
            (2, "train", "completed", ["north", "south"]),
            (2, "train", "failed", ["south"]),
            (3, "characterize", "completed", ["north", "south"]),
        ):
            at = dt.datetime(2026, month, 5, tzinfo=dt.UTC)
            s.add(Job(uid=uuid.uuid4().hex, project_id=pid, grant_ids=[], kind=kind,
                      parameters={}, dataset_ids=[world.dataset_id], targets=nodes,
                      status=status, reason=None, result=None, signed_job="-",
                      node_status={n: {"status": "released" if status == "completed" else "failed",
                                       "reason": None} for n in nodes},
                      expires_at=at, submitted_by=world.users["researcher"], created_at=at,
                      updated_at=at))  # fmt: skip
    app = create_app(HubConfig(database_url=db.url, secure_cookies=False), database=db)
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    db.close()


def _sign_in(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/signin")
    page.locator("#email").fill(Seed.email(key))
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def test_officer_reads_the_dashboard(browser: Browser, hub_url: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub_url, "officer")
    page.goto(f"{hub_url}/program?lang=ko")
    expect(page.get_by_role("heading", name="사업 현황판")).to_be_visible()
    page.locator("#p-year").select_option("2026")
    page.get_by_role("button", name="보기").click()
    expect(page).to_have_url(f"{hub_url}/program?year=2026")
    table = page.locator("#program-trainees")
    expect(table).to_contain_text("University U")
    expect(table).to_contain_text("<5")  # University V's 3 trainees
    expect(table).to_contain_text("비공개")  # and the total that would give them away
    expect(page.locator("svg.bars").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "program-ko.png"), full_page=True)
    ctx.close()
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub_url, "officer")
    page.goto(f"{hub_url}/program?year=2026")
    expect(page.locator("#program-nodes")).to_contain_text("south")
    page.screenshot(path=str(SHOTS / "program-en.png"), full_page=True)
    ctx.close()
