"""Federated training math, transport-agnostic: what a site computes and what the server sums.

Each algorithm is split into a *site* function (run by the ClientApp at a
node, on that node's :class:`~.data.PredictionData`) and an *aggregator*
(run by the ServerApp on what the sites sent). The ``fit_*`` drivers call
both in one process, which is what the tests and the single-machine
comparison use; the Flower wiring sends the same arrays over the network.

* Newton / IRLS logistic regression (as DataSHIELD's ``ds.glm``): each site
  sends the gradient, the Hessian, the log-likelihood and its row count at
  the current coefficients; the server sums them and takes one Newton step.
  The sums equal the pooled ones, so the result is the pooled maximum
  (penalised) likelihood fit, reached in a handful of rounds. The Hessian
  is ``X'WX`` over the site's rows: an aggregate, but a detailed one, so a
  site refuses below its minimum number of persons.
* FedAvg (McMahan et al. 2017) and FedProx (Li et al. 2020, proximal term
  ``mu``) for the linear model and the MLP: each site runs local epochs of
  mini-batch Adam from the global weights; the server averages the new
  weights, weighted by row counts.
* Optional client-side differential privacy (:class:`DPConfig`): the site
  clips its update (new minus global weights) to L2 norm ``clip`` and adds
  Gaussian noise of standard deviation ``noise_multiplier * clip`` before
  sending it; :func:`dp_epsilon` reports the privacy loss.
* Trees: :func:`bag_lightgbm` averages the probabilities of boosters trained
  at each site (bagging). Flower's federated XGBoost (bagging of trees
  built round by round) is the path to one jointly boosted model; it is not
  implemented here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from medhaven.errors import Forbidden, InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.models import (
    ModelSpec,
    TrainedModel,
    column_sum_squares,
    fit,
    forward,
    power_of_two_scale,
    scale_columns,
    sigmoid,
    unscale_weights,
)

Array = npt.NDArray[np.float64]
Params = list[Array]


def _check_minimum(data: PredictionData, min_patients: int | None, what: str) -> None:
    if min_patients is not None and data.rows < min_patients:
        raise Forbidden(
            f"{what}: {data.site or 'the site'} has fewer rows than its minimum "
            f"of {min_patients} persons; nothing is sent"
        )


def _check_both_classes(sites: list[PredictionData], what: str) -> None:
    rows = sum(s.rows for s in sites)
    outcomes = sum(s.outcomes for s in sites)
    if rows == 0 or outcomes in (0, rows):
        raise InvalidInput(f"{what}: the sites together hold only one class")


def check_same_features(sites: list[PredictionData]) -> None:
    """Refuse sites that do not share one feature space (align them first)."""
    if not sites:
        raise InvalidInput("federated: no sites")
    first = sites[0].feature_ids
    for site in sites[1:]:
        if not np.array_equal(site.feature_ids, first):
            raise InvalidInput(
                f"federated: site {site.site or '?'} does not share the feature space "
                "of the first site (align both to one list of feature ids)"
            )


# ---------------------------------------------------------------- shared feature scale


def scale_site(data: PredictionData, *, min_patients: int | None = None) -> tuple[Array, int]:
    """Site side: per-feature sums of squares and the row count (round 0 of every algorithm)."""
    _check_minimum(data, min_patients, "scale")
    return column_sum_squares(data.X), data.rows


def scale_aggregate(parts: list[tuple[Array, int]]) -> Array:
    """Server side: the shared power-of-two scale of each feature (see :func:`power_of_two_scale`)."""
    return power_of_two_scale(np.sum([p[0] for p in parts], axis=0), sum(p[1] for p in parts))


def _scaled(sites: list[PredictionData]) -> tuple[list[PredictionData], Array]:
    scale = scale_aggregate([scale_site(s) for s in sites])
    return [replace(s, X=scale_columns(s.X, scale)) for s in sites], scale


# ---------------------------------------------------------------- Newton / IRLS


@dataclass(frozen=True)
class NewtonStats:
    """One site's sufficient statistics at ``beta`` (intercept first)."""

    gradient: Array
    hessian: Array
    loglik: float
    n: int

    def to_arrays(self) -> dict[str, Array]:
        """Plain arrays for a transport record."""
        return {"gradient": self.gradient, "hessian": self.hessian,
                "loglik": np.array([self.loglik]), "n": np.array([float(self.n)])}  # fmt: skip

    @classmethod
    def from_arrays(cls, arrays: dict[str, Array]) -> NewtonStats:
        """Rebuild from :meth:`to_arrays`."""
        return cls(gradient=np.asarray(arrays["gradient"], dtype=np.float64),
                   hessian=np.asarray(arrays["hessian"], dtype=np.float64),
                   loglik=float(arrays["loglik"][0]), n=int(arrays["n"][0]))  # fmt: skip


