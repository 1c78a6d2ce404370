"""Secure aggregation (SecAgg+) of the ``newton`` and ``fedavg`` rounds, in process: real nodes
(signature checked every round), the server's view recorded at the exchange."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from medhaven.errors import InvalidInput
from medhaven.federation.jobs import generate_hub_keypair, load_private_key
from medhaven.federation.node import NodeConfig
from medhaven.prediction import federated as fed
from medhaven.prediction.models import TrainedModel, power_of_two_scale
from medhaven.prediction.node_training import (
    Arrays,
    RoundReply,
    check_parameters,
    handle_round,
    in_process_exchange,
    run_training,
)
from medhaven.prediction.secagg import (
    dequantize,
    error_bound,
    prg,
    quantize,
    secure_sum,
    state_path,
    step,
    value_bound,
)
from medhaven.prediction.study import split

from .synthetic_sites import make_site
from .test_node_training import SITES, TASK, _job

IDS = make_site(10, seed=0).feature_ids  # every site's feature ids


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """Three nodes (a, b, c) that accept ``train`` jobs signed by one hub key."""
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


def _train_part(name: str) -> Any:
    i = list(SITES).index(name)
    n, shift = SITES[name]
    data = make_site(n, seed=10 + i, shift=shift, site=name)
    return data.subset(~split(data, fraction=0.25, seed=1)).align(IDS)


def _newton_asks(names: list[str], beta: np.ndarray) -> dict[str, tuple[Arrays, dict[str, Any]]]:
    base = {"feature_ids": IDS, "scale": np.ones(IDS.size), "beta": beta}
    return {n: (dict(base), {}) for n in names}


def _plain_sum(names: list[str], beta: np.ndarray) -> dict[str, np.ndarray]:
    """The oracle: each node's Newton statistics computed here from its data, summed."""
    parts = [fed.newton_site(_train_part(n), beta, scale=np.ones(IDS.size)) for n in names]
    return {"gradient": np.sum([s.gradient for s in parts], axis=0),
            "hessian": np.sum([s.hessian for s in parts], axis=0),
            "loglik": np.array([sum(s.loglik for s in parts)]),
            "n": np.array([float(sum(s.n for s in parts))])}  # fmt: skip


def _recording(exchange: Any, log: list[tuple[str, dict[str, RoundReply]]],
               drop: dict[str, set[str]] | None = None) -> Any:  # fmt: skip
    """The server's view: every reply it receives; ``drop``: stage -> nodes whose reply is lost
    (the node answered, the server never sees it)."""

    def wrapped(stage: str, asks: dict[str, Any]) -> dict[str, RoundReply]:
        got = exchange(stage, asks)
        for node in (drop or {}).get(stage, set()):
            got[node] = RoundReply("timed_out", f"{node} did not reply")
        log.append((stage, got))
        return got

    return wrapped


def test_fixed_point_sum_is_within_the_bound_and_big_values_are_refused() -> None:
    rng = np.random.default_rng(5)
    nodes = 5
    vectors = [rng.normal(0, 1e4, 2000) for _ in range(nodes)]
    ring = np.zeros(2000, dtype=np.uint64)
    for v in vectors:
        ring = ring + quantize(v, nodes, rng)
    err = np.abs(dequantize(ring) - np.sum(vectors, axis=0))
    assert err.max() <= error_bound(nodes) == nodes * 2.0**-24
    assert err.max() > 0  # rounding happened: the bound is not vacuous here
    # unbiased rounding: the mean error of many values is far below a step
    one = np.full(20000, 0.3 * step())
    assert abs(dequantize(quantize(one, 1, rng)).mean() - 0.3 * step()) < 0.02 * step()
    with pytest.raises(InvalidInput, match="fixed-point range"):
        quantize(np.array([value_bound(nodes) * 1.01]), nodes, rng)
    with pytest.raises(InvalidInput, match="not finite"):
        quantize(np.array([math.nan]), nodes, rng)


def test_prg_is_a_function_of_seed_and_label() -> None:
    a = prg(b"k" * 32, "newton-1", 1000)
    assert np.array_equal(a, prg(b"k" * 32, "newton-1", 1000))
    assert not np.array_equal(a, prg(b"k" * 32, "newton-2", 1000))
    assert not np.array_equal(a, prg(b"j" * 32, "newton-1", 1000))
    assert sps.kstest(a / 2.0**64, "uniform").pvalue > 1e-6


