"""XGBoost trees: local training and bundles, exact leaf counts and the release check,
federated cyclic and bagging (in process, through the nodes' rounds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import roc_auc_score

from medhaven.errors import Forbidden, InvalidInput
from medhaven.prediction import xgb
from medhaven.prediction.data import PredictionData
from medhaven.prediction.federated_xgb import fit_federated
from medhaven.prediction.models import ModelSpec, TrainedModel, fit
from medhaven.prediction.node_training import in_process_exchange, run_training
from medhaven.prediction.release import check_model_release, check_trees_release
from medhaven.prediction.study import split

from .synthetic_sites import make_site
from .test_node_training import SITES, _job, world  # noqa: F401 - the fixture, reused

SMALL = {"n_estimators": 20, "max_depth": 3}


def _route(tree: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """The leaf of each row, walking the tree's JSON arrays (absent = zero = missing)."""
    left, right = tree["left_children"], tree["right_children"]
    feat, cond, dflt = tree["split_indices"], tree["split_conditions"], tree["default_left"]
    out = np.empty(X.shape[0], dtype=np.int64)
    for r in range(X.shape[0]):
        node = 0
        while left[node] != -1:
            v = X[r, feat[node]]
            go_left = bool(dflt[node]) if v == 0 else v < cond[node]
            node = left[node] if go_left else right[node]
        out[r] = node
    return out


def _walked_counts(text: str, X: np.ndarray) -> list[int]:
    out: list[int] = []
    for tree in json.loads(text)["learner"]["gradient_booster"]["model"]["trees"]:
        leaves = _route(tree, X)
        out += [int(np.sum(leaves == i)) for i, c in enumerate(tree["left_children"]) if c == -1]
    return out


def _sites() -> list[PredictionData]:
    return [make_site(n, seed=10 + i, shift=s, site=name)
            for i, (name, (n, s)) in enumerate(SITES.items())]  # fmt: skip


def test_local_xgboost_bundle_round_trip_predicts_the_same(tmp_path: Path) -> None:
    data = make_site(600, seed=1)
    model = fit(ModelSpec(kind="xgboost", hyperparameters=SMALL, seed=3), data)
    assert xgb.n_trees(model.boosters[0]) == 20
    assert roc_auc_score(data.y, model.predict(data)) > 0.7  # it learnt something
    model.save(tmp_path / "m.json")
    again = TrainedModel.load(tmp_path / "m.json")
    np.testing.assert_array_equal(again.predict(data), model.predict(data))
    # the booster holds no base score estimated from the site's rows
    learner = json.loads(again.boosters[0])["learner"]["learner_model_param"]
    assert learner["base_score"] == "[5E-1]"


def test_a_tampered_xgboost_bundle_is_refused() -> None:
    model = fit(ModelSpec(kind="xgboost", hyperparameters=SMALL), make_site(300, seed=2))
    bundle = model.to_bundle()
    bundle["boosters"] = [bundle["boosters"][0].replace('"split_conditions":[', '"split_conditions":[1E0,', 1)]  # fmt: skip
    with pytest.raises(InvalidInput, match="sha256 does not match"):
        TrainedModel.from_bundle(bundle)
    bundle = {**model.to_bundle()}
    bundle.pop("sha256")
    bundle = {**bundle, "boosters": []}
    from medhaven.prediction.models import _digest

    with pytest.raises(InvalidInput, match="xgboost model without a booster"):
        TrainedModel.from_bundle({**bundle, "sha256": _digest(bundle)})


