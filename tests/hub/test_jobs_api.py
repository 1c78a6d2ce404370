"""Jobs over the REST API and the Python client's routes: submit returns at once (202),
the background dispatch completes, per-node status and the combined result come back;
non-members and roles without the right are refused; a hub without a SuperLink keeps jobs
queued with the reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import COUNT, NODES, Calls, Hospitals, _granted, _own_counts, hospitals
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.services import jobs

__all__ = ["hospitals"]  # the module-scoped fixture, shared with test_jobs


@pytest.fixture
def jobs_client(db: Database, hospitals: Hospitals) -> Iterator[TestClient]:
    config = HubConfig(
        database_url=db.url,
        secure_cookies=False,
        keys_dir=hospitals.keys,
        job_dispatcher=Calls(hospitals).dispatch,
    )
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        yield c


def _wait(client: TestClient, world: World, job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = client.get(f"/api/v1/jobs/{job_id}", headers=world.auth("researcher"))
        assert r.status_code == 200, r.text
        if r.json()["status"] not in ("queued", "running"):
            return dict(r.json())
        time.sleep(0.05)
    raise AssertionError("the job did not finish within 60 s")


def test_submit_follow_and_fetch_the_result(
    jobs_client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(jobs_client, world)
    body = {"project_id": g["project"], "kind": "cohort_count", "parameters": COUNT,
            "dataset_ids": g["datasets"]}  # fmt: skip
    r = jobs_client.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["targets"] == NODES and "signed_job" not in job
    done = _wait(jobs_client, world, job["id"])
    assert done["status"] == "completed"
    assert {n: v["status"] for n, v in done["node_status"].items()} == dict.fromkeys(NODES, "ok")
    r = jobs_client.get(f"/api/v1/jobs/{job['id']}/result", headers=world.auth("researcher"))
    assert r.status_code == 200, r.text
    own = _own_counts(hospitals)
    assert r.json()["result"]["persons"] == own["persons"]
    page = jobs_client.get("/api/v1/jobs?limit=1", headers=world.auth("researcher")).json()
    assert page["total"] == 1 and page["items"][0]["id"] == job["id"]
    # not a member: the job is invisible; the admin (oversight) sees it
    assert (
        jobs_client.get(f"/api/v1/jobs/{job['id']}", headers=world.auth("student")).status_code
        == 404
    )
    assert jobs_client.get("/api/v1/jobs", headers=world.auth("student")).json()["total"] == 0
    assert (
        jobs_client.get(f"/api/v1/jobs/{job['id']}", headers=world.auth("admin")).status_code == 200
    )


def test_non_members_and_other_roles_get_403(jobs_client: TestClient, world: World) -> None:
    g = _granted(jobs_client, world, ["north"])
    body = {"project_id": g["project"], "kind": "cohort_count", "parameters": COUNT,
            "dataset_ids": g["datasets"]}  # fmt: skip
    r = jobs_client.post("/api/v1/jobs", json=body, headers=world.auth("instructor"))
    # a project the caller cannot see is not found (the hub never confirms it exists)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["message"] == f"project {g['project']} not found"
    r = jobs_client.post("/api/v1/jobs", json=body, headers=world.auth("admin"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = jobs_client.post("/api/v1/jobs", json=body, headers=world.auth("custodian"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = jobs_client.get("/api/v1/jobs", headers=world.auth("researcher"))
    assert r.json()["total"] == 0
    r = jobs_client.post(
        "/api/v1/jobs", json={**body, "kind": "raw_rows"}, headers=world.auth("researcher")
    )
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("kind")


def test_a_hub_without_superlink_keeps_jobs_queued_with_the_reason(
    db: Database, world: World, tmp_path: Path
) -> None:
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=tmp_path / "keys")
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        g = _granted(c, world, ["north"])
        body = {"project_id": g["project"], "kind": "cohort_count", "dataset_ids": g["datasets"]}
        r = c.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued" and r.json()["reason"] == jobs.NO_DISPATCHER
        r = c.get(f"/api/v1/jobs/{r.json()['id']}/result", headers=world.auth("researcher"))
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_a_hub_without_a_key_directory_refuses_jobs(client: TestClient, world: World) -> None:
    g = _granted(client, world, ["north"])
    body = {"project_id": g["project"], "kind": "cohort_count", "dataset_ids": g["datasets"]}
    r = client.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
    assert r.json()["error"]["code"] == "config_error"
    assert "job-signing key" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("kind", "parameters", "message"),
    [
        ("train", {"task": {"name": "t", "target_cohort": "essential_hypertension",
                            "outcome_cohort": "heart_failure_admission"},
                   "model": {"kind": "lightgbm"}, "dp": {"clip": 1.0, "epsilon": 1.0}},
         "differential privacy is for mlp"),
        ("evaluate", {"task": {"name": "t", "target_cohort": "essential_hypertension",
                               "outcome_cohort": "heart_failure_admission"}},
         "evaluate job: parameters.model: Field required"),
    ],
)  # fmt: skip
def test_train_and_evaluate_jobs_reach_the_parameter_check_over_the_api(
    jobs_client: TestClient, world: World, kind: str, parameters: dict[str, Any], message: str
) -> None:
    g = _granted(jobs_client, world)
    body = {"project_id": g["project"], "kind": kind, "parameters": parameters,
            "dataset_ids": g["datasets"]}  # fmt: skip
    r = jobs_client.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
    assert 400 <= r.status_code < 500, r.text
    assert message in r.json()["error"]["message"]
