"""Result pages in a real browser (Debian's Chromium through Playwright): a characterization,
an incidence and a cohort count made by the real node code, the model card of a train job made
by the real node-training rounds, and the dataset page's charts; screenshots to look at."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from web.conftest import DATASET, PASSWORD, Seed, browser_missing_reason, seed
from web.studies import grant, store_train_job, train_document
from web.test_results import Sites, make_sites, run_job

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


class ResultHub:
    """A running hub (no dispatcher) whose results are stored as the hub stores them."""

    def __init__(self, url: str, db: Any, world: Seed, tmp: Path) -> None:
        self.url, self.db, self.world, self.tmp = url, db, world, tmp


@pytest.fixture(scope="module")
def result_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResultHub]:
    import uvicorn

    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database

    root = tmp_path_factory.mktemp("result-hub")
    db = Database(f"sqlite:///{root / 'hub.db'}")
    world = seed(db)
    grant(db, world)
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=root / "keys")
    app = create_app(config, database=db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.05)
    yield ResultHub(f"http://127.0.0.1:{port}", db, world, root)
    server.should_exit = True
    thread.join(10)
    db.close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    """Hospitals large enough that most strata show a rate (smaller ones hide nearly all)."""
    return make_sites(tmp_path_factory.mktemp("browser-sites"), persons=1500)


def _sign_in(page: Page, hub: ResultHub, key: str) -> None:
    page.goto(f"{hub.url}/signin")
    page.locator("#email").fill(Seed.email(key))
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_characterization_incidence_and_count_results_with_charts(
    browser: Browser, result_hub: ResultHub, sites: Sites
) -> None:
    hub = result_hub
    char = run_job(hub.db, hub.world, sites, "characterize",
                   {"cohort": "essential_hypertension", "top": 5})  # fmt: skip
    inc = run_job(hub.db, hub.world, sites, "incidence",
                  {"target": "essential_hypertension", "outcome": "acute_respiratory_infection",
                   "tar_days": 3650})  # fmt: skip
    count = run_job(hub.db, hub.world, sites, "cohort_count",
                    {"definition": "essential_hypertension"})  # fmt: skip
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub, "researcher")
    page.goto(f"{hub.url}/jobs/{char}")
    expect(page.locator("#section-persons_by_sex svg.bars")).to_be_visible()
    expect(page.locator("#section-persons_by_age_group svg.bars")).to_be_visible()
    expect(page.locator("#result-partial")).to_be_visible()  # the strict node hid cells
    _shot(page, "result-characterize-en")
    page.goto(f"{hub.url}/jobs/{char}?lang=ko")
    expect(page.locator("#section-persons_by_sex")).to_contain_text("합계")
    _shot(page, "result-characterize-ko")
    page.goto(f"{hub.url}/jobs/{inc}?lang=en")
    expect(page.locator("#stratum-age_group svg.bars")).to_be_visible()
    _shot(page, "result-incidence-en")
    page.goto(f"{hub.url}/jobs/{count}")
    expect(page.locator("#attrition")).to_contain_text("Aged 18 to 85")
    expect(page.locator("figure.chart svg.bars").first).to_be_visible()
    _shot(page, "result-count-en")
    ctx.close()


def test_model_card_page_and_dataset_charts(browser: Browser, result_hub: ResultHub) -> None:
    hub = result_hub
    doc = train_document(hub.tmp / "train")
    job_id = store_train_job(hub.db, hub.world, doc)
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, hub, "researcher")
    page.goto(f"{hub.url}/jobs/{job_id}")
    page.get_by_role("link", name="Model card, TRIPOD+AI and external validation").click()
    expect(page.locator("#card-performance")).to_contain_text("hospital-b")
    expect(page.locator("#roc-plot svg")).to_be_visible()
    expect(page.locator("#tripod-summary")).to_contain_text("items reported")
    _shot(page, "result-card-en")
    page.goto(f"{hub.url}/jobs/{job_id}/card?lang=ko")
    expect(page.locator("h1")).to_contain_text("모델 카드")
    _shot(page, "result-card-ko")
    page.goto(f"{hub.url}/datasets/{hub.world.dataset_id}?lang=en")
    expect(page.get_by_role("heading", name=DATASET)).to_be_visible()
    _shot(page, "dataset-charts-en")
    ctx.close()