def newton_site(
    data: PredictionData,
    beta: Array,
    *,
    scale: Array | None = None,
    min_patients: int | None = None,
) -> NewtonStats:
    """Site side: gradient and Hessian (observed information) of the log-likelihood at ``beta``.

    ``beta`` (intercept first) acts on the columns divided by ``scale`` (the
    server's :func:`scale_aggregate`), when given.
    """
    _check_minimum(data, min_patients, "newton")
    p = data.X.shape[1]
    if beta.shape != (p + 1,):
        raise InvalidInput(f"newton: coefficients of length {beta.shape[0]}, expected {p + 1}")
    X = data.X if scale is None else scale_columns(data.X, scale)
    y = data.y.astype(np.float64)
    eta = np.asarray(X @ beta[1:], dtype=np.float64) + beta[0]
    mu = sigmoid(eta)
    w = mu * (1.0 - mu)
    r = y - mu
    gradient = np.concatenate([[r.sum()], np.asarray(X.T @ r, dtype=np.float64).ravel()])
    xtw = np.asarray(X.T @ w, dtype=np.float64).ravel()
    if X.shape[0] * p <= 20_000_000:  # dense BLAS is far faster while the rows fit in memory
        dense = X.toarray()
        xtwx = dense.T @ (dense * w[:, None])
    else:
        xtwx = (X.T @ sparse.diags(w) @ X).toarray()
    hessian = np.empty((p + 1, p + 1))
    hessian[0, 0] = w.sum()
    hessian[0, 1:] = xtw
    hessian[1:, 0] = xtw
    hessian[1:, 1:] = xtwx
    loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    return NewtonStats(gradient=gradient, hessian=hessian, loglik=loglik, n=data.rows)


def newton_aggregate(
    stats: list[NewtonStats], beta: Array, *, l2: float = 0.0
) -> tuple[Array, float]:
    """Server side: sum the sites' statistics and take one Newton step.

    Returns the new coefficients and the penalised log-likelihood at the old
    ones. ``l2`` penalises ``l2/2 * ||beta||^2`` (not the intercept).
    """
    g = np.sum([s.gradient for s in stats], axis=0)
    H = np.sum([s.hessian for s in stats], axis=0)
    loglik = float(sum(s.loglik for s in stats))
    if l2 > 0:
        penalty = np.full(beta.size, l2)
        penalty[0] = 0.0
        g = g - penalty * beta
        H = H + np.diag(penalty)
        loglik -= 0.5 * l2 * float(beta[1:] @ beta[1:])
    try:
        step = np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        raise InvalidInput(
            "newton: the summed Hessian is singular (a feature is constant or absent at every "
            "site); set l2 > 0"
        ) from None
    return beta + step, loglik


def fit_newton(sites: list[PredictionData], *, l2: float = 0.0, max_rounds: int = 25,
               tol: float = 1e-10, min_patients: int | None = None) -> TrainedModel:  # fmt: skip
    """Logistic regression across sites by Newton steps on summed statistics (pooled solution)."""
    check_same_features(sites)
    for site in sites:
        _check_minimum(site, min_patients, "newton")
    _check_both_classes(sites, "newton")
    scaled, scale = _scaled(sites)
    beta = np.zeros(sites[0].X.shape[1] + 1)
    history: list[float] = []
    rounds = 0
    converged = False
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        stats = [newton_site(s, beta) for s in scaled]
        new, loglik = newton_aggregate(stats, beta, l2=l2)
        history.append(loglik)
        step = float(np.max(np.abs(new - beta)))
        beta = new
        if not np.all(np.isfinite(beta)):
            raise InvalidInput("newton: coefficients diverged (separation?); set l2 > 0")
        if step < tol:
            converged = True
            break
    weights = unscale_weights([beta[1:].reshape(-1, 1), beta[:1].copy()], scale)
    return _model(sites, kind="logistic_l2", weights=weights,
                  hyperparameters={"l2": l2, "max_rounds": max_rounds, "tol": tol},
                  training={"mode": "newton", "rounds": rounds, "converged": converged,
                            "loglik": history})  # fmt: skip


