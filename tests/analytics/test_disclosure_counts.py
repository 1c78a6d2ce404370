"""Single counts and small tables: minimum cell count before rounding, markers, JSON, errors."""

from __future__ import annotations

import json

import pytest

from medhaven.analytics import (
    DisclosurePolicy,
    audit_table,
    hierarchical,
    one_way,
    release_count,
    suppress_counts,
    two_way,
)
from medhaven.errors import ConfigError, InvalidInput


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_small_cohort_count_is_suppressed_with_marker(count: int) -> None:
    out = release_count(count, DisclosurePolicy())
    assert out.value is None
    assert out.display == "<5"
    assert out.to_json() == {"value": None, "display": "<5", "suppressed": True, "noisy": False}


def test_cohort_count_of_one_is_never_returned_even_with_min_two() -> None:
    out = release_count(1, DisclosurePolicy(min_cell_count=2))
    assert out.value is None and out.display == "<2"


def test_zero_is_shown_by_default_and_hidden_when_policy_says_so() -> None:
    assert release_count(0, DisclosurePolicy()).value == 0
    assert release_count(0, DisclosurePolicy(zero_is_sensitive=True)).value is None


def test_count_three_is_suppressed_not_rounded_up_to_five() -> None:
    # Rounding first would publish round(3 → 5) = 5: suppression must come first.
    policy = DisclosurePolicy(rounding_base=5)
    assert release_count(3, policy).value is None


def test_count_two_is_suppressed_not_rounded_down_to_zero() -> None:
    policy = DisclosurePolicy(rounding_base=10)
    assert release_count(2, policy).display == "<5"


@pytest.mark.parametrize(
    ("count", "base", "expected"),
    [(5, 5, 5), (7, 5, 5), (8, 5, 10), (12, 10, 10), (15, 10, 20), (5, 10, 10), (5, 4, 8)],
)
def test_rounding_after_suppression(count: int, base: int, expected: int) -> None:
    # Expected by hand: nearest multiple, halves up; 5 with base 4 would be 4 (< 5),
    # so it goes up to 8 rather than look like a small count.
    assert release_count(count, DisclosurePolicy(rounding_base=base)).value == expected


def test_bad_counts_are_refused_without_echoing_the_value() -> None:
    with pytest.raises(InvalidInput) as err:
        release_count(-3, DisclosurePolicy(), name="cohort")
    assert "cohort" in err.value.message and "-3" not in err.value.message
    with pytest.raises(InvalidInput):
        release_count(True, DisclosurePolicy())


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ConfigError):
        DisclosurePolicy(min_cell_count=0)
    with pytest.raises(ConfigError):
        DisclosurePolicy(rounding_base=0)
    with pytest.raises(ConfigError):
        DisclosurePolicy(dominance_k=1.5)


def test_one_way_single_small_cell_gets_a_partner() -> None:
    released = suppress_counts(one_way({"a": 10, "b": 3, "c": 20, "d": 7}), DisclosurePolicy())
    # By hand: b is primary; with the total published, b alone = 40 - 37 exactly,
    # so the smallest other cell (d = 7) must be hidden too.
    assert [e.value for e in released.entries] == [10, None, 20, None, 40]
    assert released.primary == (1,) and released.secondary == (3,)
    intervals = {ci.label: (ci.lower, ci.upper) for ci in audit_table(released)}
    assert intervals == {"b": (0.0, 10.0), "d": (0.0, 10.0)}


def test_one_way_without_total_needs_no_partner() -> None:
    released = suppress_counts(one_way([10, 3, 20], total=False), DisclosurePolicy())
    assert released.secondary == ()
    assert [ci.upper for ci in audit_table(released)] == [float("inf")]


def test_small_total_is_suppressed_too() -> None:
    released = suppress_counts(one_way([2, 0, 1]), DisclosurePolicy())
    assert released.entries[-1].value is None
    assert all(ci.protected for ci in audit_table(released))


def test_two_way_rectangle_pattern_and_lp_intervals() -> None:
    table = two_way([[10, 3, 20], [8, 9, 12], [0, 6, 15]], row_labels=["r0", "r1", "r2"])
    released = suppress_counts(table, DisclosurePolicy())
    hidden = {e.label for e in released.entries if e.suppressed}
    # The cheapest rectangle through (r0, 1) uses row r1 and column 0: 8 + 9 + 10.
    assert hidden == {"r0 | 0", "r0 | 1", "r1 | 0", "r1 | 1"}
    got = {ci.label: (ci.lower, ci.upper) for ci in audit_table(released)}
    # By hand: x = (r0,1) in [0, 12]: r0 row gives a + x = 13, r1 gives c + d = 17,
    # column 0 gives a + c = 18, column 1 gives x + d = 12; a = 13 - x, c = 5 + x.
    assert got["r0 | 1"] == pytest.approx((0.0, 12.0))
    assert got["r0 | 0"] == pytest.approx((1.0, 13.0))
    assert got["r1 | 0"] == pytest.approx((5.0, 17.0))


def test_hierarchical_subtotals_are_respected() -> None:
    table = hierarchical({"north": {"h1": 2, "h2": 30}, "south": {"h3": 40, "h4": 50}})
    released = suppress_counts(table, DisclosurePolicy())
    hidden = [e.label for e in released.entries if e.suppressed]
    assert hidden == ["north / h1", "north / h2"]
    assert all(ci.protected for ci in audit_table(released))


def test_rounded_release_audit_stays_protected() -> None:
    policy = DisclosurePolicy(rounding_base=5)
    released = suppress_counts(two_way([[12, 3, 27], [8, 9, 12], [6, 6, 15]]), policy)
    assert all(v is None or v % 5 == 0 for v in released.published())
    assert all(ci.protected for ci in audit_table(released))


def test_json_never_holds_a_suppressed_value_and_hides_reasons() -> None:
    table = two_way([[10, 3, 20], [8, 9, 12], [0, 6, 15]])
    released = suppress_counts(table, DisclosurePolicy())
    doc = released.to_json()
    text = json.dumps(doc)
    assert "primary" not in text and "secondary" not in text
    for item in doc["entries"]:
        if item["suppressed"]:
            assert item["value"] is None and item["display"] == "suppressed"
    # The true values of hidden cells (3, 10, 8, 9) are not in the ReleasedTable at all.
    assert all(e.value is None for e in released.entries if e.suppressed)
    internal = released.to_json(include_reasons=True)
    assert {i["reason"] for i in internal["entries"]} == {"primary", "secondary", "published"}


def test_table_errors_name_the_position_not_the_value() -> None:
    with pytest.raises(InvalidInput) as err:
        two_way([[1, 2], [3, -77]], name="age_by_sex")
    assert err.value.message == "age_by_sex row 2 column 2: a count must not be negative"
    with pytest.raises(InvalidInput, match="row 2: expected 2 columns"):
        two_way([[1, 2], [3]])


def test_policy_from_node_settings() -> None:
    policy = DisclosurePolicy.from_mapping({"min_cell_count": 10, "rounding_base": 5})
    assert release_count(9, policy).display == "<10"
    with pytest.raises(ConfigError, match="unknown setting min_count"):
        DisclosurePolicy.from_mapping({"min_count": 3})
