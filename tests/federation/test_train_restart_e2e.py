"""Training over real Flower processes: a SuperNode killed (SIGKILL) during a multi-round Newton
training and restarted rejoins under its new node id, the round it missed is sent again, and the
training completes with all three nodes at the pooled fit (Newton is deterministic); a DP
training charges each node's privacy budget once and reports its ε."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from federation.test_train_e2e import Net, _pooled_newton, _train_params, _train_parts
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import generate_hub_keypair, load_private_key
from medhaven.federation.network import NetworkDispatcher
from medhaven.federation.node import NodeConfig
from medhaven.federation.processes import Service, start_superlink, start_supernode
from medhaven.prediction.models import TrainedModel
from medhaven.synth.writer import CDM_FILE, write_hospitals

pytestmark = pytest.mark.slow


@dataclass
class Federation:
    net: Net
    superlink: Service
    work: Path


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    work = tmp_path_factory.mktemp("train-restart")
    write_hospitals(work / "h", hospitals=3, persons=2000, seed=7)
    private, public = generate_hub_keypair(work / "hub-key")
    configs: dict[str, Path] = {}
    for db in sorted((work / "h").glob(f"*/{CDM_FILE}")):
        path = db.parent / "node.toml"
        path.write_text(f'name = "{db.parent.name}"\ncdm = "{db}"\n'
                        f'accepted_kinds = ["train"]\nhub_public_key = "{public}"\n'
                        "min_cell_count = 5\nmin_train_persons = 20\nprivacy_budget = 20.0\n",
                        encoding="utf-8")  # fmt: skip
        configs[db.parent.name] = path
    nodes: dict[str, Service] = {}
    link = start_superlink(work / "run")
    try:
        for name, path in configs.items():
            nodes[name] = start_supernode(path, superlink=link.address, work=work / "run")
        dispatcher = NetworkDispatcher(link.address, work / "spool", timeout=120, wait_nodes=60)
        yield Federation(Net(configs, load_private_key(private), dispatcher, nodes), link, work)
        dispatcher.session.stop(wait=30)
    finally:
        for svc in nodes.values():
            svc.stop()
        link.stop()


def test_a_supernode_killed_mid_training_rejoins_and_the_fit_is_the_same(
    fed: Federation,
) -> None:
    net = fed.net
    names = sorted(net.configs)
    victim = names[0]
    signed = net.sign("train", _train_params(20), names)
    job_id = json.loads(signed)["spec"]["job_id"]
    audit = NodeAuditLog(NodeConfig.load(net.configs[victim]).audit_path)
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(net.dispatcher(signed, min_nodes=3)))
    worker.start()

    def answered(stage: str) -> bool:
        return any(e.get("job_id") == job_id and e.get("reason") == f"train round: {stage}"
                   for e in audit.entries())  # fmt: skip

    deadline = time.monotonic() + 240
    while not answered("setup") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert answered("setup"), "the victim never answered setup"
    os.killpg(net.nodes[victim].proc.pid, signal.SIGKILL)  # dies with Newton rounds to come
    net.nodes[victim].stop()
    assert not answered("evaluate")  # killed during the training, not after it
    net.nodes[victim] = start_supernode(net.configs[victim], superlink=fed.superlink.address,
                                        work=fed.work / "run")  # fmt: skip
    worker.join(480)
    assert not worker.is_alive()
    assert result["status"] == "completed", result.get("reason") or result.get("nodes")
    assert {r["node"]: r["status"] for r in result["nodes"]} == dict.fromkeys(names, "ok")
    model = TrainedModel.from_bundle(result["combined"]["model"])
    assert model.training["sites"] == names and model.training["converged"]
    ids, beta = _pooled_newton(_train_parts(net, names))  # what the run without a restart gives
    np.testing.assert_array_equal(model.feature_ids, ids)
    np.testing.assert_allclose(model.weights[0].ravel(), beta[1:], atol=1e-6)
    np.testing.assert_allclose(model.weights[1], beta[:1], atol=1e-6)
    assert answered("evaluate")  # the restarted node took part to the end


def test_a_dp_training_over_flower_charges_each_node_once_and_reports_epsilon(
    fed: Federation,
) -> None:
    from medhaven.analytics.budget import PrivacyLedger
    from medhaven.prediction.node_dp import ledger_path

    net = fed.net
    names = sorted(net.configs)
    dp = {"clip": 1.0, "noise_multiplier": 2.0, "delta": 1e-6}
    params = {**_train_params(20), "model": {"kind": "mlp", "hyperparameters":
              {"hidden_layer_sizes": [4]}}, "rounds": 3, "dp": dp}  # fmt: skip
    doc = net.dispatcher(net.sign("train", params, names), min_nodes=3)
    assert doc["status"] == "completed", doc.get("reason") or doc.get("nodes")
    rho = 2 * 3 / 2.0**2  # written out: rho = 2·rounds/σ², ε = ρ + 2·sqrt(ρ·ln(1/δ))
    eps = rho + 2 * (rho * np.log(1e6)) ** 0.5
    for reply in doc["nodes"]:
        assert reply["result"]["dp"]["epsilon"] == pytest.approx(eps, rel=1e-9)
        ledger = PrivacyLedger(ledger_path(NodeConfig.load(net.configs[reply["node"]])))
        try:
            state = ledger.state("p")
        finally:
            ledger.close()
        assert state.releases == 1 and state.spent_rho == pytest.approx(rho)
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert set(model.training["dp"]) == set(names) and model.training["transport"] == "flower"
