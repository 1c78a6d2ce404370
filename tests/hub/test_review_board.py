"""Per-dataset review and an explicit review board: each dataset of a request is counted and
granted on its own; reviewers decide for their own hospital's datasets or as a central board,
never for their own organisation's requests."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conftest import World, dataset_body, project_body
from medhaven.hub import audit
from medhaven.hub.models import AuditEntry, Decision, Grant, OrgKind, Role, User
from medhaven.hub.schemas import ReviewCreate
from medhaven.hub.services import access, identity
from medhaven.hub.services.common import SYSTEM_ACTOR, Principal


def _later(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


@pytest.fixture
def hospitals(client: TestClient, world: World) -> dict[str, int]:
    """Hospital B beside A, a reviewer in each hospital's own board, one dataset each."""
    with world.db.unit() as s:
        for name, kind in [("Hospital B", OrgKind.HOSPITAL), ("Institute X", OrgKind.COMPANY)]:
            world.orgs[name] = identity.create_org(s, name=name, kind=kind, actor=SYSTEM_ACTOR).id
    world.add_user("custodian_b", org="Hospital B", role=Role.CUSTODIAN)
    world.add_user("rev_a", org="Hospital A", role=Role.REVIEWER)
    world.add_user("rev_b", org="Hospital B", role=Role.REVIEWER)
    world.add_user("rev_x", org="Institute X", role=Role.REVIEWER)
    return {"A": world.orgs["Hospital A"], "B": world.orgs["Hospital B"]}


