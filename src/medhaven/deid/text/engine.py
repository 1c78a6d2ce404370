"""Find PHI in one text: run every recogniser, then keep the best non-overlapping spans."""

from __future__ import annotations

from medhaven.deid.text.recognizers_en import find_english
from medhaven.deid.text.recognizers_ko import find_korean
from medhaven.deid.text.recognizers_num import find_network, find_numbers
from medhaven.deid.text.spans import Span, resolve


def detect(text: str) -> list[Span]:
    """The PHI spans of ``text`` in order, without overlaps (offsets in Python characters)."""
    found: list[Span] = []
    find_numbers(text, found)
    find_network(text, found)
    find_english(text, found)
    find_korean(text, found)
    return resolve(found)


__all__ = ["detect"]
