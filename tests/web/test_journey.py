"""The whole journey in a real browser against a running demo over real Flower (issue 8).

One module-scoped fixture prepares small demo data (:func:`medhaven.demo_data.prepare`),
seeds the demo's hub (:func:`medhaven.demo_hub.seed_hub`) and starts the whole system as
real processes (:class:`medhaven.demo_system.DemoSystem`: hub, SuperLink, a SuperNode per
hospital, on free ports); teardown stops every process group, also when a step fails. Then
Debian's Chromium (Playwright) walks the journey: a researcher creates a project and requests
access, a reviewer approves with a condition and an expiry, the researcher runs a federated
prediction study and reads AUROC per hospital and the plots; a student does not see the review
queue; the key pages in Korean. Figures are checked against the hub API's released result, never
hard-coded. Screenshots: ``var/screenshots/journey-*.png``.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medhaven.demo_data import HELD_KINDS, HOLDING_NODE, DemoData, prepare
from medhaven.demo_hub import HubSeed, console_logins, seed_hub
from medhaven.demo_system import DemoSystem
from web.conftest import browser_missing_reason

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, BrowserContext, Page, expect
    from playwright.sync_api import Error as PlaywrightError
else:  # pragma: no cover - collected but skipped
    Browser = BrowserContext = Page = object  # type: ignore[assignment,misc]
    PlaywrightError = Exception  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
#: Small, yet enough for both training hospitals to pass the nodes' minimum of 100 training
#: persons and to hold at least 5 outcomes in their held-out quarter (AUROC released).
PERSONS, SEED = 2000, 5
#: The study: adults with hypertension; outcome: starting metformin within a year.
TARGET, OUTCOME = "essential_hypertension", "t2dm_metformin_new_users"
TRAIN = ("hanbit-university", "saemmul-general")
REQUESTED = (*TRAIN, "pureun-community")
#: The demo hospital whose policy holds this kind's results for its custodian's release.
HELD_KIND = HELD_KINDS[0]
#: Bounds for a loaded 2-core machine (seconds).
START_WAIT, TRAIN_WAIT = 120.0, 600.0
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass
class Demo:
    """The running demo: where the hub answers, who may sign in, the data."""

    url: str
    seed: HubSeed
    data: DemoData
    system: DemoSystem
    start_seconds: float
    consoles: list[dict[str, str]]

    @property
    def held_node(self) -> str:
        """The hospital that holds ``HELD_KIND`` results for its custodian."""
        return self.data.nodes[HOLDING_NODE]

    def console(self, node: str) -> dict[str, str]:
        """The node console account of one hospital (``node``, ``email``, ``password``)."""
        return next(c for c in self.consoles if c["node"] == node)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Small demo data, the demo's hub seeded, and hub + SuperLink + SuperNodes running."""
    out = tmp_path_factory.mktemp("journey") / "demo"
    started = time.perf_counter()
    data = prepare(out, seed=SEED, persons=PERSONS, hospitals=3)
    assert set(REQUESTED) == set(data.nodes)
    logins, _reused = seed_hub(out, data.report.hospitals)
    consoles = console_logins(out, data.nodes)  # a node console account per hospital
    system = DemoSystem(data)  # hub, SuperLink, SuperNodes and node consoles
    try:
        system.start(wait=START_WAIT)  # stops what it started when it fails
        yield Demo(system.url, logins, data, system, time.perf_counter() - started, consoles)
    finally:
        system.stop()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"journey-{name}.png"), full_page=True)


def _context(browser: Browser, locale: str = "en-GB") -> BrowserContext:
    ctx = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(30_000)  # a loaded 2-core machine: generous, still bounded
    return ctx


def _sign_in(page: Page, demo: Demo, key: str, *, query: str = "") -> None:
    who = demo.seed.login(key)
    page.goto(f"{demo.url}/signin{query}")
    page.locator("#email").fill(who["email"])
    page.locator("#password").fill(who["password"])
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def _follow_live(page: Page, *, timeout: float) -> list[str]:
    """The job's overall status as the page shows it, each change, until it ends; no navigation
    by the test (htmx polls the fragment; the page reloads itself once when the job ends)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    badge = page.locator("#job-status > p .badge")
    while time.monotonic() < deadline:
        try:
            classes = badge.get_attribute("class", timeout=5_000) or ""
        except PlaywrightError:  # the fragment is being swapped, or the page reloads itself
            time.sleep(0.2)
            continue
        status = classes.replace("badge", "").strip().removeprefix("s-")
        if not seen or seen[-1] != status:
            seen.append(status)
        if status not in ("queued", "running"):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"the job did not end within {timeout:g} s (seen: {seen})")


def _job_summary(page: Page, demo: Demo, job_id: int) -> dict[str, Any]:
    """The job's status, reason and per-node status from the hub API (for a failure message)."""
    job = page.request.get(f"{demo.url}/api/v1/jobs/{job_id}").json()
    return {k: job.get(k) for k in ("status", "reason", "node_status")}


