"""Row-level least privilege: a custodian sees only requests, grants and projects that involve
datasets published by their own hospital."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World, dataset_body, project_body
from medhaven.hub.models import OrgKind, Role
from medhaven.hub.services import identity
from medhaven.hub.services.common import SYSTEM_ACTOR


def _later(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def two_hospitals(client: TestClient, world: World) -> dict[str, Any]:
    """Hospital A and B each publish a dataset; project 1 asks for A's, project 2 for B's,
    project 3 for both; all three are approved."""
    with world.db.unit() as s:
        world.orgs["Hospital B"] = identity.create_org(
            s, name="Hospital B", kind=OrgKind.HOSPITAL, actor=SYSTEM_ACTOR
        ).id
    world.add_user("custodian_b", org="Hospital B", role=Role.CUSTODIAN)
    ds = {}
    for key, org, who in [("A", "Hospital A", "custodian"), ("B", "Hospital B", "custodian_b")]:
        r = client.post(
            "/api/v1/datasets",
            json=dataset_body(world.orgs[org], name=f"ds {key}"),
            headers=world.auth(who),
        )
        assert r.status_code == 201, r.text
        ds[key] = r.json()["id"]
    out: dict[str, Any] = {"datasets": ds, "projects": {}, "requests": {}}
    for name, wanted in [("p1", ["A"]), ("p2", ["B"]), ("p3", ["A", "B"])]:
        r = client.post(
            "/api/v1/projects", json=project_body(title=name), headers=world.auth("researcher")
        )
        pid = r.json()["id"]
        r = client.post(
            "/api/v1/requests",
            json={
                "project_id": pid,
                "dataset_ids": [ds[k] for k in wanted],
                "justification": "study",
            },
            headers=world.auth("researcher"),
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        r = client.post(
            f"/api/v1/requests/{rid}/reviews",
            json={"decision": "approve", "expires_at": _later(30)},
            headers=world.auth("reviewer"),
        )
        assert r.status_code == 201 and r.json()["status"] == "approved", r.text
        out["projects"][name] = pid
        out["requests"][name] = rid
    return out


def _ids(client: TestClient, world: World, who: str, path: str) -> set[int]:
    r = client.get(path, headers=world.auth(who))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return {item["id"] for item in body["items"]}


def test_custodian_lists_only_requests_for_their_hospital(
    client: TestClient, world: World, two_hospitals: dict[str, Any]
) -> None:
    req = two_hospitals["requests"]
    assert _ids(client, world, "custodian", "/api/v1/requests") == {req["p1"], req["p3"]}
    assert _ids(client, world, "custodian_b", "/api/v1/requests") == {req["p2"], req["p3"]}
    assert _ids(client, world, "reviewer", "/api/v1/requests") == set(req.values())


def test_custodian_cannot_read_another_hospitals_request(
    client: TestClient, world: World, two_hospitals: dict[str, Any]
) -> None:
    rid = two_hospitals["requests"]["p2"]
    r = client.get(f"/api/v1/requests/{rid}", headers=world.auth("custodian"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get(f"/api/v1/requests/{rid}", headers=world.auth("custodian_b"))
    assert r.status_code == 200 and r.json()["id"] == rid


def test_custodian_sees_only_grants_on_their_datasets(
    client: TestClient, world: World, two_hospitals: dict[str, Any]
) -> None:
    r = client.get("/api/v1/grants", headers=world.auth("admin")).json()
    by_dataset: dict[int, set[int]] = {}
    for g in r["items"]:
        by_dataset.setdefault(g["dataset_id"], set()).add(g["id"])
    a, b = two_hospitals["datasets"]["A"], two_hospitals["datasets"]["B"]
    assert len(by_dataset[a]) == 2 and len(by_dataset[b]) == 2
    assert _ids(client, world, "custodian", "/api/v1/grants") == by_dataset[a]
    assert _ids(client, world, "custodian_b", "/api/v1/grants") == by_dataset[b]
    # filtering by the other hospital's dataset finds nothing, and reading one is not-found
    assert _ids(client, world, "custodian", f"/api/v1/grants?dataset_id={b}") == set()
    for gid in by_dataset[b]:
        r2 = client.get(f"/api/v1/grants/{gid}", headers=world.auth("custodian"))
        assert r2.status_code == 404
    gid = min(by_dataset[a])
    assert client.get(f"/api/v1/grants/{gid}", headers=world.auth("custodian")).status_code == 200


def test_custodian_sees_only_projects_behind_their_requests(
    client: TestClient, world: World, two_hospitals: dict[str, Any]
) -> None:
    p = two_hospitals["projects"]
    assert _ids(client, world, "custodian", "/api/v1/projects") == {p["p1"], p["p3"]}
    assert _ids(client, world, "custodian_b", "/api/v1/projects") == {p["p2"], p["p3"]}
    r = client.get(f"/api/v1/projects/{p['p2']}", headers=world.auth("custodian"))
    assert r.status_code == 404
    # a project without any request is seen by its members and oversight only
    r = client.post(
        "/api/v1/projects", json=project_body(title="quiet"), headers=world.auth("researcher")
    )
    quiet = r.json()["id"]
    for who in ("custodian", "custodian_b"):
        assert client.get(f"/api/v1/projects/{quiet}", headers=world.auth(who)).status_code == 404
    assert client.get(f"/api/v1/projects/{quiet}", headers=world.auth("officer")).status_code == 200


def test_custodian_cannot_revoke_another_hospitals_grant(
    client: TestClient, world: World, two_hospitals: dict[str, Any]
) -> None:
    b = two_hospitals["datasets"]["B"]
    gid = client.get(f"/api/v1/grants?dataset_id={b}", headers=world.auth("admin")).json()["items"][
        0
    ]["id"]
    r = client.post(
        f"/api/v1/grants/{gid}/revoke", json={"reason": "not mine"}, headers=world.auth("custodian")
    )
    assert r.status_code == 403
    assert client.get(f"/api/v1/grants/{gid}", headers=world.auth("admin")).json()["status"] == (
        "active"
    )


def test_custodian_who_is_also_a_researcher_sees_their_own_projects(
    client: TestClient, world: World, two_hospitals: dict[str, Any]
) -> None:
    with world.db.unit() as s:
        identity.add_role(
            s,
            user_id=world.users["custodian"],
            org_id=world.orgs["University U"],
            role=Role.RESEARCHER,
            actor=SYSTEM_ACTOR,
        )
    r = client.post(
        "/api/v1/projects",
        json=project_body(title="own", org_id=world.orgs["University U"]),
        headers=world.auth("custodian"),
    )
    assert r.status_code == 201, r.text
    own = r.json()["id"]
    p = two_hospitals["projects"]
    assert _ids(client, world, "custodian", "/api/v1/projects") == {p["p1"], p["p3"], own}