# ---------------------------------------------------------------- FedAvg / FedProx


@dataclass(frozen=True)
class DPConfig:
    """Client-side DP: clip each site's update to L2 norm ``clip``; noise sd ``noise_multiplier * clip``."""

    clip: float
    noise_multiplier: float
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if not (self.clip > 0 and self.noise_multiplier >= 0 and 0 < self.delta < 1):
            raise InvalidInput("dp: clip must be > 0, noise_multiplier >= 0, 0 < delta < 1")


@dataclass(frozen=True)
class LocalConfig:
    """Local training at a site: epochs, Adam step size, batch size, L2 and FedProx ``mu``."""

    epochs: int = 1
    learning_rate: float = 0.01
    batch_size: int = 64
    l2: float = 1e-4
    mu: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0:
            raise InvalidInput("local training: epochs and batch size >= 1, learning rate > 0")
        if self.l2 < 0 or self.mu < 0:
            raise InvalidInput("local training: l2 and mu must be >= 0")


@dataclass(frozen=True)
class SiteUpdate:
    """What a site sends back: new weights (or a noised update) and its row count."""

    params: Params
    n: int
    clipped: bool = False


def init_params(n_features: int, hidden: tuple[int, ...] = (), *, seed: int = 0) -> Params:
    """Initial layers ``[W0, b0, ...]``: zeros for a linear model, Glorot-uniform for an MLP."""
    rng = np.random.default_rng(seed)
    sizes = [n_features, *hidden, 1]
    params: Params = []
    for fan_in, fan_out in pairwise(sizes):
        if not hidden:
            params += [np.zeros((fan_in, fan_out)), np.zeros(fan_out)]
        else:
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            params += [rng.uniform(-bound, bound, (fan_in, fan_out)), np.zeros(fan_out)]
    return params


def _gradients(params: Params, X: Any, y: Array, l2: float) -> Params:
    """Gradient of mean log loss + l2/2 ||W||^2 by backpropagation (ReLU hidden, logistic out)."""
    n_layers = len(params) // 2
    acts: list[Any] = [X]
    h: Any = X
    for i in range(n_layers):
        z = np.asarray(h @ params[2 * i], dtype=np.float64) + params[2 * i + 1]
        h = np.maximum(z, 0.0) if i < n_layers - 1 else z
        acts.append(h)
    delta = (sigmoid(acts[-1]) - y.reshape(-1, 1)) / y.size
    grads: Params = [np.empty(0)] * len(params)
    for i in reversed(range(n_layers)):
        inp = acts[i]
        grads[2 * i] = np.asarray(inp.T @ delta, dtype=np.float64) + l2 * params[2 * i]
        grads[2 * i + 1] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ params[2 * i].T) * (acts[i] > 0)
    return grads