def _auroc_text(metrics: dict[str, Any]) -> str:
    """How the page prints a released AUROC with its CI (three decimals)."""
    lo, hi = metrics["auroc_ci"]
    return f"{metrics['auroc']:.3f} ({lo:.3f}–{hi:.3f})"


def test_request_review_and_federated_prediction_over_real_flower(
    browser: Browser, demo: Demo
) -> None:
    expiry = (dt.date.today() + dt.timedelta(days=180)).isoformat()
    title = "Metformin start after a hypertension diagnosis"
    researcher = _context(browser).new_page()
    _sign_in(researcher, demo, "researcher")

    # 1a. the researcher creates a new project (it holds no grant yet) ...
    researcher.goto(f"{demo.url}/projects")
    researcher.get_by_label("Title").fill(title)
    researcher.get_by_label("Purpose").fill("Predict starting metformin within a year.")
    researcher.get_by_label("Type").select_option("academic")
    researcher.get_by_label("Ethics approval reference (optional)").fill("IRB-JOURNEY-1")
    for domain in ("person", "condition", "drug"):
        researcher.locator(f"input[name=domains][value={domain}]").check()
    researcher.get_by_label("End date").fill((dt.date.today() + dt.timedelta(days=365)).isoformat())
    researcher.get_by_role("button", name="Create project").click()
    expect(researcher.get_by_role("heading", name=title)).to_be_visible()
    project_url = researcher.url
    assert re.search(r"/projects/\d+$", project_url), project_url
    expect(researcher.locator("#h-grants")).to_have_count(0)
    # ... and requests access to the three hospitals' datasets through the form
    for name in REQUESTED:
        researcher.get_by_label(name, exact=True).check()
    researcher.get_by_label("Justification").fill("A federated prediction study (journey test).")
    _shot(researcher, "1-request-form")
    researcher.get_by_role("button", name="Send the request").click()
    expect(researcher.get_by_role("heading", name=re.compile(r"Request #\d+"))).to_be_visible()
    expect(researcher.locator("h1 .badge")).to_have_text("Pending")
    request_path = researcher.url.removeprefix(demo.url)

    # 1b. the reviewer (own browser context) finds it in the review queue and approves it
    reviewer_ctx = _context(browser)
    reviewer = reviewer_ctx.new_page()
    _sign_in(reviewer, demo, "reviewer")
    reviewer.get_by_role("navigation").get_by_role("link", name="Review queue").click()
    queued = reviewer.locator(f'a[href="{request_path}"]')
    expect(queued.first).to_be_visible()
    _shot(reviewer, "2-review-queue")
    queued.first.click()
    expect(reviewer.get_by_text("A federated prediction study (journey test).")).to_be_visible()
    reviewer.get_by_label("Conditions (for an approval)").fill("Aggregate results only.")
    reviewer.get_by_label("Access expires on (for an approval)").fill(expiry)
    reviewer.get_by_role("button", name="Record the decision").click()
    expect(reviewer.locator("h1 .badge")).to_have_text("Approved")
    _shot(reviewer, "3-approved")
    reviewer_ctx.close()

    # 1c. the researcher sees an active grant on each dataset, with the condition and expiry
    researcher.goto(project_url)
    grants = researcher.locator("section", has=researcher.locator("#h-grants"))
    for name in REQUESTED:
        row = grants.locator("tr", has_text=name)
        expect(row).to_contain_text("Active")
        expect(row).to_contain_text("Aggregate results only.")
        expect(row).to_contain_text(expiry)
    _shot(researcher, "4-grants")

    # 2a. the study builder: prediction, library cohorts, logistic_l2, two granted datasets
    researcher.locator("#new-study").click()
    expect(researcher.get_by_role("heading", name="New study")).to_be_visible()
    researcher.get_by_label("Kind of study").select_option("prediction")
    researcher.locator("#s-cohort-name").select_option(TARGET)
    researcher.locator("#s-outcome-name").select_option(OUTCOME)
    researcher.locator("#s-tar-start").fill("1")
    researcher.locator("#s-tar-end").fill("365")
    researcher.get_by_label("Model kind").select_option("logistic_l2")
    researcher.get_by_label("Study name (optional)").fill("metformin-1y")
    for name in TRAIN:
        researcher.get_by_label(name, exact=True).check()
    _shot(researcher, "5-study-builder")
    researcher.get_by_role("button", name="Submit the study").click()
    expect(researcher).to_have_url(re.compile(r"/jobs/\d+$"))
    job_id = int(researcher.url.rsplit("/", 1)[1])

    # 2b. the job page shows each node's status while it runs, updating by itself
    status = researcher.locator("#job-status")
    for name in TRAIN:
        expect(status.locator("tr", has_text=name)).to_be_visible()
    expect(status).to_contain_text("(updates by itself)")
    _shot(researcher, "6-job-running")
    seen = _follow_live(researcher, timeout=TRAIN_WAIT)
    assert seen[0] in ("queued", "running"), seen
    assert seen[-1] == "completed", _job_summary(researcher, demo, job_id)
    assert researcher.url == f"{demo.url}/jobs/{job_id}"
    for name in TRAIN:
        expect(status.locator("tr", has_text=name)).to_contain_text("OK")

    # 2c. AUROC per hospital and the plots, equal to the hub API's released result
    api = researcher.request.get(f"{demo.url}/api/v1/jobs/{job_id}/result")
    assert api.status == 200, api.text()
    released = api.json()
    assert released["status"] == "completed"
    table = researcher.locator("#train-metrics")
    expect(table).to_be_visible(timeout=30_000)
    for name in TRAIN:
        evaluation = released["result"]["nodes"][name]["evaluation"]
        assert evaluation["released"] is True, (name, evaluation.get("reason"))
        row = table.locator("tr", has=researcher.locator("th", has_text=name))
        expect(row).to_contain_text(_auroc_text(evaluation["metrics"]))
        expect(row.locator("td").first).to_have_text(str(evaluation["n"]))
    expect(researcher.locator("#roc-plot svg")).to_be_visible()
    expect(researcher.locator("#calibration-plot svg")).to_be_visible()
    # one ROC curve per hospital that released its evaluation
    assert researcher.locator("#roc-plot svg polyline, #roc-plot svg path").count() >= len(TRAIN)
    _shot(researcher, "7-job-result")
    researcher.context.close()


