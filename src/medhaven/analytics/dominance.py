"""Dominance rules for magnitude tables (sums), then complementary suppression.

A sum is sensitive when a few contributors dominate it, because then the
published total says too much about the largest one (a hospital's spend, a
patient's cost). Three rules, any one suffices, each applied to cells and to
margins alike:

* threshold: fewer than ``policy.contributors_needed`` contributors;
* (n, k): the ``n`` largest contributors make up more than ``k`` of the total;
* p%: the total minus the two largest is less than ``p``% of the largest, so
  the second-largest contributor could estimate the largest within p%.

Contributions must be aggregated per contributor (one number per patient or
per hospital) and non-negative. Secondary suppression then makes every hidden
sum's LP interval at least ``p``% of its largest contribution wide (10% when
the p% rule is switched off), and never a single point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.released import ReleasedTable
from medhaven.analytics.suppression import protect, release
from medhaven.analytics.table import LinkedTable, TableStructure
from medhaven.errors import InvalidInput

_DEFAULT_P = 10.0
_MIN_WIDTH = 1e-6


def is_dominated(contributions: Sequence[float], policy: DisclosurePolicy) -> bool:
    """Whether a sum of these per-contributor values must be hidden under the policy."""
    xs = sorted((float(x) for x in contributions if x != 0), reverse=True)
    total = sum(xs)
    if not xs:
        return policy.zero_is_sensitive
    if len(xs) < policy.contributors_needed:
        return True
    if sum(xs[: policy.dominance_n]) > policy.dominance_k * total:
        return True
    if policy.p_percent is not None:
        second = xs[1] if len(xs) > 1 else 0.0
        if total - xs[0] - second < policy.p_percent / 100.0 * xs[0]:
            return True
    return False


def _check(contributions: Sequence[Sequence[float]], n_cells: int, name: str) -> None:
    if len(contributions) != n_cells:
        raise InvalidInput(f"{name}: expected contributions for {n_cells} cells")
    for i, cell in enumerate(contributions):
        for j, x in enumerate(cell):
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                raise InvalidInput(f"{name} cell {i + 1} contribution {j + 1}: not a number")
            if x < 0:
                raise InvalidInput(
                    f"{name} cell {i + 1} contribution {j + 1}: must not be negative"
                )


def suppress_sums(
    structure: TableStructure,
    contributions: Sequence[Sequence[float]],
    policy: DisclosurePolicy,
    *,
    name: str = "table",
) -> ReleasedTable:
    """Suppress dominated sums (cells and margins), then add complementary suppressions."""
    _check(contributions, structure.n_cells, name)
    cells = [float(sum(c)) for c in contributions]
    table = LinkedTable.from_cells(structure, cells)
    per_entry = [list(contributions[i]) for i in range(structure.n_cells)]
    for m in structure.margins:
        per_entry.append([x for i in m.members for x in contributions[i]])
    primary = {e for e, xs in enumerate(per_entry) if is_dominated(xs, policy)}
    widths = required_widths(structure, contributions, policy)
    secondary = protect(table, primary, required=lambda e: widths[e])
    return release(table, primary, secondary, policy=policy, round_values=False, magnitude=True)


def required_widths(
    structure: TableStructure, contributions: Sequence[Sequence[float]], policy: DisclosurePolicy
) -> dict[int, float]:
    """The protection width :func:`suppress_sums` demands of each entry (for auditing)."""
    p = (policy.p_percent if policy.p_percent is not None else _DEFAULT_P) / 100.0
    out: dict[int, float] = {}
    for i in range(structure.n_cells):
        out[i] = max(p * max(contributions[i], default=0.0), _MIN_WIDTH)
    for k, m in enumerate(structure.margins):
        largest = max((x for i in m.members for x in contributions[i]), default=0.0)
        out[structure.n_cells + k] = max(p * largest, _MIN_WIDTH)
    return out


__all__ = ["is_dominated", "required_widths", "suppress_sums"]
