"""Re-identification risk: MedHaven against pycanon on a common sample, and MedHaven at 1M rows.

The data are synthetic (age, sex, 5-digit postcode, admission date as
quasi-identifiers; a diagnosis as the sensitive attribute). pycanon loops in
Python over equivalence classes, so it runs on the smaller common size only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pycanon.anonymity import k_anonymity, l_diversity

from benchmarks.result import Result, timed
from medhaven.deid.risk import measure_risk
from medhaven.deid.risk_gate import evaluate_release

QUASI = ["age", "sex", "zip", "admit_date"]
SENSITIVE = ["dx"]


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic records with four quasi-identifiers and one sensitive attribute."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2018-01-01", "2023-12-31").strftime("%Y-%m-%d").to_numpy()
    return pd.DataFrame(
        {
            "age": rng.integers(0, 100, n),
            "sex": rng.choice(["F", "M"], n),
            "zip": rng.integers(10000, 10400, n).astype(str),
            "admit_date": rng.choice(days, n),
            "dx": rng.choice([f"D{i:02d}" for i in range(40)], n),
        }
    )


def run(scale: float) -> list[Result]:
    """k + l on the common size against pycanon; full measure and gate at 1M x scale."""
    common = max(1000, int(20_000 * scale))
    small = make_frame(common)
    # Two quasi-identifiers for the comparison, so classes hold many records (k > 1).
    small_quasi = ["age", "sex"]
    expected = (k_anonymity(small, small_quasi), l_diversity(small, small_quasi, SENSITIVE))
    got = measure_risk(small, small_quasi, SENSITIVE)
    assert (got.k, got.l_diversity) == expected, "MedHaven and pycanon disagree"
    med = timed(lambda: measure_risk(small, small_quasi, SENSITIVE), repeat=3)
    base = timed(
        lambda: (k_anonymity(small, small_quasi), l_diversity(small, small_quasi, SENSITIVE))
    )
    big_n = max(10_000, int(1_000_000 * scale))
    big = make_frame(big_n, seed=1)
    measure = timed(lambda: measure_risk(big, QUASI, SENSITIVE), repeat=2)
    gate = timed(lambda: evaluate_release(big, QUASI, SENSITIVE), repeat=1)
    return [
        Result(
            name=f"risk k+l, {common} rows x 2 QI",
            medhaven=med,
            unit="s",
            baseline_name="pycanon k_anonymity + l_diversity",
            baseline=base,
            goal="faster than pycanon",
            note=f"k={expected[0]}, l={expected[1]} (agree)",
        ),
        Result(
            name=f"risk report, {big_n} rows x 4 QI",
            medhaven=measure,
            unit="s",
            goal="< 5 s at 1M rows",
            note="k, l, prosecutor/journalist/marketer",
        ),
        Result(
            name=f"release gate + suggestion, {big_n} rows x 4 QI",
            medhaven=gate,
            unit="s",
            goal="< 5 s at 1M rows",
            note="includes the generalisation search",
        ),
    ]


__all__ = ["make_frame", "run"]
