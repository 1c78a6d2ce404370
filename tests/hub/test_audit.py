"""The audit chain: append-only in the database, and verify names the first modified, removed
or reordered entry (after an attacker with database access bypasses the triggers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from hub.conftest import World, dataset_body
from medhaven.cli.main import app as cli
from medhaven.errors import AuditBroken, Conflict
from medhaven.hub import audit
from medhaven.hub.db import Database


def _activity(client: TestClient, world: World) -> None:
    for i in range(3):
        r = client.post(
            "/api/v1/datasets",
            json=dataset_body(world.orgs["Hospital A"], name=f"d{i}"),
            headers=world.auth("custodian"),
        )
        assert r.status_code == 201
    assert client.get("/api/v1/datasets/1", headers=world.auth("student")).status_code == 200


def _verify(db: Database) -> audit.VerifyResult:
    with db.unit() as s:
        return audit.verify(s)


def _as_attacker(db: Database, *statements: str) -> None:
    """Run raw SQL with the append-only triggers out of the way."""
    with db.engine.connect() as con:
        if db.is_sqlite:
            con.exec_driver_sql("DROP TRIGGER IF EXISTS hub_audit_no_update")
            con.exec_driver_sql("DROP TRIGGER IF EXISTS hub_audit_no_delete")
        else:
            con.exec_driver_sql("ALTER TABLE hub_audit DISABLE TRIGGER hub_audit_append_only")
        for stmt in statements:
            con.exec_driver_sql(stmt)
        con.commit()


def test_chain_is_intact_after_activity(client: TestClient, db: Database, world: World) -> None:
    _activity(client, world)
    result = _verify(db)
    assert result.intact and result.entries > 10
    r = client.get("/api/v1/audit/verify", headers=world.auth("admin"))
    assert r.json()["intact"] is True


def test_audit_table_refuses_update_and_delete(
    client: TestClient, db: Database, world: World
) -> None:
    for stmt in (
        "UPDATE hub_audit SET actor = 'x' WHERE seq = 1",
        "DELETE FROM hub_audit WHERE seq = 1",
    ):
        with pytest.raises((DBAPIError, Conflict)), db.unit() as s:
            s.execute(text(stmt))
    assert _verify(db).intact


def test_modified_entry_is_named(client: TestClient, db: Database, world: World) -> None:
    _activity(client, world)
    _as_attacker(db, 'UPDATE hub_audit SET details = \'{"kind":"company"}\' WHERE seq = 3')
    result = _verify(db)
    assert not result.intact and result.first_bad_seq == 3 and "modified" in str(result.problem)


def test_modified_entry_with_recomputed_hash_breaks_the_next_link(
    client: TestClient, db: Database, world: World
) -> None:
    _activity(client, world)
    with db.unit() as s:
        rows = list(audit.export_rows(s))
    e = rows[2]
    import datetime as dt

    forged = audit.entry_hash(
        seq=e["seq"],
        at=dt.datetime.fromisoformat(e["at"]),
        actor="user:999",
        action=e["action"],
        object_type=e["object_type"],
        object_id=e["object_id"],
        details=audit.canonical(e["details"]),
        prev_hash=e["prev_hash"],
    )
    _as_attacker(db, f"UPDATE hub_audit SET actor = 'user:999', hash = '{forged}' WHERE seq = 3")
    result = _verify(db)
    assert not result.intact and result.first_bad_seq == 4


def test_removed_entry_is_named(client: TestClient, db: Database, world: World) -> None:
    _activity(client, world)
    _as_attacker(db, "DELETE FROM hub_audit WHERE seq = 5")
    result = _verify(db)
    assert not result.intact and result.first_bad_seq == 5 and "missing" in str(result.problem)


def test_removed_last_entry_is_named(client: TestClient, db: Database, world: World) -> None:
    _activity(client, world)
    last = _verify(db).entries
    _as_attacker(db, f"DELETE FROM hub_audit WHERE seq = {last}")
    result = _verify(db)
    assert not result.intact and result.first_bad_seq == last


def test_reordered_entries_are_named(client: TestClient, db: Database, world: World) -> None:
    _activity(client, world)
    _as_attacker(
        db,
        "UPDATE hub_audit SET seq = -4 WHERE seq = 4",
        "UPDATE hub_audit SET seq = 4 WHERE seq = 5",
        "UPDATE hub_audit SET seq = 5 WHERE seq = -4",
    )
    result = _verify(db)
    assert not result.intact and result.first_bad_seq == 4


def test_cli_verify_and_export(
    client: TestClient, db: Database, world: World, tmp_path: Path
) -> None:
    _activity(client, world)
    runner = CliRunner()
    where = ["--database-url", db.url]
    r = runner.invoke(cli, ["hub", "audit", "verify", *where, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["intact"] is True
    out = tmp_path / "audit.jsonl"
    r = runner.invoke(cli, ["hub", "audit", "export", *where, "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [x["seq"] for x in lines] == list(range(1, len(lines) + 1))
    assert all(lines[i]["prev_hash"] == lines[i - 1]["hash"] for i in range(1, len(lines)))
    _as_attacker(db, "DELETE FROM hub_audit WHERE seq = 2")
    r = runner.invoke(cli, ["hub", "audit", "verify", *where, "--json"])
    assert isinstance(r.exception, AuditBroken)
    assert "entry 2" in r.exception.message
    assert r.exception.exit_code != 0
