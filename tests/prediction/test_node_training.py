"""The ``train`` job's rounds in process: real nodes (verification, audit, policy), data from a
pre-built cache instead of a CDM, so that the rounds' logic is checked fast."""

from __future__ import annotations

import datetime as dt
import json
import pickle
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from medhaven.errors import InvalidInput
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig
from medhaven.prediction.models import TrainedModel
from medhaven.prediction.node_training import (
    CACHE_VERSION,
    cache_path,
    check_parameters,
    handle_round,
    in_process_exchange,
    run_training,
)
from medhaven.prediction.study import split

from .synthetic_sites import make_site

TASK = {"name": "t", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission"}  # fmt: skip
SITES = {"a": (500, 0.0), "b": (400, 0.15), "c": (300, -0.05)}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    private, public = generate_hub_keypair(tmp_path / "key")
    configs = {}
    for name in SITES:
        d = tmp_path / name
        d.mkdir()
        (d / "node.toml").write_text(f'name = "{name}"\ncdm = "none.duckdb"\n'
                                     f'accepted_kinds = ["train"]\nhub_public_key = "{public}"\n'
                                     "min_train_persons = 50\n", encoding="utf-8")  # fmt: skip
        configs[name] = NodeConfig.load(d / "node.toml")
    return {"configs": configs, "key": load_private_key(private)}


def _job(world: dict[str, Any], params: dict[str, Any], targets: list[str]) -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"t-{uuid.uuid4().hex[:10]}", project="p", grant_id="g", kind="train",
                   parameters={"task": TASK, **params}, targets=targets,
                   expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
    signed = sign_job(spec, world["key"], "k").to_json()
    for i, (name, (n, shift)) in enumerate(SITES.items()):  # what setup would build from the CDM
        data = make_site(n, seed=10 + i, shift=shift, site=name)
        mask = split(data, fraction=0.25, seed=1)
        path = cache_path(world["configs"][name], spec.job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"version": CACHE_VERSION, "train": data.subset(~mask),
                         "test": data.subset(mask)}, fh)  # fmt: skip
    return signed


def _oracle(names: list[str]) -> np.ndarray:
    """Unpenalised dense Newton on the pooled training parts (intercept first)."""
    parts = []
    for i, (name, (n, shift)) in enumerate(SITES.items()):
        if name in names:
            data = make_site(n, seed=10 + i, shift=shift, site=name)
            parts.append(data.subset(~split(data, fraction=0.25, seed=1)))
    X = sparse.vstack([p.X for p in parts]).toarray()
    A = np.hstack([np.ones((X.shape[0], 1)), X])
    y = np.concatenate([p.y for p in parts]).astype(float)
    beta = np.zeros(A.shape[1])
    for _ in range(50):
        mu = 1.0 / (1.0 + np.exp(-(A @ beta)))
        beta = beta + np.linalg.solve((A * (mu * (1 - mu))[:, None]).T @ A, A.T @ (y - mu))
    return beta


def test_newton_rounds_reach_the_pooled_fit(world: dict[str, Any]) -> None:
    names = list(SITES)
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "l2": 0.0, "tol": 1e-10}, names)
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    beta = _oracle(names)
    np.testing.assert_allclose(model.weights[0].ravel(), beta[1:], atol=1e-6)
    np.testing.assert_allclose(model.weights[1], beta[:1], atol=1e-6)
    assert model.training["rounds"] <= 10 and model.training["transport"] == "in_process"
    for reply in doc["nodes"]:
        assert reply["result"]["evaluation"]["n"] is not None
    job_id = json.loads(signed)["spec"]["job_id"]
    assert not any(cache_path(c, job_id).exists() for c in world["configs"].values())


def test_a_node_below_its_minimum_refuses_audited(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "min_patients": 260}, list(SITES))
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=2,
                       transport="in_process")  # fmt: skip
    status = {r["node"]: r["status"] for r in doc["nodes"]}
    assert status == {"a": "ok", "b": "ok", "c": "refused"}  # c: 225 training persons
    assert doc["status"] == "partial"
    audit = NodeAuditLog(world["configs"]["c"].audit_path).entries()
    assert audit[-1]["outcome"] == "refused" and "minimum of 260" in audit[-1]["reason"]
    again = _job(world, {"model": {"kind": "logistic_l2"}, "min_patients": 260}, list(SITES))
    failed = run_training(again, in_process_exchange(again, world["configs"]), min_nodes=3,
                          transport="in_process")  # fmt: skip
    assert failed["status"] == "failed" and failed["combined"] is None
    assert "2 of 3 nodes took part in setup; at least 3 needed" in failed["reason"]


