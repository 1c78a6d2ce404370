"""Web fixtures: a hub database seeded through the hub's services, an app, signed-in clients."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import OrgKind, ProjectType, Role
from medhaven.hub.schemas import DatasetCreate, ProjectCreate
from medhaven.hub.security import set_password_cost
from medhaven.hub.services import catalogue, identity, projects
from medhaven.hub.services.common import SYSTEM_ACTOR, Principal

PASSWORD = "correct horse battery staple"
DATASET = "Hospital A diabetes cohort"
PROJECT = "HbA1c trajectories"


@pytest.fixture(autouse=True, scope="session")
def _cheap_argon2() -> None:
    """Still argon2id, at a cost that keeps the tests fast on two cores."""
    set_password_cost(time_cost=1, memory_cost_kib=1024)


@dataclass
class Seed:
    """Organisations, one user per role (email ``KEY@example.org``), a dataset and a project."""

    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    dataset_id: int = 0
    project_id: int = 0

    @staticmethod
    def email(key: str) -> str:
        """The email of a seeded user."""
        return f"{key}@example.org"


def seed(db: Database) -> Seed:
    """Hospital A (custodian, a published dataset), University U (researcher leading a project
    with the student as a member; student), a central Review Board (reviewer), Ministry M
    (program officer, admin); all through the hub's services."""
    out = Seed()
    people = [
        ("custodian", "Hospital A", Role.CUSTODIAN, "Kim Custodian"),
        ("researcher", "University U", Role.RESEARCHER, "Dr. Park"),
        ("student", "University U", Role.STUDENT, "Lee Student"),
        ("reviewer", "Review Board", Role.REVIEWER, "Dr. Kang Reviewer"),
        ("officer", "Ministry M", Role.PROGRAM_OFFICER, "Yoon Officer"),
        ("admin", "Ministry M", Role.ADMIN, "Admin"),
    ]
    with db.unit() as s:
        for name, kind in [
            ("Hospital A", OrgKind.HOSPITAL),
            ("University U", OrgKind.UNIVERSITY),
            ("Review Board", OrgKind.RESEARCH_INSTITUTE),
            ("Ministry M", OrgKind.MINISTRY),
        ]:
            out.orgs[name] = identity.create_org(
                s, name=name, kind=kind, actor=SYSTEM_ACTOR, review_board=name == "Review Board"
            ).id
        users = {}
        for key, org, role, display in people:
            users[key] = identity.create_user(
                s, email=Seed.email(key), password=PASSWORD, name=display,
                org_id=out.orgs[org], role=role, actor=SYSTEM_ACTOR,
            )  # fmt: skip
            out.users[key] = users[key].id

        def principal(key: str) -> Principal:
            return Principal(users[key].id, identity.roles_of(users[key]), "cli")

        ds = catalogue.publish(
            s,
            principal("custodian"),
            DatasetCreate(
                org_id=out.orgs["Hospital A"], name=DATASET,
                description="Adults with type 2 diabetes, 2015-2023",
                domains=["condition", "drug", "measurement"],
                period_start=dt.date(2015, 1, 1), period_end=dt.date(2023, 12, 31),
                person_count=12345,
                characterization={"sex": {"female": 6100, "male": 6242, "unknown": 3}},
                quality_summary={"checks_passed": 41, "checks_failed": 1},
                terms_of_use="No re-identification.",
            ),
            min_cell_count=5,
        )  # fmt: skip
        out.dataset_id = ds.id
        project = projects.create(
            s,
            principal("researcher"),
            ProjectCreate(
                title=PROJECT, purpose="Predict poor glycaemic control",
                type=ProjectType.ACADEMIC, ethics_ref="IRB-2026-001",
                domains=["condition", "measurement"],
                start_date=dt.date(2026, 1, 1), end_date=dt.date(2027, 12, 31),
            ),
        )  # fmt: skip
        projects.add_member(s, principal("researcher"), project.id, users["student"].id)
        out.project_id = project.id
    return out


@pytest.fixture
def web_db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite hub database."""
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def world(web_db: Database) -> Seed:
    """The seeded hub."""
    return seed(web_db)


@pytest.fixture
def client(web_db: Database, world: Seed) -> Iterator[TestClient]:
    """An in-process client on a hub app (pages at /, API under /api/v1)."""
    app = create_app(HubConfig(database_url=web_db.url, secure_cookies=False), database=web_db)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


def sign_in(client: TestClient, key: str) -> str:
    """Sign ``key`` in through the form; returns the CSRF token the pages embed."""
    r = client.post(
        "/signin",
        data={"email": Seed.email(key), "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/profile")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "no CSRF token in the page"
    return match.group(1)


# -- the browser (Playwright with Debian's Chromium; never a downloaded browser) -------------

CHROMIUM = Path("/usr/bin/chromium")


def browser_missing_reason() -> str | None:
    """Why browser tests cannot run here (None: they can). In CI (MEDHAVEN_CI=1) they must."""
    import os

    if os.environ.get("MEDHAVEN_CI") == "1":
        return None
    if not CHROMIUM.exists():
        return "no browser: apt-get install chromium fonts-nanum (Debian's Chromium is used)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, object]) -> dict[str, object]:
    """Launch the system Chromium (pytest-playwright's fixture, overridden)."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": ["--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"],
    }  # fmt: skip
