"""The course journey in a real browser (Debian's Chromium through Playwright) against a real hub
whose jobs run on two real nodes in process (the node code, no Flower processes).

The instructor creates a course, enrols a student, asks for two teaching datasets (the reviewer's
approval goes through the review service, to save time), runs the reference cohort count in the
study builder, adds a cohort_count lab and creates a challenge with the New challenge form. The
student runs the same count in the study builder, passes the lab and submits a model to the
challenge; it is trained and scored at the nodes (the outcomes never leave them) and the
leaderboard shows the public score the API's leaderboard gives. A program officer's /program
shows the course's university with the enrolment of one student as "<5". Screenshots
``course-journey-*.png`` in var/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from web.conftest import PASSWORD, Seed, browser_missing_reason, seed
from web.test_browser import UNLABELLED

_reason = browser_missing_reason()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(_reason is not None, reason=_reason or "")]

if _reason is None:
    from playwright.sync_api import Browser, Page, expect
else:  # pragma: no cover - collected but skipped
    Browser = Page = object  # type: ignore[assignment,misc]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
NODES = ["north", "south"]
SEED = 20261203  # the split seed of tests/hub/test_challenges.py: every part holds outcomes


class Hub:
    """A running hub with two in-process nodes."""

    def __init__(self, url: str, db: Any, world: Seed) -> None:
        self.url, self.db, self.world = url, db, world


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    import uvicorn

    from medhaven.federation.node import NodeConfig, handle_job
    from medhaven.hub.api import HubConfig, create_app
    from medhaven.hub.db import Database
    from medhaven.hub.models import Role, User
    from medhaven.hub.schemas import DatasetCreate
    from medhaven.hub.services import catalogue, identity, jobs
    from medhaven.hub.services.common import SYSTEM_ACTOR, Principal
    from medhaven.synth.writer import CDM_FILE, write_hospitals

    root = tmp_path_factory.mktemp("journey-hub")
    db = Database(f"sqlite:///{root / 'hub.db'}")
    world = seed(db)
    with db.unit() as s:
        identity.create_user(s, email=Seed.email("instructor"), password=PASSWORD,
                             name="Prof. Choi", org_id=world.orgs["University U"],
                             role=Role.INSTRUCTOR, actor=SYSTEM_ACTOR)  # fmt: skip
        custodian = s.get(User, world.users["custodian"])
        assert custodian is not None
        me = Principal(custodian.id, identity.roles_of(custodian), "cli")
        for name in NODES:
            catalogue.publish(s, me, DatasetCreate(
                org_id=world.orgs["Hospital A"], name=name, description="Synthetic teaching data",
                domains=["condition", "drug", "measurement"], period_start=dt.date(2015, 1, 1),
                period_end=dt.date(2023, 12, 31), person_count=3000,
                terms_of_use="Teaching only.", teaching=True), min_cell_count=3)  # fmt: skip
    write_hospitals(root / "h", hospitals=2, persons=3000, seed=5)
    keys = root / "keys"
    jobs.hub_signing_key(keys)
    configs = {}
    for name, cdm in zip(NODES, sorted((root / "h").glob(f"*/{CDM_FILE}")), strict=True):
        toml = root / name / "node.toml"
        toml.parent.mkdir()
        toml.write_text(f'name = "{name}"\ncdm = "{cdm}"\n'
                        'accepted_kinds = ["cohort_count", "challenge"]\n'
                        f'hub_public_key = "{jobs.hub_public_key_path(keys)}"\n'
                        "min_train_persons = 20\nmin_cell_count = 3\n")  # fmt: skip
        configs[name] = NodeConfig.load(toml)
    dispatch = jobs.in_process_dispatcher(lambda signed, n: handle_job(signed, configs[n]), NODES)
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=keys,
                       job_dispatcher=dispatch)  # fmt: skip
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
    yield Hub(f"http://127.0.0.1:{port}", db, world)
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
    page.screenshot(path=str(SHOTS / f"course-journey-{name}.png"), full_page=True)


def _count_job(page: Page, hub: Hub, project_id: int) -> int:
    """A cohort count of essential hypertension on both datasets, through the study builder."""
    page.goto(f"{hub.url}/projects/{project_id}/study?lang=en")
    page.locator("select[name=kind]").select_option("cohort_count")
    page.locator("#s-cohort-name").select_option("essential_hypertension")
    for name in NODES:
        page.locator(f"input[name=dataset_ids]:near(:text('{name}'))").first.check()
    page.get_by_role("button", name="Submit the study").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator("#job-status")).to_contain_text("Completed", timeout=30_000)
    return int(page.url.rsplit("/", 1)[1])


def _approve(hub: Hub, request_id: int) -> None:
    """The reviewer's approval, through the review service (what the review page calls)."""
    from medhaven.hub.models import User
    from medhaven.hub.schemas import ReviewCreate
    from medhaven.hub.services import identity, review
    from medhaven.hub.services.common import Principal

    with hub.db.unit() as s:
        user = s.get(User, hub.world.users["reviewer"])
        assert user is not None
        me = Principal(user.id, identity.roles_of(user), "cli")
        review.decide(s, me, request_id, ReviewCreate(
            decision="approve", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30)))  # fmt: skip


