"""Requests, reviews and grants: conflict of interest, several approvals, expiry, revocation,
two reviewers at the same moment, and no half state after a failure between two writes."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hub.conftest import World, dataset_body, project_body
from medhaven.errors import Conflict, MedHavenError
from medhaven.hub import audit
from medhaven.hub.db import Database
from medhaven.hub.models import AccessRequest, AuditEntry, Decision, Grant, Review, Role, User
from medhaven.hub.schemas import ReviewCreate
from medhaven.hub.services import access, identity
from medhaven.hub.services.common import Principal


def _later(**kw: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**kw)).isoformat()


def _setup(
    client: TestClient, world: World, *, approvals: int = 1, n_datasets: int = 1
) -> dict[str, Any]:
    ids = []
    for i in range(n_datasets):
        r = client.post(
            "/api/v1/datasets",
            json=dataset_body(
                world.orgs["Hospital A"], name=f"ds{i}", required_approvals=approvals
            ),
            headers=world.auth("custodian"),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = client.post("/api/v1/projects", json=project_body(), headers=world.auth("researcher"))
    assert r.status_code == 201, r.text
    project = r.json()
    r = client.post(
        "/api/v1/requests",
        json={"project_id": project["id"], "dataset_ids": ids, "justification": "study"},
        headers=world.auth("researcher"),
    )
    assert r.status_code == 201, r.text
    return {"project": project, "datasets": ids, "request": r.json()}


def _review(client: TestClient, world: World, who: str, req_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/requests/{req_id}/reviews", json=body, headers=world.auth(who))


def test_request_approved_with_conditions_creates_grants(client: TestClient, world: World) -> None:
    s = _setup(client, world, n_datasets=2)
    r = _review(
        client,
        world,
        "reviewer",
        s["request"]["id"],
        decision="approve",
        conditions="aggregate outputs only",
        expires_at=_later(days=90),
    )
    assert r.status_code == 201 and r.json()["status"] == "approved"
    grants = client.get("/api/v1/grants", headers=world.auth("researcher")).json()
    assert grants["total"] == 2
    assert {g["dataset_id"] for g in grants["items"]} == set(s["datasets"])
    assert all(
        g["status"] == "active" and g["conditions"] == "aggregate outputs only"
        for g in grants["items"]
    )


def test_rejection_needs_reasons_and_creates_no_grant(client: TestClient, world: World) -> None:
    s = _setup(client, world)
    rid = s["request"]["id"]
    r = _review(client, world, "reviewer", rid, decision="reject")
    assert r.status_code == 400 and "reasons" in r.json()["error"]["message"]
    r = _review(
        client, world, "reviewer", rid, decision="reject", reasons="no ethics approval attached"
    )
    assert r.status_code == 201 and r.json()["status"] == "rejected"
    assert r.json()["reviews"][0]["reasons"] == "no ethics approval attached"
    assert client.get("/api/v1/grants", headers=world.auth("admin")).json()["total"] == 0
    r = _review(client, world, "reviewer2", rid, decision="approve", expires_at=_later(days=1))
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_approval_needs_a_future_expiry(client: TestClient, world: World) -> None:
    rid = _setup(client, world)["request"]["id"]
    assert _review(client, world, "reviewer", rid, decision="approve").status_code == 400
    r = _review(client, world, "reviewer", rid, decision="approve", expires_at=_later(days=-1))
    assert r.status_code == 400 and "future" in r.json()["error"]["message"]


def test_reviewer_from_requesting_org_has_conflict_of_interest(
    client: TestClient, db: Database, world: World
) -> None:
    rid = _setup(client, world)["request"]["id"]
    world.add_user("uni_reviewer", org="University U", role=Role.REVIEWER)
    r = _review(client, world, "uni_reviewer", rid, decision="approve", expires_at=_later(days=30))
    assert r.status_code == 403 and r.json()["error"]["code"] == "conflict_of_interest"
    # a board reviewer who is also a member of the project is conflicted too
    project_id = client.get(f"/api/v1/requests/{rid}", headers=world.auth("researcher")).json()[
        "project_id"
    ]
    r = client.post(
        f"/api/v1/projects/{project_id}/members",
        json={"user_id": world.users["reviewer"]},
        headers=world.auth("researcher"),
    )
    assert r.status_code == 200
    r = _review(client, world, "reviewer", rid, decision="approve", expires_at=_later(days=30))
    assert r.json()["error"]["code"] == "conflict_of_interest"
    assert (
        client.get(f"/api/v1/requests/{rid}", headers=world.auth("admin")).json()["reviews"] == []
    )


def test_dataset_needing_two_approvals(client: TestClient, world: World) -> None:
    rid = _setup(client, world, approvals=2)["request"]["id"]
    r = _review(
        client,
        world,
        "reviewer",
        rid,
        decision="approve",
        conditions="A",
        expires_at=_later(days=60),
    )
    assert r.json()["status"] == "pending"
    r = _review(client, world, "reviewer", rid, decision="approve", expires_at=_later(days=60))
    assert r.status_code == 409  # same reviewer twice does not count twice
    r = _review(
        client,
        world,
        "reviewer2",
        rid,
        decision="approve",
        conditions="B",
        expires_at=_later(days=30),
    )
    assert r.json()["status"] == "approved"
    grant = client.get("/api/v1/grants", headers=world.auth("researcher")).json()["items"][0]
    assert grant["conditions"] == "A\nB"
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert abs(dt.datetime.fromisoformat(grant["expires_at"]) - expected) < dt.timedelta(minutes=1)


def test_grant_expires_and_revocation_stops_it(
    client: TestClient, db: Database, world: World
) -> None:
    s = _setup(client, world)
    _review(
        client,
        world,
        "reviewer",
        s["request"]["id"],
        decision="approve",
        expires_at=_later(days=10),
    )
    pid, did = s["project"]["id"], s["datasets"][0]
    with db.unit() as session:
        assert access.active_grant(session, project_id=pid, dataset_id=did) is not None
        in_11_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=11)
        assert access.active_grant(session, project_id=pid, dataset_id=did, at=in_11_days) is None
    gid = client.get("/api/v1/grants", headers=world.auth("researcher")).json()["items"][0]["id"]
    r = client.post(
        f"/api/v1/grants/{gid}/revoke", json={"reason": "breach"}, headers=world.auth("researcher")
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/grants/{gid}/revoke",
        json={"reason": "breach of terms"},
        headers=world.auth("custodian"),
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    with db.unit() as session:
        assert access.active_grant(session, project_id=pid, dataset_id=did) is None
    assert (
        client.get("/api/v1/grants?status=revoked", headers=world.auth("researcher")).json()[
            "total"
        ]
        == 1
    )
    assert (
        client.get("/api/v1/grants?status=active", headers=world.auth("researcher")).json()["total"]
        == 0
    )
    r = client.post(
        f"/api/v1/grants/{gid}/revoke", json={"reason": "again"}, headers=world.auth("admin")
    )
    assert r.status_code == 409


def test_students_and_strangers_do_not_see_other_projects(client: TestClient, world: World) -> None:
    s = _setup(client, world)
    pid = s["project"]["id"]
    assert client.get(f"/api/v1/projects/{pid}", headers=world.auth("student")).status_code == 404
    assert client.get("/api/v1/projects", headers=world.auth("instructor")).json()["total"] == 0
    assert client.get("/api/v1/requests", headers=world.auth("instructor")).json()["total"] == 0
    assert client.get(f"/api/v1/projects/{pid}", headers=world.auth("officer")).status_code == 200


def test_withdrawn_request_cannot_be_reviewed(client: TestClient, world: World) -> None:
    rid = _setup(client, world)["request"]["id"]
    assert (
        client.post(f"/api/v1/requests/{rid}/withdraw", headers=world.auth("researcher")).json()[
            "status"
        ]
        == "withdrawn"
    )
    r = _review(client, world, "reviewer", rid, decision="approve", expires_at=_later(days=1))
    assert r.status_code == 409


def _principal(db: Database, user_id: int) -> Principal:
    with db.unit() as s:
        user = s.get(User, user_id)
        assert user is not None
        return Principal(user_id, identity.roles_of(user), "cli")


def _race(
    db: Database, principals: list[Principal], request_id: int, bodies: list[ReviewCreate]
) -> list[object]:
    barrier = threading.Barrier(len(principals))
    results: list[object] = [None] * len(principals)

    def run(i: int) -> None:
        barrier.wait()
        try:
            with db.unit() as s:
                results[i] = access.decide(s, principals[i], request_id, bodies[i]).status
        except MedHavenError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(principals))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _counts(db: Database, request_id: int) -> tuple[int, int, str]:
    with db.unit() as s:
        reviews = s.execute(
            select(func.count()).select_from(Review).where(Review.request_id == request_id)
        ).scalar_one()
        grants = s.execute(
            select(func.count()).select_from(Grant).where(Grant.request_id == request_id)
        ).scalar_one()
        status = s.get(AccessRequest, request_id).status  # type: ignore[union-attr]
        assert audit.verify(s).intact
    return int(reviews), int(grants), status


@pytest.mark.parametrize("rounds", [3])
def test_two_reviewers_approving_at_the_same_moment_both_count(
    client: TestClient, db: Database, world: World, rounds: int
) -> None:
    people = [_principal(db, world.users["reviewer"]), _principal(db, world.users["reviewer2"])]
    body = ReviewCreate(
        decision=Decision.APPROVE, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    )
    for _ in range(rounds):
        rid = _setup(client, world, approvals=2, n_datasets=2)["request"]["id"]
        results = _race(db, people, rid, [body, body])
        assert sorted(str(r) for r in results) == ["approved", "pending"]
        assert _counts(db, rid) == (2, 2, "approved")


def test_two_reviewers_when_one_suffices_one_gets_conflict(
    client: TestClient, db: Database, world: World
) -> None:
    people = [_principal(db, world.users["reviewer"]), _principal(db, world.users["reviewer2"])]
    approve = ReviewCreate(
        decision=Decision.APPROVE, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    )
    reject = ReviewCreate(decision=Decision.REJECT, reasons="insufficient justification")
    rid = _setup(client, world)["request"]["id"]
    results = _race(db, people, rid, [approve, reject])
    decided = [r for r in results if isinstance(r, str)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(decided) == 1 and len(conflicts) == 1
    reviews, grants, status = _counts(db, rid)
    assert reviews == 1 and status == decided[0]
    assert grants == (1 if status == "approved" else 0)


def test_failure_between_two_writes_leaves_no_half_state(
    client: TestClient, db: Database, world: World
) -> None:
    rid = _setup(client, world)["request"]["id"]
    with db.unit() as s:
        before = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    reviewer = _principal(db, world.users["reviewer"])
    body = ReviewCreate(
        decision=Decision.APPROVE, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    )
    with pytest.raises(RuntimeError), db.unit() as s:
        access.decide(s, reviewer, rid, body)  # review, status, grant, audit entries written...
        raise RuntimeError("process dies before commit")  # ...then the crash
    assert _counts(db, rid) == (0, 0, "pending")
    with db.unit() as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == before
    r = _review(client, world, "reviewer", rid, decision="approve", expires_at=_later(days=5))
    assert r.status_code == 201 and r.json()["status"] == "approved"


def test_grant_never_outlives_the_project(client: TestClient, world: World) -> None:
    rid = _setup(client, world)["request"]["id"]  # the project ends 2027-12-31
    r = _review(
        client, world, "reviewer", rid, decision="approve", expires_at="2031-01-01T00:00:00Z"
    )
    assert r.status_code == 201
    grant = client.get("/api/v1/grants", headers=world.auth("researcher")).json()["items"][0]
    assert dt.datetime.fromisoformat(grant["expires_at"]) == dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
