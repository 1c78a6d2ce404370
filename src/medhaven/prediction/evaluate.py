"""Evaluation that may leave the node: metrics overall and by subgroup, under disclosure control.

:func:`evaluate` takes patient-level outcomes and predictions (and one label
per person for each grouping: sex, age group, hospital) and returns a
JSON-ready dict that holds only what the node's
:class:`~medhaven.analytics.policy.DisclosurePolicy` allows:

* counts (persons, outcomes) that are sensitive under the policy
  (``1 .. min_cell_count - 1`` by default) are ``None`` and named in the
  block's ``"suppressed"`` list; a count that could be recovered by
  subtraction is hidden too (persons minus outcomes; the labels of one
  grouping against the total: secondary suppression of the smallest count);
* metrics of a group (overall or a subgroup) with fewer than
  ``min_cell_count`` persons, outcomes or non-outcomes are not released at
  all (``"released": false``);
* the threshold table, the ROC points and the calibration bins come from one
  chain of thresholds (:func:`_chain`) in which every 2x2 cell, and every
  difference between two released tables, passes the policy: a threshold
  row that cannot join is shown as suppressed, an ROC point is left out,
  and a decile boundary is dropped (two deciles merge into one bin).

The metrics themselves are computed in :mod:`medhaven.prediction.metrics`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
from medhaven.errors import InvalidInput
from medhaven.prediction import metrics as m

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5)
DEFAULT_TOP_FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2)
ROC_POINTS = 20
CURVE_BINS = 10
DIGITS = 6


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def _count(count: int, policy: DisclosurePolicy) -> int | None:
    """A count as released: ``None`` when sensitive, else rounded by the policy."""
    return None if policy.is_sensitive_count(count) else policy.round_count(count)


def _cells_ok(counts: Sequence[int], policy: DisclosurePolicy) -> bool:
    return not any(policy.is_sensitive_count(c) for c in counts)


def metrics_releasable(n: int, outcomes: int, policy: DisclosurePolicy) -> bool:
    """Whether metrics of a group may be released: enough persons, outcomes and non-outcomes."""
    least = max(policy.min_cell_count, 2)
    return n >= least and outcomes >= least and n - outcomes >= least


def _counts_block(n: int, outcomes: int, policy: DisclosurePolicy) -> dict[str, Any]:
    released_n = _count(n, policy)
    released_o = _count(outcomes, policy)
    if released_o is not None and policy.is_sensitive_count(n - outcomes):
        released_o = None  # n and outcomes would give the small non-outcome count back
    suppressed = [k for k, v in (("n", released_n), ("outcomes", released_o)) if v is None]
    return {"n": released_n, "outcomes": released_o, "suppressed": suppressed}


def _overall_metrics(y: npt.NDArray[np.int8], p: m.FloatArray) -> dict[str, Any]:
    auc = m.auroc_delong(y, p)
    cal = m.calibration(y, p)
    return {
        "auroc": _r(auc.estimate),
        "auroc_ci": [_r(auc.low), _r(auc.high)],
        "auroc_se": _r(auc.se),
        "auroc_ci_method": "DeLong",
        "auprc": _r(m.average_precision(y, p)),
        "brier": _r(m.brier(y, p)),
        "observed_expected": _r(cal.observed_expected),
        "calibration_intercept": _r(cal.intercept),
        "calibration_slope": _r(cal.slope),
        "ici": _r(cal.ici),
        "ici_method": f"lowess (local linear, tricube, span {m.LOWESS_FRAC})",
        "ece": _r(cal.ece),
        "ece_bins": 10,
    }


def _chain(
    y: npt.NDArray[np.int8], p: m.FloatArray, policy: DisclosurePolicy, candidates: Sequence[float]
) -> dict[float, m.Confusion]:
    """The thresholds whose 2x2 tables may all be released together.

    Candidates are admitted in order (the threshold table's first, then the
    calibration deciles, then the ROC points): one is kept when its four cells
    pass the policy and so do the persons with and without the outcome that
    lie between it and its nearest kept neighbours. Any two kept tables then
    differ by counts that pass too (sums of 0 or at least the minimum), so no
    subtraction between released rows, ROC points and calibration bins gives
    a small count back.
    """
    total_pos, total_neg = int(y.sum()), int(y.size - y.sum())
    kept: dict[float, m.Confusion] = {}
    for t in candidates:
        if t in kept:
            continue
        c = m.confusion(y, p, t)
        above = [kept[k] for k in kept if k > t]
        below = [kept[k] for k in kept if k < t]
        hi_tp, hi_fp = max(((a.tp, a.fp) for a in above), default=(0, 0))
        lo_tp, lo_fp = min(((b.tp, b.fp) for b in below), default=(total_pos, total_neg))
        counts = (c.tp, c.fp, c.tn, c.fn, c.tp - hi_tp, c.fp - hi_fp, lo_tp - c.tp, lo_fp - c.fp)
        if _cells_ok(counts, policy):
            kept[t] = c
    return kept


def _roc_curve(kept: Mapping[float, m.Confusion]) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = [{"threshold": None, "fpr": 0.0, "tpr": 0.0}]
    for t in sorted(kept, reverse=True):
        c = kept[t]
        points.append({"threshold": _r(t), "fpr": _r(c.fp / (c.fp + c.tn)),
                       "tpr": _r(c.tp / (c.tp + c.fn))})  # fmt: skip
    points.append({"threshold": None, "fpr": 1.0, "tpr": 1.0})
    return points


def _curve(
    y: npt.NDArray[np.int8],
    p: m.FloatArray,
    policy: DisclosurePolicy,
    kept: Mapping[float, m.Confusion],
    deciles: Sequence[float],
) -> list[dict[str, Any]]:
    """Bins between the kept decile thresholds (a dropped boundary merges two deciles)."""
    cuts = sorted(t for t in set(deciles) if t in kept)
    edges = [-np.inf, *cuts, np.inf]
    rows: list[dict[str, Any]] = []
    for lo, hi in itertools.pairwise(edges):
        sel = (p >= lo) & (p < hi)
        n = int(sel.sum())
        if n == 0:
            continue
        rows.append({"bin": len(rows) + 1, "n": policy.round_count(n),
                     "from_threshold": None if lo == -np.inf else _r(lo),
                     "mean_predicted": _r(float(p[sel].mean())),
                     "observed": _r(float(y[sel].mean()))})  # fmt: skip
    return rows


def _threshold_rows(
    policy: DisclosurePolicy,
    kept: Mapping[float, m.Confusion],
    wanted: Sequence[tuple[str, float, float]],
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind, value, threshold in wanted:
        row: dict[str, Any] = {"kind": kind, "value": value, "threshold": _r(threshold)}
        c = kept.get(threshold)
        if c is not None:
            row.update(suppressed=False, flagged=policy.round_count(c.tp + c.fp),
                       tp=policy.round_count(c.tp), fp=policy.round_count(c.fp),
                       tn=policy.round_count(c.tn), fn=policy.round_count(c.fn),
                       sensitivity=_r(c.sensitivity), specificity=_r(c.specificity),
                       ppv=_r(c.ppv), npv=_r(c.npv))  # fmt: skip
        else:
            row.update(suppressed=True, flagged=None, tp=None, fp=None, tn=None, fn=None,
                       sensitivity=None, specificity=None, ppv=None, npv=None)  # fmt: skip
        rows.append(row)
    return rows


def _curves(
    y: npt.NDArray[np.int8],
    p: m.FloatArray,
    policy: DisclosurePolicy,
    *,
    thresholds: Sequence[float],
    top_fractions: Sequence[float],
) -> dict[str, Any]:
    quantiles = [float(q) for q in np.quantile(p, np.linspace(0.0, 1.0, ROC_POINTS + 1))[1:-1]]
    deciles = [float(q) for q in np.quantile(p, np.linspace(0.0, 1.0, CURVE_BINS + 1))[1:-1]]
    wanted = [("risk", float(t), float(t)) for t in thresholds]
    wanted += [("top_fraction", float(f), float(np.quantile(p, 1.0 - f))) for f in top_fractions]
    kept = _chain(y, p, policy, [*(w[2] for w in wanted), *deciles, *quantiles])
    return {"roc_curve": _roc_curve(kept), "calibration_curve": _curve(y, p, policy, kept, deciles),
            "thresholds": _threshold_rows(policy, kept, wanted)}  # fmt: skip


def _subgroup(
    label: str, y: npt.NDArray[np.int8], p: m.FloatArray, policy: DisclosurePolicy
) -> dict[str, Any]:
    n, outcomes = int(y.size), int(y.sum())
    block: dict[str, Any] = {"label": label, **_counts_block(n, outcomes, policy)}
    if metrics_releasable(n, outcomes, policy):
        auc = m.auroc_delong(y, p)
        expected = float(p.sum())
        block.update(released=True, auroc=_r(auc.estimate), auroc_ci=[_r(auc.low), _r(auc.high)],
                     brier=_r(m.brier(y, p)),
                     observed_expected=_r(outcomes / expected) if expected > 0 else None)  # fmt: skip
    else:
        block.update(released=False, auroc=None, auroc_ci=None, brier=None, observed_expected=None)
    return block


def _protect(
    rows: list[dict[str, Any]], true: Sequence[int], key: str, policy: DisclosurePolicy
) -> None:
    """Secondary suppression in one grouping: the labels' counts add up to a released total, so
    hide the smallest published count until the hidden ones together pass the policy."""
    hidden = [i for i, r in enumerate(rows) if r[key] is None]
    while hidden and policy.is_sensitive_count(sum(true[i] for i in hidden)):
        shown = [i for i, r in enumerate(rows) if r[key] is not None]
        if not shown:
            return
        j = min(shown, key=lambda i: true[i])
        rows[j][key] = None
        rows[j]["suppressed"].append(key)
        hidden.append(j)


def evaluate(
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    *,
    groups: Mapping[str, npt.ArrayLike] | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    top_fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS,
) -> dict[str, Any]:
    """The released evaluation of predictions ``p`` against outcomes ``y`` (see the module doc).

    ``groups`` maps a grouping name (``"sex"``, ``"age_group"``, ``"hospital"``)
    to one label per person; every recorded label gets a row.
    """
    ya, pa = m.check_inputs(y, p)
    for t in thresholds:
        if not 0.0 <= float(t) <= 1.0:
            raise InvalidInput(f"evaluate: threshold {t} is not a probability")
    for f in top_fractions:
        if not 0.0 < float(f) < 1.0:
            raise InvalidInput(f"evaluate: top fraction {f} must lie strictly between 0 and 1")
    n, outcomes = int(ya.size), int(ya.sum())
    result: dict[str, Any] = {**_counts_block(n, outcomes, policy),
                              "min_cell_count": policy.min_cell_count}  # fmt: skip
    if metrics_releasable(n, outcomes, policy):
        result.update(released=True, metrics=_overall_metrics(ya, pa),
                      **_curves(ya, pa, policy, thresholds=thresholds, top_fractions=top_fractions))  # fmt: skip
    else:
        result.update(released=False, metrics=None, roc_curve=[], calibration_curve=[],
                      thresholds=[])  # fmt: skip
    subgroups: dict[str, list[dict[str, Any]]] = {}
    for name, labels in (groups or {}).items():
        la = np.asarray(labels).astype(str)
        if la.shape != ya.shape:
            raise InvalidInput(f"evaluate: subgroup {name} has not one label per person")
        values = np.unique(la)
        rows = [_subgroup(str(v), ya[la == v], pa[la == v], policy) for v in values]
        _protect(rows, [int((la == v).sum()) for v in values], "n", policy)
        _protect(rows, [int(ya[la == v].sum()) for v in values], "outcomes", policy)
        subgroups[name] = rows
    result["subgroups"] = subgroups
    return result


__all__ = ["DEFAULT_THRESHOLDS", "DEFAULT_TOP_FRACTIONS", "evaluate", "metrics_releasable"]
