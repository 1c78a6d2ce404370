"""Alembic environment: runs on the connection the hub passes in (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from medhaven.hub.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through medhaven.hub.db.migrate
    raise RuntimeError("run hub migrations through medhaven.hub.db.migrate")
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
