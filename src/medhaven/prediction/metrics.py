"""Performance metrics of a risk model on one set of predictions: discrimination and calibration.

Pure functions of ``y`` (0/1 outcomes) and ``p`` (predicted probabilities).
They work on patient-level arrays and so run at the node; what may leave it
is decided in :mod:`medhaven.prediction.evaluate`, which applies the
disclosure policy to their results.

* AUROC with a DeLong 95% confidence interval (the fast midrank algorithm of
  Sun & Xu, 2014): ``AUC ± z·SE``, clipped to [0, 1];
* AUPRC as average precision (the step-wise sum used by scikit-learn);
* Brier score; observed/expected ratio;
* calibration-in-the-large (intercept of a logistic model with offset
  ``logit(p)``) and calibration slope (logistic regression of ``y`` on
  ``logit(p)``), both by Newton's method;
* ICI (Austin & Steyerberg, 2019): mean absolute distance between ``p`` and a
  smoothed observed risk. The smoother is **lowess** (local linear, tricube
  weights, span 0.75, no robustness iterations), evaluated exactly at every
  prediction up to 2,000 rows and on 400 quantile points (linear
  interpolation in between) above that. R's ``loess`` default fits local
  quadratics, so values differ slightly from R-based reports;
* ECE with 10 equal-width bins; calibration curve by deciles of predicted risk;
* sensitivity, specificity, PPV and NPV at given thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from medhaven.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]

_EPS = 1e-12
LOWESS_FRAC = 0.75
LOWESS_EXACT_ROWS = 2000
LOWESS_GRID = 400


@dataclass(frozen=True)
class Auroc:
    """AUROC and its DeLong standard error and confidence interval."""

    estimate: float
    se: float
    low: float
    high: float
    level: float = 0.95


@dataclass(frozen=True)
class Calibration:
    """Calibration summaries of one set of predictions."""

    observed_expected: float
    intercept: float
    slope: float
    ici: float
    ece: float


@dataclass(frozen=True)
class Confusion:
    """The 2x2 table at one threshold (a person is flagged when ``p >= threshold``)."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def sensitivity(self) -> float | None:
        """TP / (TP + FN), ``None`` without outcomes."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float | None:
        """TN / (TN + FP), ``None`` without non-outcomes."""
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float | None:
        """TP / (TP + FP), ``None`` when nobody is flagged."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def npv(self) -> float | None:
        """TN / (TN + FN), ``None`` when everybody is flagged."""
        return _ratio(self.tn, self.tn + self.fn)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b > 0 else None


