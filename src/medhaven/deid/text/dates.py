"""Shift a date written in a note by a number of days, keeping the way it was written."""

from __future__ import annotations

import re
from datetime import date, timedelta

from medhaven.lang import MONTHS_EN

_MONTHS_FULL = MONTHS_EN
_MONTH_WORD = re.compile(r"[A-Za-z]+")
_NUM = re.compile(r"\d+")
# A year is needed for leap days; a date written without one is shifted inside this year.
_NO_YEAR = 2001
_NO_YEAR_LEAP = 2004


def _month_index(word: str) -> int | None:
    w = word[:3].lower()
    for i, full in enumerate(_MONTHS_FULL):
        if full[:3].lower() == w:
            return i + 1
    return None


def _fields(text: str) -> tuple[list[re.Match[str]], int | None, re.Match[str] | None]:
    """Numeric tokens, the month from a month word (if any) and that word."""
    nums = list(_NUM.finditer(text))
    for w in _MONTH_WORD.finditer(text):
        idx = _month_index(w.group())
        if idx is not None and w.group().lower() not in ("st", "nd", "rd", "th", "of"):
            return nums, idx, w
    return nums, None, None


def _roles(text: str, nums: list[re.Match[str]], has_word: bool) -> list[str] | None:
    if has_word:
        # "March 5, 2024" / "5 Mar 2024" / "March 2024": the 4-digit token is the year.
        return ["y" if len(n.group()) == 4 else "d" for n in nums]
    if "년" in text or "월" in text:
        if "년" in text:
            return ["y", "m", "d"][: len(nums)]
        return ["m", "d"]
    if len(nums) != 3:
        return None
    if len(nums[0].group()) == 4:
        return ["y", "m", "d"]
    if "/" in text:
        return ["m", "d", "y"]
    return ["d", "m", "y"]


def shift_date_text(text: str, days: int) -> str | None:
    """``text`` (a date as found in a note) moved by ``days``, same format; None if not a date."""
    nums, month_from_word, word = _fields(text)
    roles = _roles(text, nums, word is not None)
    if roles is None or len(roles) != len(nums):
        return None
    got = {r: int(n.group()) for r, n in zip(roles, nums, strict=True)}
    if month_from_word is not None:
        got["m"] = month_from_word
    if "m" not in got:
        return None
    y = got.get("y")
    if y is not None and y < 100:
        y += 2000 if y < 70 else 1900
    d = got.get("d", 1)
    try:
        if y is None:
            old = date(_NO_YEAR_LEAP if (got["m"], d) == (2, 29) else _NO_YEAR, got["m"], d)
        else:
            old = date(y, got["m"], d)
    except ValueError:
        return None
    new = old + timedelta(days=days)
    values = {"y": new.year, "m": new.month, "d": new.day}
    out: list[str] = []
    pos = 0
    tokens: list[tuple[re.Match[str], str]] = list(zip(nums, roles, strict=True))
    if word is not None:
        tokens.append((word, "w"))
    tokens.sort(key=lambda t: t[0].start())
    for tok, role in tokens:
        out.append(text[pos : tok.start()])
        raw = tok.group()
        if role == "w":
            full = _MONTHS_FULL[new.month - 1]
            out.append(full if len(raw) > 3 and raw != full[: len(raw)] else full[: len(raw)])
            if len(raw) > 3 and raw.lower() == _MONTHS_FULL[old.month - 1].lower():
                out[-1] = full
        elif role == "y":
            out.append(str(new.year)[-len(raw) :])
        elif len(raw) == 2 and (raw.startswith("0") or len(nums) > 1):
            out.append(f"{values[role]:02d}")
        else:
            out.append(str(values[role]))
        pos = tok.end()
    out.append(text[pos:])
    return "".join(out)


__all__ = ["shift_date_text"]
