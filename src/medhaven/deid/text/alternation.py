"""Alternations of cue words written so that Python's regex engine scans them quickly.

``re`` searches a pattern by trying it at every position of the text, unless
the pattern starts with a literal or a character set: then it first skips, in
C, to the next position whose character can start a match. A leading ``\\b``
or look-behind, or an alternation whose branches do not all start with a
literal character, turns that skip off. ``literal_led`` builds an alternation
that keeps it on, and groups the branches by their first character so that a
position is rejected after one comparison per distinct first character rather
than one per branch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_QUANTIFIER_START = tuple("*+?{")


def _lead(branch: str) -> str:
    """The literal first character of a regex fragment (an escaped punctuation mark counts)."""
    if branch.startswith("\\"):
        if len(branch) < 2 or branch[1].isalnum():
            raise ValueError(f"branch {branch!r} does not start with a literal character")
        return branch[:2]
    if branch[0] in ".[]()|^$*+?{}":
        raise ValueError(f"branch {branch!r} does not start with a literal character")
    return branch[0]


def literal_led(branches: Iterable[str]) -> str:
    """``(?:b1|b2|...)`` regrouped by first character, matching exactly what the plain one matches.

    Each branch is a regex fragment that starts with a literal character.
    Branches that can match at the same position share that character, so
    grouping them keeps their relative order, and with it the leftmost-first
    choice the plain alternation would make.
    """
    groups: dict[str, list[str]] = {}
    for branch in branches:
        if not branch:
            raise ValueError("empty branch")
        lead = _lead(branch)
        rest = branch[len(lead) :]
        if rest.startswith(_QUANTIFIER_START):
            raise ValueError(f"branch {branch!r}: a quantifier applies to its first character")
        groups.setdefault(lead, []).append(rest)
    parts = [
        lead + rests[0] if len(rests) == 1 else lead + "(?:" + "|".join(rests) + ")"
        for lead, rests in groups.items()
    ]
    return "(?:" + "|".join(parts) + ")"


def word_starts(pattern: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)`` as if the pattern began with ``\\b`` before a word character.

    The boundary is tested here rather than in the pattern, which keeps the
    engine's fast skip: a match that starts inside a word is dropped and the
    search resumes one character later, as the ``\\b`` version would.
    """
    search = pattern.search
    pos = 0
    while (m := search(text, pos)) is not None:
        s = m.start()
        if starts_word(text, s):
            yield m
            pos = m.end()
        else:
            pos = s + 1


def starts_word(text: str, i: int) -> bool:
    """True if no word character (letter, digit, underscore: ``\\w``) comes right before ``i``."""
    if i == 0:
        return True
    c = text[i - 1]
    return not (c.isalnum() or c == "_")


__all__ = ["literal_led", "starts_word", "word_starts"]
