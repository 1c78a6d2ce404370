"""The Alembic migration builds exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from medhaven.hub.db import Database, migrate
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
