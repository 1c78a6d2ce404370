"""The release gate: refuse below k or above average risk, suggest the first passing generalisation."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from medhaven.deid.risk_gate import evaluate_release, ladder
from medhaven.errors import InvalidInput


def _k_and_avg(rows: list[tuple[object, ...]]) -> tuple[int, float]:
    sizes = Counter(rows)
    return min(sizes.values()), len(sizes) / len(rows)


def _cohort(n: int = 600, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(20, 80, n),
            "sex": rng.choice(["M", "F"], n),
            "zip": rng.choice(["13001", "13002", "13045", "13099"], n),
            "dx": rng.choice(["flu", "asthma", "copd"], n),
        }
    )


def test_passes_when_k_and_risk_are_within_limits() -> None:
    frame = pd.DataFrame({"sex": ["M", "F"] * 50, "dx": ["a", "b", "c", "d"] * 25})
    verdict = evaluate_release(frame, ["sex"], ["dx"], k_min=5, max_avg_risk=0.05)
    assert verdict.released and verdict.reasons == [] and verdict.suggestion is None
    assert verdict.k == 50 and verdict.average_risk == pytest.approx(0.02)


def test_refuses_and_suggests_a_generalisation_that_really_passes() -> None:
    frame = _cohort()
    quasi = ["age", "sex", "zip"]
    verdict = evaluate_release(frame, quasi, ["dx"], k_min=5, max_avg_risk=0.05)
    k0, avg0 = _k_and_avg(list(frame[quasi].itertuples(index=False, name=None)))
    assert not verdict.released
    assert verdict.k == k0 and verdict.average_risk == pytest.approx(avg0)
    assert any("below the minimum 5" in r for r in verdict.reasons)
    s = verdict.suggestion
    assert s is not None and s.passes
    # Re-apply the suggestion by hand and check its k and risk independently.
    gen = frame.copy()
    width = {"5-year bands": 5, "10-year bands": 10, "20-year bands": 20}
    if "age" in s.steps:
        gen["age"] = (gen["age"] // width[s.steps["age"]]) * width[s.steps["age"]]
    if "zip" in s.steps:
        digits = {"first 3 digits": 3, "first 2 digits": 2}[s.steps["zip"]]
        gen["zip"] = gen["zip"].str[:digits]
    kept = [c for c in quasi if c not in s.dropped]
    k, avg = _k_and_avg(list(gen[kept].itertuples(index=False, name=None)))
    assert (s.k, s.average_risk) == (k, pytest.approx(avg))
    assert k >= 5 and avg <= 0.05
    assert "age →" in s.description


def test_suggestion_is_the_mildest_in_search_order() -> None:
    # 40 people aged 20..59: exact age gives k=1; 5-year bands give k=5 but 8 classes
    # (average risk 0.2 > 0.15); 10-year bands give k=10 and 4 classes (0.1).
    frame = pd.DataFrame({"age": list(range(20, 60)), "dx": ["x", "y"] * 20})
    verdict = evaluate_release(frame, ["age"], ["dx"], k_min=5, max_avg_risk=0.15)
    assert verdict.suggestion is not None
    assert verdict.suggestion.steps == {"age": "10-year bands"}
    assert verdict.suggestion.k == 10 and verdict.suggestion.dropped == []
    assert verdict.suggestion.average_risk == pytest.approx(0.1)


def test_dropping_a_quasi_identifier_is_suggested_when_nothing_else_passes() -> None:
    frame = pd.DataFrame(
        {"sex": ["M", "F"] * 20, "mrn_hash": [f"h{i}" for i in range(40)], "dx": ["a"] * 40}
    )
    verdict = evaluate_release(frame, ["sex", "mrn_hash"], ["dx"])
    assert verdict.suggestion is not None
    assert verdict.suggestion.dropped == ["mrn_hash"]
    assert verdict.suggestion.k == 20


def test_no_suggestion_when_nothing_in_the_lattice_passes() -> None:
    frame = pd.DataFrame({"sex": ["M", "F", "M"], "dx": ["a", "b", "c"]})
    verdict = evaluate_release(frame, ["sex"], ["dx"])
    assert not verdict.released and verdict.suggestion is None
    assert verdict.as_dict()["suggestion"] is None


def test_ladders_for_dates_postcodes_ages_and_text() -> None:
    dates = pd.Series(["2021-03-04", "2021-11-30", "2019-01-01"])
    names = [name for name, _ in ladder("admit_date", dates)]
    assert names == ["month", "year"]
    assert list(ladder("d", dates)[1][1](dates)) == ["2021", "2021", "2019"]
    assert list(ladder("d", pd.to_datetime(dates))[0][1](pd.to_datetime(dates))) == [
        "2021-03",
        "2021-11",
        "2019-01",
    ]
    zips = pd.Series(["13001", "02134"])
    assert list(ladder("zip", zips)[0][1](zips)) == ["130", "021"]
    ages = pd.Series([0, 4, 5, 87])
    assert list(ladder("age", ages)[0][1](ages)) == ["0-4", "0-4", "5-9", "85-89"]
    assert ladder("race", pd.Series(["a", "b"])) == []


def test_verdict_json_carries_description() -> None:
    verdict = evaluate_release(_cohort(), ["age", "sex", "zip"], ["dx"])
    data = verdict.as_dict()
    assert data["released"] is False
    assert data["suggestion"]["description"].startswith("age")


def test_bad_gate_arguments() -> None:
    with pytest.raises(InvalidInput):
        evaluate_release(_cohort(50), ["age"], k_min=0)
    with pytest.raises(InvalidInput, match="no quasi-identifier column 'x'"):
        evaluate_release(_cohort(50), ["x"])


def test_gate_handles_missing_values_in_quasi_identifiers() -> None:
    frame = pd.DataFrame(
        {"age": [float("nan")] * 6 + list(range(20, 44)), "sex": ["F", "M"] * 15, "dx": ["a"] * 30}
    )
    verdict = evaluate_release(frame, ["age", "sex"], ["dx"], k_min=3, max_avg_risk=0.5)
    assert not verdict.released and verdict.suggestion is not None
    s = verdict.suggestion
    # Independent check: band ages by hand, missing ages stay one class of their own.
    width = int(s.steps["age"].split("-")[0]) if "age" in s.steps else None
    gen = frame.copy()
    if width:
        gen["age"] = (gen["age"] // width).fillna(-1)
    kept = [c for c in ["age", "sex"] if c not in s.dropped]
    sizes = gen.groupby(kept, dropna=False).size()
    assert s.k == sizes.min() >= 3
