"""The hub's default dispatcher over real Flower processes: a SuperLink and three SuperNodes on
loopback; a job submitted over the hub API ends ``completed`` with the nodes' combined counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import COUNT, Hospitals, _granted, _own_counts
from medhaven.federation.node import NodeConfig
from medhaven.federation.processes import Service, start_superlink, start_supernode
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.services import jobs
from medhaven.synth.writer import CDM_FILE, write_hospitals

pytestmark = pytest.mark.slow


@pytest.fixture
def flower_hospitals(tmp_path: Path) -> Iterator[tuple[Hospitals, str]]:
    write_hospitals(tmp_path / "h", hospitals=3, persons=200, seed=13)
    keys = tmp_path / "hub-data"
    jobs.hub_signing_key(keys)
    configs: dict[str, NodeConfig] = {}
    paths: dict[str, Path] = {}
    for db in sorted((tmp_path / "h").glob(f"*/{CDM_FILE}")):
        path = db.parent / "node.toml"
        path.write_text(
            f'name = "{db.parent.name}"\ncdm = "{db}"\naccepted_kinds = ["cohort_count"]\n'
            f'hub_public_key = "{jobs.hub_public_key_path(keys)}"\n',
            encoding="utf-8",
        )
        configs[db.parent.name] = NodeConfig.load(path)
        paths[db.parent.name] = path
    services: list[Service] = []
    try:
        link = start_superlink(tmp_path / "run")
        services.append(link)
        for path in paths.values():
            services.append(start_supernode(path, superlink=link.address, work=tmp_path / "run"))
        yield Hospitals(tmp_path, keys, configs), link.address
    finally:
        for svc in reversed(services):
            svc.stop()


@pytest.mark.parametrize("hub_url", ["sqlite"], indirect=True)
def test_a_job_submitted_at_the_hub_runs_over_flower(
    db: Database, world: World, flower_hospitals: tuple[Hospitals, str]
) -> None:
    h, superlink = flower_hospitals
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=h.keys,
                       superlink=superlink)  # fmt: skip
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        names = sorted(h.configs)
        g = _granted(c, world, names)
        body = {"project_id": g["project"], "kind": "cohort_count", "parameters": COUNT,
                "dataset_ids": g["datasets"], "min_nodes": 3}  # fmt: skip
        r = c.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 150
        while True:
            job = c.get(f"/api/v1/jobs/{job_id}", headers=world.auth("researcher")).json()
            if job["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert job["status"] == "completed", job
        assert {v["status"] for v in job["node_status"].values()} == {"ok"}
        r = c.get(f"/api/v1/jobs/{job_id}/result", headers=world.auth("researcher"))
    own = _own_counts(h)
    assert r.json()["result"]["persons"] == own["persons"]
    assert r.json()["result"]["records"] == own["records"]
