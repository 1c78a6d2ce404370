"""The Alembic migrations build exactly the schema the models describe, on both backends, and\nan upgrade from 0001 keeps decided requests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from conftest import postgres_url
from medhaven.errors import ConfigError
from medhaven.hub.db import MIGRATIONS, Database, make_engine, migrate
from medhaven.hub.models import Base


def test_migration_matches_the_models(db: Database) -> None:
    with db.engine.connect() as con:
        diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(db: Database) -> None:
    before = sorted(inspect(db.engine).get_table_names())
    migrate(db.engine)
    assert sorted(inspect(db.engine).get_table_names()) == before
    assert "hub_audit" in before and "alembic_version" in before


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no hub schema at all: SQLite in a temp dir, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    import psycopg

    base = postgres_url()
    assert base is not None
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    schema = f"hubmig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in plain else "?"
    yield (
        "postgresql+psycopg://"
        + plain.split("://", 1)[1]
        + f"{sep}options=-csearch_path%3D{schema}"
    )
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _upgrade(engine: Engine, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as con:
        cfg.attributes["connection"] = con
        command.upgrade(cfg, revision)
        con.commit()


def test_upgrade_from_0001_keeps_decided_requests_per_dataset(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        _upgrade(engine, "0001")
        at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
        if engine.dialect.name == "sqlite":
            at = at.replace(tzinfo=None)
        rows = [
            ("hub_org", {"id": 1, "name": "H", "kind": "hospital", "created_at": at}),
            ("hub_org", {"id": 2, "name": "U", "kind": "university", "created_at": at}),
            (
                "hub_user",
                {
                    "id": 1,
                    "email": "a@b.c",
                    "name": "",
                    "password_hash": "x",
                    "active": True,
                    "failed_logins": 0,
                    "created_at": at,
                },
            ),
        ]
        for i, approvals in [(1, 2), (2, 1)]:
            rows.append(
                (
                    "hub_dataset",
                    {
                        "id": i,
                        "org_id": 1,
                        "name": f"d{i}",
                        "description": "",
                        "cdm_version": "5.4",
                        "domains": "|drug|",
                        "characterization": "{}",
                        "quality_summary": "{}",
                        "terms_of_use": "",
                        "teaching": False,
                        "required_approvals": approvals,
                        "published_by": 1,
                        "created_at": at,
                    },
                )
            )
        rows += [
            (
                "hub_project",
                {
                    "id": 1,
                    "org_id": 2,
                    "title": "t",
                    "purpose": "p",
                    "type": "academic",
                    "lead_id": 1,
                    "domains": "[]",
                    "start_date": dt.date(2026, 1, 1),
                    "end_date": dt.date(2027, 1, 1),
                    "created_at": at,
                },
            ),
            (
                "hub_access_request",
                {
                    "id": 1,
                    "project_id": 1,
                    "org_id": 2,
                    "requested_by": 1,
                    "justification": "j",
                    "status": "rejected",
                    "required_approvals": 2,
                    "created_at": at,
                    "decided_at": at,
                },
            ),
            ("hub_access_request_dataset", {"id": 1, "request_id": 1, "dataset_id": 1}),
            ("hub_access_request_dataset", {"id": 2, "request_id": 1, "dataset_id": 2}),
            (
                "hub_review",
                {
                    "id": 1,
                    "request_id": 1,
                    "reviewer_id": 1,
                    "decision": "reject",
                    "conditions": "",
                    "reasons": "r",
                    "decided_at": at,
                },
            ),
        ]
        with engine.begin() as con:
            for table, values in rows:
                cols = ", ".join(values)
                marks = ", ".join(f":{k}" for k in values)
                con.execute(text(f"INSERT INTO {table} ({cols}) VALUES ({marks})"), values)
        _upgrade(engine, "head")
        with engine.connect() as con:
            items = con.execute(
                text(
                    "SELECT dataset_id, status, required_approvals, decided_at IS NOT NULL"
                    " FROM hub_access_request_dataset ORDER BY dataset_id"
                )
            ).all()
            covered = con.execute(
                text(
                    "SELECT review_id, dataset_id, reviewer_id, decision FROM hub_review_dataset"
                    " ORDER BY dataset_id"
                )
            ).all()
            boards = con.execute(text("SELECT review_board FROM hub_org")).scalars().all()
        assert [tuple(r) for r in items] == [(1, "rejected", 2, True), (2, "rejected", 1, True)]
        assert [tuple(r) for r in covered] == [(1, 1, 1, "reject"), (1, 2, 1, "reject")]
        assert [bool(b) for b in boards] == [False, False]
        with engine.connect() as con:
            diff = compare_metadata(MigrationContext.configure(con), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_below_0002_is_refused_with_a_clear_error(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        _upgrade(engine, "0002")
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with engine.connect() as con:
            cfg.attributes["connection"] = con
            with pytest.raises(ConfigError, match="cannot be downgraded below 0002"):
                command.downgrade(cfg, "0001")
            con.rollback()
            version = con.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version is not None and version.startswith("0002")
    finally:
        engine.dispose()
