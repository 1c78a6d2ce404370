"""Federated training and external validation over real Flower processes: a SuperLink, three
SuperNodes on loopback, the network session serving ``train`` and ``evaluate`` jobs.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from scipy import sparse

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.network import NetworkDispatcher
from medhaven.federation.node import NodeConfig
from medhaven.federation.processes import Service, start_superlink, start_supernode
from medhaven.prediction.data import PredictionData
from medhaven.prediction.evaluate import evaluate
from medhaven.prediction.features import extract_features
from medhaven.prediction.models import TrainedModel
from medhaven.prediction.population import study_population
from medhaven.prediction.study import split
from medhaven.prediction.task import parse_task
from medhaven.synth.writer import CDM_FILE, write_hospitals

pytestmark = pytest.mark.slow

# binary features only (no counts, no measurement values): every feature's shared scale is 1
TASK = {"name": "hf", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission",
        "features": {"windows": [365, 30], "counts": False, "measurement_values": False}}  # fmt: skip
MIN_CELL = 5
L2 = 10.0
SEED = 3


@dataclass
class Net:
    configs: dict[str, Path]
    key: Ed25519PrivateKey
    dispatcher: NetworkDispatcher
    nodes: dict[str, Service]

    def sign(self, kind: str, parameters: dict[str, Any], targets: list[str]) -> str:
        now = dt.datetime.now(dt.UTC)
        spec = JobSpec(job_id=f"{kind}-{uuid.uuid4().hex[:12]}", project="p", grant_id="g",
                       kind=kind, parameters=parameters, targets=targets,  # type: ignore[arg-type]
                       expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
        return sign_job(spec, self.key, "hub-test").to_json()

    def site(self, name: str) -> PredictionData:
        """A node's study population and features, built here directly from its CDM."""
        from medhaven.cdm.store import open_store

        task = parse_task(TASK)
        store = open_store(NodeConfig.load(self.configs[name]).cdm)
        try:
            return extract_features(store, study_population(store, task), task.features, site=name)
        finally:
            store.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    work = tmp_path_factory.mktemp("train")
    write_hospitals(work / "h", hospitals=3, persons=2000, seed=7)
    private, public = generate_hub_keypair(work / "hub-key")
    configs: dict[str, Path] = {}
    for db in sorted((work / "h").glob(f"*/{CDM_FILE}")):
        path = db.parent / "node.toml"
        path.write_text(f'name = "{db.parent.name}"\ncdm = "{db}"\n'
                        f'accepted_kinds = ["train", "evaluate"]\nhub_public_key = "{public}"\n'
                        f"min_cell_count = {MIN_CELL}\nmin_train_persons = 20\n",
                        encoding="utf-8")  # fmt: skip
        configs[db.parent.name] = path
    nodes: dict[str, Service] = {}
    link = start_superlink(work / "run")
    try:
        for name, path in configs.items():
            nodes[name] = start_supernode(path, superlink=link.address, work=work / "run")
        dispatcher = NetworkDispatcher(link.address, work / "spool", timeout=120, wait_nodes=60)
        yield Net(configs, load_private_key(private), dispatcher, nodes)
        dispatcher.session.stop(wait=15)
    finally:
        for svc in nodes.values():
            svc.stop()
        link.stop()


def _train_params(min_patients: int) -> dict[str, Any]:
    return {"task": TASK, "model": {"kind": "logistic_l2"}, "l2": L2, "tol": 1e-10,
            "min_patients": min_patients, "test_fraction": 0.25, "seed": SEED}  # fmt: skip


