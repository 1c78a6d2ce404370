"""The hub: organisations, users and roles, projects, the dataset catalogue, access requests,
review-board decisions, grants and a tamper-evident audit log, behind a REST API.

* :mod:`.models`, :mod:`.db`, ``migrations/``: SQLAlchemy 2 state (SQLite or PostgreSQL), Alembic;
* :mod:`.security`, :mod:`.permissions`, :mod:`.ratelimit`: passwords, tokens, the route table;
* :mod:`.services`: every action, one transaction each, shared by the API and the CLI;
* :mod:`.audit`: the append-only SHA-256 chain, verify and export;
* :mod:`.api`: the FastAPI app under ``/api/v1``;
* :mod:`.client`: a small httpx client for the CLI and notebooks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Database", "HubClient", "open_database"]


def __getattr__(name: str) -> Any:
    """Import lazily, so that `medhaven --help` does not pay for SQLAlchemy and Alembic."""
    if name in {"Database", "open_database"}:
        from medhaven.hub import db

        return getattr(db, name)
    if name == "HubClient":
        from medhaven.hub.client import HubClient

        return HubClient
    raise AttributeError(name)
