"""Collect over real Flower: a SuperLink and three SuperNodes on loopback, one node holding
cohort counts for its custodian. The hub's job ends ``partial`` with that node ``held``; the
custodian releases at the node; collect asks only that node again (the same signed job,
answered from its record) and the job becomes ``completed`` with every node's count."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import COUNT, Hospitals, _granted, _job, _own_counts
from hub.test_jobs_flower import flower_hospitals
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.node import NodeConfig, release_held
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database

pytestmark = pytest.mark.slow

__all__ = ["flower_hospitals"]  # the fixture, shared with test_jobs_flower


@pytest.mark.parametrize("hub_url", ["sqlite"], indirect=True)
def test_a_node_holds_the_custodian_releases_and_collect_brings_it_over_flower(
    db: Database, world: World, flower_hospitals: tuple[Hospitals, str]
) -> None:
    h, superlink = flower_hospitals
    names = sorted(h.configs)
    holder = names[0]
    toml = Path(h.configs[holder].base_dir) / "node.toml"  # each message reloads the file
    toml.write_text(toml.read_text() + 'require_release_approval = ["cohort_count"]\n')
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=h.keys,
                       superlink=superlink, held_poll_seconds=0)  # fmt: skip
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        g = _granted(c, world, names)
        body = {"project_id": g["project"], "kind": "cohort_count", "parameters": COUNT,
                "dataset_ids": g["datasets"], "min_nodes": 2}  # fmt: skip
        r = c.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 150
        while True:
            job = c.get(f"/api/v1/jobs/{job_id}", headers=world.auth("researcher")).json()
            if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert job["status"] == "partial", (job["reason"], job["node_status"])
        assert job["node_status"][holder]["status"] == "held"
        node = NodeConfig.load(toml)
        released = release_held(_job(db, job_id).uid, node, actor="custodian@test")
        assert released["status"] == "ok"
        r = c.post(f"/api/v1/jobs/{job_id}/collect", headers=world.auth("researcher"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed", r.json()
        assert {v["status"] for v in r.json()["node_status"].values()} == {"ok"}
        result = c.get(f"/api/v1/jobs/{job_id}/result", headers=world.auth("researcher"))
    own = _own_counts(h)  # each node's own released counts, under a job signed here
    assert result.json()["result"]["persons"] == own["persons"]
    outcomes = [e["outcome"] for e in NodeAuditLog(node.audit_path).entries()]
    assert outcomes[:3] == ["held", "released", "repeated"]  # answered from its record
    for other in names[1:]:  # the nodes that had answered were not asked again
        entries = NodeAuditLog(h.configs[other].audit_path).entries()
        assert [e["outcome"] for e in entries][:1] == ["ok"] and len(entries) == 2