@pytest.mark.parametrize(("name", "value", "message"), [
    ("subsample", 1.5, "subsample must be in"), ("max_depth", 2.5, "whole number"),
    ("base_score", 1.0, "base_score must be in"), ("learning_rate", 0.0, "must be positive"),
    ("eta", 0.1, "has no hyperparameter 'eta'"),
])  # fmt: skip
def test_xgboost_hyperparameters_are_checked(name: str, value: float, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        ModelSpec(kind="xgboost", hyperparameters={name: value}).resolved()


def test_leaf_counts_are_exact_against_walking_each_tree() -> None:
    data = make_site(500, seed=4)
    text = xgb.boost({**xgb.XGB_DEFAULTS, **SMALL}, data.X, data.y.astype(float), seed=1, trees=8)
    counts = xgb.leaf_counts(text, data.X)
    assert counts == _walked_counts(text, data.X.toarray())
    assert sum(counts) == 8 * data.rows


def test_appended_trees_predict_as_one_continued_training() -> None:
    data = make_site(400, seed=5)
    hp = {**xgb.XGB_DEFAULTS, **SMALL}
    y = data.y.astype(float)
    whole = xgb.boost(hp, data.X, y, seed=1, trees=10)
    first = xgb.boost(hp, data.X, y, seed=1, trees=6)
    rest = xgb.boost(hp, data.X, y, seed=1, trees=4, start=first)
    joined = xgb.append_trees(first, rest)
    assert xgb.n_trees(joined) == 10
    np.testing.assert_array_equal(xgb.predict([joined], data.X), xgb.predict([whole], data.X))
    one = xgb.boost(hp, data.X, y, seed=1, trees=1, start=first)
    np.testing.assert_array_equal(xgb.predict([xgb.bagging_aggregate(first, one)], data.X),
                                  xgb.predict([xgb.append_trees(first, one)], data.X))  # fmt: skip


def test_release_refuses_a_small_leaf_and_the_node_retrains_until_every_leaf_passes() -> None:
    data = make_site(400, seed=6)
    y = data.y.astype(float)
    hp = {**xgb.XGB_DEFAULTS, "max_depth": 6, "min_child_weight": 0.1}
    loose = xgb.boost(hp, data.X, y, seed=1, trees=10)
    smallest = min(_walked_counts(loose, data.X.toarray()))
    minimum = smallest + 1
    decision = check_trees_release(loose, data.X, n_train=data.rows, min_patients=10,
                                   min_cell_count=minimum)  # fmt: skip
    assert not decision.released and str(smallest) not in decision.reason
    minimum = 40
    text = xgb.fit_trees(hp, data.X, y, seed=1, trees=10, min_cell_count=minimum)
    assert min(_walked_counts(text, data.X.toarray())) >= minimum
    assert hp["min_child_weight"] > 0.1
    assert check_trees_release(text, data.X, n_train=data.rows, min_patients=10,
                               min_cell_count=minimum).released  # fmt: skip
    model = fit(ModelSpec(kind="xgboost", hyperparameters=SMALL), data, min_cell_count=minimum)
    assert check_model_release(model, n_train=data.rows, min_patients=10,
                               min_cell_count=minimum, rows=data.X).released  # fmt: skip
    assert not check_model_release(
        model, n_train=data.rows, min_patients=10, min_cell_count=minimum
    ).released  # no rows: no count
    # at min_child_weight = minimum / 4 every leaf must hold the minimum: the whole site, here
    whole = xgb.fit_trees(dict(hp), data.X, y, seed=1, trees=2, min_cell_count=data.rows)
    assert _walked_counts(whole, data.X.toarray()) == [data.rows, data.rows]
    with pytest.raises(Forbidden, match=f"fewer than {data.rows + 1} training rows"):
        xgb.fit_trees(dict(hp), data.X, y, seed=1, trees=2, min_cell_count=data.rows + 1)


def test_cyclic_with_one_node_is_local_xgboost() -> None:
    data = make_site(500, seed=7)
    spec = ModelSpec(kind="xgboost", hyperparameters=SMALL, seed=2)
    local = fit(spec, data)
    for per_turn in (1, 3, 20):
        fed = fit_federated(spec, [data], mode="cyclic", trees_per_turn=per_turn)
        assert xgb.n_trees(fed.boosters[0]) == 20
        np.testing.assert_allclose(fed.predict(data), local.predict(data), rtol=1e-6)


@pytest.mark.parametrize("mode", ["cyclic", "bagging"])
def test_federated_auroc_is_near_pooled_on_non_iid_sites(mode: str) -> None:
    sites = _sites()
    train = [s.subset(~split(s, fraction=0.25, seed=1)) for s in sites]
    test = [s.subset(split(s, fraction=0.25, seed=1)) for s in sites]
    pooled = PredictionData(X=sparse.vstack([t.X for t in train]).tocsr(),
                            y=np.concatenate([t.y for t in train]),
                            feature_ids=train[0].feature_ids,
                            feature_names=train[0].feature_names)  # fmt: skip
    X_test = sparse.vstack([t.X for t in test]).tocsr()
    y_test = np.concatenate([t.y for t in test])
    spec = ModelSpec(kind="xgboost", hyperparameters={"n_estimators": 60, "max_depth": 2})
    base = roc_auc_score(y_test, fit(spec, pooled).predict_proba(X_test))
    fed = fit_federated(spec, train, mode=mode, trees_per_turn=5, min_cell_count=5)
    assert fed.training["mode"] == mode and xgb.n_trees(fed.boosters[0]) >= 60
    assert roc_auc_score(y_test, fed.predict_proba(X_test)) >= 0.97 * base


def test_xgboost_rounds_through_the_nodes(world: dict[str, Any]) -> None:  # noqa: F811
    from medhaven.federation.audit import NodeAuditLog

    names = list(SITES)
    params = {"model": {"kind": "xgboost", "hyperparameters": SMALL}, "local_epochs": 4}
    signed = _job(world, params, names)
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.training["mode"] == "cyclic" and model.training["rounds"] == 5
    assert xgb.n_trees(model.boosters[0]) == 20
    assert doc["combined"]["rounds"] == 1 + 5 + 1  # setup, five turns, evaluate
    turns = [e for e in NodeAuditLog(world["configs"]["a"].audit_path).entries()
             if e["reason"] == "train round: xgboost"]  # fmt: skip
    assert len(turns) == 2  # turns 1 and 4 of a, b, c, a, b
    for reply in doc["nodes"]:
        assert reply["result"]["evaluation"]["n"] is not None
    bag = _job(world, {**params, "xgb_mode": "bagging"}, names)
    doc = run_training(bag, in_process_exchange(bag, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.training["mode"] == "bagging" and model.training["rounds"] == 7  # 7 x 3 >= 20
    assert xgb.n_trees(model.boosters[0]) == 21


def test_a_node_whose_trees_cannot_pass_refuses_audited_and_the_others_go_on(
    world: dict[str, Any],  # noqa: F811
) -> None:
    from medhaven.federation.audit import NodeAuditLog
    from medhaven.federation.node import NodeConfig

    c = world["configs"]["c"]
    toml = c.base_dir / "node.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "min_cell_count = 250\n", encoding="utf-8")
    configs = {**world["configs"], "c": NodeConfig.load(toml)}  # c: 225 training persons
    params = {"model": {"kind": "xgboost", "hyperparameters": SMALL}, "local_epochs": 4}
    signed = _job(world, params, list(SITES))
    doc = run_training(signed, in_process_exchange(signed, configs), min_nodes=2,
                       transport="in_process")  # fmt: skip
    status = {r["node"]: (r["status"], r["reason"]) for r in doc["nodes"]}
    assert status["c"][0] == "refused" and "model release refused" in status["c"][1]
    assert doc["status"] == "partial"
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.training["sites"] == ["a", "b"] and xgb.n_trees(model.boosters[0]) == 20
    audit = NodeAuditLog(configs["c"].audit_path).entries()
    assert audit[-1]["outcome"] == "refused" and "250" in audit[-1]["reason"]
    failed_job = _job(world, params, list(SITES))
    failed = run_training(failed_job, in_process_exchange(failed_job, configs), min_nodes=3,
                          transport="in_process")  # fmt: skip
    assert failed["status"] == "failed" and "cyclic turn 3" in failed["reason"]


def test_compare_refuses_a_bad_model_in_the_list_before_training_any() -> None:
    from typer.testing import CliRunner

    from medhaven.cli.main import app

    result = CliRunner().invoke(app, ["study", "compare", "--persons", "100", "--model",
                                      "xgboost,no_such_model", "--json"])  # fmt: skip
    assert result.exit_code != 0 and isinstance(result.exception, InvalidInput)
    assert "'no_such_model' is not one of" in result.exception.message
    result = CliRunner().invoke(app, ["study", "compare", "--model", "xgboost", "--model",
                                      "mlp", "--xgb-mode", "ring"])  # fmt: skip
    assert isinstance(result.exception, InvalidInput)
    assert "cyclic or bagging" in result.exception.message


def test_a_federated_study_spec_takes_xgb_mode_and_refuses_another(tmp_path: Path) -> None:
    from medhaven.prediction.study import load_spec

    from .test_study import _federated, _write

    doc = {**_federated(xgb_mode="bagging"), "model": {"kind": "xgboost"}}
    spec = load_spec(_write(tmp_path, doc))
    assert spec.hub is not None and spec.hub.xgb_mode == "bagging"
    assert spec.model.kind == "xgboost"
    with pytest.raises(InvalidInput, match=r"hub\.xgb_mode") as err:
        load_spec(_write(tmp_path, _federated(xgb_mode="ring")))
    assert "\n" not in err.value.message
