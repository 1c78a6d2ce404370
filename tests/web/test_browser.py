"""Journeys in a real browser (Debian's Chromium through Playwright) against a real hub server.

Screenshots of the main pages, in English and Korean, at laptop and tablet widths, are saved
to ``var/screenshots/`` (look at them: Hangul must render, the layout must hold).
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.conftest import PASSWORD, PROJECT, Seed, browser_missing_reason, seed

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, BrowserContext, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = BrowserContext = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    """A running hub: its URL, database and seed."""

    def __init__(self, url: str, db: object, world: Seed) -> None:
        self.url, self.db, self.world = url, db, world


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub served by uvicorn on a free port over a seeded SQLite database."""
    import uvicorn

    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.db'}")
    world = seed(db)
    app = create_app(HubConfig(database_url=db.url, secure_cookies=False), database=db)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.05)
    yield Hub(f"http://127.0.0.1:{port}", db, world)
    server.should_exit = True
    thread.join(10)
    db.close()


def _context(browser: Browser, *, locale: str = "en-GB", viewport: dict[str, int] = LAPTOP
             ) -> BrowserContext:  # fmt: skip
    return browser.new_context(locale=locale, viewport=viewport)


def _sign_in(page: Page, hub: Hub, key: str) -> None:
    page.goto(f"{hub.url}/signin")
    page.locator("#email").fill(Seed.email(key))
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_visitor_sees_sign_in_and_signs_in_with_the_keyboard(browser: Browser, hub: Hub) -> None:
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(f"{hub.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    _shot(page, "signin-en")
    # the email field has the focus; Tab moves to the password; Enter submits
    assert page.evaluate("document.activeElement.id") == "email"
    page.keyboard.type(Seed.email("researcher"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Welcome, Dr. Park")).to_be_visible()
    # the skip link is the first stop of the keyboard and is visible when focused
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    expect(page.locator("a.skip")).to_be_in_viewport()
    _shot(page, "dashboard-researcher-en")
    ctx.close()


def test_researcher_requests_reviewer_approves_researcher_sees_the_grant(
    browser: Browser, hub: Hub
) -> None:
    expiry = (dt.date.today() + dt.timedelta(days=200)).isoformat()
    researcher = _context(browser).new_page()
    _sign_in(researcher, hub, "researcher")
    researcher.get_by_role("link", name="Datasets", exact=True).click()
    researcher.get_by_label("Search").fill("diabetes")
    researcher.get_by_role("button", name="Search").click()
    _shot(researcher, "datasets-en")
    researcher.get_by_role("link", name="Hospital A diabetes cohort").click()
    expect(researcher.get_by_role("heading", name="Characterization")).to_be_visible()
    _shot(researcher, "dataset-en")
    researcher.get_by_label("Project").select_option(label=PROJECT)
    researcher.get_by_label("Justification").fill("Feasibility counts for the protocol.")
    researcher.get_by_role("button", name="Send the request").click()
    expect(researcher.get_by_role("heading", name=re.compile(r"Request #\d+"))).to_be_visible()
    request_url = researcher.url

    reviewer_ctx = _context(browser)
    reviewer = reviewer_ctx.new_page()
    _sign_in(reviewer, hub, "reviewer")
    reviewer.get_by_role("navigation").get_by_role("link", name="Review queue").click()
    _shot(reviewer, "review-queue-en")
    reviewer.locator(f'a[href="{request_url.removeprefix(hub.url)}"]').first.click()
    expect(reviewer.get_by_text("Feasibility counts for the protocol.")).to_be_visible()
    reviewer.get_by_label("Conditions (for an approval)").fill("Aggregate results only.")
    reviewer.get_by_label("Access expires on (for an approval)").fill(expiry)
    _shot(reviewer, "request-review-en")
    reviewer.get_by_role("button", name="Record the decision").click()
    expect(reviewer.locator("h1 .badge")).to_have_text("Approved")

    researcher.goto(f"{hub.url}/projects/{hub.world.project_id}")
    grants = researcher.locator("section", has=researcher.locator("#h-grants"))
    expect(grants).to_contain_text("Active")
    expect(grants).to_contain_text(expiry)
    expect(grants).to_contain_text("Aggregate results only.")
    _shot(researcher, "project-en")
    researcher.goto(f"{hub.url}/")
    expect(researcher.locator("#h-grants")).to_contain_text("1")
    researcher.context.close()
    reviewer_ctx.close()


def test_student_sees_no_review_queue_and_the_url_is_refused(browser: Browser, hub: Hub) -> None:
    ctx = _context(browser, locale="ko-KR")
    page = ctx.new_page()
    _sign_in(page, hub, "student")
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name="데이터셋")).to_be_visible()
    expect(nav.get_by_role("link", name="심사 대기열")).to_have_count(0)
    response = page.goto(f"{hub.url}/reviews")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="이 페이지를 열 권한이 없습니다")).to_be_visible()
    _shot(page, "forbidden-ko")
    ctx.close()


