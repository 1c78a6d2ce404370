"""One error shape for every failure: stable code, one line, no internal detail."""

from __future__ import annotations

import logging
import threading

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hub.conftest import World
from medhaven.cli.main import app as cli
from medhaven.errors import MedHavenError, StoreError
from medhaven.hub import audit
from medhaven.hub.api.deps import authorize
from medhaven.hub.db import Database
from medhaven.hub.models import OrgKind
from medhaven.hub.permissions import EVERYONE, PERMISSIONS
from medhaven.hub.services import identity


def test_unexpected_exception_is_a_generic_500(
    client: TestClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = client.app
    monkeypatch.setitem(PERMISSIONS, "GET /api/v1/boom", EVERYONE)

    @app.get("/api/v1/boom", dependencies=[Depends(authorize)])  # type: ignore[attr-defined, untyped-decorator]
    def boom() -> None:
        raise RuntimeError("internal detail: person 12345")

    caplog.set_level(logging.INFO)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/boom", headers=world.auth("student"))
    assert r.status_code == 500
    assert r.json() == {
        "error": {
            "code": "internal_error",
            "message": "internal error; the operator's log has the detail",
        }
    }
    assert "12345" not in r.text and "Traceback" not in r.text
    assert "12345" not in caplog.text


def test_unknown_route_and_method_use_the_error_shape(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/nowhere", headers=world.auth("admin"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.put("/api/v1/datasets", headers=world.auth("admin"))
    assert r.status_code == 405 and set(r.json()["error"]) == {"code", "message"}
    r = client.post("/api/v1/projects", headers=world.auth("researcher"), content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"


def test_unreachable_database_is_a_store_error() -> None:
    runner = CliRunner()
    r = runner.invoke(
        cli, ["hub", "audit", "verify", "--database-url", "postgresql://nobody:pw@127.0.0.1:1/none"]
    )
    assert isinstance(r.exception, StoreError)
    assert "pw" not in r.exception.message and "\n" not in r.exception.message


def test_same_name_created_twice_at_once_is_a_conflict(db: Database) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def create() -> None:
        barrier.wait()
        try:
            with db.unit() as s:
                outcomes.append(
                    identity.create_org(s, name="Twin", kind=OrgKind.COMPANY, actor="t").id
                )
        except MedHavenError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "int"]
    with db.unit() as s:
        assert audit.verify(s).intact