def check_inputs(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """``y`` as int8 0/1 and ``p`` as float64 in [0, 1], same length; InvalidInput otherwise."""
    ya = np.asarray(y)
    pa = np.asarray(p, dtype=np.float64)
    if ya.ndim != 1 or pa.ndim != 1 or ya.shape != pa.shape:
        raise InvalidInput("evaluate: outcomes and predictions must be 1-d arrays of one length")
    if ya.size == 0:
        raise InvalidInput("evaluate: no predictions to evaluate")
    if not np.isin(ya, (0, 1)).all():
        raise InvalidInput("evaluate: outcomes must be 0 or 1")
    if not np.isfinite(pa).all() or pa.min() < 0.0 or pa.max() > 1.0:
        raise InvalidInput("evaluate: predictions must be probabilities in [0, 1]")
    return ya.astype(np.int8), pa


def auroc_delong(y: npt.ArrayLike, p: npt.ArrayLike, *, level: float = 0.95) -> Auroc:
    """AUROC with DeLong's standard error; needs at least two outcomes and two non-outcomes."""
    ya, pa = check_inputs(y, p)
    pos, neg = pa[ya == 1], pa[ya == 0]
    m, n = pos.size, neg.size
    if m < 2 or n < 2:
        raise InvalidInput(
            "evaluate: AUROC needs at least two persons with and without the outcome"
        )
    tx = stats.rankdata(pos)
    ty = stats.rankdata(neg)
    tz = stats.rankdata(np.concatenate([pos, neg]))
    auc = float((tz[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    v10 = (tz[:m] - tx) / n  # per positive: share of negatives it outranks (ties 1/2)
    v01 = 1.0 - (tz[m:] - ty) / m  # per negative: share of positives that outrank it
    se = math.sqrt(float(np.var(v10, ddof=1)) / m + float(np.var(v01, ddof=1)) / n)
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    return Auroc(estimate=auc, se=se, low=max(0.0, auc - z * se), high=min(1.0, auc + z * se),
                 level=level)  # fmt: skip


def average_precision(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Average precision: the sum over thresholds of (recall gain) x precision."""
    ya, pa = check_inputs(y, p)
    total = int(ya.sum())
    if total == 0:
        raise InvalidInput("evaluate: average precision needs at least one outcome")
    order = np.argsort(-pa, kind="mergesort")
    ps, ys = pa[order], ya[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(ps) != 0), ps.size - 1]  # end of each distinct score
    tps = np.cumsum(ys)[last]
    flagged = last + 1.0
    precision = tps / flagged
    recall = tps / total
    gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(gain * precision))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared difference between prediction and outcome."""
    ya, pa = check_inputs(y, p)
    return float(np.mean((pa - ya) ** 2))


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-8, 1.0 - 1e-8)
    out: FloatArray = np.log(q / (1.0 - q))
    return out


def calibration_intercept(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Calibration-in-the-large: ``a`` in ``logit P(y) = a + logit(p)`` (maximum likelihood)."""
    ya, pa = check_inputs(y, p)
    _need_both_classes(ya)
    lp = _logit(pa)
    a = 0.0
    for _ in range(100):
        mu = special.expit(a + lp)
        step = float(np.sum(ya - mu)) / max(float(np.sum(mu * (1.0 - mu))), _EPS)
        a += step
        if abs(step) < 1e-12:
            break
    return a


def calibration_slope(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Calibration slope: ``b`` in ``logit P(y) = a + b·logit(p)`` (maximum likelihood)."""
    ya, pa = check_inputs(y, p)
    _need_both_classes(ya)
    X = np.column_stack([np.ones_like(pa), _logit(pa)])
    beta = np.zeros(2)
    for _ in range(100):
        mu = special.expit(X @ beta)
        w = mu * (1.0 - mu)
        hess = (X * w[:, None]).T @ X + np.eye(2) * 1e-10
        step = np.linalg.solve(hess, X.T @ (ya - mu))
        beta += step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return float(beta[1])


def _need_both_classes(y: npt.NDArray[np.int8]) -> None:
    if int(y.sum()) in (0, y.size):
        raise InvalidInput("evaluate: calibration needs persons with and without the outcome")


def _window_starts(xs: FloatArray, t: FloatArray, k: int) -> npt.NDArray[np.int64]:
    """For each point ``t``, the start of the ``k`` sorted ``xs`` nearest to it (contiguous)."""
    n = xs.size
    lo = np.zeros(t.size, dtype=np.int64)
    hi = np.full(t.size, n - k, dtype=np.int64)
    # smallest start l with t - xs[l] <= xs[l + k] - t (moving right stops paying off)
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        right = np.minimum(mid + k, n - 1)
        stop = (t - xs[mid]) <= (xs[right] - t)
        hi = np.where(active & stop, mid, hi)
        lo = np.where(active & ~stop, mid + 1, lo)


def lowess_fit(
    x: FloatArray, y: FloatArray, at: FloatArray, *, frac: float = LOWESS_FRAC
) -> FloatArray:
    """Local linear regression of ``y`` on ``x`` (tricube weights, no robustness steps) at ``at``."""
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    n = xs.size
    k = min(n, max(2, int(frac * n + 1e-10)))
    out = np.empty(at.size)
    chunk = max(1, 4_000_000 // k)
    span = float(xs[-1] - xs[0])
    for s in range(0, at.size, chunk):
        t = at[s : s + chunk]
        start = _window_starts(xs, t, k)
        idx = start[:, None] + np.arange(k)[None, :]
        xw, yw = xs[idx], ys[idx]
        radius = np.maximum(t - xs[start], xs[start + k - 1] - t)
        d = np.abs(xw - t[:, None]) / np.where(radius > 0, radius, 1.0)[:, None]
        w = np.where(d < 1.0, (1.0 - d**3) ** 3, 0.0)
        w = np.where(radius[:, None] > 0, w, 1.0)
        sw = w.sum(axis=1)
        xbar = (w * xw).sum(axis=1) / sw
        ybar = (w * yw).sum(axis=1) / sw
        sxx = (w * (xw - xbar[:, None]) ** 2).sum(axis=1) / sw
        sxy = (w * (xw - xbar[:, None]) * (yw - ybar[:, None])).sum(axis=1) / sw
        linear = np.sqrt(sxx) > 1e-3 * span
        slope = np.where(linear, sxy / np.where(linear, sxx, 1.0), 0.0)
        out[s : s + chunk] = ybar + slope * (t - xbar)
    return out


def ici(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Integrated calibration index: mean |lowess-smoothed observed risk - p| over persons."""
    ya, pa = check_inputs(y, p)
    yf = ya.astype(np.float64)
    if pa.size <= LOWESS_EXACT_ROWS:
        smooth = lowess_fit(pa, yf, pa)
    else:
        grid = np.unique(np.quantile(pa, np.linspace(0.0, 1.0, LOWESS_GRID)))
        smooth = np.interp(pa, grid, lowess_fit(pa, yf, grid))
    return float(np.mean(np.abs(np.clip(smooth, 0.0, 1.0) - pa)))


def ece(y: npt.ArrayLike, p: npt.ArrayLike, *, bins: int = 10) -> float:
    """Expected calibration error: equal-width bins on [0, 1], weighted |observed - mean p|."""
    ya, pa = check_inputs(y, p)
    which = np.minimum((pa * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += float(sel.sum()) * abs(float(ya[sel].mean()) - float(pa[sel].mean()))
    return total / pa.size


def calibration(y: npt.ArrayLike, p: npt.ArrayLike) -> Calibration:
    """All calibration summaries (see the module docstring for the methods)."""
    ya, pa = check_inputs(y, p)
    expected = float(pa.sum())
    oe = float(ya.sum()) / expected if expected > 0 else math.inf
    return Calibration(observed_expected=oe, intercept=calibration_intercept(ya, pa),
                       slope=calibration_slope(ya, pa), ici=ici(ya, pa), ece=ece(ya, pa))  # fmt: skip


@dataclass(frozen=True)
class CurveBin:
    """One bin of the calibration curve (node-internal counts)."""

    n: int
    outcomes: int
    mean_predicted: float


def calibration_bins(y: npt.ArrayLike, p: npt.ArrayLike, *, bins: int = 10) -> list[CurveBin]:
    """Equal-size groups of persons by predicted risk (deciles by default), lowest risk first."""
    ya, pa = check_inputs(y, p)
    order = np.argsort(pa, kind="mergesort")
    return [CurveBin(n=int(part.size), outcomes=int(ya[part].sum()),
                     mean_predicted=float(pa[part].mean()))
            for part in np.array_split(order, bins) if part.size]  # fmt: skip


def confusion(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float) -> Confusion:
    """The 2x2 table when persons with ``p >= threshold`` are flagged."""
    ya, pa = check_inputs(y, p)
    flagged = pa >= threshold
    tp = int(np.sum(flagged & (ya == 1)))
    fp = int(np.sum(flagged & (ya == 0)))
    fn = int(ya.sum()) - tp
    tn = int(ya.size - ya.sum()) - fp
    return Confusion(threshold=float(threshold), tp=tp, fp=fp, tn=tn, fn=fn)


__all__ = [
    "Auroc",
    "Calibration",
    "Confusion",
    "CurveBin",
    "auroc_delong",
    "average_precision",
    "brier",
    "calibration",
    "calibration_bins",
    "calibration_intercept",
    "calibration_slope",
    "check_inputs",
    "confusion",
    "ece",
    "ici",
    "lowess_fit",
]
