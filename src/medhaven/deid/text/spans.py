"""The span type every recogniser produces, the PHI labels, and overlap resolution."""

from __future__ import annotations

from typing import NamedTuple

LABELS = (
    "NAME",
    "RRN",
    "PHONE",
    "EMAIL",
    "URL",
    "IP",
    "MRN",
    "INSURANCE",
    "SSN",
    "DATE",
    "AGE",
    "ADDRESS",
    "POSTCODE",
    "HOSPITAL",
)
"""Every label a span may carry (the same set the synthetic-notes ground truth uses)."""


class Span(NamedTuple):
    """``text[start:end]`` is PHI of kind ``label``; ``score`` in (0, 1] ranks overlapping finds."""

    start: int
    end: int
    label: str
    score: float = 0.8


def resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping spans in text order: of two that overlap, the higher score then the longer wins."""
    if len(spans) < 2:
        return sorted(spans)
    # Best first: a greedy pick of the best spans that do not collide with ones already kept.
    ranked = sorted(spans, key=lambda s: (-s.score, s.start - s.end, s.start))
    kept: list[Span] = []
    taken: list[tuple[int, int]] = []
    for s in ranked:
        if any(s.start < e and b < s.end for b, e in taken):
            continue
        kept.append(s)
        taken.append((s.start, s.end))
    kept.sort()
    return kept


__all__ = ["LABELS", "Span", "resolve"]