def test_the_server_learns_the_sum_and_not_a_nodes_vector(world: dict[str, Any]) -> None:
    names = list(SITES)
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "secure_aggregation": True}, names)
    log: list[tuple[str, dict[str, RoundReply]]] = []
    exchange = _recording(in_process_exchange(signed, world["configs"]), log)
    beta = np.linspace(-0.5, 0.5, IDS.size + 1)
    got = secure_sum(exchange, "newton", _newton_asks(names, beta), round_id="newton-1")
    assert got.reason is None and got.arrays is not None and got.survivors == names
    want = _plain_sum(names, beta)
    for key, value in want.items():
        np.testing.assert_allclose(got.arrays[key], value, rtol=0, atol=error_bound(3))
    assert [s for s, _ in log] == ["sa_keys", "sa_shares", "newton", "sa_unmask"]
    # what the server saw of node a: a masked ring vector, nothing else numeric
    masked = log[2][1]["a"]
    assert set(masked.arrays) == {"masked"} and masked.arrays["masked"].dtype == np.uint64
    own = fed.newton_site(_train_part("a"), beta, scale=np.ones(IDS.size))
    true = np.concatenate([own.gradient, own.hessian.ravel(), [own.loglik], [float(own.n)]])
    seen = masked.arrays["masked"] / 2.0**64
    assert seen.size == true.size
    assert abs(np.corrcoef(seen, true)[0, 1]) < 0.5  # 92 values: chance |r| has sd 0.1
    assert sps.kstest(seen, "uniform").pvalue > 1e-6  # spread over the whole ring
    assert np.abs(dequantize(masked.arrays["masked"]) - true).min() > 1.0  # no value readable
    # no reply carries a share in the clear: every share the server relays is a Fernet token
    for stage, replies in log:
        for reply in replies.values():
            text = repr(reply.meta)
            assert "PRIVATE KEY" not in text
    for config in world["configs"].values():  # after unmasking a node keeps no secret
        with state_path(config, _job_id(signed)).open("rb") as fh:
            kept = pickle.load(fh)
        assert set(kept) == {"round", "stage", "unmask_asked", "unmask_reply", "version"}


def _job_id(signed: str) -> str:
    import json

    return str(json.loads(signed)["spec"]["job_id"])


@pytest.mark.parametrize("when", ["newton", "sa_unmask"])
def test_one_dropout_is_recovered_when_enough_survive(world: dict[str, Any], when: str) -> None:
    names = list(SITES)
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "secure_aggregation": True}, names)
    log: list[tuple[str, dict[str, RoundReply]]] = []
    exchange = _recording(in_process_exchange(signed, world["configs"]), log, {when: {"c"}})
    beta = np.zeros(IDS.size + 1)
    got = secure_sum(exchange, "newton", _newton_asks(names, beta), round_id="newton-1")
    assert got.reason is None and got.arrays is not None
    # dropped before its masked vector arrived: the sum of a and b (c's pairwise masks rebuilt
    # from its key shares); dropped after: c's vector is in the sum (its self mask rebuilt)
    counted = ["a", "b"] if when == "newton" else names
    for key, value in _plain_sum(counted, beta).items():
        np.testing.assert_allclose(got.arrays[key], value, rtol=0, atol=error_bound(3))
    assert got.replies["c"].status == "timed_out"
    assert sorted(n for n, r in got.replies.items() if r.status == "ok") == ["a", "b"]


@pytest.mark.parametrize(("threshold", "drop"), [(2, {"newton": {"b", "c"}}),
                                                 (3, {"sa_unmask": {"c"}})])  # fmt: skip