def test_korean_from_accept_language_and_from_lang_query_remembered(
    browser: Browser, hub: Hub
) -> None:
    ko = _context(browser, locale="ko-KR")
    page = ko.new_page()
    page.goto(f"{hub.url}/")
    expect(page.get_by_role("heading", name="로그인")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "ko"
    _shot(page, "signin-ko")
    ko.close()

    en = _context(browser, locale="en-GB")
    page = en.new_page()
    page.goto(f"{hub.url}/signin?lang=ko")
    expect(page.get_by_role("heading", name="로그인")).to_be_visible()
    page.locator("#email").fill(Seed.email("reviewer"))
    page.locator("#password").fill(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("환영합니다"))).to_be_visible()
    _shot(page, "dashboard-reviewer-ko")
    for path, heading in [("/datasets", "데이터셋 카탈로그"), ("/reviews", "심사 대기열"),
                          (f"/datasets/{hub.world.dataset_id}", "Hospital A diabetes cohort")]:  # fmt: skip
        page.goto(f"{hub.url}{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "ko"
    _shot(page, "dataset-ko")
    page.goto(f"{hub.url}/datasets")
    _shot(page, "datasets-ko")
    # the switcher on every page: back to English, remembered too
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Dataset catalogue")).to_be_visible()
    page.goto(f"{hub.url}/reviews")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    en.close()


def test_tablet_width_keeps_the_layout_usable(browser: Browser, hub: Hub) -> None:
    ctx = _context(browser, locale="ko-KR", viewport=TABLET)
    page = ctx.new_page()
    _sign_in(page, hub, "admin")
    page.goto(f"{hub.url}/audit?verify=1")
    expect(page.locator("#verify-result")).to_contain_text("체인이 온전합니다")
    # nothing wider than the screen (tables scroll inside their own box)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET["width"], width
    _shot(page, "audit-ko-tablet")
    page.goto(f"{hub.url}/datasets/{hub.world.dataset_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    _shot(page, "dataset-ko-tablet")
    ctx.close()


def test_job_status_updates_live_without_a_reload(browser: Browser, hub: Hub) -> None:
    from medhaven.hub.db import Database
    from medhaven.hub.models import Job

    db: Database = hub.db  # type: ignore[assignment]
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        job = Job(uid="live-1", project_id=hub.world.project_id, grant_ids=[],
                  kind="cohort_count", parameters={}, dataset_ids=[hub.world.dataset_id],
                  targets=["hospital-a", "hospital-b"], min_nodes=1, status="running",
                  node_status={"hospital-a": {"status": "running"},
                               "hospital-b": {"status": "running"}},
                  result=None, signed_job="-", expires_at=now + dt.timedelta(hours=1),
                  submitted_by=hub.world.users["researcher"], created_at=now,
                  updated_at=now)  # fmt: skip
        s.add(job)
        s.flush()
        job_id = job.id
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, hub, "student")
    page.goto(f"{hub.url}/jobs/{job_id}")
    expect(page.locator("#job-status")).to_contain_text("Running")
    _shot(page, "job-running-en")
    with db.unit() as s:
        row = s.get(Job, job_id)
        assert row is not None
        row.node_status = {"hospital-a": {"status": "ok", "reason": None},
                           "hospital-b": {"status": "failed", "reason": "node offline"}}  # fmt: skip
        row.status = "partial"
        row.result = {"count": {"value": 730, "marker": None}, "nodes": 1}
    # no navigation by the test: htmx polls the fragment and the page reloads when it ends
    expect(page.locator("#job-status")).to_contain_text("node offline", timeout=15_000)
    expect(page.locator("table.result")).to_contain_text("730", timeout=15_000)
    _shot(page, "job-result-en")
    ctx.close()


UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href]')).filter(el => {
  if (el.tagName === 'BUTTON' || el.tagName === 'A') return !el.textContent.trim();
  return !(el.labels && el.labels.length) && !el.getAttribute('aria-label');
}).map(el => el.outerHTML.slice(0, 100))"""


@pytest.mark.parametrize(
    ("key", "paths"),
    [
        ("researcher", ["/", "/profile", "/datasets", "/datasets/1", "/projects", "/projects/1",
                        "/requests", "/jobs"]),
        ("reviewer", ["/", "/reviews", "/requests"]),
        ("admin", ["/audit", "/profile"]),
    ],
)  # fmt: skip
def test_every_control_has_a_label_or_text(
    browser: Browser, hub: Hub, key: str, paths: list[str]
) -> None:
    ctx = _context(browser, locale="ko-KR")
    page = ctx.new_page()
    _sign_in(page, hub, key)
    for path in paths:
        response = page.goto(f"{hub.url}{path}")
        assert response is not None and response.status == 200, path
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate("document.documentElement.lang") == "ko"
    ctx.close()
