"""The node's disclosure-control policy: minimum cell count, rounding, protection, dominance.

One frozen object per node (or per project at a node). Every output that
leaves the node is checked against it. The defaults follow common practice
for health statistics: counts 1-4 are never shown, zero is not sensitive,
no rounding unless asked, protection width equal to the minimum cell count,
and for sums both a (2, 85%) dominance rule and a 10% p-rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from medhaven.errors import ConfigError


@dataclass(frozen=True)
class DisclosurePolicy:
    """How outputs are checked before they leave a node.

    Parameters
    ----------
    min_cell_count:
        Counts from 1 to ``min_cell_count - 1`` are suppressed (before any rounding).
    zero_is_sensitive:
        If true, a count of 0 is suppressed too. Default false: an empty cell
        says no patient has the combination, which identifies nobody.
    rounding_base:
        If set, published counts are rounded to the nearest multiple of it,
        *after* suppression. ``None`` publishes exact counts.
    protection_level:
        Every suppressed entry's feasible interval (by linear programming over
        the published cells and margins) must be at least this wide. Defaults
        to ``min_cell_count``.
    table_marker:
        What a suppressed table entry shows. One marker for all suppressed
        entries, so the public output does not tell primary from secondary.
    dominance_n, dominance_k:
        (n, k) rule for sums: a cell whose ``n`` largest contributors make up
        more than ``k`` (a fraction) of its total is sensitive.
    p_percent:
        p% rule for sums: a cell is sensitive if the others besides the two
        largest contributors sum to less than ``p_percent``% of the largest.
        ``None`` switches the rule off.
    min_contributors:
        A sum over fewer contributors is sensitive. Defaults to ``min_cell_count``.
    """

    min_cell_count: int = 5
    zero_is_sensitive: bool = False
    rounding_base: int | None = None
    protection_level: int | None = None
    table_marker: str = "suppressed"
    dominance_n: int = 2
    dominance_k: float = 0.85
    p_percent: float | None = 10.0
    min_contributors: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.min_cell_count, bool) or self.min_cell_count < 1:
            raise ConfigError("disclosure policy: min_cell_count must be an integer >= 1")
        if self.rounding_base is not None and self.rounding_base < 1:
            raise ConfigError("disclosure policy: rounding_base must be >= 1 when set")
        if self.protection_level is not None and self.protection_level < 1:
            raise ConfigError("disclosure policy: protection_level must be >= 1 when set")
        if self.dominance_n < 1 or not 0.0 < self.dominance_k <= 1.0:
            raise ConfigError("disclosure policy: dominance needs n >= 1 and 0 < k <= 1")
        if self.p_percent is not None and not 0.0 < self.p_percent <= 100.0:
            raise ConfigError("disclosure policy: p_percent must lie in (0, 100]")
        if self.min_contributors is not None and self.min_contributors < 1:
            raise ConfigError("disclosure policy: min_contributors must be >= 1 when set")
        if not self.table_marker:
            raise ConfigError("disclosure policy: table_marker must not be empty")

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> DisclosurePolicy:
        """A policy from a node's settings (e.g. a TOML table); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"disclosure policy: unknown setting {unknown[0]}")
        try:
            return cls(**dict(settings))
        except TypeError as exc:
            raise ConfigError("disclosure policy: a setting has the wrong type") from exc

    @property
    def protection(self) -> int:
        """The minimum width of every suppressed entry's feasible interval."""
        return self.protection_level if self.protection_level is not None else self.min_cell_count

    @property
    def contributors_needed(self) -> int:
        """The fewest contributors a published sum may have."""
        if self.min_contributors is not None:
            return self.min_contributors
        return self.min_cell_count

    @property
    def count_marker(self) -> str:
        """The marker a suppressed single count shows, e.g. ``"<5"``."""
        return f"<{self.min_cell_count}"

    def is_sensitive_count(self, count: int) -> bool:
        """Whether a true count must be suppressed under this policy."""
        if count == 0:
            return self.zero_is_sensitive
        return count < self.min_cell_count

    def round_count(self, count: int) -> int:
        """Round a count that passed suppression to the policy's base (identity without one).

        Rounding is to the nearest multiple, halves up. A non-zero count is
        never rounded to a value in ``1 .. min_cell_count - 1``: it goes up to
        the first multiple at or above the minimum instead, so a published
        number never looks like a small count.
        """
        base = self.rounding_base
        if base is None or base == 1:
            return count
        rounded = base * math.floor(count / base + 0.5)
        if count > 0 and rounded < self.min_cell_count:
            rounded = base * math.ceil(self.min_cell_count / base)
        return rounded


DEFAULT_POLICY = DisclosurePolicy()

__all__ = ["DEFAULT_POLICY", "DisclosurePolicy"]
