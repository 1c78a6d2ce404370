"""Cancelling jobs at the hub, on SQLite and PostgreSQL: a queued job never runs, a running
one's late result is discarded (not stored), members only, 409 once finished; all audited."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import (
    COUNT,
    NODES,
    Calls,
    Hospitals,
    _actions,
    _granted,
    _job,
    _principal,
    hospitals,
)
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.services import jobs

__all__ = ["hospitals"]  # the module-scoped fixture of test_jobs


def _app(db: Database, h: Hospitals, dispatcher: Any = None) -> TestClient:
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=h.keys,
                       job_dispatcher=dispatcher)  # fmt: skip
    return TestClient(create_app(config, database=db), base_url="http://testserver")


def _submit(client: TestClient, world: World, g: dict[str, Any]) -> dict[str, Any]:
    body = {"project_id": g["project"], "kind": "cohort_count", "parameters": COUNT,
            "dataset_ids": g["datasets"]}  # fmt: skip
    r = client.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
    assert r.status_code == 202, r.text
    return dict(r.json())


def test_queued_job_is_cancelled_and_never_dispatched(
    db: Database, world: World, hospitals: Hospitals
) -> None:
    with _app(db, hospitals) as client:  # no dispatcher: jobs stay queued
        g = _granted(client, world)
        job = _submit(client, world, g)
        assert job["status"] == "queued"
        # not a member of the project: cannot even see it
        r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=world.auth("student"))
        assert r.status_code == 404, r.text
        r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=world.auth("researcher"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert {v["status"] for v in r.json()["node_status"].values()} == {"not_sent"}
        again = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=world.auth("researcher"))
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "conflict"
        assert "is cancelled" in again.json()["error"]["message"]
        listed = client.get("/api/v1/jobs?status=cancelled", headers=world.auth("researcher"))
        assert [j["id"] for j in listed.json()["items"]] == [job["id"]]
    calls = Calls(hospitals)
    jobs.JobRunner(db, hospitals.keys, calls.dispatch, background=False).dispatch(job["id"])
    assert calls.count == 0  # the cancelled job was not sent to any node
    assert _job(db, job["id"]).status == "cancelled"
    assert _actions(db).count("job.cancel") == 1
    assert "job.dispatch" not in _actions(db)


def test_running_job_late_result_is_discarded(
    db: Database, world: World, hospitals: Hospitals
) -> None:
    entered, release = threading.Event(), threading.Event()
    calls = Calls(hospitals)

    def slow(signed: str, *, min_nodes: int) -> dict[str, Any]:
        entered.set()
        assert release.wait(30)
        return calls.dispatch(signed, min_nodes=min_nodes)

    with _app(db, hospitals, slow) as client:
        g = _granted(client, world)
        job = _submit(client, world, g)
        assert entered.wait(30)
        assert client.get(f"/api/v1/jobs/{job['id']}",
                          headers=world.auth("researcher")).json()["status"] == "running"  # fmt: skip
        r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=world.auth("researcher"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        release.set()
        runner = client.app.state.hub.jobs  # type: ignore[attr-defined]
        runner.wait(60)
        assert calls.count == len(NODES)  # the nodes did answer ...
        stored = _job(db, job["id"])
        assert stored.status == "cancelled" and stored.result is None  # ... but nothing is kept
        r = client.get(f"/api/v1/jobs/{job['id']}/result", headers=world.auth("researcher"))
        assert r.status_code == 409
    actions = _actions(db)
    assert actions.index("job.cancel") < actions.index("job.result_discarded")
    assert "job.result" not in actions


def test_finished_job_is_409_and_non_members_are_refused(
    db: Database, world: World, hospitals: Hospitals
) -> None:
    from medhaven.errors import Conflict, Forbidden, NotFound

    with _app(db, hospitals) as client:
        g = _granted(client, world, ["north"])
    job_id = _submit_direct(db, world, g, hospitals)
    researcher = _principal(db, world, "researcher")
    try:
        jobs.cancel(db, researcher, job_id)
    except Conflict as exc:
        assert "completed" in exc.message
    else:
        raise AssertionError("a completed job was cancelled")
    # the admin sees every job but is not a member of the project
    try:
        jobs.cancel(db, _principal(db, world, "admin"), job_id)
    except Forbidden:
        pass
    else:
        raise AssertionError("a non-member cancelled a job")
    try:
        jobs.cancel(db, researcher, 999_999)
    except NotFound:
        pass
    else:
        raise AssertionError("a missing job was cancelled")
    assert _job(db, job_id).status == "completed"


def _submit_direct(db: Database, world: World, g: dict[str, Any], h: Hospitals) -> int:
    runner = jobs.JobRunner(db, h.keys, Calls(h, ["north"]).dispatch, background=False)
    req = jobs.JobRequest(project_id=g["project"], kind="cohort_count", parameters=COUNT,
                          dataset_ids=g["datasets"], min_nodes=1)  # fmt: skip
    job = runner.submit(_principal(db, world, "researcher"), req)
    assert _job(db, job.id).status == "completed"
    return job.id
