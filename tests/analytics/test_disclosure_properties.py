"""Property tests: after suppression no hidden entry can be recovered from what is published.

The checks here do not use the package's own audit: 1-D tables are checked
with the closed form (a hidden cell lies in ``[0, total - published]``), 2-D
tables with a linear program written out separately below.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from medhaven.analytics import DisclosurePolicy, one_way, release_count, suppress_counts, two_way

MIN = 5
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Mostly realistic counts, with plenty of small ones and zeros to force suppression.
count = st.one_of(st.integers(0, 6), st.integers(5, 60))


def _interval_2d(
    n_rows: int, n_cols: int, shown: list[float | None], target: tuple[str, int]
) -> tuple[float, float]:
    """Min and max of a hidden entry given published cells, margins and x >= 0."""
    n = n_rows * n_cols
    cells, row_tot, col_tot, grand = (
        shown[:n],
        shown[n : n + n_rows],
        shown[n + n_rows : n + n_rows + n_cols],
        shown[-1],
    )
    bounds = [(v, v) if v is not None else (0, None) for v in cells]
    a_eq: list[list[float]] = []
    b_eq: list[float] = []
    for i, t in enumerate(row_tot):
        if t is not None:
            a_eq.append([1.0 if k // n_cols == i else 0.0 for k in range(n)])
            b_eq.append(t)
    for j, t in enumerate(col_tot):
        if t is not None:
            a_eq.append([1.0 if k % n_cols == j else 0.0 for k in range(n)])
            b_eq.append(t)
    if grand is not None:
        a_eq.append([1.0] * n)
        b_eq.append(grand)
    kind, idx = target
    if kind == "cell":
        c = np.eye(n)[idx]
    elif kind == "row":
        c = np.array([1.0 if k // n_cols == idx else 0.0 for k in range(n)])
    elif kind == "col":
        c = np.array([1.0 if k % n_cols == idx else 0.0 for k in range(n)])
    else:
        c = np.ones(n)
    kw = {"A_eq": a_eq or None, "b_eq": b_eq or None, "bounds": bounds, "method": "highs"}
    low = linprog(c, **kw)
    high = linprog(-c, **kw)
    assert low.status == 0
    upper = math.inf if high.status == 3 else -high.fun
    return low.fun, upper


@SETTINGS
@given(st.lists(count, min_size=1, max_size=8), st.booleans())
def test_one_way_hidden_cells_cannot_be_recovered(cells: list[int], zero_sensitive: bool) -> None:
    policy = DisclosurePolicy(min_cell_count=MIN, zero_is_sensitive=zero_sensitive)
    released = suppress_counts(one_way(cells), policy)
    shown = released.published()
    total = sum(cells)
    for v, s in zip([*cells, total], shown, strict=True):
        if policy.is_sensitive_count(v):
            assert s is None
        if s is not None:
            assert s == v
    hidden = [i for i, s in enumerate(shown[:-1]) if s is None]
    if shown[-1] is None:
        return  # total hidden: every hidden cell is unbounded above
    remaining = total - sum(s for s in shown[:-1] if s is not None)
    # Each hidden cell lies in [0, remaining]; with one hidden cell it would be exact.
    if hidden:
        assert remaining >= MIN and remaining > 0
        assert len(hidden) >= 2


def _tables(max_rows: int, max_cols: int) -> st.SearchStrategy[list[list[int]]]:
    return st.integers(2, max_rows).flatmap(
        lambda r: st.integers(2, max_cols).flatmap(
            lambda c: st.lists(st.lists(count, min_size=c, max_size=c), min_size=r, max_size=r)
        )
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(3, 3), st.sampled_from([None, 5, 10]))
def test_two_way_hidden_entries_have_wide_lp_intervals(
    rows: list[list[int]], base: int | None
) -> None:
    _check_two_way(rows, base)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tables(5, 4), st.sampled_from([None, 5]))
def test_two_way_larger_tables_are_protected(rows: list[list[int]], base: int | None) -> None:
    _check_two_way(rows, base)


def _check_two_way(rows: list[list[int]], base: int | None) -> None:
    policy = DisclosurePolicy(min_cell_count=MIN, rounding_base=base)
    released = suppress_counts(two_way(rows), policy)
    n_rows, n_cols = len(rows), len(rows[0])
    truth = (
        [v for r in rows for v in r]
        + [sum(r) for r in rows]
        + [sum(r[j] for r in rows) for j in range(n_cols)]
        + [sum(map(sum, rows))]
    )
    shown = released.published()
    for v, s in zip(truth, shown, strict=True):
        if s is not None:
            assert not 1 <= v < MIN, "a small true count was published"
            assert not 1 <= s < MIN, "a published value looks like a small count"
            assert s == policy.round_count(v)
    # Audit the pattern against the exact values (stronger than the rounded release).
    exact = [None if s is None else float(v) for v, s in zip(truth, shown, strict=True)]
    n = n_rows * n_cols
    for e, s in enumerate(shown):
        if s is not None:
            continue
        if e < n:
            target = ("cell", e)
        elif e < n + n_rows:
            target = ("row", e - n)
        elif e < n + n_rows + n_cols:
            target = ("col", e - n - n_rows)
        else:
            target = ("all", 0)
        lo, hi = _interval_2d(n_rows, n_cols, exact, target)
        assert lo - 1e-6 <= truth[e] <= hi + 1e-6
        assert hi - lo >= MIN - 1e-6, f"entry {e} interval too narrow"


@SETTINGS
@given(st.integers(0, 10_000), st.sampled_from([None, 2, 5, 10]), st.integers(2, 11))
def test_release_count_never_shows_a_small_count(n: int, base: int | None, minimum: int) -> None:
    out = release_count(n, DisclosurePolicy(min_cell_count=minimum, rounding_base=base))
    if 1 <= n < minimum:
        assert out.value is None
    else:
        assert out.value is not None
        assert out.value == 0 or out.value >= minimum
        if base is not None:
            assert out.value % base == 0 and abs(out.value - n) <= max(base, minimum)
