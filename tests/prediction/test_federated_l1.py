"""Federated L1 logistic regression (proximal Newton on summed Newton statistics) over real nodes
in process: the coefficients equal scikit-learn's pooled L1 fit, zeros included."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse

from medhaven.prediction.models import TrainedModel
from medhaven.prediction.node_training import in_process_exchange, run_training
from medhaven.prediction.study import split

from .synthetic_sites import make_site
from .test_node_training import SITES, _job, world

__all__ = ["world"]  # the fixture, shared with test_node_training

L1 = 12.0


def _pooled_sklearn(l1: float) -> np.ndarray:
    """scikit-learn's L1 logistic regression on the pooled training parts (intercept first)."""
    from sklearn.linear_model import LogisticRegression

    parts = []
    for i, (name, (n, shift)) in enumerate(SITES.items()):
        data = make_site(n, seed=10 + i, shift=shift, site=name)
        parts.append(data.subset(~split(data, fraction=0.25, seed=1)))
    X = sparse.vstack([p.X for p in parts]).toarray()
    y = np.concatenate([p.y for p in parts]).astype(int)
    # saga leaves the intercept unpenalised: max loglik - (1/C)·||w||_1 with C = 1/l1
    fit = LogisticRegression(C=1.0 / l1, l1_ratio=1.0, solver="saga", tol=1e-12,
                             max_iter=200_000)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(X, y)
    return np.concatenate([fit.intercept_, fit.coef_.ravel()])


def test_federated_l1_equals_the_pooled_lasso_fit_zeros_included(world: dict[str, Any]) -> None:
    signed = _job(world, {"model": {"kind": "logistic_l1"}, "l1": L1, "tol": 1e-10},
                  list(SITES))  # fmt: skip
    doc = run_training(signed, in_process_exchange(signed, world["configs"]), min_nodes=3,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.kind == "logistic_l1" and model.training["mode"] == "proximal_newton"
    assert model.training["converged"] and model.training["rounds"] <= 15
    coef = model.weights[0].ravel()
    expected = _pooled_sklearn(L1)
    np.testing.assert_allclose(coef, expected[1:], atol=2e-4)
    np.testing.assert_allclose(model.weights[1], expected[:1], atol=2e-4)
    zeros = np.abs(expected[1:]) < 1e-6
    assert 1 <= zeros.sum() < coef.size  # the penalty is strong enough to zero some
    assert np.array_equal(coef == 0.0, zeros)  # the same sparsity pattern, exactly zero
