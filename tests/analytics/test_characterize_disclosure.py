"""Property tests: no hidden entry of a released characterization table can be derived.

The attacker's view is written here from scratch: every published cell of a
released one-way table, its total (taken from the separately published person
count when the table hides it), and that counts are non-negative whole
numbers. For each hidden entry the test works out the range of values it can
take under those constraints and requires it to span at least the minimum
cell count; it also checks that no count from 1 to 4 is ever shown.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medhaven.analytics import DisclosurePolicy, characterize_dataset, release_dataset
from medhaven.analytics.characterize.dataset import demographic_sections
from medhaven.analytics.characterize.incidence import AtRisk, release_stratified, stratify
from medhaven.analytics.characterize.sections import records_dominated, release_document
from medhaven.analytics.dominance import is_dominated
from medhaven.cdm import open_store

MIN = 5
AGES = ["0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85+", "unknown"]
SEXES = ["female", "male", "other"]


def hidden_ranges(entries: list[dict[str, Any]], known_total: float | None) -> list[float]:
    """Width of the feasible range of every hidden entry of a released one-way table."""
    cells = [e for e in entries if not e["margin"]]
    (total,) = [e for e in entries if e["margin"]]
    shown_total = total["value"] if total["value"] is not None else known_total
    hidden = [c for c in cells if c["value"] is None]
    rest = None if shown_total is None else shown_total - sum(c["value"] or 0 for c in cells)
    widths: list[float] = []
    for _ in hidden:
        if rest is None:
            widths.append(math.inf)  # total unknown: the cell can be anything
        elif len(hidden) == 1:
            widths.append(0.0)  # the one hidden cell is the total minus the others
        else:
            widths.append(rest)  # any split of the remainder among the hidden cells
    if total["value"] is None:
        widths.append(math.inf if hidden else 0.0)  # the total is the sum of what is shown
        if known_total is not None:
            widths[-1] = 0.0  # published elsewhere in the same document
    return widths


def assert_document_safe(doc: dict[str, Any], truth: dict[str, dict[str, int]]) -> None:
    """No small count shown; every hidden entry (cell or total) keeps a range >= MIN wide."""
    persons = next(s for s in doc["sections"] if s["name"] == "persons")
    known = persons["value"]
    for sec in doc["sections"]:
        if sec["type"] != "table":
            continue
        entries = sec["table"]["entries"]
        for e in entries:
            assert e["value"] is None or not 1 <= e["value"] < MIN, (sec["name"], e["label"])
            true = truth[sec["name"]].get(e["label"], 0)
            if 1 <= true < MIN:
                assert e["value"] is None
        for width in hidden_ranges(entries, known):
            assert width >= MIN, sec["name"]


counts_strategy = st.dictionaries(
    st.tuples(st.sampled_from(AGES), st.sampled_from(SEXES)),
    st.integers(min_value=0, max_value=40),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(counts=counts_strategy)
def test_no_hidden_age_or_sex_count_is_derivable(counts: dict[tuple[str, str], int]) -> None:
    sections = demographic_sections(counts, age_title="age")
    doc = release_document("t", sections, DisclosurePolicy(), raw=False)
    by_age: dict[str, int] = {}
    by_sex: dict[str, int] = {}
    for (a, s), n in counts.items():
        by_age[a] = by_age.get(a, 0) + n
        by_sex[s] = by_sex.get(s, 0) + n
    total = sum(counts.values())
    assert_document_safe(doc, {"persons_by_age_group": {**by_age, "total": total},
                               "persons_by_sex": {**by_sex, "total": total}})  # fmt: skip


people_strategy = st.lists(
    st.tuples(
        st.integers(min_value=1920, max_value=1935),  # year of birth
        st.sampled_from([8507, 8532, 0]),  # gender
        st.integers(min_value=0, max_value=4000),  # observation days
    ),
    min_size=1,
    max_size=40,
)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=people_strategy)
def test_released_dataset_tables_from_a_real_store_are_safe(
    people: list[tuple[int, int, int]],
) -> None:
    n = len(people)
    ids = list(range(1, n + 1))
    start = date(2000, 1, 1)
    with open_store(":memory:") as store:
        store.create_schema()
        store.append_arrow("person", pa.table({
            "person_id": ids, "gender_concept_id": [p[1] for p in people],
            "year_of_birth": [p[0] for p in people], "race_concept_id": [0] * n,
            "ethnicity_concept_id": [0] * n}))  # fmt: skip
        store.append_arrow("observation_period", pa.table({
            "observation_period_id": ids, "person_id": ids,
            "observation_period_start_date": pa.array([start] * n, pa.date32()),
            "observation_period_end_date": pa.array(
                [date.fromordinal(start.toordinal() + p[2]) for p in people], pa.date32()),
            "period_type_concept_id": [32817] * n}))  # fmt: skip
        doc = release_dataset(characterize_dataset(store))
    yob: dict[str, int] = {}
    for p in people:
        yob[str(p[0])] = yob.get(str(p[0]), 0) + 1
    truth = {"persons_by_year_of_birth": {**yob, "total": n}}
    # Age and sex are covered above; here every table's truth is derived from the same people.
    ages: dict[str, int] = {}
    sexes: dict[str, int] = {}
    lengths: dict[str, int] = {}
    for y, g, d in people:
        age = 2000 - y
        label = next(a for a, hi in zip(AGES, [17, 34, 49, 64, 74, 84, 10**6, 0], strict=False)
                     if age <= hi)  # fmt: skip
        ages[label] = ages.get(label, 0) + 1
        s = {8532: "female", 8507: "male"}.get(g, "other")
        sexes[s] = sexes.get(s, 0) + 1
        b = "<1y" if d < 365 else "1-2y" if d < 730 else "2-5y" if d < 1826 else (
            "5-10y" if d < 3652 else "10y+")  # fmt: skip
        lengths[b] = lengths.get(b, 0) + 1
    truth["persons_by_age_group"] = {**ages, "total": n}
    truth["persons_by_sex"] = {**sexes, "total": n}
    truth["observation_period_length"] = {**lengths, "total": n}
    assert_document_safe(doc, truth)
    (dist,) = next(s for s in doc["sections"] if s["name"] == "observation_period_days")["rows"]
    assert dist["suppressed"] is (n < MIN)  # no single person's length when fewer than 5


at_risk_strategy = st.lists(
    st.tuples(
        st.integers(0, 100),
        st.sampled_from([8507, 8532]),
        st.integers(2015, 2018),
        st.booleans(),
        st.integers(1, 3000),
    ),
    min_size=1,
    max_size=60,
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(people=at_risk_strategy)
def test_no_hidden_incidence_count_is_derivable(
    people: list[tuple[int, int, int, bool, int]],
) -> None:
    rows = [AtRisk(i, a, g, y, o, d) for i, (a, g, y, o, d) in enumerate(people)]
    overall = release_stratified(stratify(rows, "overall"), DisclosurePolicy())
    known = {k: overall["tables"][k]["entries"][1]["value"] for k in ("persons", "outcomes")}
    for name in ("age_group", "sex", "calendar_year"):
        strat = stratify(rows, name)
        rel = release_stratified(strat, DisclosurePolicy())
        for key, true_cells in (("persons", strat.persons), ("outcomes", strat.outcomes)):
            entries = rel["tables"][key]["entries"]
            for e, true in zip(entries, true_cells, strict=False):
                assert e["value"] is None or e["value"] == true
                if 1 <= true < MIN:
                    assert e["value"] is None
            for width in hidden_ranges(entries, known[key]):
                assert width >= MIN, (name, key)
        for r in rel["rows"]:
            if r["rate_per_1000py"] is not None or r["proportion_pct"] is not None:
                assert r["outcomes"] is not None


@settings(max_examples=200, deadline=None)
@given(
    counts=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30),
    n=st.integers(min_value=1, max_value=5),
    k=st.sampled_from([0.5, 0.85, 0.95]),
)
def test_record_dominance_from_top_contributors_equals_the_full_rule(
    counts: list[int], n: int, k: float
) -> None:
    policy = DisclosurePolicy(dominance_n=n, dominance_k=k)
    tops = tuple(sorted(counts, reverse=True)[:5])
    assert records_dominated(len(counts), sum(counts), tops, policy) == is_dominated(
        [float(c) for c in counts], policy
    )
