"""Disclosure control of cohort attrition: small exclusions never recoverable from what is shown."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from medhaven.analytics import DisclosurePolicy, audit_table
from medhaven.analytics.cohorts.release import (
    attrition_table,
    raw_attrition,
    release_chain,
    released_attrition,
)
from medhaven.analytics.cohorts.runner import CohortRun, Stage

POLICY = DisclosurePolicy()


def _run(persons: list[int], events: list[int] | None = None) -> CohortRun:
    events = events or persons
    stages = tuple(
        Stage(f"s{i}", p, e) for i, (p, e) in enumerate(zip(persons, events, strict=True))
    )
    return CohortRun(1, stages, persons[-1], events[-1])


@st.composite
def chains(draw: st.DrawFn) -> list[int]:
    start = draw(st.integers(min_value=0, max_value=80))
    drops = draw(
        st.lists(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 7, 12, 30]), min_size=1, max_size=6)
    )
    values = [start]
    for d in drops:
        values.append(max(0, values[-1] - d))
    return values


@settings(max_examples=60, deadline=None)
@given(chains())
def test_no_hidden_attrition_entry_can_be_narrowed_below_the_minimum(values: list[int]) -> None:
    released = release_chain(attrition_table(_run(values).stages, measure="persons"), POLICY)
    for interval in audit_table(released):
        assert interval.protected, interval.label
    table = attrition_table(_run(values).stages, measure="persons")
    for entry, true in zip(released.entries, table.values, strict=True):
        if 0 < true < POLICY.min_cell_count:
            assert entry.suppressed, entry.label
        if not entry.suppressed:
            assert entry.value == true


def test_small_exclusion_hides_one_stage_count_and_keeps_the_cohort_size() -> None:
    # 222 -> 222 -> 137 -> 136 -> 136: the 1 excluded at s3 is merged with the 85 before it.
    doc = released_attrition(_run([222, 222, 137, 136, 136]), POLICY)
    shown = [row["persons"]["value"] for row in doc["attrition"]]
    assert shown == [222, 222, None, 136, 136]
    assert doc["persons"] == {"value": 136, "display": "136"}
    excluded = [row["persons_excluded"] for row in doc["attrition"][1:]]
    assert [e["value"] for e in excluded] == [0, None, None, 0]


def test_a_cohort_below_the_minimum_is_never_shown() -> None:
    doc = released_attrition(_run([40, 12, 3]), POLICY)
    assert doc["persons"]["value"] is None
    assert doc["persons"]["display"] == POLICY.table_marker
    assert "3" not in [row["persons"]["display"] for row in doc["attrition"]]


def test_raw_counts_are_marked_and_complete() -> None:
    doc = raw_attrition(_run([40, 12, 3]))
    assert doc["raw_counts"] is True
    assert [row["persons"]["value"] for row in doc["attrition"]] == [40, 12, 3]
    assert doc["attrition"][2]["persons_excluded"]["value"] == 9