def test_too_few_survivors_fail_the_round_without_a_sum(
    world: dict[str, Any], threshold: int, drop: dict[str, set[str]]
) -> None:
    names = list(SITES)
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "secure_aggregation": True}, names)
    log: list[tuple[str, dict[str, RoundReply]]] = []
    exchange = _recording(in_process_exchange(signed, world["configs"]), log, drop)
    got = secure_sum(exchange, "newton", _newton_asks(names, np.zeros(IDS.size + 1)),
                     round_id="newton-1", threshold=threshold)  # fmt: skip
    assert got.arrays is None and got.survivors == []
    assert got.reason is not None and "no partial sum is released" in got.reason
    if "newton" in drop:  # the unmask step was never asked: no share left any node
        assert [s for s, _ in log] == ["sa_keys", "sa_shares", "newton"]


def test_a_node_refuses_to_send_a_plain_vector_or_to_unmask_twice(world: dict[str, Any]) -> None:
    names = list(SITES)
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "secure_aggregation": True}, names)
    a = world["configs"]["a"]
    asks = _newton_asks(names, np.zeros(IDS.size + 1))
    plain = handle_round(signed, a, "newton", *asks["a"])  # the server skipped the secure steps
    assert plain.status == "refused" and "requires secure aggregation" in str(plain.reason)
    assert not plain.arrays
    exchange = in_process_exchange(signed, world["configs"])
    keys = exchange("sa_keys", {n: ({}, {"round": "r"}) for n in names})
    peers = {n: {"index": i + 1, **keys[n].meta} for i, n in enumerate(names)}
    low = exchange("sa_shares", {"a": ({}, {"round": "r", "peers": peers, "threshold": 1})})
    assert low["a"].status == "refused" and "threshold 1" in str(low["a"].reason)
    forged = {**peers, "a": {**peers["a"], "pk2": peers["b"]["pk2"]}}
    bad = exchange("sa_shares", {"a": ({}, {"round": "r", "peers": forged, "threshold": 2})})
    assert bad["a"].status == "refused" and "not its own" in str(bad["a"].reason)
    shares = exchange("sa_shares", {n: ({}, {"round": "r", "peers": peers, "threshold": 2})
                                    for n in names})  # fmt: skip
    inbox = {n: {s: shares[s].meta["ciphertexts"][n] for s in names if s != n} for n in names}
    masked = exchange("newton", {n: (asks[n][0], {"secagg": {"round": "r",
                                                             "ciphertexts": inbox[n]}})
                                 for n in names})  # fmt: skip
    assert all(r.status == "ok" for r in masked.values())
    both = exchange("sa_unmask", {"a": ({}, {"round": "r", "survivors": ["a", "b"],
                                              "dropped": ["b", "c"]})})  # fmt: skip
    assert both["a"].status == "refused" and "both survivor and dropped" in str(both["a"].reason)
    ok = exchange("sa_unmask", {"a": ({}, {"round": "r", "survivors": names, "dropped": []})})
    assert ok["a"].status == "ok" and set(ok["a"].meta["b_shares"]) == set(names)
    again = exchange("sa_unmask", {"a": ({}, {"round": "r", "survivors": ["a", "b"],
                                               "dropped": ["c"]})})  # fmt: skip
    assert again["a"].status == "refused" and "other survivors" in str(again["a"].reason)


def test_secure_aggregation_is_refused_where_rounds_are_not_sums() -> None:
    with pytest.raises(InvalidInput, match=r"parameters\.secure_aggregation: .* not lightgbm"):
        check_parameters("train", {"task": TASK, "model": {"kind": "lightgbm"},
                                   "secure_aggregation": True})  # fmt: skip


def _train(world: dict[str, Any], params: dict[str, Any]) -> tuple[dict[str, Any], TrainedModel]:
    signed = _job(world, params, list(SITES))
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc
    return doc, TrainedModel.from_bundle(doc["combined"]["model"])


