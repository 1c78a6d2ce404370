"""The study builder and a train result in a real browser (Debian's Chromium through Playwright)
against a real hub server whose jobs run on a real node in process (no Flower processes)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from web.conftest import DATASET, PASSWORD, Seed, browser_missing_reason, seed
from web.studies import grant, store_train_job, train_document
from web.test_browser import UNLABELLED

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


class StudyHub:
    """A running hub that signs jobs and runs them on one real node in process."""

    def __init__(self, url: str, db: Any, world: Seed, tmp: Path) -> None:
        self.url, self.db, self.world, self.tmp = url, db, world, tmp


@pytest.fixture(scope="module")
def study_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudyHub]:
    import uvicorn

    from medhaven.federation.node import NodeConfig, handle_job
    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database
    from medhaven.hub.services import jobs
    from medhaven.synth.writer import CDM_FILE, write_hospitals

    root = tmp_path_factory.mktemp("study-hub")
    db = Database(f"sqlite:///{root / 'hub.db'}")
    world = seed(db)
    grant(db, world)
    write_hospitals(root / "h", hospitals=1, persons=200, seed=11)
    [cdm] = sorted((root / "h").glob(f"*/{CDM_FILE}"))
    keys = root / "keys"
    jobs.hub_signing_key(keys)
    toml = root / "node.toml"
    toml.write_text(
        f'name = "{DATASET}"\ncdm = "{cdm}"\naccepted_kinds = ["cohort_count"]\n'
        f'hub_public_key = "{jobs.hub_public_key_path(keys)}"\n'
        'audit_log = "audit.jsonl"\nanswered_jobs = "answered"\n',
        encoding="utf-8",
    )
    node = NodeConfig.load(toml)
    dispatcher = jobs.in_process_dispatcher(lambda signed, _n: handle_job(signed, node), [DATASET])
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=keys,
                       job_dispatcher=dispatcher)  # fmt: skip
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
    yield StudyHub(f"http://127.0.0.1:{port}", db, world, root)
    server.should_exit = True
    thread.join(10)
    db.close()


def _sign_in(page: Page, hub: StudyHub, key: str) -> None:
    page.goto(f"{hub.url}/signin")
    page.locator("#email").fill(Seed.email(key))
    page.locator("#password").fill(PASSWORD)
    page.locator("main button[type=submit]").click()
    expect(page.locator("header .who")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_researcher_builds_a_cohort_count_in_korean_and_sees_the_job(
    browser: Browser, study_hub: StudyHub
) -> None:
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, study_hub, "researcher")
    page.goto(f"{study_hub.url}/projects/{study_hub.world.project_id}")
    page.get_by_role("link", name="새 연구").click()
    expect(page.get_by_role("heading", name="새 연구")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []  # every control of the builder is labelled
    page.get_by_label("연구 종류").select_option("cohort_count")
    page.locator("#s-cohort-name").select_option("essential_hypertension")
    # a pasted definition that is not JSON: the form says which field, and nothing is sent
    page.locator("#s-cohort-json").fill("{not json")
    page.get_by_label(DATASET).check()
    page.get_by_role("button", name="연구 제출").click()
    expect(page.locator("#study-error")).to_contain_text("cohort_json: not valid JSON")
    _shot(page, "study-builder-error-ko")
    page.locator("#s-cohort-json").fill("")
    page.get_by_label(DATASET).check()
    page.get_by_role("button", name="연구 제출").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-status")).to_contain_text("완료", timeout=20_000)
    expect(page.locator("table.result").first).to_be_visible(timeout=20_000)
    assert page.evaluate("document.documentElement.lang") == "ko"
    _shot(page, "study-job-ko")
    ctx.close()


def test_train_result_page_shows_metrics_and_plots(browser: Browser, study_hub: StudyHub) -> None:
    doc = train_document(study_hub.tmp / "train")
    job_id = store_train_job(study_hub.db, study_hub.world, doc)
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, study_hub, "student")
    page.goto(f"{study_hub.url}/jobs/{job_id}")
    expect(page.locator("#train-metrics")).to_contain_text("hospital-a")
    expect(page.locator("#roc-plot svg")).to_be_visible()
    expect(page.locator("#calibration-plot svg")).to_be_visible()
    expect(
        page.get_by_role("link", name="Download the released model bundle (JSON)")
    ).to_be_visible()
    _shot(page, "train-result-en")
    ctx.close()


def test_secure_aggregation_is_refused_for_lightgbm_in_the_form_and_sent_for_an_mlp(
    browser: Browser, study_hub: StudyHub
) -> None:
    from sqlalchemy import select

    from medhaven.hub.models import Job

    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    _sign_in(page, study_hub, "researcher")
    page.goto(f"{study_hub.url}/projects/{study_hub.world.project_id}/study")
    assert page.evaluate(UNLABELLED) == []  # the new fields are labelled too
    page.get_by_label("연구 종류").select_option("prediction")
    page.locator("#s-cohort-name").select_option("essential_hypertension")
    page.locator("#s-outcome-name").select_option("heart_failure_admission")
    page.locator("#s-model").select_option("lightgbm")
    page.get_by_label("보안 집계").check()
    page.get_by_label(DATASET).check()
    page.get_by_role("button", name="연구 제출").click()
    expect(page.locator("#study-error")).to_contain_text(
        "parameters.secure_aggregation: for logistic_l2 (Newton) and mlp (FedAvg) only"
    )
    expect(page.get_by_label("보안 집계")).to_be_checked()  # the form as it was sent
    _shot(page, "study-builder-secagg-refused-ko")
    page.locator("#s-model").select_option("mlp")
    page.locator("#s-rounds").fill("3")
    page.get_by_label(DATASET).check()
    page.get_by_role("button", name="연구 제출").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    job_id = int(page.url.rsplit("/", 1)[1])
    with study_hub.db.unit(readonly=True) as s:
        job = s.execute(select(Job).where(Job.id == job_id)).scalar_one()
        assert job.kind == "train" and job.parameters["model"] == {"kind": "mlp"}
        assert job.parameters["secure_aggregation"] is True and job.parameters["rounds"] == 3
    ctx.close()
