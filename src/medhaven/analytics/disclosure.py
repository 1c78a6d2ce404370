"""Disclosure control entry points: single counts (cohort sizes) and the release of tables.

A cohort count below the minimum cell count is never returned: the caller
gets a :class:`ReleasedCount` with no value and a ``"<5"``-style marker. The
check runs on the true count, before any rounding.
"""

from __future__ import annotations

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.released import ReleasedCount
from medhaven.errors import InvalidInput


def release_count(count: int, policy: DisclosurePolicy, *, name: str = "count") -> ReleasedCount:
    """Release one count (e.g. a cohort size): suppressed below the minimum, then rounded."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidInput(f"{name}: a count must be a whole number")
    if count < 0:
        raise InvalidInput(f"{name}: a count must not be negative")
    if policy.is_sensitive_count(count):
        return ReleasedCount(value=None, marker=policy.count_marker)
    return ReleasedCount(value=policy.round_count(count), marker=None)


__all__ = ["release_count"]
