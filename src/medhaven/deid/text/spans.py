"""The span type every recogniser produces, the PHI labels, and overlap resolution."""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise
from typing import NamedTuple

from medhaven.lang import PHI_LABELS

LABELS = PHI_LABELS
"""Every label a span may carry (the same set the synthetic-notes ground truth uses)."""


class Span(NamedTuple):
    """``text[start:end]`` is PHI of kind ``label``; ``score`` in (0, 1] ranks overlapping finds."""

    start: int
    end: int
    label: str
    score: float = 0.8


def _rank(s: Span) -> tuple[float, int, int]:
    return (-s.score, s.start - s.end, s.start)


def resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans in text order: of two that overlap, the higher score then the longer wins."""
    # Two recognisers often find the very same extent (a name by its title and as a first name +
    # surname pair): keep the better of the two, the one the greedy pick below would keep.
    best: dict[tuple[int, int], Span] = {}
    for s in spans:
        seen = best.get((s.start, s.end))
        if seen is None or s.score > seen.score:
            best[s.start, s.end] = s
    ordered = sorted(best.values())
    if all(a.end <= b.start for a, b in pairwise(ordered)):
        return ordered  # nothing overlaps (the usual case): every span is kept
    # Best first: a greedy pick of the best spans that do not collide with ones already kept.
    # The kept spans never overlap, so sorted by start they are sorted by end as well and a new
    # span can only collide with its two neighbours in that order (found by bisection).
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Span] = []
    for s in sorted(ordered, key=_rank):
        i = bisect_right(starts, s.start)
        if i and ends[i - 1] > s.start and starts[i - 1] < s.end:
            continue
        if i < len(starts) and starts[i] < s.end and s.start < ends[i]:
            continue
        starts.insert(i, s.start)
        ends.insert(i, s.end)
        kept.insert(i, s)
    return kept


__all__ = ["LABELS", "Span", "resolve"]
