"""Find PHI in one text: run every recogniser, then keep the best non-overlapping spans."""

from __future__ import annotations

from medhaven.deid.text.recognizers_en import find_english
from medhaven.deid.text.recognizers_ko import find_korean
from medhaven.deid.text.recognizers_num import find_network, find_numbers
from medhaven.deid.text.spans import Span, resolve


def _propagate_names(text: str, found: list[Span]) -> None:
    # A name found once with context ("환자명: 응우옌반안") is a name everywhere in the note.
    names = {text[s.start : s.end] for s in found if s.label == "NAME" and s.end - s.start >= 2}
    if not names:
        return
    # A copy with exactly the extent of a span already found would always lose to it in
    # ``resolve`` (its score, 0.7, is the lowest any recogniser gives): do not add it.
    taken = {(s.start, s.end) for s in found}
    for name in names:
        if len(name) < 3 and name.isascii():
            continue
        i = text.find(name)
        while i >= 0:
            j = i + len(name)
            before = text[i - 1] if i else " "
            after = text[j] if j < len(text) else " "
            glued = (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum())
            if not glued and (i, j) not in taken:
                found.append(Span(i, j, "NAME", 0.7))
            i = text.find(name, j)


def detect(text: str) -> list[Span]:
    """The PHI spans of ``text`` in order, without overlaps (offsets in Python characters)."""
    found: list[Span] = []
    find_numbers(text, found)
    find_network(text, found)
    find_english(text, found)
    find_korean(text, found)
    _propagate_names(text, found)
    return resolve(found)


__all__ = ["detect"]
