"""A hub restart with the network session's dispatcher: jobs left running are resumed, not lost.

Fast cases over the spool alone (the result the session wrote while the hub
was down; a job that expired meanwhile); the case over real Flower
processes is in ``test_jobs_network.py``.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import (
    COUNT,
    Hospitals,
    _granted,
    _job,
    _principal,
    hospitals,  # noqa: F401 - the fixture, shared
)
from medhaven.federation.combine import combine_counts
from medhaven.federation.jobs import SignedJob
from medhaven.federation.network import NetworkDispatcher, Spool, write_json
from medhaven.federation.node import handle_job
from medhaven.hub.db import Database
from medhaven.hub.models import Job
from medhaven.hub.services import jobs


def _running_job(db: Database, client: TestClient, world: World, keys: Path) -> int:
    g = _granted(client, world)
    me = _principal(db, world, "researcher")
    req = jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"], min_nodes=3)
    job = jobs.submit(db, me, req, keys_dir=keys)
    assert jobs.start(db, job.id) is not None  # dispatched, then the hub died
    return job.id


def test_a_result_the_session_wrote_while_the_hub_was_down_is_recorded_on_resume(
    db: Database,
    client: TestClient,
    world: World,
    hospitals: Hospitals,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    job_id = _running_job(db, client, world, hospitals.keys)
    signed = _job(db, job_id).signed_job
    replies = [handle_job(signed, c) for c in hospitals.configs.values()]
    assert {r["status"] for r in replies} == {"ok"}
    spec = SignedJob.from_json(signed).spec
    spool = Spool(tmp_path / "spool").make()
    # what a live session leaves: its heartbeat, and the finished job in the outbox
    write_json(spool.session, {"run_id": 77, "started": time.time()})
    spool.beat(77)
    write_json(spool.outbox(spec.job_id), {"job_id": spec.job_id, "kind": "cohort_count",
                                           "status": "completed", "reason": None,
                                           "nodes": replies, "combined": combine_counts(replies)})  # fmt: skip
    dispatcher = NetworkDispatcher("127.0.0.1:1", spool.root)
    runner = jobs.JobRunner(db, hospitals.keys, dispatcher)
    assert runner.resume() == {"failed": 0, "resumed": 1, "dispatched": 0}
    runner.wait(30)
    done = _job(db, job_id)
    assert done.status == "completed", done.reason
    assert {v["status"] for v in done.node_status.values()} == {"ok"}
    assert done.result is not None
    direct = combine_counts([handle_job(signed, c) for c in hospitals.configs.values()])
    assert done.result["persons"] == direct["persons"]
    assert done.result["persons"]["value"] > 0


def test_a_running_job_that_expired_while_the_hub_was_down_ends_failed_with_the_reason(
    db: Database,
    client: TestClient,
    world: World,
    hospitals: Hospitals,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    job_id = _running_job(db, client, world, hospitals.keys)
    with db.unit() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    # no session, no SuperLink: an expired job must not even try to start one
    dispatcher = NetworkDispatcher("127.0.0.1:1", tmp_path / "spool")
    runner = jobs.JobRunner(db, hospitals.keys, dispatcher)
    assert runner.resume() == {"failed": 0, "resumed": 1, "dispatched": 0}
    runner.wait(30)
    gone = _job(db, job_id)
    assert gone.status == "failed" and gone.reason == jobs.EXPIRED_RUN
    assert not (tmp_path / "spool" / "session.json").exists()
