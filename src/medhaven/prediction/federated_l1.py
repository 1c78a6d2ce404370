"""Federated L1 (lasso) logistic regression: proximal Newton steps on the summed Newton statistics.

Each round is the ``newton`` stage of a ``train`` job: the nodes send the
gradient and Hessian of their log-likelihood at the current coefficients
(:func:`~.federated.newton_site`, nothing new leaves a node). The server sums
them and minimises the quadratic model of the negative log-likelihood plus
the L1 penalty by cyclic coordinate descent with soft-thresholding (the inner
loop of glmnet, Friedman, Hastie & Tibshirani 2010), then moves to that
minimiser. At the fixed point the step is zero, which is exactly the
optimality condition of the pooled penalised fit ``max loglik - λ‖β‖₁``
(the intercept is not penalised). No line search is taken, as in glmnet's
default; a non-finite step is refused.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medhaven.errors import InvalidInput
from medhaven.prediction.federated import NewtonStats

Array = npt.NDArray[np.float64]


def soft_threshold(z: float, t: float) -> float:
    """``sign(z)·max(|z| − t, 0)``."""
    return float(np.sign(z) * max(abs(z) - t, 0.0))


def prox_newton_step(stats: list[NewtonStats], beta: Array, *, penalty: Array,
                     sweeps: int = 500, tol: float = 1e-13) -> tuple[Array, float]:  # fmt: skip
    """Server side: the minimiser of the summed quadratic model plus ``Σ penalty_j·|β_j|``.

    ``penalty`` has one entry per coefficient (intercept first, 0 there).
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


def l1_penalty(l1: float, scale: Array) -> Array:
    """Per-coefficient penalty on the scaled columns that is ``l1·|β|`` on the original ones.

    A column divided by ``s`` carries the coefficient ``s·β``, so its penalty is ``l1/s``.
    """
    return np.concatenate([[0.0], l1 / np.asarray(scale, dtype=np.float64)])


__all__ = ["l1_penalty", "prox_newton_step", "soft_threshold"]