def test_a_course_with_a_lab_and_a_challenge_end_to_end(browser: Browser, hub: Hub) -> None:
    from medhaven.hub.models import Challenge, Course

    started = time.monotonic()
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    teacher = ctx.new_page()
    _sign_in(teacher, hub, "instructor")
    # the course
    teacher.goto(f"{hub.url}/courses?lang=en")
    teacher.locator("#c-code").fill("MAI301")
    teacher.locator("#c-term").fill("2026-2")
    teacher.locator("#c-year").fill(str(dt.date.today().year))
    teacher.locator("#c-title").fill("Clinical prediction")
    teacher.get_by_role("button", name="Create course").click()
    expect(teacher).to_have_url(re.compile(r"/courses/\d+$"))
    course_id = int(teacher.url.rsplit("/", 1)[1])
    # the student
    teacher.locator("#e-email").fill(Seed.email("student"))
    teacher.get_by_role("button", name="Enrol").click()
    expect(teacher.locator("#people")).to_contain_text("Lee Student")
    # the teaching datasets: asked in the browser, approved through the review service
    for name in NODES:
        teacher.locator("#datasets").get_by_label(name).check()
    teacher.locator("#d-just").fill("Teaching MAI301")
    teacher.get_by_role("button", name="Send the request").click()
    expect(teacher).to_have_url(re.compile(r"/requests/\d+$"))
    _approve(hub, int(teacher.url.rsplit("/", 1)[1]))
    teacher.goto(f"{hub.url}/courses/{course_id}")
    for name in NODES:
        expect(teacher.locator("#datasets ul")).to_contain_text(name)
    with hub.db.unit(readonly=True) as s:  # the course's project (the staff page links none)
        course = s.get(Course, course_id)
        assert course is not None
        project_id = course.project_id
    # the reference job, then the lab
    reference = _count_job(teacher, hub, project_id)
    teacher.goto(f"{hub.url}/courses/{course_id}")
    teacher.get_by_text("Add a lab").click()
    teacher.locator("#l-title").fill("Count the hypertension cohort")
    teacher.locator("#l-kind").select_option("cohort_count")
    teacher.locator("#l-instr").fill("Count essential hypertension on both teaching datasets.")
    teacher.locator("#l-check").fill(f'{{"reference_job_id": {reference}}}')
    teacher.get_by_role("button", name="Add lab").click()
    expect(teacher.locator("#labs")).to_contain_text("Count the hypertension cohort")
    # the challenge, with the New challenge form (one bad field first)
    teacher.locator("#new-challenge").click()
    assert teacher.evaluate(UNLABELLED) == []  # every control of the form is labelled
    teacher.locator("#c-title").fill("Predict CKD")
    teacher.locator("#c-desc").fill("Who among persons with hypertension develops CKD?")
    teacher.locator("input[name=mode][value=model]").check()
    teacher.locator("#c-target").select_option("essential_hypertension")
    teacher.locator("#c-outcome").select_option("chronic_kidney_disease")
    teacher.locator("#c-test").fill("0.6")
    teacher.locator("#c-public").fill("1.5")
    for name in NODES:
        teacher.locator("#challenge-form").get_by_label(name).check()
    teacher.get_by_role("button", name="Create the challenge").click()
    expect(teacher.locator("#challenge-error")).to_contain_text("public_fraction")
    _shot(teacher, "form-error")
    teacher.locator("#c-public").fill("0.5")
    for name in NODES:
        teacher.locator("#challenge-form").get_by_label(name).check()
    _shot(teacher, "form")
    teacher.get_by_role("button", name="Create the challenge").click()
    expect(teacher).to_have_url(re.compile(r"/challenges/\d+$"))
    challenge_id = int(teacher.url.rsplit("/", 1)[1])
    with hub.db.unit() as s:  # the seed drawn at creation, pinned: every part holds outcomes
        s.execute(update(Challenge).where(Challenge.id == challenge_id).values(split_seed=SEED))
    ctx.close()

    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    pupil = ctx.new_page()
    _sign_in(pupil, hub, "student")
    job = _count_job(pupil, hub, project_id)
    pupil.goto(f"{hub.url}/courses/{course_id}")
    pupil.locator("#labs select[name=job_id]").select_option(str(job))
    pupil.locator("#labs .attempt-form button[type=submit]").click()
    expect(pupil.locator("#labs")).to_contain_text("matches the reference")
    expect(pupil.locator("#labs")).to_contain_text("Passed")
    _shot(pupil, "lab-passed")
    pupil.goto(f"{hub.url}/challenges/{challenge_id}")
    pupil.get_by_role("button", name="Submit").click()
    deadline = time.monotonic() + 60
    while "Scoring" in pupil.locator("#submissions").inner_text():
        assert time.monotonic() < deadline, "the submission was not scored"
        time.sleep(1)
        pupil.reload()
    expect(pupil.locator("#submissions")).to_contain_text("Scored")
    api = pupil.request.get(f"{hub.url}/api/v1/challenges/{challenge_id}/leaderboard")
    assert api.ok, api.text()
    rows = api.json()["rows"]
    assert len(rows) == 1 and rows[0]["name"] == "Lee Student"
    score = rows[0]["public_score"]
    assert isinstance(score, float) and 0.0 <= score <= 1.0
    board = pupil.locator("#board tbody tr").first
    expect(board).to_contain_text("Lee Student")
    cells = board.locator("td")
    expect(cells.nth(2)).to_have_text(str(score))
    assert "private_score" not in rows[0] or rows[0]["private_score"] is None
    _shot(pupil, "challenge")
    ctx.close()

    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 800})
    officer = ctx.new_page()
    _sign_in(officer, hub, "officer")
    officer.goto(f"{hub.url}/program?year={dt.date.today().year}&lang=en")
    row = officer.locator("#program-trainees tr", has_text="University U")
    expect(row).to_be_visible()
    # one student enrolled: a count from 1 to 4 is shown as the marker, never as the count
    expect(row.locator("td").nth(2)).to_have_text("<5")  # enrolled
    total = officer.locator("#program-trainees tr", has_text="Total")
    expect(total.locator("td").nth(2)).to_have_text("<5")  # the total is as small: the marker
    _shot(officer, "program")
    ctx.close()
    assert time.monotonic() - started < 120
