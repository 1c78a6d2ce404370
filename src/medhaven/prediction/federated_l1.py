"""Federated L1 (lasso) logistic regression: proximal Newton steps on the summed Newton statistics.

Each round is the ``newton`` stage of a ``train`` job: the nodes send the
gradient and Hessian of their log-likelihood at the current coefficients
(:func:`~.federated.newton_site`, nothing new leaves a node). The server sums
them and minimises the quadratic model of the negative log-likelihood plus
the L1 penalty by cyclic coordinate descent with soft-thresholding (the inner
loop of glmnet, Friedman, Hastie & Tibshirani 2010), then moves to that
minimiser. At the fixed point the step is zero, which is exactly the
optimality condition of the pooled penalised fit. No line search is taken,
as in glmnet's default; a non-finite step is refused.

The objective is scikit-learn's (liblinear, ``C = 1/l1``, as the local and
pooled fits of :func:`~.models.fit`) on the same matrix: the columns
divided by the shared power-of-two scale (:func:`~.models.power_of_two_scale`,
applied by the nodes in :func:`~.federated.newton_site`)::

    max  Σ loglik_i(β) − l1·‖β‖₁ − (l1/10)·|b|

with the summed (not mean) log-likelihood, ``β`` the coefficients of the
scaled columns (a count divided by 4 has a coefficient 4 times its
original one, so the penalty is the local model's, not ``l1`` on the
original columns), and the intercept ``b`` penalised as liblinear does: as
the weight of a synthetic column of value
:data:`~.models.LIBLINEAR_INTERCEPT_SCALING` (10).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medhaven.errors import InvalidInput
from medhaven.prediction.federated import NewtonStats
from medhaven.prediction.models import LIBLINEAR_INTERCEPT_SCALING

Array = npt.NDArray[np.float64]


def soft_threshold(z: float, t: float) -> float:
    """``sign(z)·max(|z| − t, 0)``."""
    return float(np.sign(z) * max(abs(z) - t, 0.0))


def prox_newton_step(stats: list[NewtonStats], beta: Array, *, penalty: Array,
                     sweeps: int = 500, tol: float = 1e-13) -> tuple[Array, float]:  # fmt: skip
    """Server side: the minimiser of the summed quadratic model plus ``Σ penalty_j·|β_j|``.

    ``penalty`` has one entry per coefficient (intercept first).
    Returns the new coefficients and the penalised log-likelihood at the old ones.
    """
    g = np.sum([s.gradient for s in stats], axis=0)
    H = np.sum([s.hessian for s in stats], axis=0)
    objective = float(sum(s.loglik for s in stats)) - float(np.sum(penalty * np.abs(beta)))
    b = beta.astype(np.float64).copy()
    Hd = np.zeros_like(b)  # H @ (b - beta), kept up to date
    diag = np.diag(H)
    for _ in range(sweeps):
        moved = 0.0
        for j in range(b.size):
            if diag[j] <= 0:
                continue
            c = -g[j] + Hd[j] - diag[j] * (b[j] - beta[j])
            new = soft_threshold(diag[j] * beta[j] - c, float(penalty[j])) / diag[j]
            delta = new - b[j]
            if delta != 0.0:
                Hd += H[:, j] * delta
                b[j] = new
                moved = max(moved, abs(delta))
        if moved < tol:
            break
    if not np.all(np.isfinite(b)):
        raise InvalidInput("proximal newton: coefficients diverged; raise l1")
    return b, objective


def l1_penalty(l1: float, features: int) -> Array:
    """Per-coefficient penalty (intercept first): scikit-learn's liblinear L1 with ``C = 1/l1``.

    ``l1`` on each scaled column's coefficient; ``l1/10`` on the intercept,
    which liblinear fits as the weight of a column of value 10.
    """
    return np.concatenate([[l1 / LIBLINEAR_INTERCEPT_SCALING], np.full(features, float(l1))])


__all__ = ["l1_penalty", "prox_newton_step", "soft_threshold"]