def test_each_round_is_verified_again(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": {"kind": "logistic_l2"}}, list(SITES))
    doc = json.loads(signed)
    doc["spec"]["parameters"]["l2"] = 0.5  # changed after signing
    reply = handle_round(json.dumps(doc), world["configs"]["a"], "setup", {}, {})
    assert reply.status == "refused" and "signature" in str(reply.reason)
    assert not reply.arrays and not reply.meta
    other = _job(world, {"model": {"kind": "logistic_l2"}}, ["a", "b"])
    reply = handle_round(other, world["configs"]["c"], "setup", {}, {})
    assert reply.status == "refused" and "not a target" in str(reply.reason)


def test_a_node_holding_every_result_refuses_train_rounds(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": {"kind": "logistic_l2"}}, list(SITES))
    holding = world["configs"]["a"].model_copy(update={"require_release_approval": True})
    reply = handle_round(signed, holding, "setup", {}, {})
    assert reply.status == "refused" and "cannot be held" in str(reply.reason)
    assert not reply.arrays and not reply.meta
    listed = world["configs"]["a"].model_copy(update={"require_release_approval": ["incidence"]})
    assert handle_round(signed, listed, "setup", {}, {}).status == "ok"


@pytest.mark.parametrize("kind", ["mlp", "lightgbm"])
def test_mlp_and_trees_train_across_nodes(world: dict[str, Any], kind: str) -> None:
    hp: dict[str, Any] = {"n_estimators": 20}
    if kind == "mlp":
        hp = {"hidden_layer_sizes": [8], "learning_rate_init": 0.01}
    signed = _job(world, {"model": {"kind": kind, "hyperparameters": hp}, "rounds": 5,
                          "local_epochs": 2},
                  list(SITES))  # fmt: skip
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.kind == kind and model.n_train == sum(
        (~split(make_site(n, seed=10 + i, shift=s), fraction=0.25, seed=1)).sum()
        for i, (n, s) in enumerate(SITES.values())
    )
    if kind == "lightgbm":
        assert len(model.boosters) == 3
    else:
        assert [w.shape for w in model.weights] == [(8, 8), (8,), (8, 1), (1,)]
    auroc = [r["result"]["evaluation"]["metrics"]["auroc"] for r in doc["nodes"]]
    assert min(auroc) > 0.6, auroc


def test_parameters_are_checked_before_signing() -> None:
    with pytest.raises(InvalidInput, match=r"parameters\.l1: Input should be greater"):
        check_parameters("train", {"task": TASK, "model": {"kind": "logistic_l1"}, "l1": -1})
    with pytest.raises(InvalidInput, match=r"parameters\.epochs"):
        check_parameters("train", {"task": TASK, "model": {"kind": "mlp"}, "epochs": 3})
    with pytest.raises(InvalidInput, match="no sha256"):
        check_parameters("evaluate", {"task": TASK, "model": {"kind": "mlp"}})


def test_a_train_result_renders_its_model_summary() -> None:
    from io import StringIO

    from rich.console import Console

    from medhaven.cli.jobs_render import render_combined

    out = StringIO()
    model = {"kind": "logistic_l2", "n_train": 1234, "feature_ids": [5, 7, 9], "sha256": "f" * 64,
             "training": {"sites": ["north", "south"], "mode": "newton"}}  # fmt: skip
    render_combined({"kind": "train", "rounds": 9, "model": model},
                    Console(file=out, width=200))  # fmt: skip
    text = out.getvalue()
    assert "logistic_l2 model trained across north, south" in text
    assert "newton, 9 rounds, 1234 persons, 3 features" in text


def test_bad_parameters_fail_the_job_in_one_line_before_any_round(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "min_patients": 0}, list(SITES))
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=1,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "failed" and doc["combined"] is None
    assert doc["reason"].startswith("train job: parameters.min_patients:")
    assert {r["reason"] for r in doc["nodes"]} == {doc["reason"]}
    assert not NodeAuditLog(world["configs"]["a"].audit_path).entries()  # no round was sent


def test_the_hub_keeps_the_bundle_and_each_nodes_evaluation(world: dict[str, Any]) -> None:
    from medhaven.prediction.node_training import released_training

    signed = _job(world, {"model": {"kind": "logistic_l2"}, "min_patients": 260}, list(SITES))
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=2,
                       transport="in_process")  # fmt: skip
    kept = released_training(doc, doc["nodes"])
    assert kept["combined"]["model"] == doc["combined"]["model"]
    assert set(kept["nodes"]) == {"a", "b"}  # c refused: nothing of it kept
    assert kept["nodes"]["a"]["evaluation"]["n"] is not None
    tampered = json.loads(json.dumps(doc))
    tampered["combined"]["model"]["n_train"] += 1
    refused = released_training(tampered, tampered["nodes"])["combined"]
    assert refused["model"] is None and "sha256 does not match" in refused["reason"]