def test_student_sees_no_review_queue_and_the_url_is_refused(browser: Browser, demo: Demo) -> None:
    ctx = _context(browser)
    page = ctx.new_page()
    _sign_in(page, demo, "student")
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name="Datasets")).to_be_visible()
    expect(nav.get_by_role("link", name="Review queue")).to_have_count(0)
    response = page.goto(f"{demo.url}/reviews")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You may not open this page")).to_be_visible()
    _shot(page, "8-student-forbidden")
    ctx.close()


def _nav_is_korean(page: Page) -> None:
    links = page.get_by_role("navigation").get_by_role("link").all_inner_texts()
    assert links, "no navigation"
    english = [t for t in links if not HANGUL.search(t)]
    assert english == [], english
    assert page.evaluate("document.documentElement.lang") == "ko"


def test_the_key_pages_in_korean_with_a_job_over_real_flower(browser: Browser, demo: Demo) -> None:
    ctx = _context(browser, locale="en-GB")  # the browser asks for English: ?lang=ko wins
    page = ctx.new_page()
    _sign_in(page, demo, "researcher", query="?lang=ko")
    expect(page.get_by_role("heading", name=re.compile("환영합니다"))).to_be_visible()
    _nav_is_korean(page)
    _shot(page, "9-ko-dashboard")
    page.goto(f"{demo.url}/datasets")
    expect(page.get_by_role("heading", name="데이터셋 카탈로그")).to_be_visible()
    _nav_is_korean(page)
    page.goto(f"{demo.url}/projects/{demo.seed.project_id}")
    _nav_is_korean(page)
    page.locator("#new-study").click()
    expect(page.get_by_role("heading", name="새 연구")).to_be_visible()
    _nav_is_korean(page)
    page.get_by_label("연구 종류").select_option("cohort_count")
    page.locator("#s-cohort-name").select_option(TARGET)
    for name in TRAIN:
        page.get_by_label(name, exact=True).check()
    _shot(page, "10-ko-study-builder")
    page.get_by_role("button", name="연구 제출").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-status > p .badge")).to_have_text("완료", timeout=120_000)
    expect(page.locator("table.result").first).to_be_visible(timeout=30_000)
    _nav_is_korean(page)
    assert HANGUL.search(page.locator("main").inner_text())
    _shot(page, "11-ko-job")
    ctx.close()


