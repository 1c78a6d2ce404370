"""Model release checks: person minimum for every model, leaf minimum for trees."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from medhaven.errors import Forbidden
from medhaven.prediction.data import PredictionData
from medhaven.prediction.federated import bag_lightgbm
from medhaven.prediction.models import ModelSpec, fit
from medhaven.prediction.release import check_model_release, leaf_counts, require_model_release

from .synthetic_sites import make_site

TREES = {"n_estimators": 20, "num_leaves": 15}


@pytest.mark.parametrize("kind", ["logistic_l1", "logistic_l2", "mlp"])
def test_weights_from_too_few_persons_are_refused_and_enough_pass(kind: str) -> None:
    hp = {"hidden_layer_sizes": [4], "max_iter": 30} if kind == "mlp" else {"C": 1.0}
    small = make_site(40, seed=21)
    model = fit(ModelSpec(kind=kind, hyperparameters=hp), small)
    refused = check_model_release(model, n_train=40, min_patients=50, min_cell_count=5)
    assert not refused.released
    assert refused.reason == "model trained on fewer persons than the node's minimum of 50"
    ok = check_model_release(model, n_train=40, min_patients=40, min_cell_count=5)
    assert ok.released


def test_trees_with_small_leaves_are_refused_without_saying_how_small() -> None:
    data = make_site(600, seed=22)
    loose = fit(ModelSpec(kind="lightgbm", hyperparameters={**TREES, "min_child_samples": 2}), data)
    assert min(leaf_counts(loose)) < 10
    decision = check_model_release(loose, n_train=600, min_patients=100, min_cell_count=10)
    assert not decision.released and decision.smallest_leaf is None
    assert decision.reason == (
        "a tree leaf holds fewer than 10 training rows (the node's minimum cell count)"
    )
    with pytest.raises(Forbidden, match=r"^model release refused: a tree leaf holds fewer than 10"):
        require_model_release(loose, n_train=600, min_patients=100, min_cell_count=10)


def test_trees_trained_under_the_node_minimum_pass() -> None:
    data = make_site(600, seed=22)
    spec = ModelSpec(kind="lightgbm", hyperparameters={**TREES, "min_child_samples": 2})
    honest = fit(spec, data, min_cell_count=25)
    decision = check_model_release(honest, n_train=600, min_patients=100, min_cell_count=25)
    assert decision.released and decision.smallest_leaf is not None
    assert decision.smallest_leaf >= 25
    require_model_release(honest, n_train=600, min_patients=100, min_cell_count=25)
    # the person minimum still applies to trees
    assert not check_model_release(
        honest, n_train=600, min_patients=1000, min_cell_count=25
    ).released


def test_leaf_counts_agree_with_lightgbm_own_tree_table() -> None:
    import lightgbm as lgb

    data = make_site(500, seed=23)
    model = fit(ModelSpec(kind="lightgbm", hyperparameters=TREES), data)
    table = lgb.Booster(model_str=model.boosters[0]).trees_to_dataframe()
    leaves = table[table["left_child"].isna()]
    assert sorted(leaf_counts(model)) == sorted(int(c) for c in leaves["count"])
    # every tree's leaves partition the training rows
    for _, tree in leaves.groupby("tree_index"):
        assert int(tree["count"].sum()) == 500


def test_a_bagged_ensemble_is_refused_when_one_site_booster_has_a_small_leaf() -> None:
    a, b = make_site(500, seed=24, site="a"), make_site(500, seed=25, site="b")
    spec = ModelSpec(kind="lightgbm", hyperparameters={**TREES, "min_child_samples": 2})
    good, bad = fit(spec, a, min_cell_count=20), fit(spec, b)
    assert check_model_release(bag_lightgbm([good, good]), n_train=1000, min_patients=100,
                               min_cell_count=20).released  # fmt: skip
    assert not check_model_release(bag_lightgbm([good, bad]), n_train=1000, min_patients=100,
                                   min_cell_count=20).released  # fmt: skip
    assert np.all(np.array(leaf_counts(bag_lightgbm([good]))) >= 20)


def test_lightgbm_own_leaf_minimum_is_approximate_and_node_training_makes_it_exact() -> None:
    # LightGBM estimates leaf sizes from hessian sums: with skewed risks a leaf can hold fewer
    # real rows than min_child_samples. Training at a node retrains until every leaf passes.
    rng = np.random.default_rng(0)
    n, p = 1500, 10
    X = (rng.random((n, p)) < 0.2).astype(float)
    X[:, -1] = rng.normal(size=n) * 3
    eta = -4 + 3 * X[:, 0] + 2 * X[:, 1] + X[:, -1]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
    data = PredictionData(X=sparse.csr_matrix(X), y=y, feature_ids=np.arange(p, dtype=np.int64),
                          feature_names=[f"f{i}" for i in range(p)])  # fmt: skip
    trees = {"n_estimators": 30, "min_child_samples": 20}
    plain = fit(ModelSpec(kind="lightgbm", hyperparameters=trees), data)
    assert min(leaf_counts(plain)) < 20
    at_node = fit(ModelSpec(kind="lightgbm", hyperparameters=trees), data, min_cell_count=20)
    assert min(leaf_counts(at_node)) >= 20
    assert at_node.hyperparameters["min_child_samples"] > 20  # raised until the counts held
    assert check_model_release(at_node, n_train=n, min_patients=100, min_cell_count=20).released