def _pooled_newton(parts: list[PredictionData], steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: the feature space each node would agree, pooled rows, dense Newton, L2."""
    eligible = [p.feature_ids[np.diff(p.X.tocsc().indptr) >= MIN_CELL] for p in parts]
    ids = np.unique(np.concatenate(eligible)).astype(np.int64)
    X = sparse.vstack([p.align(ids).X for p in parts]).toarray()
    y = np.concatenate([p.y for p in parts]).astype(float)
    A = np.hstack([np.ones((X.shape[0], 1)), X])
    beta = np.zeros(A.shape[1])
    pen = np.full(A.shape[1], L2)
    pen[0] = 0.0
    for _ in range(steps):
        mu = 1.0 / (1.0 + np.exp(-(A @ beta)))
        grad = A.T @ (y - mu) - pen * beta
        hess = (A * (mu * (1 - mu))[:, None]).T @ A + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12:
            break
    return ids, beta


def _train_parts(net: Net, names: list[str]) -> list[PredictionData]:
    out = []
    for name in names:
        data = net.site(name)
        out.append(data.subset(~split(data, fraction=0.25, seed=SEED)))
    return out


def test_train_over_flower_equals_the_pooled_newton_fit(net: Net) -> None:
    names = sorted(net.configs)
    doc = net.dispatcher(net.sign("train", _train_params(20), names), min_nodes=3)
    assert doc["status"] == "completed", doc["reason"] or doc["nodes"]
    bundle = doc["combined"]["model"]
    model = TrainedModel.from_bundle(bundle)
    assert model.training["transport"] == "flower" and model.training["converged"]
    assert model.training["rounds"] <= 12
    ids, beta = _pooled_newton(_train_parts(net, names))
    np.testing.assert_array_equal(model.feature_ids, ids)
    np.testing.assert_allclose(model.weights[0].ravel(), beta[1:], atol=1e-6)
    np.testing.assert_allclose(model.weights[1], beta[:1], atol=1e-6)
    for reply in doc["nodes"]:  # each node's released evaluation on its held-out part
        ev = reply["result"]["evaluation"]
        assert ev["min_cell_count"] == MIN_CELL and "subgroups" in ev


def test_a_node_below_its_minimum_refuses_and_the_others_train(net: Net) -> None:
    names = sorted(net.configs)
    sizes = {n: p.rows for n, p in zip(names, _train_parts(net, names), strict=True)}
    small = min(sizes, key=lambda n: sizes[n])
    least = sizes[small] + 1
    assert all(v >= least for n, v in sizes.items() if n != small), sizes
    signed = net.sign("train", _train_params(least), names)
    doc = net.dispatcher(signed, min_nodes=2)
    status = {r["node"]: r["status"] for r in doc["nodes"]}
    assert doc["status"] == "partial" and status[small] == "refused", doc["nodes"]
    assert all(s == "ok" for n, s in status.items() if n != small)
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.training["sites"] == [n for n in names if n != small]
    job_id = json.loads(signed)["spec"]["job_id"]
    audit = NodeAuditLog(NodeConfig.load(net.configs[small]).audit_path).entries()
    refused = [e for e in audit if e.get("job_id") == job_id and e["outcome"] == "refused"]
    assert refused and "minimum" in refused[0]["reason"]
    # below min_nodes: the job fails with a clear reason
    failed = net.dispatcher(net.sign("train", _train_params(least), names), min_nodes=3)
    assert failed["status"] == "failed" and "at least 3 needed" in failed["reason"]
    assert failed["combined"] is None


@pytest.fixture(scope="module")
def two_node_model(net: Net) -> tuple[dict[str, Any], str]:
    """A model trained at two nodes, and the third node (the one with the most outcomes)."""
    sizes = {n: net.site(n).outcomes for n in net.configs}
    third = max(sizes, key=lambda n: sizes[n])  # enough outcomes for metrics to be released
    assert sizes[third] >= MIN_CELL
    trained = net.dispatcher(net.sign("train", _train_params(20), sorted(set(sizes) - {third})),
                             min_nodes=2)  # fmt: skip
    assert trained["status"] == "completed", trained["nodes"]
    return trained["combined"]["model"], third


def test_evaluate_at_a_third_node_equals_evaluate_run_on_its_data(
    net: Net, two_node_model: tuple[dict[str, Any], str]
) -> None:
    bundle, third = two_node_model
    doc = net.dispatcher(net.sign("evaluate", {"task": TASK, "model": bundle}, [third]),
                         min_nodes=1)  # fmt: skip
    assert doc["status"] == "completed", doc["nodes"]
    released = doc["nodes"][0]["result"]["evaluation"]
    data = net.site(third)
    model = TrainedModel.from_bundle(json.loads(json.dumps(bundle)))
    expected = evaluate(data.y, model.predict(data), groups=data.subgroups,
                        policy=DisclosurePolicy(min_cell_count=MIN_CELL))  # fmt: skip
    assert released == json.loads(json.dumps(expected))
    assert released["n"] == data.rows and released["released"]


def test_a_tampered_bundle_is_refused_at_the_node(
    net: Net, two_node_model: tuple[dict[str, Any], str]
) -> None:
    bundle, third = dict(two_node_model[0]), two_node_model[1]
    weights = [dict(w) for w in bundle["weights"]]
    weights[1] = {**weights[1], "values": [weights[1]["values"][0] + 1.0]}
    bundle["weights"] = weights  # the intercept changed after the hash was taken
    doc = net.dispatcher(net.sign("evaluate", {"task": TASK, "model": bundle}, [third]),
                         min_nodes=1)  # fmt: skip
    assert doc["status"] == "failed"
    reply = doc["nodes"][0]
    assert reply["status"] == "error" and "sha256 does not match" in reply["reason"]
    assert reply["result"] is None


def test_secure_aggregation_over_flower_takes_the_pooled_newton_steps(net: Net) -> None:
    """SecAgg+ rounds over real Flower messages: the ServerApp sums masked vectors only, and
    two secure Newton rounds are the pooled data's first two Newton steps."""
    from medhaven.prediction.secagg import error_bound

    names = sorted(net.configs)
    params = {**_train_params(20), "secure_aggregation": True, "rounds": 2}
    doc = net.dispatcher(net.sign("train", params, names), min_nodes=3)
    assert doc["status"] == "completed", doc["reason"] or doc["nodes"]
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.training["secure_aggregation"]["error_bound"] == error_bound(3)
    assert model.training["rounds"] == 2 and doc["combined"]["rounds"] == 1 + 4 * 2 + 1
    ids, beta = _pooled_newton(_train_parts(net, names), steps=2)
    np.testing.assert_array_equal(model.feature_ids, ids)
    # summed statistics off by < 3 steps of 2**-24 each; with l2 = 10 the Hessian's smallest
    # eigenvalue is >= 10, so the coefficients move by far less than 1e-5
    np.testing.assert_allclose(model.weights[0].ravel(), beta[1:], atol=1e-5)
    np.testing.assert_allclose(model.weights[1], beta[:1], atol=1e-5)