def _shown(cell: Any) -> str:
    """A released cell as the pages print it: its display form, else its value."""
    if isinstance(cell, dict):
        return (
            str(cell["display"])
            if cell.get("display") not in (None, "")
            else _shown(cell.get("value"))
        )
    return str(cell)


def test_a_custodian_releases_a_held_result_in_the_node_console(
    browser: Browser, demo: Demo
) -> None:
    node = demo.held_node
    researcher = _context(browser).new_page()
    _sign_in(researcher, demo, "researcher")
    # an incidence study at the hospital whose policy holds incidence for its custodian
    researcher.goto(f"{demo.url}/projects/{demo.seed.project_id}/study")
    researcher.get_by_label("Kind of study").select_option(HELD_KIND)
    researcher.locator("#s-cohort-name").select_option(TARGET)
    researcher.locator("#s-outcome-name").select_option(OUTCOME)
    researcher.get_by_label(node, exact=True).check()
    researcher.get_by_role("button", name="Submit the study").click()
    expect(researcher).to_have_url(re.compile(r"/jobs/\d+$"))
    job_id = int(researcher.url.rsplit("/", 1)[1])
    seen = _follow_live(researcher, timeout=120)
    assert seen[-1] == "held", _job_summary(researcher, demo, job_id)
    researcher.reload()
    row = researcher.locator("#job-status tr", has_text=node)
    expect(row.locator(".badge")).to_have_class(re.compile(r"\bs-held\b"))
    # nothing is released yet: the hub holds no result
    assert researcher.request.get(f"{demo.url}/api/v1/jobs/{job_id}/result").status == 409
    expect(researcher.get_by_role("button", name="Check for released results")).to_be_visible()
    _shot(researcher, "12-job-held")

    # the custodian signs into the node's console (the demo's) and releases it from the queue
    account = demo.console(node)
    console_url = demo.system.consoles[node]
    custodian_ctx = _context(browser)
    custodian = custodian_ctx.new_page()
    custodian.goto(f"{console_url}/signin")
    custodian.locator("#email").fill(account["email"])
    custodian.locator("#password").fill(account["password"])
    custodian.locator("main button[type=submit]").click()
    custodian.goto(f"{console_url}/queue")
    held = custodian.locator("section.held-job")
    expect(held).to_have_count(1)
    expect(held).to_contain_text(HELD_KIND)
    _shot(custodian, "13-console-queue")
    held.get_by_role("button", name="Release").click()
    custodian.goto(f"{console_url}/queue")
    expect(custodian.locator("#queue-empty")).to_be_visible()
    custodian_ctx.close()

    # the researcher asks the hub to collect (unless its own poll already did)
    researcher.reload()
    collect = researcher.locator("#collect button")
    if collect.count():
        collect.click()
    # collecting runs in the background: a page still showing "held" (not live) is reloaded
    deadline = time.monotonic() + 120
    seen = _follow_live(researcher, timeout=120)
    while seen[-1] == "held" and time.monotonic() < deadline:
        time.sleep(2)
        researcher.reload()
        seen = _follow_live(researcher, timeout=120)
    assert seen[-1] == "completed", _job_summary(researcher, demo, job_id)
    api = researcher.request.get(f"{demo.url}/api/v1/jobs/{job_id}/result")
    assert api.status == 200, api.text()
    strata = api.json()["result"]["combined"]["strata"]
    (overall,) = [s for s in strata if s["name"] == "overall"]
    first = overall["rows"][0]
    cells = researcher.locator("#stratum-overall tbody tr").first.locator("td")
    expect(cells.nth(0)).to_have_text(_shown(first["persons"]))
    expect(cells.nth(1)).to_have_text(_shown(first["outcomes"]))
    expect(researcher.locator("#job-status tr", has_text=node)).to_contain_text("OK")
    _shot(researcher, "14-job-released")
    researcher.context.close()
