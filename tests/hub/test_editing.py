"""Editing and retiring: custodians change a dataset's description, terms and teaching flag and
retire it; project leads change a project until access is approved. Every change is audited."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conftest import World, dataset_body, project_body
from medhaven.errors import MedHavenError
from medhaven.hub.models import AuditEntry, Decision, OrgKind, Role, User
from medhaven.hub.schemas import ProjectUpdate, ReviewCreate
from medhaven.hub.services import access, identity, projects
from medhaven.hub.services.common import SYSTEM_ACTOR, Principal


def _later(days: int) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


def _audit(world: World, action: str) -> list[tuple[str, str, str]]:
    with world.db.unit() as s:
        rows = s.execute(
            select(AuditEntry.actor, AuditEntry.object_id, AuditEntry.details).where(
                AuditEntry.action == action
            )
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def ds(client: TestClient, world: World) -> int:
    """A dataset of hospital A."""
    r = client.post(
        "/api/v1/datasets",
        json=dataset_body(world.orgs["Hospital A"]),
        headers=world.auth("custodian"),
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _project(client: TestClient, world: World, **over: Any) -> int:
    r = client.post("/api/v1/projects", json=project_body(**over), headers=world.auth("researcher"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _request(client: TestClient, world: World, pid: int, ids: list[int]) -> Any:
    return client.post(
        "/api/v1/requests",
        json={"project_id": pid, "dataset_ids": ids, "justification": "study"},
        headers=world.auth("researcher"),
    )


def test_custodian_updates_description_terms_and_teaching(
    client: TestClient, world: World, ds: int
) -> None:
    r = client.patch(
        f"/api/v1/datasets/{ds}",
        json={"description": "Adults, 2015-2024", "terms_of_use": "Cite us.", "teaching": True},
        headers=world.auth("custodian"),
    )
    assert r.status_code == 200, r.text
    body = client.get(f"/api/v1/datasets/{ds}", headers=world.auth("researcher")).json()
    assert (body["description"], body["terms_of_use"], body["teaching"]) == (
        "Adults, 2015-2024",
        "Cite us.",
        True,
    )
    assert body["updated_at"] is not None and body["name"] == "Hospital A diabetes cohort"
    found = client.get("/api/v1/datasets?teaching=true", headers=world.auth("student")).json()
    assert [d["id"] for d in found["items"]] == [ds]
    r = client.patch(
        f"/api/v1/datasets/{ds}", json={"teaching": False}, headers=world.auth("custodian")
    )
    assert r.json()["teaching"] is False and r.json()["description"] == "Adults, 2015-2024"
    entries = _audit(world, "dataset.update")
    actor = f"user:{world.users['custodian']}"
    assert [(a, o) for a, o, _ in entries] == [(actor, str(ds)), (actor, str(ds))]
    assert '"fields":["description","teaching","terms_of_use"]' in entries[0][2]


def test_dataset_update_refused_for_others_and_for_bad_bodies(
    client: TestClient, world: World, ds: int
) -> None:
    with world.db.unit() as s:
        world.orgs["Hospital B"] = identity.create_org(
            s, name="Hospital B", kind=OrgKind.HOSPITAL, actor=SYSTEM_ACTOR
        ).id
    world.add_user("custodian_b", org="Hospital B", role=Role.CUSTODIAN)
    r = client.patch(
        f"/api/v1/datasets/{ds}", json={"description": "mine"}, headers=world.auth("custodian_b")
    )
    assert r.status_code == 403
    r = client.patch(
        f"/api/v1/datasets/{ds}", json={"description": "x"}, headers=world.auth("researcher")
    )
    assert r.status_code == 403
    assert client.patch(
        f"/api/v1/datasets/{ds}", json={}, headers=world.auth("custodian")
    ).status_code == (400)
    r = client.patch(
        f"/api/v1/datasets/{ds}", json={"teaching": None}, headers=world.auth("custodian")
    )
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("teaching")
    r = client.patch(
        "/api/v1/datasets/999", json={"teaching": True}, headers=world.auth("custodian")
    )
    assert r.status_code == 404
    assert _audit(world, "dataset.update") == []
    body = client.get(f"/api/v1/datasets/{ds}", headers=world.auth("admin")).json()
    assert body["description"] == "Adults with type 2 diabetes, 2015-2023"
    assert body["updated_at"] is None


def test_retired_dataset_is_not_requestable_and_grants_keep_their_expiry(
    client: TestClient, world: World, ds: int
) -> None:
    pid = _project(client, world)
    rid = _request(client, world, pid, [ds]).json()["id"]
    r = client.post(
        f"/api/v1/requests/{rid}/reviews",
        json={"decision": "approve", "expires_at": _later(40)},
        headers=world.auth("reviewer"),
    )
    assert r.status_code == 201
    grant = client.get("/api/v1/grants", headers=world.auth("researcher")).json()["items"][0]
    r = client.post(
        f"/api/v1/datasets/{ds}/retire",
        json={"reason": "superseded by v2"},
        headers=world.auth("custodian"),
    )
    assert r.status_code == 200 and r.json()["retired_at"] is not None
    # no longer in the catalogue by default, still readable by id and with include_retired
    search = client.get("/api/v1/datasets", headers=world.auth("researcher")).json()
    assert search["total"] == 0
    search = client.get(
        "/api/v1/datasets?include_retired=true", headers=world.auth("researcher")
    ).json()
    assert [d["id"] for d in search["items"]] == [ds]
    # not requestable
    r = _request(client, world, _project(client, world, title="again"), [ds])
    assert r.status_code == 409 and "retired" in r.json()["error"]["message"]
    # the existing grant is untouched
    after = client.get(f"/api/v1/grants/{grant['id']}", headers=world.auth("researcher")).json()
    assert after["status"] == "active" and after["expires_at"] == grant["expires_at"]
    # retired is final: no second retirement, no edits
    r = client.post(
        f"/api/v1/datasets/{ds}/retire", json={"reason": "again"}, headers=world.auth("custodian")
    )
    assert r.status_code == 409
    r = client.patch(
        f"/api/v1/datasets/{ds}", json={"description": "x"}, headers=world.auth("custodian")
    )
    assert r.status_code == 409
    entries = _audit(world, "dataset.retire")
    assert len(entries) == 1 and "superseded by v2" in entries[0][2]


def test_pending_request_for_a_retired_dataset_cannot_be_approved(
    client: TestClient, world: World, ds: int
) -> None:
    rid = _request(client, world, _project(client, world), [ds]).json()["id"]
    client.post(
        f"/api/v1/datasets/{ds}/retire",
        json={"reason": "withdrawn"},
        headers=world.auth("custodian"),
    )
    r = client.post(
        f"/api/v1/requests/{rid}/reviews",
        json={"decision": "approve", "expires_at": _later(10)},
        headers=world.auth("reviewer"),
    )
    assert r.status_code == 409 and "retired" in r.json()["error"]["message"]
    assert client.get("/api/v1/grants", headers=world.auth("admin")).json()["total"] == 0
    r = client.post(
        f"/api/v1/requests/{rid}/reviews",
        json={"decision": "reject", "reasons": "dataset retired"},
        headers=world.auth("reviewer"),
    )
    assert r.status_code == 201 and r.json()["status"] == "rejected"


def test_only_the_custodian_of_the_hospital_retires(
    client: TestClient, world: World, ds: int
) -> None:
    for who in ("researcher", "reviewer", "admin"):
        r = client.post(
            f"/api/v1/datasets/{ds}/retire", json={"reason": "x"}, headers=world.auth(who)
        )
        assert r.status_code == 403, who
    r = client.post(f"/api/v1/datasets/{ds}/retire", json={}, headers=world.auth("custodian"))
    assert r.status_code == 400  # a reason is required
    assert (
        client.get(f"/api/v1/datasets/{ds}", headers=world.auth("admin")).json()["retired_at"]
        is None
    )


def test_lead_updates_project_before_approval_and_grant_follows_new_end(
    client: TestClient, world: World, ds: int
) -> None:
    pid = _project(client, world)
    rid = _request(client, world, pid, [ds]).json()["id"]
    r = client.patch(
        f"/api/v1/projects/{pid}",
        json={"title": "HbA1c v2", "end_date": "2027-06-30", "domains": ["measurement"]},
        headers=world.auth("researcher"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title"], body["end_date"], body["domains"]) == (
        "HbA1c v2",
        "2027-06-30",
        ["measurement"],
    )
    assert body["purpose"] == "Predict poor glycaemic control" and body["updated_at"]
    r = client.post(
        f"/api/v1/requests/{rid}/reviews",
        json={"decision": "approve", "expires_at": "2031-01-01T00:00:00Z"},
        headers=world.auth("reviewer"),
    )
    assert r.status_code == 201
    grant = client.get("/api/v1/grants", headers=world.auth("researcher")).json()["items"][0]
    assert dt.datetime.fromisoformat(grant["expires_at"]) == dt.datetime(2027, 7, 1, tzinfo=dt.UTC)
    # once access is approved the project is fixed
    r = client.patch(
        f"/api/v1/projects/{pid}", json={"end_date": "2030-12-31"}, headers=world.auth("researcher")
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    entries = _audit(world, "project.update")
    assert len(entries) == 1 and entries[0][0] == f"user:{world.users['researcher']}"
    assert '"fields":["domains","end_date","title"]' in entries[0][2]


def test_project_update_refused_for_non_leads_and_bad_dates(
    client: TestClient, world: World, ds: int
) -> None:
    pid = _project(client, world)
    world.add_user("colleague", org="University U", role=Role.RESEARCHER)
    r = client.post(
        f"/api/v1/projects/{pid}/members",
        json={"user_id": world.users["colleague"]},
        headers=world.auth("researcher"),
    )
    assert r.status_code == 200
    r = client.patch(
        f"/api/v1/projects/{pid}", json={"title": "mine"}, headers=world.auth("colleague")
    )
    assert r.status_code == 403
    r = client.patch(
        f"/api/v1/projects/{pid}", json={"title": "mine"}, headers=world.auth("instructor")
    )
    assert r.status_code == 404  # not a member: the project is not even visible
    r = client.patch(
        f"/api/v1/projects/{pid}", json={"end_date": "2025-01-01"}, headers=world.auth("researcher")
    )
    assert r.status_code == 400 and "end_date" in r.json()["error"]["message"]
    r = client.patch(
        f"/api/v1/projects/{pid}", json={"title": None}, headers=world.auth("researcher")
    )
    assert r.status_code == 400
    assert client.patch(
        f"/api/v1/projects/{pid}", json={}, headers=world.auth("researcher")
    ).status_code == (400)
    assert _audit(world, "project.update") == []
    body = client.get(f"/api/v1/projects/{pid}", headers=world.auth("researcher")).json()
    assert body["title"] == "HbA1c trajectories" and body["updated_at"] is None


def test_project_with_only_rejected_datasets_can_still_be_changed(
    client: TestClient, world: World, ds: int
) -> None:
    pid = _project(client, world)
    rid = _request(client, world, pid, [ds]).json()["id"]
    client.post(
        f"/api/v1/requests/{rid}/reviews",
        json={"decision": "reject", "reasons": "purpose too vague"},
        headers=world.auth("reviewer"),
    )
    r = client.patch(
        f"/api/v1/projects/{pid}",
        json={"purpose": "Predict HbA1c > 9% within a year"},
        headers=world.auth("researcher"),
    )
    assert r.status_code == 200 and r.json()["purpose"] == "Predict HbA1c > 9% within a year"


def _principal(world: World, key: str) -> Principal:
    with world.db.unit() as s:
        user = s.get(User, world.users[key])
        assert user is not None
        return Principal(user.id, identity.roles_of(user), "cli")


def test_project_edit_racing_an_approval_never_changes_an_approved_project(
    client: TestClient, world: World, ds: int
) -> None:
    lead, reviewer = _principal(world, "researcher"), _principal(world, "reviewer")
    approve = ReviewCreate(
        decision=Decision.APPROVE, expires_at=dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    )
    for _ in range(3):
        pid = _project(client, world)  # ends 2027-12-31
        rid = _request(client, world, pid, [ds]).json()["id"]
        barrier = threading.Barrier(2)
        outcome: dict[str, object] = {}

        def edit(pid: int = pid) -> None:
            barrier.wait()
            try:
                with world.db.unit() as s:
                    projects.update(s, lead, pid, ProjectUpdate(end_date=dt.date(2026, 12, 31)))
                outcome["edit"] = "ok"
            except MedHavenError as exc:
                outcome["edit"] = exc.code

        def decide(rid: int = rid) -> None:
            barrier.wait()
            with world.db.unit() as s:
                outcome["decide"] = access.decide(s, reviewer, rid, approve).status

        threads = [threading.Thread(target=edit), threading.Thread(target=decide)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert outcome["decide"] == "approved"
        grant = client.get(f"/api/v1/grants?project_id={pid}", headers=world.auth("admin")).json()[
            "items"
        ][0]
        end = client.get(f"/api/v1/projects/{pid}", headers=world.auth("admin")).json()["end_date"]
        expires = dt.datetime.fromisoformat(grant["expires_at"])
        if outcome["edit"] == "ok":  # the edit went first: the grant follows the new end
            assert (end, expires) == ("2026-12-31", dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        else:  # the approval went first: the project stayed as approved
            assert outcome["edit"] == "conflict"
            assert (end, expires) == ("2027-12-31", dt.datetime(2028, 1, 1, tzinfo=dt.UTC))
