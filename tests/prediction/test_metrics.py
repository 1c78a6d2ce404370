"""Metrics against independent oracles: scikit-learn, statsmodels, hand-computed tiny cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from statsmodels.nonparametric.smoothers_lowess import lowess

from medhaven.errors import InvalidInput
from medhaven.prediction import metrics as m


def _sample(n: int, seed: int, *, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(-(0.8 * x - 2.0)))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(x - 2.0)))).astype(np.int8)
    return y, (np.round(p, 2) if ties else p)


def test_auroc_tiny_case_by_hand() -> None:
    # positives 0.9, 0.6, 0.4; negatives 0.7, 0.4, 0.2, 0.1: pairs won 4+3+2.5 of 12
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.7, 0.4, 0.2, 0.1])
    auc = m.auroc_delong(y, p)
    assert auc.estimate == pytest.approx(9.5 / 12)
    # DeLong components by hand: V10 = (4/4, 3/4, 2.5/4); V01 = (1/3, 2.5/3, 3/3, 3/3)
    v10 = np.array([1.0, 0.75, 0.625])
    v01 = np.array([1 / 3, 2.5 / 3, 1.0, 1.0])
    se = math.sqrt(v10.var(ddof=1) / 3 + v01.var(ddof=1) / 4)
    assert auc.se == pytest.approx(se)
    assert auc.low == pytest.approx(max(0.0, 9.5 / 12 - 1.959963985 * se))
    assert auc.high == pytest.approx(min(1.0, 9.5 / 12 + 1.959963985 * se))


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_matches_sklearn_and_se_matches_bootstrap(ties: bool) -> None:
    y, p = _sample(1500, seed=1, ties=ties)
    auc = m.auroc_delong(y, p)
    assert auc.estimate == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    rng = np.random.default_rng(7)
    boots = []
    for _ in range(300):
        idx = rng.integers(0, y.size, y.size)
        boots.append(roc_auc_score(y[idx], p[idx]))
    assert auc.se == pytest.approx(float(np.std(boots)), rel=0.2)
    assert auc.low < auc.estimate < auc.high


def test_average_precision_and_brier_match_sklearn() -> None:
    for ties in (False, True):
        y, p = _sample(800, seed=2, ties=ties)
        assert m.average_precision(y, p) == pytest.approx(average_precision_score(y, p))
        assert m.brier(y, p) == pytest.approx(brier_score_loss(y, p))


def test_calibration_intercept_and_slope_match_statsmodels_glm() -> None:
    y, p = _sample(1200, seed=3)
    lp = np.log(p / (1 - p))
    offset_fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp).fit()
    slope_fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    assert m.calibration_intercept(y, p) == pytest.approx(float(offset_fit.params[0]), abs=1e-8)
    assert m.calibration_slope(y, p) == pytest.approx(float(slope_fit.params[1]), abs=1e-8)


def test_perfectly_calibrated_predictions_have_slope_one() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(0.02, 0.9, 40000)
    y = (rng.random(p.size) < p).astype(np.int8)
    cal = m.calibration(y, p)
    assert cal.slope == pytest.approx(1.0, abs=0.06)
    assert cal.intercept == pytest.approx(0.0, abs=0.05)
    assert cal.observed_expected == pytest.approx(y.sum() / p.sum())
    assert cal.ici < 0.02 and cal.ece < 0.02


def test_lowess_matches_statsmodels_and_ici_its_definition() -> None:
    y, p = _sample(1500, seed=5)
    ref = lowess(y.astype(float), p, frac=0.75, it=0, delta=0.0, return_sorted=False)
    assert np.max(np.abs(m.lowess_fit(p, y.astype(float), p) - ref)) < 1e-9
    assert m.ici(y, p) == pytest.approx(float(np.mean(np.abs(np.clip(ref, 0, 1) - p))))


def test_ici_grid_approximation_close_to_exact_lowess() -> None:
    y, p = _sample(6000, seed=6)
    ref = lowess(y.astype(float), p, frac=0.75, it=0, delta=0.0, return_sorted=False)
    exact = float(np.mean(np.abs(np.clip(ref, 0, 1) - p)))
    assert m.ici(y, p) == pytest.approx(exact, abs=2e-3)


def test_ece_hand_computed() -> None:
    # bin [0.1,0.2): p 0.1,0.1 y 0,1 -> |0.5-0.1|; bin [0.8,0.9): p 0.8 y 1 -> |1-0.8|
    y = np.array([0, 1, 1])
    p = np.array([0.1, 0.1, 0.8])
    assert m.ece(y, p) == pytest.approx((2 * 0.4 + 1 * 0.2) / 3)


def test_confusion_and_rates_hand_computed() -> None:
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.3, 0.6, 0.2, 0.1, 0.5])
    c = m.confusion(y, p, 0.5)
    assert (c.tp, c.fp, c.tn, c.fn) == (2, 1, 2, 1)
    assert (c.sensitivity, c.specificity, c.ppv, c.npv) == (2 / 3, 2 / 3, 2 / 3, 2 / 3)
    assert m.confusion(y, p, 0.95).ppv is None


def test_calibration_bins_are_deciles_of_risk() -> None:
    p = np.linspace(0.01, 0.99, 100)
    y = (p > 0.5).astype(np.int8)
    bins = m.calibration_bins(y, p)
    assert [b.n for b in bins] == [10] * 10
    assert bins[0].outcomes == 0 and bins[-1].outcomes == 10
    assert bins[0].mean_predicted == pytest.approx(float(p[:10].mean()))


@pytest.mark.parametrize(
    ("y", "p"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3]),
        ([0, 1], [0.1, 1.2]),
        ([0, 1], [0.1]),
        ([], []),
        ([0, 1], [0.1, float("nan")]),
    ],
)
def test_bad_inputs_refused(y: list[float], p: list[float]) -> None:
    with pytest.raises(InvalidInput):
        m.brier(np.array(y), np.array(p))


def test_auroc_needs_both_classes() -> None:
    with pytest.raises(InvalidInput, match="AUROC"):
        m.auroc_delong(np.array([1, 1, 1, 0]), np.array([0.1, 0.2, 0.3, 0.4]))
