"""The catalogue: counts suppressed and rounded before storage, search by text and filters."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conftest import World, dataset_body
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Dataset


def _publish(client: TestClient, world: World, **over: object) -> dict[str, object]:
    r = client.post(
        "/api/v1/datasets",
        json=dataset_body(world.orgs["Hospital A"], **over),
        headers=world.auth("custodian"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_small_counts_never_reach_the_database(
    client: TestClient, db: Database, world: World
) -> None:
    out = _publish(
        client,
        world,
        person_count=3,
        characterization={"sex": {"female": 2, "male": 1234}, "conditions": {"4329847": 0}},
    )
    assert out["person_count"] is None and out["person_count_marker"] == "<5"
    sex = out["characterization"]["sex"]  # type: ignore[index]
    assert sex["female"] == {"value": None, "marker": "<5"}
    assert sex["male"] == {"value": 1230, "marker": None}
    assert out["characterization"]["conditions"]["4329847"] == {"value": 0, "marker": None}  # type: ignore[index]
    with db.unit() as s:
        row = s.execute(select(Dataset)).scalar_one()
        assert row.person_count is None
        assert "2" not in str(row.characterization["sex"]["female"])


def test_person_count_rounded_to_tens(client: TestClient, world: World) -> None:
    assert _publish(client, world, person_count=12345)["person_count"] == 12350
    assert _publish(client, world, person_count=5)["person_count"] == 10


def test_search_by_text_and_filters_with_pagination(client: TestClient, world: World) -> None:
    _publish(client, world, name="Diabetes cohort", domains=["condition", "drug"])
    _publish(
        client, world, name="Sepsis ICU", description="intensive care", domains=["measurement"]
    )
    _publish(
        client,
        world,
        name="Teaching set 100%",
        description="",
        teaching=True,
        domains=["condition"],
    )
    h = world.auth("student")
    names = lambda r: [d["name"] for d in r.json()["items"]]  # noqa: E731
    assert names(client.get("/api/v1/datasets?q=diabetes", headers=h)) == ["Diabetes cohort"]
    assert names(client.get("/api/v1/datasets?q=INTENSIVE", headers=h)) == ["Sepsis ICU"]
    assert names(client.get("/api/v1/datasets?q=100%25", headers=h)) == ["Teaching set 100%"]
    assert names(client.get("/api/v1/datasets?q=%25", headers=h)) == ["Teaching set 100%"]
    assert names(client.get("/api/v1/datasets?domain=condition", headers=h)) == [
        "Diabetes cohort",
        "Teaching set 100%",
    ]
    assert names(client.get("/api/v1/datasets?teaching=true", headers=h)) == ["Teaching set 100%"]
    page = client.get("/api/v1/datasets?limit=2&offset=2", headers=h).json()
    assert page["total"] == 3 and len(page["items"]) == 1 and page["offset"] == 2
    assert client.get("/api/v1/datasets?limit=0", headers=h).status_code == 400
    assert client.get("/api/v1/datasets?domain=not_a_domain", headers=h).status_code == 400


def test_custodian_publishes_only_for_own_hospital(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/datasets",
        json=dataset_body(world.orgs["University U"]),
        headers=world.auth("custodian"),
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_viewing_a_dataset_is_audited(client: TestClient, db: Database, world: World) -> None:
    ds = _publish(client, world)
    assert (
        client.get(f"/api/v1/datasets/{ds['id']}", headers=world.auth("student")).status_code == 200
    )
    with db.unit() as s:
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc())).scalars().first()
    assert last is not None
    assert (last.action, last.object_id, last.actor) == (
        "dataset.view",
        str(ds["id"]),
        f"user:{world.users['student']}",
    )


def test_bad_input_names_the_field_not_the_value(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/datasets",
        json=dataset_body(world.orgs["Hospital A"], person_count="SECRET-VALUE-123"),
        headers=world.auth("custodian"),
    )
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and "person_count" in err["message"]
    assert "SECRET-VALUE-123" not in r.text
