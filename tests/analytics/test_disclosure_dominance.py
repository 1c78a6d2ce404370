"""Dominance rules for sums, checked against hand-computed cases, and protection of hidden sums."""

from __future__ import annotations

import json

import pytest

from medhaven.analytics import (
    DisclosurePolicy,
    audit_table,
    is_dominated,
    one_way,
    required_widths,
    suppress_sums,
    two_way,
)
from medhaven.errors import InvalidInput

POLICY = DisclosurePolicy(min_cell_count=3, dominance_n=2, dominance_k=0.85, p_percent=10.0)


def test_too_few_contributors_is_sensitive() -> None:
    assert is_dominated([100.0, 100.0], POLICY)
    assert not is_dominated([100.0, 100.0, 100.0], POLICY)


def test_n_k_rule() -> None:
    # Top two: 90 + 5 = 95 of 100 → 95% > 85%.
    assert is_dominated([90.0, 5.0, 3.0, 2.0], POLICY)
    # Top two: 40 + 30 = 70 of 100 → 70% ≤ 85%; rest 30 ≥ 10% of 40.
    assert not is_dominated([40.0, 30.0, 20.0, 10.0], POLICY)


def test_p_percent_rule_alone() -> None:
    policy = DisclosurePolicy(min_cell_count=3, dominance_k=1.0, p_percent=10.0)
    # Others beyond the top two: 3 < 10% of 50 = 5 → the second could estimate the first.
    assert is_dominated([50.0, 47.0, 3.0], policy)
    # Others: 6 ≥ 5 → safe.
    assert not is_dominated([50.0, 44.0, 6.0], policy)


def test_zero_sum_follows_zero_policy() -> None:
    assert not is_dominated([], POLICY)
    assert is_dominated([], DisclosurePolicy(zero_is_sensitive=True))


def test_dominated_cell_is_hidden_with_a_partner_and_wide_enough() -> None:
    structure = one_way([0, 0, 0]).structure
    contributions = [[900.0, 10.0, 5.0, 5.0], [40.0, 30.0, 20.0, 10.0], [60.0, 50.0, 40.0, 30.0]]
    released = suppress_sums(structure, contributions, POLICY)
    assert released.primary == (0,)
    # Cell 0 alone would be total - (100 + 180): cell 1 (the smaller) is hidden as partner.
    assert released.secondary == (1,)
    assert released.entries[3].value == pytest.approx(1200.0)
    widths = required_widths(structure, contributions, POLICY)
    assert widths[0] == pytest.approx(90.0)  # 10% of the largest contribution, 900
    intervals = audit_table(released, required=widths)
    assert {ci.entry: (ci.lower, ci.upper) for ci in intervals} == {
        0: pytest.approx((0.0, 1020.0)),
        1: pytest.approx((0.0, 1020.0)),
    }
    assert all(ci.protected for ci in intervals)
    doc = json.dumps(released.to_json())
    assert "920" not in doc and '"measure": "sum"' in doc


def test_two_way_sums_margin_dominated_by_one_hospital() -> None:
    structure = two_way([[0, 0], [0, 0]]).structure
    contributions = [
        [500.0, 10.0, 10.0],
        [400.0, 5.0, 5.0],
        [30.0, 30.0, 30.0, 30.0],
        [25.0, 25.0, 25.0, 25.0],
    ]
    released = suppress_sums(structure, contributions, POLICY)
    widths = required_widths(structure, contributions, POLICY)
    hidden = {e.label for e in released.entries if e.suppressed}
    # Row 0 cells and the row-0 margin are each dominated (one contributor > 85%).
    assert {"0 | 0", "0 | 1", "0 | total"} <= hidden
    assert all(ci.protected for ci in audit_table(released, required=widths))


def test_negative_or_missing_contributions_are_refused() -> None:
    structure = one_way([0, 0]).structure
    with pytest.raises(InvalidInput) as err:
        suppress_sums(structure, [[1.0, -5.5], [2.0]], POLICY, name="cost")
    assert err.value.message == "cost cell 1 contribution 2: must not be negative"
    with pytest.raises(InvalidInput, match="expected contributions for 2 cells"):
        suppress_sums(structure, [[1.0]], POLICY)
