"""Primary and complementary (secondary) suppression of count and magnitude tables.

Order matters and is fixed: primary suppression on the true values, then
secondary suppression, then (optionally) rounding of what is left. Rounding
never decides whether a cell is shown, so a count of 3 is suppressed even
when rounding to 5 would have hidden it anyway.

Secondary suppression is a greedy search checked by the LP audit. While some
suppressed entry's feasible interval (given the *exact* published values and
non-negativity) is narrower than its required width, it adds one more
suppression: among the published entries that share a margin with the
weakest entry, the cheapest one (cells before margins, non-zero before zero,
smaller values first) that makes it wide enough, else the one that widens it
most. Each step hides one more entry, and a table with everything hidden is
unbounded, so the search always ends with every suppressed entry protected.
The pattern is not guaranteed to be the cheapest possible (that problem is
NP-hard); it is guaranteed to pass the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from medhaven.analytics.audit import Bounds, IntervalSolver
from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.released import ReleasedEntry, ReleasedTable, Status
from medhaven.analytics.table import LinkedTable, TableStructure
from medhaven.errors import CheckFailed

_TOL = 1e-7
# How many candidates to try per step before settling for the best seen: a
# cap keeps large tables fast; the loop still converges, only less frugally.
_MAX_TRIES = 6


def _candidates(structure: TableStructure, entry: int, hidden: set[int]) -> list[int]:
    related: set[int] = set()
    for cell in structure.members(entry):
        for m in structure.margins_of(cell):
            related.add(m)
            related.update(structure.members(m))
    if structure.is_margin(entry):
        related.update(structure.members(entry))
    related.discard(entry)
    return [e for e in related if e not in hidden]


def _rectangles(structure: TableStructure, cell: int, hidden: set[int]) -> list[list[int]]:
    """For a two-way cell (i, j): the other corners of each rectangle (i, l), (k, j), (k, l)."""
    n_rows, n_cols = structure.shape
    i, j = divmod(cell, n_cols)
    out: list[list[int]] = []
    for k in range(n_rows):
        for col in range(n_cols):
            if k == i or col == j:
                continue
            corners = [i * n_cols + col, k * n_cols + j, k * n_cols + col]
            new = [c for c in corners if c not in hidden]
            if new:
                out.append(new)
    return out


def _is_safe(
    solver: IntervalSolver,
    known: dict[int, Bounds],
    hidden: set[int],
    required: Callable[[int], float],
) -> bool:
    for e in sorted(hidden):
        # One entry at a time, so the first narrow interval ends the check early.
        lo, hi = solver.intervals(known, [e], need_lower=False)[e]
        if hi - lo < required(e) - _TOL or hi - lo <= _TOL:
            return False
    return True


def protect(
    table: LinkedTable,
    primary: set[int],
    *,
    required: Callable[[int], float],
) -> set[int]:
    """Secondary suppressions that leave every hidden entry's LP interval ``required(e)`` wide."""
    structure = table.structure
    values = table.values
    solver = IntervalSolver(structure)
    hidden = set(primary)

    def cost(e: int) -> tuple[bool, bool, float]:
        return (structure.is_margin(e), values[e] == 0, values[e])

    def known(hid: set[int]) -> dict[int, Bounds]:
        return {e: (values[e], values[e]) for e in range(structure.n_entries) if e not in hid}

    def width(b: Bounds) -> float:
        return b[1] - b[0]

    def short(e: int, b: Bounds) -> bool:
        return width(b) < required(e) - _TOL or width(b) <= _TOL

    def safe(hid: set[int]) -> bool:
        return _is_safe(solver, known(hid), hid, required)

    protected: set[int] = set()
    for _ in range(structure.n_entries + 1):
        if not hidden:
            return set()
        # Hiding more only removes what is known, so intervals only widen while the
        # pattern grows: an entry found protected stays protected, no need to re-solve it.
        found = solver.intervals(known(hidden), sorted(hidden - protected), need_lower=False)
        protected.update(e for e, b in found.items() if not short(e, b))
        weak = sorted((width(b) - required(e), e) for e, b in found.items() if short(e, b))
        if not weak:
            return _prune(hidden, primary, known=known, cost=cost, safe=safe)
        target = weak[0][1]
        if structure.kind == "two_way" and not structure.is_margin(target):
            # The classic 2-D pattern: hide the cheapest rectangle through the cell,
            # which no row or column equation can resolve.
            rects = _rectangles(structure, target, hidden)
            if rects:
                rect = min(
                    rects, key=lambda r: (sum(values[c] == 0 for c in r), sum(values[c] for c in r))
                )
                trial = hidden | set(rect)
                w = width(solver.intervals(known(trial), [target], need_lower=False)[target])
                if w >= required(target) - _TOL and w > _TOL:
                    hidden = trial
                    continue
        cands = sorted(_candidates(structure, target, hidden), key=cost)
        if not cands:
            cands = sorted((e for e in range(structure.n_entries) if e not in hidden), key=cost)
        if not cands:
            break
        best, best_width = cands[0], -1.0
        for cand in cands[:_MAX_TRIES]:
            trial = hidden | {cand}
            w = width(solver.intervals(known(trial), [target], need_lower=False)[target])
            if w >= required(target) - _TOL and w > _TOL:
                best = cand
                break
            if w > best_width + _TOL:
                best, best_width = cand, w
        hidden.add(best)
    raise CheckFailed("disclosure control: could not find a safe suppression pattern")


