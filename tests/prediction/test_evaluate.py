"""Released evaluation: metrics match sklearn, small cells and small subgroups never leave."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.errors import InvalidInput
from medhaven.prediction.evaluate import evaluate


def _data(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(-(x - 1.5)))
    y = (rng.random(n) < p).astype(np.int8)
    return y, p


def test_overall_metrics_match_sklearn() -> None:
    y, p = _data()
    out = evaluate(y, p)
    assert out["released"] is True
    assert out["n"] == 2000 and out["outcomes"] == int(y.sum())
    met = out["metrics"]
    assert met["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert met["auprc"] == pytest.approx(average_precision_score(y, p), abs=1e-6)
    assert met["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-6)
    assert met["auroc_ci"][0] < met["auroc"] < met["auroc_ci"][1]
    assert met["observed_expected"] == pytest.approx(y.sum() / p.sum(), abs=1e-6)
    json.dumps(out)  # JSON-ready


def test_threshold_table_counts_by_hand() -> None:
    y, p = _data()
    rows = {(r["kind"], r["value"]): r for r in evaluate(y, p)["thresholds"]}
    r = rows[("risk", 0.3)]
    flagged = p >= 0.3
    assert r["tp"] == int((flagged & (y == 1)).sum())
    assert r["fp"] == int((flagged & (y == 0)).sum())
    assert r["sensitivity"] == pytest.approx((flagged & (y == 1)).sum() / y.sum(), abs=1e-6)
    assert r["npv"] == pytest.approx(((~flagged) & (y == 0)).sum() / (~flagged).sum(), abs=1e-6)
    top = rows[("top_fraction", 0.1)]
    assert top["flagged"] == pytest.approx(200, abs=2)


def test_all_subgroup_labels_reported_and_small_ones_withheld() -> None:
    y, p = _data()
    sex = np.array(["female"] * 1000 + ["male"] * 997 + ["unknown"] * 3)
    hospital = np.array(["a"] * 1500 + ["b"] * 500)
    out = evaluate(y, p, groups={"sex": sex, "hospital": hospital})
    by_sex = {row["label"]: row for row in out["subgroups"]["sex"]}
    assert set(by_sex) == {"female", "male", "unknown"}
    female = by_sex["female"]
    sel = sex == "female"
    assert female["released"] is True
    assert female["n"] == 1000 and female["outcomes"] in (int(y[sel].sum()), None)
    hidden = [int(y[sex == k].sum()) for k, r in by_sex.items() if r["outcomes"] is None]
    assert sum(hidden) == 0 or sum(hidden) >= 5
    assert female["auroc"] == pytest.approx(roc_auc_score(y[sel], p[sel]), abs=1e-6)
    assert female["brier"] == pytest.approx(brier_score_loss(y[sel], p[sel]), abs=1e-6)
    unknown = by_sex["unknown"]
    assert unknown["released"] is False
    assert unknown["n"] is None and "n" in unknown["suppressed"]
    assert unknown["auroc"] is None and unknown["brier"] is None
    # 2000 - 1000 - n(male) would give the 3 back: the next smallest count is hidden too
    assert by_sex["male"]["n"] is None and "n" in by_sex["male"]["suppressed"]
    assert by_sex["male"]["auroc"] == pytest.approx(
        roc_auc_score(y[sex == "male"], p[sex == "male"]), abs=1e-6
    )
    assert [row["label"] for row in out["subgroups"]["hospital"]] == ["a", "b"]


def test_subgroup_with_few_outcomes_keeps_count_of_persons_only() -> None:
    y = np.zeros(100, dtype=np.int8)
    y[:3] = 1
    y[50:90] = 1
    p = np.linspace(0.05, 0.95, 100)
    group = np.array(["x"] * 50 + ["y"] * 50)
    rows = {r["label"]: r for r in evaluate(y, p, groups={"g": group})["subgroups"]["g"]}
    assert rows["x"]["n"] == 50 and rows["x"]["outcomes"] is None
    assert rows["x"]["released"] is False and rows["x"]["auroc"] is None
    # y's metrics are released, but its 40 outcomes would give x's 3 back from the total
    assert rows["y"]["released"] is True and rows["y"]["n"] == 50
    assert rows["y"]["outcomes"] is None and rows["y"]["suppressed"] == ["outcomes"]


def test_few_non_outcomes_suppress_the_outcome_count() -> None:
    y = np.ones(40, dtype=np.int8)
    y[:2] = 0
    p = np.linspace(0.1, 0.9, 40)
    out = evaluate(y, p)
    assert out["n"] == 40 and out["outcomes"] is None
    assert out["released"] is False and out["metrics"] is None
    assert "0.9" not in json.dumps(out["subgroups"])


def test_small_cells_in_curves_and_thresholds_are_suppressed() -> None:
    y, p = _data(300, seed=3)
    policy = DisclosurePolicy(min_cell_count=11)
    six = float(np.sort(p)[-6])  # flags 6 persons, fewer than 11
    out = evaluate(y, p, policy=policy, thresholds=(0.0, six))
    rows = {(r["kind"], r["value"]): r for r in out["thresholds"]}
    assert rows[("risk", six)]["suppressed"] is True and rows[("risk", six)]["tp"] is None
    assert rows[("risk", six)]["sensitivity"] is None
    for b in out["calibration_curve"]:
        assert b["n"] >= 11
        outcomes = round(b["observed"] * b["n"])
        assert outcomes == 0 or outcomes >= 11
        assert b["n"] - outcomes == 0 or b["n"] - outcomes >= 11
    assert sum(b["n"] for b in out["calibration_curve"]) == 300


def test_no_two_released_tables_differ_by_a_small_count() -> None:
    y, p = _data(400, seed=5)
    policy = DisclosurePolicy(min_cell_count=8)
    out = evaluate(y, p, policy=policy, thresholds=(0.05, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7))
    tables = []
    for point in out["roc_curve"][1:-1]:  # back to counts with the released totals
        t = point["threshold"]
        tables.append((int((p >= t).sum()), int(((p >= t) & (y == 1)).sum())))
        assert point["tpr"] == pytest.approx(tables[-1][1] / y.sum(), abs=1e-6)
    tables += [(r["flagged"], r["tp"]) for r in out["thresholds"] if not r["suppressed"]]
    small = range(1, 8)
    for flagged_a, tp_a in tables:
        for flagged_b, tp_b in tables:
            assert abs(tp_a - tp_b) not in small
            assert abs((flagged_a - tp_a) - (flagged_b - tp_b)) not in small
    assert any(r["suppressed"] for r in out["thresholds"])  # 0.6, 0.7 flag only a few


def test_bad_threshold_refused() -> None:
    y, p = _data(100)
    with pytest.raises(InvalidInput, match="threshold"):
        evaluate(y, p, thresholds=(1.5,))
    with pytest.raises(InvalidInput, match="one label per person"):
        evaluate(y, p, groups={"sex": np.array(["f"])})
