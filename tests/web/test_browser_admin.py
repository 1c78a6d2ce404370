"""Administration and publishing in a real browser (Debian's Chromium through Playwright)
against a real hub server: an admin creates a user who then signs in with the password shown
once; a custodian previews a publication the release gate refused. Screenshots go to
``var/screenshots/`` (admin-*.png, publish-*.png)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from web.conftest import PASSWORD, Seed, browser_missing_reason, seed

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seed]]:
    """A hub served by uvicorn on a free port over a seeded SQLite database: (URL, seed)."""
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
    yield f"http://127.0.0.1:{port}", world
    server.should_exit = True
    thread.join(10)
    db.close()


def _sign_in(page: Page, url: str, email: str, password: str) -> None:
    page.goto(f"{url}/signin")
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_admin_creates_a_user_who_signs_in(browser: Browser, hub: tuple[str, Seed]) -> None:
    url, _world = hub
    admin = browser.new_context(locale="en-GB", viewport=LAPTOP).new_page()
    _sign_in(admin, url, Seed.email("admin"), PASSWORD)
    admin.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(admin.get_by_role("heading", name="Create a user")).to_be_visible()
    admin.get_by_label("Name", exact=True).fill("Han Instructor")
    admin.get_by_label("Email", exact=True).fill("han@example.org")
    admin.get_by_label("Organisation", exact=True).select_option(label="University U")
    admin.get_by_label("Role", exact=True).select_option(label="Instructor")
    _shot(admin, "admin-users-en")
    admin.get_by_role("button", name="Create user").click()
    expect(admin.get_by_role("heading", name="Han Instructor")).to_be_visible()
    password = admin.locator("#initial-password").inner_text().strip()
    assert len(password) >= 12
    expect(admin.get_by_role("cell", name="University U", exact=True)).to_be_visible()
    _shot(admin, "admin-user-created-en")
    # the new user signs in with it, in another browser, and may create projects
    newcomer = browser.new_context(locale="ko-KR", viewport=LAPTOP).new_page()
    _sign_in(newcomer, url, "han@example.org", password)
    expect(newcomer.locator("header .who")).to_have_text("Han Instructor")
    newcomer.goto(f"{url}/projects")
    expect(newcomer.get_by_role("heading", name="프로젝트 만들기")).to_be_visible()
    # the admin page in Korean: the new user is listed with their role
    admin.goto(f"{url}/admin/users?lang=ko")
    expect(admin.get_by_role("cell", name="han@example.org")).to_be_visible()
    _shot(admin, "admin-users-ko")
    admin.goto(f"{url}/admin/orgs?lang=en")
    expect(admin.get_by_role("button", name="Make it a review board Ministry M")).to_be_visible()
    _shot(admin, "admin-orgs-en")
    admin.context.close()
    newcomer.context.close()


def test_custodian_previews_a_refused_publication(browser: Browser, hub: tuple[str, Seed]) -> None:
    from medhaven.deid.risk_gate import evaluate_release

    url, world = hub
    frame = pd.DataFrame({"age": list(range(30, 40)), "sex": ["F"] * 10})
    verdict = evaluate_release(frame, ["age", "sex"], k_min=5, max_avg_risk=0.5).as_dict()
    body: dict[str, Any] = {
        "org_id": world.orgs["Hospital A"], "name": "Hospital A stroke registry",
        "domains": ["condition"], "person_count": 1234,
        "characterization": {"sex": {"female": 600, "male": 631, "unknown": 3}},
        "quality_summary": {"checks_passed": 40, "risk_gate": verdict},
    }  # fmt: skip
    page = browser.new_context(locale="en-GB", viewport=LAPTOP).new_page()
    _sign_in(page, url, Seed.email("custodian"), PASSWORD)
    page.get_by_role("link", name="Publish a dataset").click()
    page.get_by_label("Or paste it here").fill(json.dumps(body, indent=1))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#gate-verdict")).to_contain_text("The release gate refused this dataset")
    expect(page.locator("#preview-persons")).to_have_text("1230")
    expect(page.get_by_role("button", name="Publish to the catalogue")).to_have_count(0)
    _shot(page, "publish-preview-refused-en")
    # the same registry without a verdict, uploaded as a file: a warning, then published
    unchecked = {**body, "quality_summary": {"checks_passed": 40}}
    page.goto(f"{url}/datasets/publish")
    page.get_by_label("Publication file (JSON)").set_input_files(
        {"name": "registry.json", "mimeType": "application/json",
         "buffer": json.dumps(unchecked).encode("utf-8")}
    )  # fmt: skip
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#gate-verdict")).to_contain_text("No risk gate verdict")
    _shot(page, "publish-preview-no-verdict-en")
    page.get_by_role("button", name="Publish to the catalogue").click()
    expect(page.get_by_role("heading", name="Hospital A stroke registry")).to_be_visible()
    expect(page.locator("#gate-verdict")).to_have_text(
        "No risk gate verdict was published with this dataset."
    )
    _shot(page, "publish-dataset-en")
    page.context.close()
