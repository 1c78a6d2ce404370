"""Administration rules over the API: removing roles, the self-lockout guard, program officers'
read-only view of users, and publishing refused when the release gate's verdict says so."""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.conftest import World, dataset_body
from medhaven.deid.risk_gate import evaluate_release
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Dataset


def _verdict(*, passes: bool) -> dict[str, Any]:
    """A real verdict of the release gate: 10 people in 2 age groups, or 10 distinct ages."""
    ages = [40] * 5 + [50] * 5 if passes else list(range(30, 40))
    frame = pd.DataFrame({"age": ages, "sex": ["F"] * 10})
    return evaluate_release(frame, ["age", "sex"], k_min=5, max_avg_risk=0.5).as_dict()


def _datasets(db: Database) -> int:
    with db.unit(readonly=True) as s:
        return int(s.execute(select(func.count()).select_from(Dataset)).scalar_one())


def _actions(db: Database, prefix: str) -> list[str]:
    with db.unit(readonly=True) as s:
        stmt = select(AuditEntry.action).where(AuditEntry.action.startswith(prefix))
        return list(s.execute(stmt).scalars())


def test_admin_removes_a_role_and_it_stops_working(
    client: TestClient, db: Database, world: World
) -> None:
    assert client.get("/api/v1/requests", headers=world.auth("researcher")).status_code == 200
    r = client.post(
        f"/api/v1/users/{world.users['researcher']}/roles/revoke",
        json={"org_id": world.orgs["University U"], "role": "researcher"},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == []
    assert client.get("/api/v1/requests", headers=world.auth("researcher")).status_code == 403
    assert _actions(db, "user.remove_role") == ["user.remove_role"]


def test_an_admin_may_not_lock_themselves_out(
    client: TestClient, db: Database, world: World
) -> None:
    me = world.users["admin"]
    body = {"org_id": world.orgs["Ministry M"], "role": "admin"}
    r = client.post(f"/api/v1/users/{me}/roles/revoke", json=body, headers=world.auth("admin"))
    assert r.status_code == 409
    assert "your own last admin role" in r.json()["error"]["message"]
    r = client.post(f"/api/v1/users/{me}/active", json={"active": False},
                    headers=world.auth("admin"))  # fmt: skip
    assert r.status_code == 409
    assert "deactivate yourself" in r.json()["error"]["message"]
    assert client.get("/api/v1/users", headers=world.auth("admin")).status_code == 200
    assert _actions(db, "user.remove_role") == [] and _actions(db, "user.deactivate") == []
    # with a second admin role elsewhere, one of them may go
    other = {"org_id": world.orgs["Hospital A"], "role": "admin"}
    r = client.post(f"/api/v1/users/{me}/roles", json=other, headers=world.auth("admin"))
    assert r.status_code == 200
    r = client.post(f"/api/v1/users/{me}/roles/revoke", json=body, headers=world.auth("admin"))
    assert r.status_code == 200
    assert r.json()["roles"] == [{"org_id": world.orgs["Hospital A"], "role": "admin"}]


def test_program_officer_reads_and_searches_users_but_changes_nothing(
    client: TestClient, world: World
) -> None:
    r = client.get("/api/v1/users", params={"q": "STUDENT@"}, headers=world.auth("officer"))
    assert r.status_code == 200
    assert [u["email"] for u in r.json()["items"]] == ["student@example.org"]
    r = client.post(
        f"/api/v1/users/{world.users['student']}/active",
        json={"active": False},
        headers=world.auth("officer"),
    )
    assert r.status_code == 403
    assert client.get("/api/v1/users", headers=world.auth("custodian")).status_code == 403


def test_a_refused_risk_verdict_is_not_published(
    client: TestClient, db: Database, world: World
) -> None:
    refused = _verdict(passes=False)
    assert refused["released"] is False  # the gate itself refused it
    body = dataset_body(world.orgs["Hospital A"], quality_summary={"risk_gate": refused})
    r = client.post("/api/v1/datasets", json=body, headers=world.auth("custodian"))
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert message.startswith("quality_summary.risk_gate: the release gate refused")
    assert "below the minimum 5" in message and "\n" not in message
    assert _datasets(db) == 0  # nothing stored


def test_a_passing_verdict_and_no_verdict_are_published(
    client: TestClient, db: Database, world: World
) -> None:
    passed = _verdict(passes=True)
    assert passed["released"] is True
    body = dataset_body(world.orgs["Hospital A"], quality_summary={"risk_gate": passed})
    r = client.post("/api/v1/datasets", json=body, headers=world.auth("custodian"))
    assert r.status_code == 201, r.text
    assert r.json()["quality_summary"]["risk_gate"]["k"] == 5
    r = client.post(
        "/api/v1/datasets",
        json=dataset_body(world.orgs["Hospital A"], name="No verdict"),
        headers=world.auth("custodian"),
    )
    assert r.status_code == 201
    assert _datasets(db) == 2


def test_a_forged_or_malformed_verdict_is_bad_input(
    client: TestClient, db: Database, world: World
) -> None:
    forged = {**_verdict(passes=False), "released": True}  # k 1 < k_min 5, but says released
    cases = [
        ({"risk_gate": forged}, "quality_summary.risk_gate: says released"),
        ({"risk_gate": "yes"}, "quality_summary.risk_gate: not an object"),
        ({"risk_gate": {"released": "true"}}, "quality_summary.risk_gate.released"),
        ({"risk_gate": {**forged, "k": None}}, "quality_summary.risk_gate.k: not a number"),
    ]
    for summary, start in cases:
        body = dataset_body(world.orgs["Hospital A"], quality_summary=summary)
        r = client.post("/api/v1/datasets", json=body, headers=world.auth("custodian"))
        assert r.status_code == 400, summary
        assert r.json()["error"]["message"].startswith(start)
    assert _datasets(db) == 0
