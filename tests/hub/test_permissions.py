"""The permission table covers every route; each role against each route is allowed or denied."""

from __future__ import annotations

import re

from fastapi import Depends
from fastapi.testclient import TestClient

from hub.conftest import World
from medhaven.hub.api.deps import authorize
from medhaven.hub.models import Role
from medhaven.hub.permissions import PERMISSIONS, PUBLIC

METHODS = {"get", "post", "put", "patch", "delete"}
ROLE_USER = {
    Role.CUSTODIAN: "custodian",
    Role.REVIEWER: "reviewer",
    Role.RESEARCHER: "researcher",
    Role.INSTRUCTOR: "instructor",
    Role.STUDENT: "student",
    Role.PROGRAM_OFFICER: "officer",
    Role.ADMIN: "admin",
}


def _routes(client: TestClient) -> set[str]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {f"{m.upper()} {p}" for p, ops in paths.items() for m in ops if m in METHODS}


def _concrete(key: str) -> tuple[str, str]:
    method, path = key.split(" ", 1)
    return method, re.sub(r"\{[a-z_]+\}", "999999", path)


def test_permission_table_covers_exactly_the_routes(client: TestClient) -> None:
    routes = _routes(client)
    assert routes - set(PERMISSIONS) == set(), "routes without a permission entry"
    assert set(PERMISSIONS) - routes == set(), "permission entries for routes that do not exist"


def test_route_without_entry_is_denied_to_everyone(client: TestClient, world: World) -> None:
    app = client.app

    @app.get("/api/v1/unlisted", dependencies=[Depends(authorize)])  # type: ignore[attr-defined, untyped-decorator]
    def unlisted() -> dict[str, str]:
        return {"secret": "yes"}

    r = client.get("/api/v1/unlisted", headers=world.auth("admin"))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_every_role_against_every_route(client: TestClient, world: World) -> None:
    checked = 0
    # logout revokes the caller's token, so it goes last
    for key, allowed in sorted(PERMISSIONS.items(), key=lambda kv: kv[0].endswith("/logout")):
        if allowed == PUBLIC:
            continue
        method, path = _concrete(key)
        for role, user in ROLE_USER.items():
            r = client.request(method, path, headers=world.auth(user), json={})
            route_denied = r.status_code == 403 and r.json()["error"]["message"].startswith(
                "none of your roles"
            )
            if role in allowed:
                assert not route_denied, f"{role} should reach {key}"
                assert r.status_code != 401, key
            else:
                assert route_denied, f"{role} should be denied {key}: {r.status_code}"
                assert r.json()["error"]["code"] == "forbidden"
            checked += 1
    assert checked == 7 * sum(1 for v in PERMISSIONS.values() if v != PUBLIC)


def test_every_non_public_route_needs_sign_in(client: TestClient) -> None:
    for key, allowed in PERMISSIONS.items():
        method, path = _concrete(key)
        r = client.request(method, path, json={})
        if allowed == PUBLIC:
            assert (
                r.status_code != 401 or r.json()["error"]["message"] == "email or password is wrong"
            )
        else:
            assert r.status_code == 401, key
            assert r.json()["error"]["code"] == "unauthorized"


def test_read_only_token_cannot_write(client: TestClient, world: World) -> None:
    from hub.conftest import PASSWORD

    r = client.post(
        "/api/v1/auth/token",
        json={"email": "researcher@example.org", "password": PASSWORD, "scopes": ["read"]},
    )
    assert r.status_code == 201
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/v1/projects", headers=headers).status_code == 200
    r = client.post("/api/v1/projects", headers=headers, json={})
    assert r.status_code == 403
    assert "read-only" in r.json()["error"]["message"]


def test_every_list_is_paginated(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    lists = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            schema = op["responses"].get("200", op["responses"].get("201", {}))
            body = schema.get("content", {}).get("application/json", {}).get("schema", {})
            assert body.get("type") != "array", f"{method.upper()} {path} returns a bare list"
            if body.get("$ref", "").split("/")[-1].startswith("Page_"):
                lists += 1
                params = {p["name"] for p in op.get("parameters", [])}
                assert {"limit", "offset"} <= params, path
    assert lists >= 8