def test_secure_newton_reaches_the_plain_fit(world: dict[str, Any]) -> None:
    params: dict[str, Any] = {"model": {"kind": "logistic_l2"}, "l2": 1.0, "tol": 1e-9}
    _doc, plain = _train(world, params)
    doc, secure = _train(world, {**params, "secure_aggregation": True})
    # the summed gradient is off by at most sqrt(d) * 3 steps (and the Hessian likewise): the
    # fixed point moves by at most that over the smallest eigenvalue of the penalised Hessian
    pooled = [_train_part(n) for n in SITES]
    assert np.array_equal(plain.feature_ids, IDS)
    sumsq = sum(np.asarray(p.X.power(2).sum(axis=0)).ravel() for p in pooled)
    scale = power_of_two_scale(sumsq, sum(p.rows for p in pooled))  # as the server scaled
    beta = np.concatenate([plain.weights[1], plain.weights[0].ravel() * scale])
    h = sum(fed.newton_site(p, beta, scale=scale).hessian for p in pooled)
    h = h + np.diag([0.0] + [1.0] * IDS.size)
    d = IDS.size + 1
    tol = 10 * math.sqrt(d) * error_bound(3) * (1 + np.abs(beta).sum())
    tol = tol / float(np.linalg.eigvalsh(h).min())
    assert tol < 1e-4  # a tight tolerance: the coefficients are of order 1
    np.testing.assert_allclose(secure.weights[0], plain.weights[0], rtol=0, atol=tol)
    np.testing.assert_allclose(secure.weights[1], plain.weights[1], rtol=0, atol=tol)
    assert secure.training["secure_aggregation"]["round_trips_per_round"] == 4
    # converged as the plain run did (steps below the rounding's reach count as converged)
    assert plain.training["converged"] and secure.training["converged"]
    assert secure.training["rounds"] <= plain.training["rounds"] + 2
    newton = secure.training["rounds"]
    assert doc["combined"]["rounds"] == 1 + 4 * newton + 1  # setup, 4 per Newton round, evaluate
    for config in world["configs"].values():  # the last round removed each node's secure state
        assert not state_path(config, doc["job_id"]).exists()


def test_secure_fedavg_matches_plain_fedavg(world: dict[str, Any]) -> None:
    params: dict[str, Any] = {"model": {"kind": "mlp", "hyperparameters": {
        "hidden_layer_sizes": [4], "learning_rate_init": 0.01}}, "rounds": 3}  # fmt: skip
    _doc, plain = _train(world, params)
    _doc, secure = _train(world, {**params, "secure_aggregation": True})
    for w_secure, w_plain in zip(secure.weights, plain.weights, strict=True):
        np.testing.assert_allclose(w_secure, w_plain, rtol=0, atol=1e-6)
    assert any(float(np.abs(w).max()) > 0.01 for w in secure.weights)


def test_a_resent_step_gets_the_same_answer_and_a_changed_one_none(world: dict[str, Any]) -> None:
    """A retrying server or a restarted node may resend a step: the node answers it again
    identically, and refuses a changed request (a second vector under the same masks)."""
    names = list(SITES)
    signed = _job(world, {"model": {"kind": "logistic_l2"}, "secure_aggregation": True}, names)
    exchange = in_process_exchange(signed, world["configs"])
    keys = exchange("sa_keys", {n: ({}, {"round": "r"}) for n in names})
    assert exchange("sa_keys", {"a": ({}, {"round": "r"})})["a"].meta == keys["a"].meta
    peers = {n: {"index": i + 1, **keys[n].meta} for i, n in enumerate(names)}
    ask = {"round": "r", "peers": peers, "threshold": 2}
    shares = exchange("sa_shares", {n: ({}, dict(ask)) for n in names})
    assert exchange("sa_shares", {"a": ({}, dict(ask))})["a"].meta == shares["a"].meta
    fewer = {**ask, "peers": {n: peers[n] for n in ["a", "b"]}}
    assert exchange("sa_shares", {"a": ({}, fewer)})["a"].status == "refused"
    inbox = {n: {s: shares[s].meta["ciphertexts"][n] for s in names if s != n} for n in names}
    asks = _newton_asks(names, np.zeros(IDS.size + 1))

    def newton(node: str, beta: np.ndarray) -> RoundReply:
        arrays = {**asks[node][0], "beta": beta}
        meta = {"secagg": {"round": "r", "ciphertexts": inbox[node]}}
        return exchange("newton", {node: (arrays, meta)})[node]

    first = newton("a", np.zeros(IDS.size + 1))
    again = newton("a", np.zeros(IDS.size + 1))
    assert again.status == "ok" and np.array_equal(again.arrays["masked"], first.arrays["masked"])
    other = newton("a", np.full(IDS.size + 1, 0.1))
    assert other.status == "refused" and "same masks" in str(other.reason)
    assert not other.arrays
