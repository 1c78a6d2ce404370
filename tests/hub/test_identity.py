"""Passwords (argon2id), tokens (hashed, scoped, expiring, revocable), sessions + CSRF, lockout."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from hub.conftest import PASSWORD, World
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import ApiToken, User
from medhaven.hub.services.identity import MAX_FAILED_LOGINS


def _token(client: TestClient, email: str, password: str = PASSWORD) -> str:
    r = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_password_is_stored_as_argon2id(db: Database, world: World) -> None:
    with db.unit() as s:
        stored = s.execute(
            select(User.password_hash).where(User.email == "researcher@example.org")
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_token_is_stored_only_as_its_hash(client: TestClient, db: Database, world: World) -> None:
    token = _token(client, "researcher@example.org")
    with db.unit() as s:
        dump = " ".join(str(row) for row in s.execute(text("SELECT * FROM hub_api_token")).all())
    assert token not in dump
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["email"] == "researcher@example.org"


def test_wrong_password_is_refused(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/auth/token", json={"email": "researcher@example.org", "password": "nope"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = client.post("/api/v1/auth/token", json={"email": "nobody@example.org", "password": "nope"})
    assert r.status_code == 401


def test_account_locks_after_repeated_failures(
    client: TestClient, db: Database, world: World
) -> None:
    for _ in range(MAX_FAILED_LOGINS):
        r = client.post(
            "/api/v1/auth/token", json={"email": "student@example.org", "password": "bad"}
        )
        assert r.status_code == 401
    r = client.post(
        "/api/v1/auth/token", json={"email": "student@example.org", "password": PASSWORD}
    )
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with db.unit() as s:
        s.execute(update(User).where(User.email == "student@example.org").values(locked_until=past))
    assert _token(client, "student@example.org")


def test_login_attempts_are_rate_limited_per_client(db: Database, world: World) -> None:
    app = create_app(
        HubConfig(database_url=db.url, secure_cookies=False, login_attempts_per_minute=3),
        database=db,
    )
    with TestClient(app) as c:
        codes = [
            c.post(
                "/api/v1/auth/token", json={"email": f"x{i}@example.org", "password": "p"}
            ).status_code
            for i in range(4)
        ]
    assert codes == [401, 401, 401, 429]


def test_expired_and_revoked_tokens_are_refused(
    client: TestClient, db: Database, world: World
) -> None:
    token = _token(client, "researcher@example.org")
    headers = {"Authorization": f"Bearer {token}"}
    tokens = client.get("/api/v1/auth/tokens", headers=headers).json()["items"]
    newest = max(t["id"] for t in tokens)
    assert client.delete(f"/api/v1/auth/tokens/{newest}", headers=headers).status_code == 200
    assert client.get("/api/v1/me", headers=headers).status_code == 401

    other = {"Authorization": f"Bearer {_token(client, 'researcher@example.org')}"}
    with db.unit() as s:
        s.execute(
            update(ApiToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    r = client.get("/api/v1/me", headers=other)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_session_cookie_needs_csrf_token_for_writes(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/auth/login", json={"email": "researcher@example.org", "password": PASSWORD}
    )
    assert r.status_code == 200
    cookie_header = r.headers["set-cookie"].lower()
    assert "httponly" in cookie_header and "samesite=strict" in cookie_header
    csrf = r.json()["csrf_token"]
    assert client.get("/api/v1/me").status_code == 200
    body = {
        "title": "t",
        "purpose": "p",
        "type": "academic",
        "domains": ["condition"],
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
    }
    r = client.post("/api/v1/projects", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]["message"]
    r = client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = client.post("/api/v1/projects", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_secure_cookie_flag_by_default(db: Database, world: World) -> None:
    app = create_app(HubConfig(database_url=db.url), database=db)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post(
            "/api/v1/auth/login", json={"email": "researcher@example.org", "password": PASSWORD}
        )
    assert "secure" in r.headers["set-cookie"].lower()


def test_no_password_or_token_in_logs_or_responses(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = _token(client, "admin@example.org")
    client.post(
        "/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD + "x"}
    )
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [
        client.get(p, headers=headers).text
        for p in ("/api/v1/me", "/api/v1/users", "/api/v1/auth/tokens", "/api/v1/audit?limit=200")
    ]
    r = client.post(
        "/api/v1/users",
        headers=headers,
        json={
            "email": "new@example.org",
            "password": "another long secret",
            "org_id": 1,
            "role": "student",
        },
    )
    assert r.status_code == 201
    bodies.append(r.text)
    for secret in (PASSWORD, PASSWORD + "x", token, "another long secret"):
        assert secret not in caplog.text
        for body in bodies:
            assert secret not in body
    for body in bodies:
        assert "argon2" not in body
        assert "password" not in body.lower()


def test_deactivated_user_is_locked_out_at_once(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/me", headers=world.auth("student")).status_code == 200
    r = client.post(
        f"/api/v1/users/{world.users['student']}/active",
        json={"active": False},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert client.get("/api/v1/me", headers=world.auth("student")).status_code == 401
    r = client.post(
        "/api/v1/auth/token", json={"email": "student@example.org", "password": PASSWORD}
    )
    assert r.status_code == 401
    client.post(
        f"/api/v1/users/{world.users['student']}/active",
        json={"active": True},
        headers=world.auth("admin"),
    )
    assert client.get("/api/v1/me", headers=world.auth("student")).status_code == 200
