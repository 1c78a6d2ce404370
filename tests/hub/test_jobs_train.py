"""``train`` jobs through the hub API on the in-process dispatcher: the hub signs the job, drives
the rounds on real nodes (their ``handle_round`` on generated hospital CDMs, no Flower), keeps
the model and each node's released evaluation; a DP training reports each node's ε."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import _granted
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.services import jobs
from medhaven.prediction.models import TrainedModel
from medhaven.synth.writer import CDM_FILE, write_hospitals

NODES = ["north", "south", "east"]
TASK = {"name": "hf", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission",
        "features": {"windows": [365], "counts": False, "measurement_values": False}}  # fmt: skip


@dataclass
class Sites:
    keys: Path
    configs: dict[str, NodeConfig]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    root = tmp_path_factory.mktemp("train-hospitals")
    write_hospitals(root / "h", hospitals=3, persons=1500, seed=5)
    keys = root / "hub-keys"
    jobs.hub_signing_key(keys)
    configs = {}
    for name, cdm in zip(NODES, sorted((root / "h").glob(f"*/{CDM_FILE}")), strict=True):
        toml = root / name / "node.toml"
        toml.parent.mkdir()
        toml.write_text(f'name = "{name}"\ncdm = "{cdm}"\naccepted_kinds = ["train"]\n'
                        f'hub_public_key = "{jobs.hub_public_key_path(keys)}"\n'
                        "min_train_persons = 20\nprivacy_budget = 30.0\n")  # fmt: skip
        configs[name] = NodeConfig.load(toml)
    return Sites(keys, configs)


@pytest.fixture
def train_client(db: Database, sites: Sites) -> Iterator[TestClient]:
    dispatch = jobs.in_process_dispatcher(
        lambda signed, node: handle_job(signed, sites.configs[node]), NODES,
        configs=sites.configs,
    )  # fmt: skip
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=sites.keys,
                       job_dispatcher=dispatch)  # fmt: skip
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        yield c


def _run(client: TestClient, world: World, parameters: dict[str, Any]) -> dict[str, Any]:
    g = _granted(client, world)
    body = {"project_id": g["project"], "kind": "train", "parameters": parameters,
            "dataset_ids": g["datasets"], "min_nodes": 3}  # fmt: skip
    r = client.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=world.auth("researcher")).json()
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert job["status"] == "completed", (job["reason"], job["node_status"])
    r = client.get(f"/api/v1/jobs/{job_id}/result", headers=world.auth("researcher"))
    assert r.status_code == 200, r.text
    return dict(r.json()["result"])


def test_a_train_job_runs_on_the_in_process_dispatcher(
    train_client: TestClient, world: World
) -> None:
    result = _run(train_client, world, {"task": TASK, "model": {"kind": "logistic_l2"},
                                         "l2": 10.0, "min_patients": 20})  # fmt: skip
    model = TrainedModel.from_bundle(result["combined"]["model"])  # its sha256 checked
    assert model.kind == "logistic_l2" and model.training["transport"] == "in_process"
    assert model.training["converged"] and model.training["sites"] == NODES
    assert set(result["nodes"]) == set(NODES)
    for node in NODES:
        assert result["nodes"][node]["evaluation"]["n"] > 0


def test_a_dp_train_job_reports_each_nodes_epsilon_at_the_hub(
    train_client: TestClient, world: World
) -> None:
    mlp = {"kind": "mlp", "hyperparameters": {"hidden_layer_sizes": [4]}}
    dp = {"clip": 1.0, "noise_multiplier": 3.0, "delta": 1e-6}
    result = _run(train_client, world, {"task": TASK, "model": mlp, "rounds": 2,
                                         "min_patients": 20, "dp": dp})  # fmt: skip
    rho = 2 * 2 / 3.0**2
    eps = rho + 2 * (rho * 13.815510557964274) ** 0.5  # ln(1e6)
    for node in NODES:
        got = result["nodes"][node]["dp"]
        assert got["epsilon"] == pytest.approx(eps, rel=1e-9)
        assert got["budget"].startswith("charged once for this job")
    model = TrainedModel.from_bundle(result["combined"]["model"])
    assert set(model.training["dp"]) == set(NODES)
