"""Linear-programming audit: how precisely can someone recover each suppressed entry?

An attacker sees the published cells and margins and knows that every cell
is non-negative and that each margin is the sum of its cells. For every
suppressed entry the audit solves two linear programs (minimise, maximise its
value over that feasible set) with :func:`scipy.optimize.linprog` (HiGHS).
The resulting interval always contains the true value; a suppressed entry
whose interval is a single point could be recovered exactly.

Rounded releases are audited with what rounding still tells: a published
rounded count ``r`` means the true count is one of the non-sensitive counts
that round to ``r`` under the policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.released import ReleasedTable, Status
from medhaven.analytics.table import TableStructure
from medhaven.errors import CheckFailed

_TOL = 1e-7

Bounds = tuple[float, float]
Vec = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CellInterval:
    """The feasible interval of one suppressed entry and whether it meets the protection level."""

    entry: int
    label: str
    status: Status
    lower: float
    upper: float
    required: float

    @property
    def width(self) -> float:
        """``upper - lower`` (``inf`` when the entry is unbounded above)."""
        return self.upper - self.lower

    @property
    def protected(self) -> bool:
        """Whether the interval is at least ``required`` wide (and so never a single point)."""
        return self.width >= self.required - _TOL and self.width > _TOL


class IntervalSolver:
    """Feasible intervals of entries of one table given bounds on what is published."""

    def __init__(self, structure: TableStructure) -> None:
        self.structure = structure
        n = structure.n_cells
        # Row e of the membership matrix expresses entry e as a sum of cells.
        self._member = np.zeros((structure.n_entries, n))
        for e in range(structure.n_entries):
            for c in structure.members(e):
                self._member[e, c] = 1.0
        self._cell_margins = [structure.margins_of(c) for c in range(n)]

    def intervals(
        self, known: Mapping[int, Bounds], targets: Iterable[int], *, need_lower: bool = True
    ) -> dict[int, Bounds]:
        """Min and max of each target entry given ``known`` bounds on published entries.

        ``known`` maps entry numbers to (lower, upper) bounds on their true
        value; an entry not in ``known`` is suppressed (only ``>= 0`` is known).
        """
        n = self.structure.n_cells
        bounds: list[tuple[float, float | None]] = [(0.0, None)] * n
        eq_rows: list[int] = []
        eq_vals: list[float] = []
        ub_rows: list[Vec] = []
        ub_vals: list[float] = []
        for e, (lo, hi) in known.items():
            if e < n:
                bounds[e] = (max(0.0, lo), hi)
            elif hi - lo <= _TOL:
                eq_rows.append(e)
                eq_vals.append(lo)
            else:
                ub_rows.extend([self._member[e], -self._member[e]])
                ub_vals.extend([hi, -lo])
        a_eq = self._member[eq_rows] if eq_rows else None
        b_eq = np.array(eq_vals) if eq_rows else None
        a_ub = np.vstack(ub_rows) if ub_rows else None
        b_ub = np.array(ub_vals) if ub_rows else None
        out: dict[int, Bounds] = {}
        # A hidden cell in no known margin can grow without limit: any entry that
        # contains it is unbounded above, no LP needed.
        free = [
            c
            for c in range(n)
            if c not in known and not any(m in known for m in self._cell_margins[c])
        ]
        for t in targets:
            c = self._member[t]
            if not need_lower and any(c[f] for f in free):
                out[t] = (0.0, math.inf)
                continue
            hi = -self._optimum(-c, a_ub, b_ub, a_eq, b_eq, bounds)
            if math.isinf(hi) and not need_lower:
                out[t] = (0.0, hi)  # unbounded: wide enough whatever the lower end
                continue
            lo = self._optimum(c, a_ub, b_ub, a_eq, b_eq, bounds)
            out[t] = (lo, hi)
        return out

    @staticmethod
    def _optimum(
        c: Vec,
        a_ub: Vec | None,
        b_ub: Vec | None,
        a_eq: Vec | None,
        b_eq: Vec | None,
        bounds: Sequence[tuple[float, float | None]],
    ) -> float:
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if res.status == 3:
            return -math.inf
        if res.status != 0:
            # The true values are always feasible, so this means inconsistent input.
            raise CheckFailed("disclosure audit: the published values are inconsistent")
        return float(res.fun)


def rounded_bounds(published: float, policy: DisclosurePolicy) -> Bounds:
    """The range of true non-sensitive counts that the policy publishes as ``published``."""
    base = policy.rounding_base
    r = int(published)
    if base is None or base == 1:
        return (float(r), float(r))
    matches = [
        v
        for v in range(max(0, r - base), r + base + 1)
        if not policy.is_sensitive_count(v) and policy.round_count(v) == r
    ]
    if not matches:
        raise CheckFailed("disclosure audit: a published count is not a possible rounded value")
    return (float(min(matches)), float(max(matches)))


def audit_table(
    released: ReleasedTable, *, required: Mapping[int, float] | None = None
) -> list[CellInterval]:
    """The LP feasible interval of every suppressed entry of ``released``.

    ``required`` gives a protection width per entry; by default every entry
    needs the policy's protection level (sums: pass the widths from the
    dominance rule).
    """
    structure = released.structure
    policy = released.policy
    known: dict[int, Bounds] = {}
    for e, entry in enumerate(released.entries):
        if entry.suppressed or entry.value is None:
            continue
        if released.rounded and not released.magnitude:
            known[e] = rounded_bounds(entry.value, policy)
        else:
            known[e] = (float(entry.value), float(entry.value))
    targets = [e for e, entry in enumerate(released.entries) if entry.suppressed]
    found = IntervalSolver(structure).intervals(known, targets)
    return [
        CellInterval(
            entry=e,
            label=structure.label(e),
            status=released.entries[e].status,
            lower=found[e][0],
            upper=found[e][1],
            required=float(required[e]) if required is not None else float(policy.protection),
        )
        for e in targets
    ]


__all__ = ["CellInterval", "IntervalSolver", "audit_table", "rounded_bounds"]
