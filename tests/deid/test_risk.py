"""Risk measures: k and l against pycanon, risks against hand computation in plain Python."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from pycanon.anonymity import k_anonymity, l_diversity

from medhaven.deid.risk import SAMPLE_AS_POPULATION, measure_risk
from medhaven.errors import InvalidInput


def _random_frame(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 40, n),
            "sex": rng.choice(["M", "F"], n),
            "zip": rng.choice(["13001", "13002", "13101", "20011"], n),
            "dx": rng.choice(["flu", "asthma", "copd", "hiv"], n),
            "drug": rng.choice(["a", "b"], n),
        }
    )


ADULT_LIKE = pd.DataFrame(
    {
        "age": [30, 30, 30, 41, 41, 41, 41, 55, 55, 62],
        "sex": ["F", "F", "F", "M", "M", "M", "M", "F", "F", "M"],
        "zip": ["130", "130", "130", "200", "200", "200", "200", "130", "130", "200"],
        "dx": ["flu", "flu", "hiv", "copd", "flu", "flu", "flu", "hiv", "hiv", "flu"],
    }
)


@pytest.mark.parametrize(
    ("frame", "quasi", "sensitive"),
    [
        (ADULT_LIKE, ["age", "sex", "zip"], ["dx"]),
        (ADULT_LIKE, ["sex"], ["dx"]),
        (_random_frame(1, 300), ["age", "sex"], ["dx"]),
        (_random_frame(2, 400), ["sex", "zip"], ["dx", "drug"]),
        (_random_frame(3, 500), ["age", "sex", "zip"], ["dx"]),
    ],
)
def test_k_and_l_agree_with_pycanon(
    frame: pd.DataFrame, quasi: list[str], sensitive: list[str]
) -> None:
    report = measure_risk(frame, quasi, sensitive)
    assert report.k == k_anonymity(frame, quasi)
    assert report.l_diversity == l_diversity(frame, quasi, sensitive)


def _by_hand(rows: list[tuple[object, ...]], threshold: float) -> dict[str, float]:
    sizes = Counter(rows)
    n = len(rows)
    record_risk = [1 / sizes[r] for r in rows]
    return {
        "k": min(sizes.values()),
        "classes": len(sizes),
        "highest": max(record_risk),
        "share": sum(r > threshold for r in record_risk) / n,
        "average": sum(record_risk) / n,
    }


def test_prosecutor_risk_matches_plain_python() -> None:
    frame = _random_frame(4, 250)
    quasi = ["age", "sex", "zip"]
    expected = _by_hand(list(frame[quasi].itertuples(index=False, name=None)), 0.2)
    report = measure_risk(frame, quasi, ["dx"], threshold=0.2)
    assert report.k == expected["k"]
    assert report.equivalence_classes == expected["classes"]
    assert report.prosecutor.highest == pytest.approx(expected["highest"])
    assert report.prosecutor.share_above_threshold == pytest.approx(expected["share"])
    assert report.prosecutor.average == pytest.approx(expected["average"])
    # Without a population the sample stands in for it, and the report says so.
    assert report.population == SAMPLE_AS_POPULATION
    assert report.journalist == report.prosecutor
    assert report.marketer == pytest.approx(expected["classes"] / 250)


def test_small_example_by_hand() -> None:
    # Classes: (30,F,130)x3, (41,M,200)x4, (55,F,130)x2, (62,M,200)x1
    report = measure_risk(ADULT_LIKE, ["age", "sex", "zip"], ["dx"], threshold=0.3)
    assert report.k == 1
    assert report.equivalence_classes == 4
    assert report.l_diversity == 1
    assert report.prosecutor.highest == 1.0
    # records with risk > 0.3: the 3 (1/3), the 2 (1/2) and the 1 (1/1) -> 6 of 10
    assert report.prosecutor.share_above_threshold == pytest.approx(0.6)
    assert report.prosecutor.average == pytest.approx(0.4)


def test_journalist_and_marketer_risk_with_a_population() -> None:
    sample = ADULT_LIKE
    population = pd.concat(
        [ADULT_LIKE, ADULT_LIKE.iloc[[0, 3, 7, 7, 7, 9, 9]], ADULT_LIKE.iloc[[0]].assign(age=99)]
    )
    quasi = ["age", "sex", "zip"]
    big: dict[tuple[object, ...], int] = defaultdict(int)
    for row in population[quasi].itertuples(index=False, name=None):
        big[row] += 1
    small = Counter(sample[quasi].itertuples(index=False, name=None))
    rows = list(sample[quasi].itertuples(index=False, name=None))
    record = [1 / big[r] for r in rows]
    report = measure_risk(sample, quasi, population=population, threshold=0.2)
    assert report.population == "given"
    assert report.population_records == len(population)
    assert report.journalist.highest == pytest.approx(max(record))
    assert report.journalist.share_above_threshold == pytest.approx(
        sum(r > 0.2 for r in record) / len(rows)
    )
    assert report.journalist.average == pytest.approx(len(small) / sum(big[c] for c in small))
    assert report.marketer == pytest.approx(sum(small[c] / big[c] for c in small) / len(rows))
    # The population makes re-identification harder than the sample alone suggests.
    assert report.journalist.highest < report.prosecutor.highest


def test_population_with_other_types_still_matches() -> None:
    pop = ADULT_LIKE.astype(str)
    report = measure_risk(ADULT_LIKE, ["age", "sex"], population=pop)
    assert report.journalist == report.prosecutor


def test_missing_values_form_their_own_class() -> None:
    frame = pd.DataFrame({"zip": ["1", "1", None, None, None], "dx": ["a", "b", "a", "a", "b"]})
    report = measure_risk(frame, ["zip"], ["dx"])
    assert report.k == 2 and report.equivalence_classes == 2 and report.l_diversity == 2


def test_unknown_column_names_column_not_values() -> None:
    with pytest.raises(InvalidInput, match=r"no quasi-identifier column 'postcode'") as info:
        measure_risk(ADULT_LIKE, ["age", "postcode"], ["dx"], source="x.csv")
    assert "x.csv" in str(info.value) and "flu" not in str(info.value)
    with pytest.raises(InvalidInput, match=r"no sensitive column 'diag'"):
        measure_risk(ADULT_LIKE, ["age"], ["diag"])


def test_empty_frame_and_bad_threshold_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="no data rows"):
        measure_risk(ADULT_LIKE.iloc[0:0], ["age"])
    with pytest.raises(InvalidInput, match="threshold"):
        measure_risk(ADULT_LIKE, ["age"], threshold=1.5)
    with pytest.raises(InvalidInput, match="both quasi and sensitive"):
        measure_risk(ADULT_LIKE, ["age", "dx"], ["dx"])
