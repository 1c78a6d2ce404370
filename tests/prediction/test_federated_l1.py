"""Federated L1 logistic regression (proximal Newton on summed Newton statistics) over real nodes
in process: the coefficients equal scikit-learn's pooled L1 fit (liblinear, ``C = 1/l1``) on the
same power-of-two scaled matrix, zeros included, with a count column and a measurement column."""

from __future__ import annotations

import json
import pickle
import warnings
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy import sparse

from medhaven.prediction.data import PredictionData
from medhaven.prediction.models import ModelSpec, TrainedModel, fit
from medhaven.prediction.node_training import (
    CACHE_VERSION,
    cache_path,
    in_process_exchange,
    run_training,
)
from medhaven.prediction.study import split

from .synthetic_sites import make_site
from .test_node_training import SITES, _job, world

__all__ = ["world"]  # the fixture, shared with test_node_training

# the pooled training parts' power-of-two scale, worked out by hand: seven 0/1 columns, a
# Poisson(~1) count (root mean square ~1.5 -> 2) and a measurement near 20-26 (-> 32)
SCALE = np.array([1.0, 1, 1, 1, 1, 1, 1, 2, 32])


def _site(i: int, name: str) -> tuple[PredictionData, PredictionData]:
    """The synthetic site plus a measurement column that carries the outcome; (train, test)."""
    n, shift = SITES[name]
    data = make_site(n, seed=10 + i, shift=shift, site=name)
    rng = np.random.default_rng(50 + i)
    measurement = np.round(20.0 + 6.0 * data.y + rng.normal(0.0, 8.0, data.rows))
    data = replace(data, X=sparse.hstack([data.X, sparse.csr_matrix(measurement[:, None])]).tocsr(),
                   feature_ids=np.append(data.feature_ids, 99003),
                   feature_names=[*data.feature_names, "measurement"])  # fmt: skip
    mask = split(data, fraction=0.25, seed=1)
    return data.subset(~mask), data.subset(mask)


def _job_with_measurement(world: dict[str, Any], params: dict[str, Any]) -> str:
    signed = _job(world, params, list(SITES))
    job_id = json.loads(signed)["spec"]["job_id"]
    for i, name in enumerate(SITES):  # replace the caches _job wrote with the wider sites
        train, test = _site(i, name)
        with cache_path(world["configs"][name], job_id).open("wb") as fh:
            pickle.dump({"version": CACHE_VERSION, "train": train, "test": test}, fh)
    return signed


def _pooled() -> tuple[np.ndarray, np.ndarray]:
    """The pooled training parts, dense: (X, y)."""
    parts = [_site(i, name)[0] for i, name in enumerate(SITES)]
    X = sparse.vstack([p.X for p in parts]).toarray()
    return X, np.concatenate([p.y for p in parts]).astype(int)


def _sklearn(X: np.ndarray, y: np.ndarray, l1: float) -> np.ndarray:
    """liblinear L1 with C = 1/l1 and intercept column 10, fitted tightly (intercept first)."""
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1.0 / l1, l1_ratio=1.0, solver="liblinear",
                                intercept_scaling=10.0, tol=1e-10, max_iter=100_000)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted.fit(X, y)
    return np.concatenate([fitted.intercept_, fitted.coef_.ravel()])


@pytest.mark.parametrize("l1", [12.0, 4.0])
def test_federated_l1_equals_sklearn_pooled_on_the_scaled_matrix(world: dict[str, Any],
                                                                 l1: float) -> None:  # fmt: skip
    signed = _job_with_measurement(world, {"model": {"kind": "logistic_l1"}, "l1": l1,
                                           "tol": 1e-11})  # fmt: skip
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.kind == "logistic_l1" and model.training["mode"] == "proximal_newton"
    assert model.training["converged"] and model.training["rounds"] <= 15
    coef, intercept = model.weights[0].ravel(), float(model.weights[1][0])

    X, y = _pooled()
    scaled = _sklearn(X / SCALE, y, l1)
    expected = scaled[1:] / SCALE  # back to the original columns, as the model takes them
    np.testing.assert_allclose(coef, expected, rtol=0, atol=1e-7)
    assert intercept == pytest.approx(scaled[0], abs=1e-7)
    zeros = np.abs(expected) < 1e-9
    assert 1 <= zeros.sum() < coef.size  # the penalty is strong enough to zero some
    assert np.array_equal(coef == 0.0, zeros)  # the same sparsity pattern, exactly zero
    assert coef[-1] != 0.0 and coef[-2] != 0.0  # the non-binary columns are in the model

    # the old objective (l1 on the original columns) is a different fit: this test tells them apart
    original = _sklearn(X, y, l1)
    assert abs(original[-1] - expected[-1]) > 1e-3

    # the pooled model of study compare (models.fit, liblinear at its own tolerance) agrees
    pooled = fit(ModelSpec(kind="logistic_l1", hyperparameters={"C": 1.0 / l1}),
                 PredictionData(X=sparse.csr_matrix(X), y=y.astype(np.int8),
                                feature_ids=model.feature_ids, feature_names=model.feature_names,
                                subgroups={}))  # fmt: skip
    np.testing.assert_allclose(pooled.weights[0].ravel(), coef, rtol=0, atol=2e-3)