def _dataset(client: TestClient, world: World, who: str, org: int, approvals: int) -> int:
    r = client.post(
        "/api/v1/datasets",
        json=dataset_body(org, name=f"{who}-{approvals}", required_approvals=approvals),
        headers=world.auth(who),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _request(client: TestClient, world: World, ids: list[int], who: str = "researcher") -> int:
    r = client.post("/api/v1/projects", json=project_body(), headers=world.auth(who))
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/requests",
        json={"project_id": r.json()["id"], "dataset_ids": ids, "justification": "study"},
        headers=world.auth(who),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _review(client: TestClient, world: World, who: str, rid: int, **body: Any) -> Any:
    return client.post(f"/api/v1/requests/{rid}/reviews", json=body, headers=world.auth(who))


def _approve(client: TestClient, world: World, who: str, rid: int, **body: Any) -> Any:
    return _review(client, world, who, rid, decision="approve", expires_at=_later(30), **body)


def _status(body: dict[str, Any]) -> dict[int, tuple[str, int]]:
    return {d["dataset_id"]: (d["status"], d["approvals"]) for d in body["datasets"]}


def _grants(client: TestClient, world: World) -> dict[int, dict[str, Any]]:
    items = client.get("/api/v1/grants", headers=world.auth("admin")).json()["items"]
    return {g["dataset_id"]: g for g in items}


def test_each_dataset_counts_its_own_approvals_and_is_granted_alone(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=2)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    r = _approve(client, world, "reviewer", rid)  # the central board decides both
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "pending"
    assert _status(body) == {a: ("pending", 1), b: ("approved", 1)}
    assert set(_grants(client, world)) == {b}
    r = _approve(client, world, "rev_a", rid)  # hospital A's own board: only A's dataset
    body = r.json()
    assert r.status_code == 201 and body["status"] == "approved"
    assert _status(body) == {a: ("approved", 2), b: ("approved", 1)}
    assert body["reviews"][-1]["dataset_ids"] == [a]
    assert set(_grants(client, world)) == {a, b}


def test_rejecting_one_dataset_leaves_the_others_open(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    r = _review(client, world, "rev_b", rid, decision="reject", reasons="no ethics for B")
    assert r.status_code == 201 and r.json()["status"] == "pending"
    assert _status(r.json()) == {a: ("pending", 0), b: ("rejected", 0)}
    assert _grants(client, world) == {}
    r = _approve(client, world, "rev_a", rid)
    assert r.json()["status"] == "approved"
    assert _status(r.json()) == {a: ("approved", 1), b: ("rejected", 0)}
    assert set(_grants(client, world)) == {a}
    # a rejected dataset stays rejected: the central board cannot approve it afterwards
    r = _approve(client, world, "reviewer", rid, dataset_ids=[b])
    assert r.status_code == 409


def test_request_rejected_when_every_dataset_is(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    r = _review(client, world, "reviewer", rid, decision="reject", reasons="x", dataset_ids=[a])
    assert r.json()["status"] == "pending"
    r = _review(client, world, "reviewer", rid, decision="reject", reasons="y", dataset_ids=[b])
    assert r.json()["status"] == "rejected"
    assert [v["dataset_ids"] for v in r.json()["reviews"]] == [[a], [b]]
    r = _approve(client, world, "reviewer2", rid)
    assert r.status_code == 409


def test_grant_expiry_follows_only_that_datasets_approvals(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    _review(
        client, world, "rev_a", rid, decision="approve", expires_at=_later(10), conditions="A only"
    )
    _review(client, world, "rev_b", rid, decision="approve", expires_at=_later(90))
    grants = _grants(client, world)
    now = dt.datetime.now(dt.UTC)
    days = {k: (dt.datetime.fromisoformat(g["expires_at"]) - now).days for k, g in grants.items()}
    assert days == {a: 9, b: 89}
    assert grants[a]["conditions"] == "A only" and grants[b]["conditions"] == ""


def test_hospital_reviewer_cannot_decide_another_hospitals_dataset(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    r = _approve(client, world, "rev_a", rid, dataset_ids=[b])
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    only_b = _request(client, world, [b])
    r = _approve(client, world, "rev_a", only_b)
    assert r.status_code == 403
    r = _approve(client, world, "rev_a", rid, dataset_ids=[9999])
    assert r.status_code == 400 and "not part of request" in r.json()["error"]["message"]
    body = client.get(f"/api/v1/requests/{rid}", headers=world.auth("admin")).json()
    assert body["reviews"] == [] and _status(body) == {a: ("pending", 0), b: ("pending", 0)}


def test_reviewer_outside_any_board_decides_nothing_until_the_org_is_made_a_board(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    rid = _request(client, world, [a])
    assert _approve(client, world, "rev_x", rid).status_code == 403
    x = world.orgs["Institute X"]
    r = client.post(
        f"/api/v1/orgs/{x}/review-board", json={"review_board": True}, headers=world.auth("admin")
    )
    assert r.status_code == 400  # a company cannot be a central board
    ministry = world.orgs["Ministry M"]
    world.add_user("rev_m", org="Ministry M", role=Role.REVIEWER)
    assert _approve(client, world, "rev_m", rid).status_code == 403
    r = client.post(
        f"/api/v1/orgs/{ministry}/review-board",
        json={"review_board": True},
        headers=world.auth("admin"),
    )
    assert r.status_code == 200 and r.json()["review_board"] is True
    r = _approve(client, world, "rev_m", rid)
    assert r.status_code == 201 and r.json()["status"] == "approved"
    with world.db.unit() as s:
        actions = list(s.execute(select(AuditEntry.action)).scalars())
    assert "org.review_board" in actions


def test_only_admins_set_a_review_board_and_only_for_ministries_or_institutes(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    r = client.post(
        f"/api/v1/orgs/{hospitals['A']}/review-board",
        json={"review_board": True},
        headers=world.auth("custodian"),
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/orgs/{hospitals['A']}/review-board",
        json={"review_board": True},
        headers=world.auth("admin"),
    )
    assert r.status_code == 400 and "review_board" in r.json()["error"]["message"]
    r = client.post(
        "/api/v1/orgs",
        json={"name": "Startup", "kind": "company", "review_board": True},
        headers=world.auth("admin"),
    )
    assert r.status_code == 400
    r = client.post(
        "/api/v1/orgs",
        json={"name": "National DRB", "kind": "research_institute", "review_board": True},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201 and r.json()["review_board"] is True


def test_board_reviewer_never_decides_for_their_own_organisation(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    # a researcher of hospital A asks for hospital A's own dataset: A's board is conflicted,
    # the central board is not
    world.add_user("a_researcher", org="Hospital A", role=Role.RESEARCHER)
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    rid = _request(client, world, [a], who="a_researcher")
    r = _approve(client, world, "rev_a", rid)
    assert r.status_code == 403 and r.json()["error"]["code"] == "conflict_of_interest"
    assert _approve(client, world, "reviewer", rid).json()["status"] == "approved"


def test_same_reviewer_decides_datasets_one_at_a_time_but_each_only_once(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=2)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=2)
    rid = _request(client, world, [a, b])
    assert _approve(client, world, "reviewer", rid, dataset_ids=[a]).status_code == 201
    r = _approve(client, world, "reviewer", rid, dataset_ids=[a])
    assert r.status_code == 409
    r = _review(client, world, "reviewer", rid, decision="reject", reasons="B: no", dataset_ids=[b])
    assert r.status_code == 201
    assert _status(r.json()) == {a: ("pending", 1), b: ("rejected", 0)}
    r = _approve(client, world, "reviewer", rid)  # nothing left for this reviewer
    assert r.status_code == 409


def test_hospital_reviewer_revokes_only_their_hospitals_grants(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    _approve(client, world, "reviewer", rid)
    grants = _grants(client, world)
    r = client.post(
        f"/api/v1/grants/{grants[b]['id']}/revoke",
        json={"reason": "not mine"},
        headers=world.auth("rev_a"),
    )
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/grants/{grants[a]['id']}/revoke",
        json={"reason": "breach"},
        headers=world.auth("rev_a"),
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"


def _principal(world: World, key: str) -> Principal:
    with world.db.unit() as s:
        user = s.get(User, world.users[key])
        assert user is not None
        return Principal(user.id, identity.roles_of(user), "cli")


def test_two_hospital_boards_deciding_at_the_same_moment_close_the_request_once(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    people = [_principal(world, "rev_a"), _principal(world, "rev_b")]
    body = ReviewCreate(
        decision=Decision.APPROVE, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    )
    for _ in range(3):
        rid = _request(client, world, [a, b])
        barrier = threading.Barrier(2)
        results: list[str] = ["", ""]

        def run(i: int, rid: int = rid) -> None:
            barrier.wait()
            with world.db.unit() as s:
                results[i] = access.decide(s, people[i], rid, body).status

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(results) == ["approved", "pending"]
        with world.db.unit() as s:
            grants = s.execute(select(Grant.dataset_id).where(Grant.request_id == rid)).scalars()
            assert sorted(grants) == [a, b]
            closes = s.execute(
                select(AuditEntry.seq).where(
                    AuditEntry.action == "request.approve", AuditEntry.object_id == str(rid)
                )
            ).all()
            assert len(closes) == 1
            assert audit.verify(s).intact


def test_withdrawing_a_partly_approved_request_closes_only_the_open_datasets(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=1)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    rid = _request(client, world, [a, b])
    assert _approve(client, world, "rev_a", rid).json()["status"] == "pending"
    r = client.post(f"/api/v1/requests/{rid}/withdraw", headers=world.auth("researcher"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert _status(r.json()) == {a: ("approved", 1), b: ("withdrawn", 0)}
    assert _grants(client, world)[a]["status"] == "active" and b not in _grants(client, world)
    assert _approve(client, world, "rev_b", rid).status_code == 409
    only_b = _request(client, world, [b])
    r = client.post(f"/api/v1/requests/{only_b}/withdraw", headers=world.auth("researcher"))
    assert r.json()["status"] == "withdrawn"
    assert _status(r.json()) == {b: ("withdrawn", 0)}


def test_review_queue_lists_only_requests_waiting_for_that_reviewer(
    client: TestClient, world: World, hospitals: dict[str, int]
) -> None:
    a = _dataset(client, world, "custodian", hospitals["A"], approvals=2)
    b = _dataset(client, world, "custodian_b", hospitals["B"], approvals=1)
    both, only_b = _request(client, world, [a, b]), _request(client, world, [b])
    world.add_user("uni_reviewer", org="University U", role=Role.REVIEWER)

    def queue(who: str) -> list[int]:
        r = client.get("/api/v1/requests?to_review=true", headers=world.auth(who))
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    assert queue("rev_a") == [both]
    assert queue("rev_b") == [both, only_b]
    assert queue("reviewer") == [both, only_b]
    assert queue("rev_x") == []  # not on any board
    assert queue("uni_reviewer") == []  # the requesting organisation
    assert queue("custodian") == []  # no reviewer role at all
    _approve(client, world, "rev_a", both)  # A: 1 of 2 approvals
    assert queue("rev_a") == []
    assert queue("reviewer") == [both, only_b]  # A still needs a second approval
    _approve(client, world, "reviewer", both)
    assert queue("rev_b") == [only_b]  # B of `both` was approved by the central board
    # every pending request is still listed without the filter
    r = client.get("/api/v1/requests?status=pending", headers=world.auth("rev_a")).json()
    assert [item["id"] for item in r["items"]] == [only_b]
