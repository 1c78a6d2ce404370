"""Federated training on the generator's non-IID hospitals, end to end (CDM → features → models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from medhaven.cdm.store import open_store
from medhaven.prediction.data import PredictionData
from medhaven.prediction.features import extract_features
from medhaven.prediction.federated import LocalConfig, fit_bagged, fit_fedavg, fit_newton
from medhaven.prediction.models import ModelSpec, TrainedModel, fit
from medhaven.prediction.population import study_population
from medhaven.prediction.release import check_model_release
from medhaven.prediction.task import parse_task
from medhaven.synth.writer import write_hospitals

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> list[PredictionData]:
    out = tmp_path_factory.mktemp("hospitals")
    write_hospitals(out, hospitals=3, persons=4000, seed=11)
    task = parse_task({"name": "hf", "target_cohort": "essential_hypertension",
                       "outcome_cohort": "heart_failure_admission"})  # fmt: skip
    sites = []
    for cdm in sorted(out.glob("*/cdm.duckdb")):
        store = open_store(cdm)
        sites.append(extract_features(store, study_population(store, task), task.features,
                                      site=cdm.parent.name))  # fmt: skip
    return sites


def _shared(sites: list[PredictionData]) -> list[PredictionData]:
    ids = np.unique(np.concatenate([s.feature_ids for s in sites]))
    return [s.align(ids) for s in sites]


def test_newton_across_hospitals_equals_the_pooled_penalised_fit(hospitals) -> None:
    sites = _shared(hospitals)
    assert len({s.X.shape[1] for s in hospitals}) > 1  # the hospitals' own feature lists differ
    model = fit_newton(sites, l2=100.0)
    assert model.training["converged"] and model.training["rounds"] <= 15
    X = sparse.vstack([s.X for s in sites]).toarray()
    y = np.concatenate([s.y for s in sites])
    # the oracle: scikit-learn on the pooled rows, same scale (power of two >= RMS), C = 1/l2
    scale = 2.0 ** np.ceil(np.log2(np.maximum(np.sqrt((X**2).mean(axis=0)), 1.0)))
    oracle = LogisticRegression(C=0.01, l1_ratio=0.0, solver="lbfgs", tol=1e-12,
                                max_iter=20_000).fit(X / scale, y)  # fmt: skip
    np.testing.assert_allclose(model.predict_proba(X), oracle.predict_proba(X / scale)[:, 1],
                               atol=1e-5)  # fmt: skip


def test_models_trained_at_two_hospitals_validate_at_the_third(hospitals, tmp_path: Path) -> None:
    train, external = _shared(hospitals[:2]), hospitals[2]  # the third keeps its own columns
    models = {
        "newton": fit_newton(train, l2=100.0),
        "fedprox_mlp": fit_fedavg(train, hidden=(16,), rounds=5,
                                  local=LocalConfig(learning_rate=0.005, mu=0.01)),
        "bagged_trees": fit_bagged(ModelSpec(kind="lightgbm", hyperparameters={"n_estimators": 50}),
                                   train, min_cell_count=10),
    }  # fmt: skip
    for name, model in models.items():
        model.save(tmp_path / f"{name}.json")
        shipped = TrainedModel.load(tmp_path / f"{name}.json")
        p = shipped.predict(external)
        assert p.shape == (external.rows,) and np.all((p > 0) & (p < 1)), name
        np.testing.assert_array_equal(p, model.predict(external))
        assert p.std() > 0, name
    bagged = models["bagged_trees"]
    assert check_model_release(bagged, n_train=bagged.n_train, min_patients=100,
                               min_cell_count=10).released  # fmt: skip


def test_node_trained_trees_pass_the_node_release_check(hospitals) -> None:
    site = hospitals[0]
    model = fit(ModelSpec(kind="lightgbm", hyperparameters={"n_estimators": 50}), site,
                min_cell_count=20)  # fmt: skip
    assert check_model_release(
        model, n_train=site.rows, min_patients=100, min_cell_count=20
    ).released
    assert not check_model_release(model, n_train=site.rows, min_patients=site.rows + 1,
                                   min_cell_count=20).released  # fmt: skip