def local_train(global_params: Params, data: PredictionData, config: LocalConfig, *,
                seed: int = 0) -> Params:  # fmt: skip
    """Local epochs of mini-batch Adam from ``global_params`` (FedProx when ``config.mu > 0``)."""
    rng = np.random.default_rng(seed)
    params = [p.copy() for p in global_params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    y = data.y.astype(np.float64)
    t = 0
    for _ in range(config.epochs):
        order = rng.permutation(data.rows)
        for start in range(0, data.rows, config.batch_size):
            rows = order[start : start + config.batch_size]
            grads = _gradients(params, data.X[rows], y[rows], config.l2)
            t += 1
            for k, g in enumerate(grads):
                if config.mu > 0:
                    g = g + config.mu * (params[k] - global_params[k])
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                m_hat = m[k] / (1 - 0.9**t)
                v_hat = v[k] / (1 - 0.999**t)
                params[k] = params[k] - config.learning_rate * m_hat / (np.sqrt(v_hat) + 1e-8)
    return params


def privatize(update: Params, dp: DPConfig, rng: np.random.Generator) -> tuple[Params, bool]:
    """Clip ``update`` to L2 norm ``dp.clip`` and add N(0, (noise_multiplier*clip)^2) noise."""
    norm = math.sqrt(sum(float(np.sum(u * u)) for u in update))
    scale = min(1.0, dp.clip / norm) if norm > 0 else 1.0
    sd = dp.noise_multiplier * dp.clip
    noised = [u * scale + rng.normal(0.0, sd, size=u.shape) for u in update]
    return noised, scale < 1.0


def fedavg_site(global_params: Params, data: PredictionData, config: LocalConfig, *,
                seed: int = 0, dp: DPConfig | None = None, scale: Array | None = None,
                min_patients: int | None = None,
                rng: np.random.Generator | None = None) -> SiteUpdate:  # fmt: skip
    """Site side: train locally; send the new weights, or (with DP) the clipped, noised update.

    A site may hold one class only (its update still counts); it must hold rows.
    The DP noise comes from ``rng`` (a node passes its own entropy); without
    it, from ``seed`` (simulation only: whoever knows the seed knows the noise).
    """
    _check_minimum(data, min_patients, "fedavg")
    if data.rows == 0:
        raise InvalidInput(f"fedavg: no rows in the training data at {data.site or 'a site'}")
    if scale is not None:
        data = replace(data, X=scale_columns(data.X, scale))
    params = local_train(global_params, data, config, seed=seed)
    if dp is None:
        return SiteUpdate(params=params, n=data.rows)
    update = [p - g for p, g in zip(params, global_params, strict=True)]
    noised, clipped = privatize(update, dp, rng or np.random.default_rng(seed + 7919))
    return SiteUpdate(params=noised, n=data.rows, clipped=clipped)


def fedavg_aggregate(
    global_params: Params, updates: list[SiteUpdate], *, dp: bool = False
) -> Params:
    """Server side: average by row count (the new weights, or global + the averaged DP updates)."""
    total = sum(u.n for u in updates)
    if total == 0:
        raise InvalidInput("fedavg: no rows at any site")
    mean = [sum(u.params[k] * (u.n / total) for u in updates) for k in range(len(global_params))]
    if dp:
        return [g + d for g, d in zip(global_params, mean, strict=True)]
    return [np.asarray(m, dtype=np.float64) for m in mean]


def dp_epsilon(*, noise_multiplier: float, rounds: int, delta: float) -> float:
    """ε of ``rounds`` releases of one site's clipped, noised update, at ``delta``.

    Neighbouring datasets differ in one person at the site; both clipped
    updates lie in a ball of radius ``C``, so the L2 sensitivity is ``2C``.
    The Gaussian mechanism with sd ``σC`` is then ρ-zCDP with
    ``ρ = (2C)² / (2σ²C²) = 2/σ²`` (Bun & Steinke 2016, Prop. 1.6);
    ``rounds`` releases compose to ``rounds·ρ`` (Lemma 2.3), which is
    ``(ρ + 2√(ρ ln(1/δ)), δ)``-DP (Prop. 1.3). No amplification by sampling
    is claimed, and the weighting by ``n`` is treated as public.
    """
    if noise_multiplier <= 0:
        return math.inf
    rho = rounds * 2.0 / noise_multiplier**2
    return rho + 2.0 * math.sqrt(rho * math.log(1.0 / delta))


def fit_fedavg(sites: list[PredictionData], *, hidden: tuple[int, ...] = (), rounds: int = 20,
               local: LocalConfig | None = None, dp: DPConfig | None = None, seed: int = 0,
               min_patients: int | None = None) -> TrainedModel:  # fmt: skip
    """FedAvg (``local.mu == 0``) or FedProx across sites; a linear model when ``hidden`` is empty."""
    check_same_features(sites)
    for site in sites:
        _check_minimum(site, min_patients, "fedavg")
    _check_both_classes(sites, "fedavg")
    cfg = local or LocalConfig()
    scaled, scale = _scaled(sites)
    params = init_params(sites[0].X.shape[1], hidden, seed=seed)
    for r in range(rounds):
        updates = [fedavg_site(params, s, cfg, seed=seed + 1000 * r + i, dp=dp)
                   for i, s in enumerate(scaled)]  # fmt: skip
        params = fedavg_aggregate(params, updates, dp=dp is not None)
    params = unscale_weights(params, scale)
    training: dict[str, Any] = {"mode": "fedprox" if cfg.mu > 0 else "fedavg", "rounds": rounds,
                                "local_epochs": cfg.epochs, "mu": cfg.mu}  # fmt: skip
    if dp is not None:
        training["dp"] = {"clip": dp.clip, "noise_multiplier": dp.noise_multiplier,
                          "delta": dp.delta,
                          "epsilon": _finite(dp_epsilon(noise_multiplier=dp.noise_multiplier,
                                                        rounds=rounds, delta=dp.delta))}  # fmt: skip
    hp = {"hidden_layer_sizes": list(hidden), "learning_rate": cfg.learning_rate,
          "batch_size": cfg.batch_size, "l2": cfg.l2}  # fmt: skip
    kind = "mlp" if hidden else "logistic_l2"
    return _model(sites, kind=kind, weights=params, hyperparameters=hp, training=training,
                  seed=seed)  # fmt: skip


def _finite(value: float) -> float | None:
    """``None`` for an infinite ε (no noise), so that the bundle stays plain JSON."""
    return value if math.isfinite(value) else None


def predict_params(params: Params, X: sparse.spmatrix | Array) -> Array:
    """Probabilities from FedAvg/Newton layers (the same forward pass as a TrainedModel)."""
    return forward(params, X)


# ---------------------------------------------------------------- trees


def bag_lightgbm(models: list[TrainedModel]) -> TrainedModel:
    """One ensemble of per-site LightGBM models: probabilities averaged over all boosters."""
    if not models or any(m.kind != "lightgbm" for m in models):
        raise InvalidInput("bagging: needs one or more lightgbm models")
    first = models[0]
    for m in models[1:]:
        if not np.array_equal(m.feature_ids, first.feature_ids):
            raise InvalidInput("bagging: the site models do not share one feature space")
    return TrainedModel(kind="lightgbm", feature_ids=first.feature_ids.copy(),
                        feature_names=list(first.feature_names),
                        hyperparameters=dict(first.hyperparameters), seed=first.seed,
                        n_train=sum(m.n_train for m in models),
                        boosters=[s for m in models for s in m.boosters],
                        training={"mode": "bagging", "sites": len(models),
                                  "site_rows": [m.n_train for m in models]})  # fmt: skip


def fit_bagged(spec: ModelSpec, sites: list[PredictionData], *,
               min_cell_count: int | None = None) -> TrainedModel:  # fmt: skip
    """LightGBM at each site (under its minimum cell count), then :func:`bag_lightgbm`.

    A site whose rows hold one class only cannot train a booster; it is
    left out and named in ``training["skipped_sites"]``.
    """
    if spec.kind != "lightgbm":
        raise InvalidInput(
            f"bagging: {spec.kind} is not a tree model (use fit_fedavg or fit_newton)"
        )
    check_same_features(sites)
    usable = [s for s in sites if 0 < s.outcomes < s.rows]
    if not usable:
        raise InvalidInput("bagging: no site holds both classes")
    model = bag_lightgbm([fit(spec, s, min_cell_count=min_cell_count) for s in usable])
    model.training["skipped_sites"] = [s.site for s in sites if not 0 < s.outcomes < s.rows]
    return model


def _model(sites: list[PredictionData], *, kind: Any, weights: Params,
           hyperparameters: dict[str, Any], training: dict[str, Any],
           seed: int = 0) -> TrainedModel:  # fmt: skip
    training = {**training, "sites": len(sites), "site_rows": [s.rows for s in sites]}
    return TrainedModel(kind=kind, feature_ids=sites[0].feature_ids.copy(),
                        feature_names=list(sites[0].feature_names),
                        hyperparameters=hyperparameters, seed=seed,
                        n_train=sum(s.rows for s in sites),
                        weights=[np.asarray(w, dtype=np.float64) for w in weights],
                        training=training)  # fmt: skip


__all__ = [
    "DPConfig",
    "LocalConfig",
    "NewtonStats",
    "SiteUpdate",
    "bag_lightgbm",
    "check_same_features",
    "dp_epsilon",
    "fedavg_aggregate",
    "fedavg_site",
    "fit_bagged",
    "fit_fedavg",
    "fit_newton",
    "init_params",
    "local_train",
    "newton_aggregate",
    "newton_site",
    "predict_params",
    "privatize",
    "scale_aggregate",
    "scale_site",
]
