"""The node console in a real browser (Debian's Chromium): a custodian signs in, checks a held
result shown as tables, and releases it; then looks at the Korean queue and the audit log.
Screenshots go to ``var/screenshots/console-*.png``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from web.conftest import browser_missing_reason
from web.test_console import EMAIL, PASSWORD, NodeDir, hospital, node

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, expect
else:  # pragma: no cover - collected but skipped
    Browser = object  # type: ignore[assignment,misc]

__all__ = ["hospital", "node"]  # fixtures shared with test_console
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture
def console_url(node: NodeDir) -> Iterator[str]:
    import uvicorn

    from medhaven.web.console import create_console_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_console_app(node.toml), host="127.0.0.1",
                                           port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_custodian_signs_in_and_releases_a_held_result(
    browser: Browser, console_url: str, node: NodeDir
) -> None:
    job_id = node.hold()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{console_url}/")
    expect(page.get_by_role("heading", name="Node console")).to_be_visible()
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page.get_by_role("heading", name="Node seoul")).to_be_visible()
    expect(page.locator("#gate-verdict")).to_contain_text("Released")
    page.screenshot(path=str(SHOTS / "console-overview-en.png"), full_page=True)
    page.get_by_role("navigation").get_by_role("link", name="Release queue").click()
    held = page.locator(f"#held-{job_id}")
    expect(held.locator("table.result").first).to_be_visible()
    page.screenshot(path=str(SHOTS / "console-queue-en.png"), full_page=True)
    held.get_by_role("button", name="Release").click()
    expect(page.locator("#queue-empty")).to_be_visible()
    page.goto(f"{console_url}/audit?lang=ko")
    expect(page.locator("#chain")).to_contain_text("해시 체인이 온전합니다")
    expect(page.locator("#audit")).to_contain_text(EMAIL)
    page.screenshot(path=str(SHOTS / "console-audit-ko.png"), full_page=True)
    assert [e["outcome"] for e in node.audit()][-1] == "released"
    page.context.close()
