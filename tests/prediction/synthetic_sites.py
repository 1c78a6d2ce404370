"""Synthetic sites for model tests: sparse features drawn from a known logistic model."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from medhaven.prediction.data import PredictionData

TRUE_BETA = np.array([1.2, -0.8, 0.6, 0.0, 0.4, -0.3, 0.0, 0.9])
TRUE_INTERCEPT = -1.0


def make_site(n: int, *, seed: int, shift: float = 0.0, site: str = "site") -> PredictionData:
    """``n`` persons with binary and count features; ``shift`` moves prevalences (non-IID)."""
    rng = np.random.default_rng(seed)
    p = TRUE_BETA.size
    prevalence = np.clip(np.linspace(0.1, 0.5, p) + shift, 0.02, 0.9)
    X = (rng.random((n, p)) < prevalence).astype(np.float64)
    X[:, -1] = rng.poisson(1.0 + shift, size=n)  # a count feature
    eta = TRUE_INTERCEPT + X @ TRUE_BETA
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int8)
    sex = rng.choice(np.array(["female", "male", "unknown"]), size=n, p=[0.5, 0.45, 0.05])
    return PredictionData(
        X=sparse.csr_matrix(X),
        y=y,
        feature_ids=np.arange(1, p + 1, dtype=np.int64) * 1000 + 3,
        feature_names=[f"f{i}" for i in range(p)],
        subgroups={"sex": sex},
        site=site,
    )
