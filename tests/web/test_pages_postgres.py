"""The review flow through the pages on PostgreSQL (row locks, the audit triggers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conftest import _empty_postgres, _pg_module_schema  # noqa: F401 - fixture
from medhaven.hub import audit
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import Grant, Project
from web.conftest import PROJECT, Seed, seed, sign_in
from web.test_pages import review_flow

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_client(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, Database, Seed]]:
    """A hub app on an emptied PostgreSQL schema (one per module), seeded."""
    url = str(request.getfixturevalue("_pg_module_schema"))
    _empty_postgres(url)
    db = Database(url)
    try:
        world = seed(db)
        app = create_app(HubConfig(database_url=db.url, secure_cookies=False), database=db)
        with TestClient(app, base_url="http://testserver") as c:
            yield c, db, world
    finally:
        db.close()


def test_review_flow_on_postgresql(pg_client: tuple[TestClient, Database, Seed]) -> None:
    client, db, world = pg_client
    review_flow(client, world)
    with db.unit(readonly=True) as s:
        grants = list(s.execute(select(Grant)).scalars())
        assert [(g.project_id, g.dataset_id) for g in grants] == [
            (world.project_id, world.dataset_id)
        ]
        assert grants[0].conditions == "aggregate results only"
        assert audit.verify(s).intact


def test_forged_csrf_writes_nothing_on_postgresql(
    pg_client: tuple[TestClient, Database, Seed],
) -> None:
    client, db, _world = pg_client
    sign_in(client, "researcher")
    form = {"csrf_token": "forged", "title": "Sepsis onset", "purpose": "P", "type": "academic",
            "domains": "condition", "start_date": "2026-01-01", "end_date": "2026-02-01"}  # fmt: skip
    assert client.post("/projects", data=form).status_code == 403
    with db.unit(readonly=True) as s:
        titles = list(s.execute(select(Project.title)).scalars())
    assert titles == [PROJECT]
