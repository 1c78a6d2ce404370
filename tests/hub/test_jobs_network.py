"""A hub killed mid-job over real Flower processes: the new hub's ``resume()`` finishes the job.

A SuperLink and three SuperNodes on loopback; the first "hub" is a child
process that dispatches the job through the network session and is killed
(SIGKILL) while the job is in flight (one node's job lock is held, so the
job waits there). A new :class:`JobRunner` over the same database and spool
resumes it: the job completes with the nodes' own counts, and every node
ran it once.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import COUNT, Hospitals, _granted, _job, _own_counts, _principal
from hub.test_jobs_flower import flower_hospitals  # noqa: F401 - the fixture, shared
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.network import NetworkDispatcher
from medhaven.hub.db import Database
from medhaven.hub.services import jobs

pytestmark = pytest.mark.slow

HUB = """
import sys
from pathlib import Path
from medhaven.federation.network import NetworkDispatcher
from medhaven.hub.db import Database
from medhaven.hub.services import jobs
url, superlink, spool, job_id = sys.argv[1:5]
dispatcher = NetworkDispatcher(superlink, Path(spool), timeout=90, wait_nodes=60)
jobs.run(Database(url), int(job_id), dispatcher)
"""


@pytest.mark.parametrize("hub_url", ["sqlite"], indirect=True)
def test_a_hub_killed_mid_job_resumes_it_and_records_the_nodes_own_counts(
    db: Database,
    client: TestClient,
    world: World,
    flower_hospitals: tuple[Hospitals, str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    h, superlink = flower_hospitals
    g = _granted(client, world, sorted(h.configs))
    me = _principal(db, world, "researcher")
    req = jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"], min_nodes=3)
    job = jobs.submit(db, me, req, keys_dir=h.keys)
    spool = tmp_path / "spool"
    victim = h.configs[sorted(h.configs)[0]]
    lock_path = victim.base_dir / f".{victim.name}.job.lock"
    dispatcher = NetworkDispatcher(superlink, spool, timeout=90, wait_nodes=60)
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the job waits at this node
        hub = subprocess.Popen([sys.executable, "-c", HUB, db.url, superlink, str(spool),
                                str(job.id)], start_new_session=True)  # fmt: skip
        try:
            claimed = spool / "claimed" / f"{job.uid}.json"
            deadline = time.monotonic() + 120
            while not claimed.exists() and time.monotonic() < deadline and hub.poll() is None:
                time.sleep(0.2)
            assert claimed.exists(), "the session never took the job"
            assert _job(db, job.id).status == "running"
        finally:
            os.killpg(hub.pid, signal.SIGKILL)  # the hub dies; the session run lives on
            hub.wait(10)
        runner = jobs.JobRunner(db, h.keys, dispatcher)
        assert runner.resume() == {"failed": 0, "resumed": 1, "dispatched": 0}
        time.sleep(1.0)
        fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        runner.wait(240)
        done = _job(db, job.id)
    finally:
        dispatcher.session.stop(wait=15)
    assert done.status == "completed", done.reason
    assert {v["status"] for v in done.node_status.values()} == {"ok"}
    assert done.result is not None
    own = _own_counts(h)
    assert done.result["persons"] == own["persons"]
    assert done.result["records"] == own["records"]
    for config in h.configs.values():
        entries = NodeAuditLog(config.audit_path).entries()
        outcomes = [e["outcome"] for e in entries if e.get("job_id") == job.uid]
        assert outcomes.count("ok") == 1, (config.name, outcomes)