def _prune(
    hidden: set[int],
    primary: set[int],
    *,
    known: Callable[[set[int]], dict[int, Bounds]],
    cost: Callable[[int], tuple[bool, bool, float]],
    safe: Callable[[set[int]], bool],
) -> set[int]:
    """Drop secondary suppressions (costliest first) that the pattern turns out not to need."""
    secondary = sorted(hidden - primary, key=cost, reverse=True)
    keep = set(hidden)
    for e in secondary:
        trial = keep - {e}
        if safe(trial):
            keep = trial
    return keep - primary


def release(
    table: LinkedTable,
    primary: set[int],
    secondary: set[int],
    *,
    policy: DisclosurePolicy,
    round_values: bool,
    magnitude: bool = False,
) -> ReleasedTable:
    """Assemble the released table; suppressed entries keep no value."""
    structure = table.structure
    entries: list[ReleasedEntry] = []
    for e, v in enumerate(table.values):
        status = (
            Status.PRIMARY
            if e in primary
            else Status.SECONDARY
            if e in secondary
            else Status.PUBLISHED
        )
        shown: float | None = None
        if status is Status.PUBLISHED:
            shown = policy.round_count(int(v)) if round_values else v
        entries.append(ReleasedEntry(structure.label(e), structure.is_margin(e), shown, status))
    return ReleasedTable(
        structure=structure,
        entries=tuple(entries),
        policy=policy,
        rounded=round_values,
        magnitude=magnitude,
    )


def suppress_counts(table: LinkedTable, policy: DisclosurePolicy) -> ReleasedTable:
    """Apply minimum-cell-count, complementary suppression, then rounding to a count table."""
    values = table.values
    primary = {e for e, v in enumerate(values) if policy.is_sensitive_count(int(v))}
    secondary = protect(table, primary, required=lambda _e: float(policy.protection))
    return release(
        table,
        primary,
        secondary,
        policy=policy,
        round_values=policy.rounding_base not in (None, 1),
    )


def primary_counts(values: Sequence[float], policy: DisclosurePolicy) -> set[int]:
    """The entries a count table must hide because they are small themselves."""
    return {e for e, v in enumerate(values) if policy.is_sensitive_count(int(v))}


__all__ = ["primary_counts", "protect", "release", "suppress_counts"]
