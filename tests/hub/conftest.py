"""Hub fixtures: a fresh hub database per test on SQLite and on PostgreSQL, an app, users."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from conftest import postgres_url
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import OrgKind, Role
from medhaven.hub.security import set_password_cost
from medhaven.hub.services import identity
from medhaven.hub.services.common import SYSTEM_ACTOR

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True, scope="session")
def _cheap_argon2() -> None:
    """Still argon2id, at a cost that keeps the suite fast on two cores."""
    set_password_cost(time_cost=1, memory_cost_kib=1024)


@pytest.fixture(scope="module")
def _pg_module_schema() -> Iterator[str]:
    """One fresh PostgreSQL schema per test module, migrated once, dropped at the end."""
    import psycopg

    base = postgres_url()
    assert base is not None
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"hub_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in plain else "?"
    url = (
        "postgresql+psycopg://"
        + plain.split("://", 1)[1]
        + f"{sep}options=-csearch_path%3D{schema}"
    )
    Database(url).close()  # migrate once
    yield url
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _empty_postgres(url: str) -> None:
    """Empty every hub table (ids restart) and reset the audit head: a fresh hub per test."""
    from sqlalchemy import create_engine, text

    from medhaven.hub.models import Base

    engine = create_engine(url)
    try:
        with engine.begin() as con:
            con.execute(
                text("ALTER TABLE hub_audit ENABLE TRIGGER ALL")
            )  # an attacker test may disable it
            names = ", ".join(
                t.name for t in Base.metadata.sorted_tables if t.name != "hub_audit_head"
            )
            con.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            con.execute(text("UPDATE hub_audit_head SET seq = 0, hash = :h"), {"h": "0" * 64})
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty hub database URL: SQLite in a temp dir, or the module's emptied PG schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
    else:
        url = request.getfixturevalue("_pg_module_schema")
        _empty_postgres(url)
        yield url


@pytest.fixture
def db(hub_url: str) -> Iterator[Database]:
    """The migrated hub database."""
    database = Database(hub_url)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    """An in-process HTTP client on a hub app over ``db``."""
    app = create_app(HubConfig(database_url=db.url, secure_cookies=False), database=db)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@dataclass
class World:
    """Organisations and one user (with an API token) per role."""

    db: Database
    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def add_user(self, key: str, *, org: str, role: Role, password: str = PASSWORD) -> str:
        """A user holding ``role`` in ``org``; returns their API token."""
        with self.db.unit() as s:
            return self._add_user(s, key, org=org, role=role, password=password)

    def _add_user(
        self, s: Session, key: str, *, org: str, role: Role, password: str = PASSWORD
    ) -> str:
        user = identity.create_user(
            s,
            email=f"{key}@example.org",
            password=password,
            name=key,
            org_id=self.orgs[org],
            role=role,
            actor=SYSTEM_ACTOR,
        )
        _, secret = identity.issue_token(
            s, user=user, name="test", scopes=["read", "write"], ttl=dt.timedelta(days=1)
        )
        self.users[key] = user.id
        self.tokens[key] = secret
        return secret

    def auth(self, key: str) -> dict[str, str]:
        """Authorization header for a user."""
        return {"Authorization": f"Bearer {self.tokens[key]}"}


@pytest.fixture
def world(db: Database) -> World:
    """Hospital A (custodian), University U (researcher, instructor, student), the central
    Review Board (reviewers), Ministry M (program officer, admin)."""
    w = World(db)
    with db.unit() as s:
        for name, kind in [
            ("Hospital A", OrgKind.HOSPITAL),
            ("University U", OrgKind.UNIVERSITY),
            ("Review Board", OrgKind.RESEARCH_INSTITUTE),
            ("Ministry M", OrgKind.MINISTRY),
        ]:
            w.orgs[name] = identity.create_org(
                s, name=name, kind=kind, actor=SYSTEM_ACTOR, review_board=name == "Review Board"
            ).id
        w._add_user(s, "custodian", org="Hospital A", role=Role.CUSTODIAN)
        w._add_user(s, "researcher", org="University U", role=Role.RESEARCHER)
        w._add_user(s, "instructor", org="University U", role=Role.INSTRUCTOR)
        w._add_user(s, "student", org="University U", role=Role.STUDENT)
        w._add_user(s, "reviewer", org="Review Board", role=Role.REVIEWER)
        w._add_user(s, "reviewer2", org="Review Board", role=Role.REVIEWER)
        w._add_user(s, "officer", org="Ministry M", role=Role.PROGRAM_OFFICER)
        w._add_user(s, "admin", org="Ministry M", role=Role.ADMIN)
    return w


def dataset_body(org_id: int, **over: object) -> dict[str, object]:
    """A dataset to publish."""
    body: dict[str, object] = {
        "org_id": org_id,
        "name": "Hospital A diabetes cohort",
        "description": "Adults with type 2 diabetes, 2015-2023",
        "domains": ["condition", "drug", "measurement"],
        "period_start": "2015-01-01",
        "period_end": "2023-12-31",
        "person_count": 12345,
        "characterization": {"sex": {"female": 6100, "male": 6242, "unknown": 3}},
        "terms_of_use": "No re-identification.",
        "required_approvals": 1,
    }
    body.update(over)
    return body


def project_body(**over: object) -> dict[str, object]:
    """A project to create."""
    body: dict[str, object] = {
        "title": "HbA1c trajectories",
        "purpose": "Predict poor glycaemic control",
        "type": "academic",
        "ethics_ref": "IRB-2026-001",
        "domains": ["condition", "measurement"],
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
    }
    body.update(over)
    return body
