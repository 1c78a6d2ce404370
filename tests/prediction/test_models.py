"""Models: each kind trains and predicts, bundles round-trip exactly, tampering is refused."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier

from medhaven.errors import InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.models import ModelSpec, TrainedModel, fit

from .synthetic_sites import TRUE_BETA, make_site

FAST = {
    "logistic_l1": {},
    "logistic_l2": {},
    "lightgbm": {"n_estimators": 40, "num_leaves": 7},
    "mlp": {"hidden_layer_sizes": [8], "max_iter": 60},
}


@pytest.fixture(scope="module")
def train_test() -> tuple[PredictionData, PredictionData]:
    return make_site(1500, seed=1), make_site(1500, seed=2)


@pytest.mark.parametrize("kind", sorted(FAST))
def test_each_kind_learns_the_planted_signal(kind: str, train_test) -> None:
    train, test = train_test
    model = fit(ModelSpec(kind=kind, hyperparameters=FAST[kind], seed=3), train)
    p = model.predict_proba(test.X)
    assert p.shape == (test.rows,) and np.all((p > 0) & (p < 1))
    # the true model's AUROC on this test set is about 0.74; a model that learnt nothing is 0.5
    assert roc_auc_score(test.y, p) > 0.68
    assert model.n_train == 1500


def test_logistic_l2_signs_follow_the_true_coefficients(train_test) -> None:
    model = fit(ModelSpec(kind="logistic_l2", hyperparameters={"C": 100.0}), train_test[0])
    coef = model.weights[0].ravel()
    big = np.abs(TRUE_BETA) >= 0.6
    assert np.all(np.sign(coef[big]) == np.sign(TRUE_BETA[big]))


def test_l1_cross_validation_picks_c_from_the_grid_and_zeroes_weights_when_strong(
    train_test,
) -> None:
    model = fit(ModelSpec(kind="logistic_l1"), train_test[0])
    assert model.hyperparameters["C"] in model.hyperparameters["C_grid"]
    strong = fit(ModelSpec(kind="logistic_l1", hyperparameters={"C": 0.005}), train_test[0])
    assert np.count_nonzero(strong.weights[0]) < TRUE_BETA.size


def test_mlp_numpy_forward_matches_scikit_learn(train_test) -> None:
    train, test = train_test
    model = fit(ModelSpec(kind="mlp", hyperparameters=FAST["mlp"], seed=5), train)
    # the oracle trains on the columns divided by the power of two at or above their RMS
    rms = np.sqrt(np.asarray(train.X.power(2).mean(axis=0)).ravel())
    scale = np.array([2.0 ** math.ceil(math.log2(max(r, 1.0))) for r in rms])
    assert scale[-1] == 2.0 and np.all(scale[:-1] == 1.0)  # the Poisson count, the indicators
    clf = MLPClassifier(hidden_layer_sizes=(8,), alpha=2.0, learning_rate_init=3e-3,
                        max_iter=60, batch_size=200, random_state=5)  # fmt: skip
    with pytest.warns(Warning):
        clf.fit(train.X.toarray() / scale, train.y.astype(np.int64))
    np.testing.assert_allclose(model.predict_proba(test.X),
                               clf.predict_proba(test.X.toarray() / scale)[:, 1],
                               rtol=1e-10, atol=1e-12)  # fmt: skip


def test_large_valued_features_are_scaled_for_training_and_folded_back(train_test) -> None:
    train, test = train_test
    big = np.array([1.0] * 7 + [1000.0])  # a measurement in other units: same model, rescaled
    wide = replace(train, X=sparse.csr_matrix(train.X.toarray() * big))
    spec = ModelSpec(kind="logistic_l2", hyperparameters={"C": 1.0})
    plain, scaled = fit(spec, train), fit(spec, wide)
    assert scaled.weights[0][-1, 0] == pytest.approx(plain.weights[0][-1, 0] / 1000, rel=0.05)
    np.testing.assert_allclose(scaled.predict_proba(test.X.toarray() * big),
                               plain.predict_proba(test.X), atol=0.02)  # fmt: skip


@pytest.mark.parametrize("kind", sorted(FAST))
def test_bundle_round_trip_predicts_identically(kind: str, train_test, tmp_path: Path) -> None:
    train, test = train_test
    model = fit(ModelSpec(kind=kind, hyperparameters=FAST[kind]), train)
    model.save(tmp_path / "m.json")
    loaded = TrainedModel.load(tmp_path / "m.json")
    assert loaded.kind == kind and loaded.feature_ids.tolist() == train.feature_ids.tolist()
    np.testing.assert_array_equal(loaded.predict_proba(test.X), model.predict_proba(test.X))
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["format"] == "medhaven.model/1" and len(doc["sha256"]) == 64
    assert {"medhaven_version", "hyperparameters", "feature_ids", "weights", "boosters"} <= set(doc)


@pytest.mark.parametrize("kind", ["logistic_l2", "lightgbm"])
def test_tampered_bundle_is_refused_with_one_line(kind: str, train_test, tmp_path: Path) -> None:
    model = fit(ModelSpec(kind=kind, hyperparameters=FAST[kind]), train_test[0])
    doc = model.to_bundle()
    if kind == "lightgbm":
        doc["boosters"][0] = doc["boosters"][0].replace("leaf_value=", "leaf_value=1", 1)
    else:
        doc["weights"][0]["values"][0] += 0.5
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match=r"^bad\.json: sha256 does not match") as err:
        TrainedModel.load(tmp_path / "bad.json")
    assert "\n" not in str(err.value)


def test_lightgbm_booster_keeps_no_feature_min_max(train_test) -> None:
    model = fit(ModelSpec(kind="lightgbm", hyperparameters=FAST["lightgbm"]), train_test[0])
    infos = [ln for ln in model.boosters[0].splitlines() if ln.startswith("feature_infos=")]
    assert infos and "[" not in infos[0] and ":" not in infos[0]


def test_node_min_cell_count_raises_min_child_samples(train_test) -> None:
    spec = ModelSpec(kind="lightgbm", hyperparameters=FAST["lightgbm"])
    assert fit(spec, train_test[0], min_cell_count=50).hyperparameters["min_child_samples"] >= 50
    assert fit(spec, train_test[0]).hyperparameters["min_child_samples"] == 20


def test_predict_aligns_a_site_with_other_columns(train_test) -> None:
    train, test = train_test
    model = fit(ModelSpec(kind="logistic_l2", hyperparameters={"C": 1.0}), train)
    extra = np.append(test.feature_ids, 999_999)
    wider = PredictionData(X=sparse.hstack([test.X, sparse.csr_matrix(np.ones((test.rows, 1)))]).tocsr(),
                           y=test.y, feature_ids=extra, feature_names=[*test.feature_names, "x"])  # fmt: skip
    np.testing.assert_array_equal(model.predict(wider), model.predict_proba(test.X))
    with pytest.raises(InvalidInput, match="9 feature columns but the model has 8"):
        model.predict_proba(wider.X)


def test_bad_specs_and_one_class_data_are_refused(train_test) -> None:
    with pytest.raises(InvalidInput, match="no hyperparameter 'depth'"):
        fit(ModelSpec(kind="lightgbm", hyperparameters={"depth": 3}), train_test[0])
    with pytest.raises(InvalidInput, match="num_leaves must be a number"):
        fit(ModelSpec(kind="lightgbm", hyperparameters={"num_leaves": "many"}), train_test[0])
    with pytest.raises(InvalidInput, match="C must be positive"):
        fit(ModelSpec(kind="logistic_l1", hyperparameters={"C": -1.0}), train_test[0])
    one = train_test[0].subset(train_test[0].y == 0)
    with pytest.raises(InvalidInput, match="only one class"):
        fit(ModelSpec(kind="logistic_l2"), one)


def test_bundle_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(InvalidInput, match=r"^x\.json: not a MedHaven model bundle"):
        TrainedModel.load(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("{not json")
    with pytest.raises(InvalidInput, match=r"^y\.json: not a readable JSON"):
        TrainedModel.load(tmp_path / "y.json")
