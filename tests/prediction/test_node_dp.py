"""Differential privacy in ``train`` jobs at the node: the budget charged once per job, refusal
when exhausted, the noise actually applied at the expected scale, ε reported as the formula gives.

Real nodes (verification, audit, ledger) in process; data from a pre-built cache."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medhaven.analytics.budget import PrivacyLedger
from medhaven.errors import InvalidInput
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig
from medhaven.prediction import node_dp
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
BUDGET = 12.0  # epsilon at delta 1e-5: rho = (sqrt(ln 1e5 + 12) - sqrt(ln 1e5))^2 = 2.12
MLP = {"kind": "mlp", "hyperparameters": {"hidden_layer_sizes": [8], "learning_rate_init": 0.01}}


def _eps(sigma: float, rounds: int, delta: float) -> float:
    """The zCDP accounting written out here: rho = 2R/sigma^2, eps = rho + 2 sqrt(rho ln 1/d)."""
    rho = 2.0 * rounds / sigma**2
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    private, public = generate_hub_keypair(tmp_path / "key")
    configs = {}
    for name in SITES:
        d = tmp_path / name
        d.mkdir()
        (d / "node.toml").write_text(f'name = "{name}"\ncdm = "none.duckdb"\n'
                                     f'accepted_kinds = ["train"]\nhub_public_key = "{public}"\n'
                                     f"min_train_persons = 50\nprivacy_budget = {BUDGET}\n",
                                     encoding="utf-8")  # fmt: skip
        configs[name] = NodeConfig.load(d / "node.toml")
    return {"configs": configs, "key": load_private_key(private)}


def _job(world: dict[str, Any], params: dict[str, Any], project: str = "p") -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"t-{uuid.uuid4().hex[:10]}", project=project, grant_id="g",
                   kind="train", parameters={"task": TASK, **params}, targets=list(SITES),
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


def _train(world: dict[str, Any], signed: str) -> dict[str, Any]:
    return run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                        transport="in_process")  # fmt: skip


def _spent(config: NodeConfig, project: str = "p") -> tuple[int, float]:
    ledger = PrivacyLedger(node_dp.ledger_path(config))
    try:
        state = ledger.state(project)
        return state.releases, state.spent_rho
    finally:
        ledger.close()


def test_a_dp_training_charges_each_node_once_and_reports_its_epsilon(
    world: dict[str, Any],
) -> None:
    dp = {"clip": 1.0, "noise_multiplier": 2.0, "delta": 1e-5}
    signed = _job(world, {"model": MLP, "rounds": 3, "dp": dp})
    for _ in range(2):  # setup resent (a retrying server, a restarted node) before the training
        assert handle_round(signed, world["configs"]["a"], "setup", {}, {}).status == "ok"
    doc = _train(world, signed)
    assert doc["status"] == "completed", doc
    expected = _eps(2.0, 3, 1e-5)
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    for reply in doc["nodes"]:
        got = reply["result"]["dp"]
        assert got["epsilon"] == pytest.approx(expected, rel=1e-12)
        assert (got["delta"], got["clip"], got["noise_multiplier"]) == (1e-5, 1.0, 2.0)
        assert model.training["dp"][reply["node"]] == got
        assert _spent(world["configs"][reply["node"]]) == (1, pytest.approx(2.0 * 3 / 4.0))


def test_a_dp_training_past_the_budget_is_refused_audited_and_charges_nothing(
    world: dict[str, Any],
) -> None:
    dp = {"clip": 1.0, "noise_multiplier": 2.0}  # rho 1.5 each: the second passes 2.12
    assert _train(world, _job(world, {"model": MLP, "rounds": 3, "dp": dp}))["status"] == (
        "completed"
    )
    signed = _job(world, {"model": MLP, "rounds": 3, "dp": dp})
    doc = _train(world, signed)
    assert doc["status"] == "failed" and doc["combined"] is None
    assert {r["status"] for r in doc["nodes"]} == {"refused"}
    assert "would pass project p's privacy budget" in doc["nodes"][0]["reason"]
    job_id = json.loads(signed)["spec"]["job_id"]
    for config in world["configs"].values():
        assert _spent(config) == (1, pytest.approx(1.5))
        line = [e for e in NodeAuditLog(config.audit_path).entries() if e["job_id"] == job_id]
        assert len(line) == 1 and line[0]["outcome"] == "refused"
        assert line[0]["reason"].startswith("setup: the training's epsilon")
    # another project has its own budget at the node
    assert _train(world, _job(world, {"model": MLP, "rounds": 3, "dp": dp}, project="q"))[
        "status"
    ] == ("completed")


def _round_arrays(config: NodeConfig, signed: str, hidden: int = 8) -> dict[str, np.ndarray]:
    setup = handle_round(signed, config, "setup", {}, {})
    assert setup.status == "ok", setup.reason
    ids = setup.arrays["feature_ids"]
    rng = np.random.default_rng(5)
    return {"feature_ids": ids, "scale": np.ones(ids.size),
            "p0": rng.normal(0, 0.3, (ids.size, hidden)), "p1": np.zeros(hidden),
            "p2": rng.normal(0, 0.3, (hidden, 1)), "p3": np.zeros(1)}  # fmt: skip


def _flat(arrays: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([arrays[f"p{i}"].ravel() for i in range(4)])


def test_the_node_adds_gaussian_noise_of_sd_sigma_times_clip_to_its_update(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    mlp = {"kind": "mlp", "hyperparameters": {"hidden_layer_sizes": [32]}}
    plain = _job(world, {"model": mlp, "rounds": 2})
    free = world["configs"]["a"].model_copy(update={"privacy_budget": None})  # no ceiling
    arrays = _round_arrays(free, plain, hidden=32)
    meta = {"seed": 77}
    ref = handle_round(plain, free, "fedavg", dict(arrays), meta)
    assert ref.status == "ok", ref.reason
    update = _flat(ref.arrays) - _flat(arrays)  # what local training moved, without DP
    clip, sigma = 2.0 * float(np.linalg.norm(update)), 0.5  # no clipping: noise only
    signed = _job(world, {"model": mlp, "rounds": 2,
                          "dp": {"clip": clip, "noise_multiplier": sigma}})  # fmt: skip
    handle_round(signed, free, "setup", {}, {})
    monkeypatch.setattr(node_dp, "noise_rng", lambda: np.random.default_rng(2026))
    got = handle_round(signed, free, "fedavg", dict(arrays), meta)
    assert got.status == "ok", got.reason
    noise = _flat(got.arrays) - update  # the DP reply is the (unclipped) update plus noise
    sd = sigma * clip
    assert noise.size == 8 * 32 + 32 + 32 + 1
    assert abs(float(noise.std()) / sd - 1.0) < 0.12
    assert abs(float(noise.mean())) < 4 * sd / math.sqrt(noise.size)
    assert got.arrays["n"][0] == ref.arrays["n"][0]


def test_the_noise_is_the_nodes_own_and_a_tiny_clip_bounds_the_update(
    world: dict[str, Any],
) -> None:
    free = world["configs"]["a"].model_copy(update={"privacy_budget": None})  # no ceiling
    signed = _job(world, {"model": MLP, "rounds": 2,
                          "dp": {"clip": 0.01, "noise_multiplier": 1e-7}})  # fmt: skip
    arrays = _round_arrays(free, signed)
    setup = handle_round(signed, free, "setup", {}, {})
    assert setup.meta["dp"]["budget"] == "no budget set"
    got = handle_round(signed, free, "fedavg", dict(arrays), {"seed": 1})
    assert got.status == "ok", got.reason
    assert float(np.linalg.norm(_flat(got.arrays))) == pytest.approx(0.01, rel=1e-3)
    # one request, one server seed, two jobs: different noise (the node's, not the server's)
    noisy = {"model": MLP, "rounds": 2, "dp": {"clip": 0.01, "noise_multiplier": 1.0}}
    x, y = (handle_round(_job(world, noisy), free, "fedavg", dict(arrays), {"seed": 1})
            for _ in range(2))  # fmt: skip
    assert x.status == y.status == "ok"
    assert not np.allclose(_flat(x.arrays), _flat(y.arrays))


def test_a_dp_round_without_setup_is_charged_before_it_answers(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": MLP, "rounds": 2, "dp": {"clip": 1.0, "noise_multiplier": 2.0}})
    arrays = _round_arrays(world["configs"]["a"], signed)  # setup at node a only
    b = world["configs"]["b"]
    assert handle_round(signed, b, "fedavg", dict(arrays), {"seed": 1}).status == "ok"
    handle_round(signed, b, "setup", {}, {})
    assert _spent(b) == (1, pytest.approx(2 * 2 / 4.0))


def test_a_resent_dp_round_gets_the_same_reply_and_no_round_past_the_charge(
    world: dict[str, Any],
) -> None:
    signed = _job(world, {"model": MLP, "rounds": 2, "dp": {"clip": 1.0, "noise_multiplier": 2.0}})
    arrays = _round_arrays(world["configs"]["a"], signed)
    config = world["configs"]["a"]
    first = handle_round(signed, config, "fedavg", dict(arrays), {"seed": 1})
    resent = handle_round(signed, config, "fedavg", dict(arrays), {"seed": 1})
    assert first.status == resent.status == "ok"
    np.testing.assert_array_equal(_flat(first.arrays), _flat(resent.arrays))
    assert handle_round(signed, config, "fedavg", dict(arrays), {"seed": 2}).status == "ok"
    third = handle_round(signed, config, "fedavg", dict(arrays), {"seed": 3})
    assert third.status == "refused"
    assert "all 2 differentially private rounds of this job are answered" in str(third.reason)


def test_a_target_epsilon_sets_the_noise_that_spends_exactly_it(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": MLP, "rounds": 4,
                          "dp": {"clip": 1.0, "epsilon": 3.0, "delta": 1e-6}})  # fmt: skip
    got = handle_round(signed, world["configs"]["a"], "setup", {}, {}).meta["dp"]
    assert got["epsilon"] == pytest.approx(3.0, rel=1e-9)
    assert _eps(got["noise_multiplier"], 4, 1e-6) == pytest.approx(3.0, rel=1e-9)
    assert got["noise_multiplier"] > 1.0  # 4 rounds at epsilon 3 need sizeable noise


def test_the_dp_block_is_checked_before_signing() -> None:
    with pytest.raises(InvalidInput, match=r"parameters\.dp: differential privacy is for mlp"):
        check_parameters("train", {"task": TASK, "model": {"kind": "logistic_l2"},
                                   "dp": {"clip": 1.0, "noise_multiplier": 1.0}})  # fmt: skip
    with pytest.raises(InvalidInput, match="exactly one of noise_multiplier and epsilon"):
        check_parameters("train", {"task": TASK, "model": MLP,
                                   "dp": {"clip": 1.0, "noise_multiplier": 1.0, "epsilon": 2.0}})  # fmt: skip
    with pytest.raises(InvalidInput, match=r"parameters\.dp\.clip"):
        check_parameters("train", {"task": TASK, "model": MLP,
                                   "dp": {"clip": 0.0, "noise_multiplier": 1.0}})  # fmt: skip


def test_the_model_card_shows_each_nodes_dp_figures(world: dict[str, Any]) -> None:
    from medhaven.prediction.card import build_card, render_html
    from medhaven.prediction.study import card_model

    dp = {"clip": 0.5, "noise_multiplier": 4.0, "delta": 1e-6}
    doc = _train(world, _job(world, {"model": MLP, "rounds": 2, "dp": dp}))
    bundle = doc["combined"]["model"]
    model = TrainedModel.from_bundle(bundle)
    card = build_card(title="dp", intended_use={}, task=TASK, features={},
                      model=card_model(model, bundle), sites=[], evaluation_design={},
                      performance={})  # fmt: skip
    assert set(card["model"]["training"]["dp"]) == set(SITES)
    html = render_html(card, {"items": []})
    eps = _eps(4.0, 2, 1e-6)
    assert "Differential privacy (per node)" in html
    for node in SITES:
        row = f'<tr><td>{node}</td><td class="num">{eps:.4g}</td><td class="num">1e-06</td>'
        assert row in html
