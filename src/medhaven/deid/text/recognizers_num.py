"""Recognisers for numbers and network identifiers: RRN, phones, SSN, IPs, dates, ages, e-mail, URL.

Speed matters (several MB of notes per second per core), so the numeric
recognisers share ONE alternation that is only tried where a digit run
starts: a cheap trigger regex jumps from digit run to digit run and the big
pattern is anchored there with ``match``. E-mail and URL are found from their
``@`` / ``http`` / ``www.`` anchors and expanded, never scanned letter by letter.
"""

from __future__ import annotations

import re
from datetime import date
from operator import mul

from medhaven.deid.text.spans import Span

MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_M = r"(?:0?[1-9]|1[0-2])"
_D = r"(?:0?[1-9]|[12]\d|3[01])"
_Y4 = r"(?:18|19|20)\d{2}"

_NUM = re.compile(
    "|".join(
        (
            # Resident / foreigner registration number: YYMMDD-SNNNNNN (S = 1..8).
            r"(?P<rrn>\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])[- ]?[1-8]\d{6})(?!\d)",
            rf"(?P<ymd>{_Y4}(?P<sep>[-./])\s?{_M}(?P=sep)\s?{_D}\.?)(?!\d)",
            rf"(?P<kodate>(?:{_Y4}\s*년\s*)?{_M}\s*월\s*{_D}\s*일|{_Y4}\s*년\s*{_M}\s*월)",
            rf"(?P<mdy>{_M}/{_D}/(?:{_Y4}|\d{{2}})|{_D}[.-]{_M}[.-]{_Y4})(?![\d/])",
            rf"(?P<dmy>{_D}(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}\.?(?:,?\s+{_Y4})?)(?![A-Za-z])",
            r"(?P<ssn>(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4})(?![\d-])",
            r"(?P<mobile>01[016789](?:[-. ]?\d{3,4}[-. ]?\d{4}))(?![\d-])",
            r"(?P<land>(?:02|0(?:3[1-3]|4[1-4]|5[1-5]|6[1-4])|070|050\d)(?:\)\s?|[-. ]?)"
            r"\d{3,4}[-. ]?\d{4})(?![\d-])",
            r"(?P<intl>\+82[-. ]?(?:\(0\))?(?:1[016789]|2|[3-6][1-5]|70)[-. )]?\d{3,4}[-. ]?\d{4})"
            r"(?![\d-])",
            r"(?P<rep>1[568]\d{2}[-. ]\d{4})(?![\d-])",
            r"(?P<usphone>(?:\+?1[-. ])?\(?[2-9]\d{2}\)?[-. ]\d{3}[-. ]\d{4})(?![\d-])",
            r"(?P<ip4>(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})"
            r"(?!\.?\d)",
            r"(?P<ins>\d-\d{10})(?!\d)",
            r"(?P<agey>\d{2,3})(?:\s?세(?!대)|[- ](?:year|yr)s?[- ]old|\s?(?:y/o|yo\b|y\.o\.))",
        )
    )
)
# Where a number may start: a "+" before a digit, or the first digit of a run, in either case not
# glued to a word, a decimal or a code (E11.9, v1.2, A1c). The look-behinds follow the consumed
# character so that the engine keeps its fast skip over characters other than "+" and digits.
# A run that does not start with 0 must also be 13 digits long (an RRN written without its
# hyphen) or be followed by what one of the _NUM branches needs next (a separator, 년/월/세,
# st/nd/rd/th, a month, "y..." of an age, or a space and a digit); lab values ("128 mmHg") and
# record numbers ("10001411") are then never handed to _NUM at all.
_RUN_NEEDS = (
    r"(?=\d{12}(?!\d)|\d*+(?:[-./)]|\s*[년월세]|st|nd|rd|th|\s+(?:of\s|[JFMASOND])|\s?y| \d))"
)
_TRIGGER = re.compile(
    r"[+\d](?<![A-Za-z0-9._][+\d])(?<!\+\d)(?:(?<=\+)(?=\d)|(?<=0)|" + _RUN_NEEDS + ")"
)
# The same for a text without "+": a class of digits alone is scanned about twice as fast.
_TRIGGER_DIGITS = re.compile(r"\d(?<![A-Za-z0-9._]\d)(?:(?<=0)|" + _RUN_NEEDS + ")")
_DIGITS = re.compile(r"\d+")
# Representative numbers really in use (1588-xxxx...); "1500-2000 mL" is not a phone.
_REP_PREFIXES = frozenset(
    [
        "1522",
        "1533",
        "1544",
        "1566",
        "1577",
        "1588",
        "1599",
        "1600",
        "1644",
        "1661",
        "1666",
        "1668",
        "1670",
        "1688",
        "1800",
        "1811",
        "1833",
        "1855",
        "1877",
        "1899",
    ]
)
_UNIT_AFTER = re.compile(r"\s?(?:mL|ml|mg|cc|kcal|g\b|IU|U\b|mcg|%|회|명|원|개|cm|mm|kg)")
_PHONE_GROUPS = ("mobile", "land", "intl", "rep", "usphone")
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}


def rrn_checksum_ok(value: str) -> bool:
    """True if a 13-digit RRN's check digit agrees (numbers issued since 2020-10 need not)."""
    digits = [int(c) for c in value if c.isdigit()]
    if len(digits) != 13:
        return False
    total = sum(map(mul, digits, _RRN_WEIGHTS))
    check = (11 - total % 11) % 10
    if digits[6] in (5, 6, 7, 8):  # foreigners: the classic formula adds 2
        check = (13 - total % 11) % 10
    return bool(check == digits[12])


def _valid_date(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def _date_ok(group: str, s: str) -> bool:
    if "29" not in s and "30" not in s and "31" not in s:
        return True  # the patterns admit months 1-12 and days 1-31 only: days 1-28 always exist
    nums = [int(n) for n in _DIGITS.findall(s)]
    if group == "ymd":
        return _valid_date(nums[0], nums[1], nums[2])
    if group == "mdy":
        if "/" in s:
            y = nums[2] if nums[2] >= 100 else 2000 + nums[2]
            return _valid_date(y, nums[0], nums[1])
        return _valid_date(nums[2], nums[1], nums[0])
    if group == "kodate" and "일" in s:
        y = nums[0] if len(nums) == 3 else 2004
        y = y if y >= 100 else 2000 + y
        return _valid_date(y, nums[-2], nums[-1])
    return True


def find_numbers(text: str, out: list[Span]) -> None:
    """Append every numeric PHI span: identifiers, phones, dates with digits first, old ages."""
    search = (_TRIGGER if "+" in text else _TRIGGER_DIGITS).search
    match = _NUM.match
    append = out.append
    pos = 0
    while (t := search(text, pos)) is not None:
        s = t.start()
        m = match(text, s)
        if m is None:
            pos = s + 1  # the trigger skips the rest of this digit run by itself
            continue
        group = m.lastgroup or ""
        if group == "sep":
            group = "ymd"
        # Every branch but an age is the whole match (look-arounds take no characters).
        start, end = m.span(group) if group == "agey" else (s, m.end())
        span = _classify(group, text[start:end], text, start, end)
        if span is not None:
            append(span)
            pos = m.end()
        else:
            pos = s + 1


def _classify(group: str, value: str, text: str, start: int, end: int) -> Span | None:
    if group == "rrn":
        return Span(start, end, "RRN", 0.95 if rrn_checksum_ok(value) else 0.85)
    if group in ("ymd", "kodate", "mdy", "dmy"):
        return Span(start, end, "DATE", 0.9) if _date_ok(group, value) else None
    if group in _PHONE_GROUPS:
        if group == "rep" and (value[:4] not in _REP_PREFIXES or _UNIT_AFTER.match(text, end)):
            return None
        return Span(start, end, "PHONE", 0.9)
    if group == "ssn":
        return Span(start, end, "SSN", 0.85)
    if group == "ip4":
        return Span(start, end, "IP", 0.9)
    if group == "ins":
        return Span(start, end, "INSURANCE", 0.7)
    if group == "agey":
        return Span(start, end, "AGE", 0.9) if 89 < int(value) < 130 else None
    return None


# Two literal-led patterns rather than one alternation: each is found by the engine's fast literal
# search, and an "http://" anchor and a "www." anchor can never overlap.
_URL_ANCHORS = (re.compile(r"https?://"), re.compile(r"www\."))
_EMAIL_LOCAL_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
)
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL_REST = re.compile(r"[^\s<>\"'()\[\]{}]+")
_HEX_COLON = re.compile(r":[0-9A-Fa-f]{1,4}:")  # literal-led: a fast test before the full IPv6 scan
_IP6_FULL = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}(?![\w:])")
_IP6_SHORT = re.compile(
    r"(?<![\w:])(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::"
    r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?![\w:])"
)


def find_network(text: str, out: list[Span]) -> None:
    """Append e-mail addresses, URLs and IPv6 addresses (IPv4 is found with the numbers)."""
    at = text.find("@")
    while at >= 0:
        # The local part: walk back over its characters (at most 64), cheaper than a regex.
        start, lo = at, max(0, at - 64)
        while start > lo and text[start - 1] in _EMAIL_LOCAL_CHARS:
            start -= 1
        dom = _EMAIL_DOMAIN.match(text, at + 1)
        if start < at and dom is not None:
            out.append(Span(start, dom.end(), "EMAIL", 0.95))
        at = text.find("@", at + 1)
    for anchors in _URL_ANCHORS:
        for a in anchors.finditer(text):
            rest = _URL_REST.match(text, a.end())
            end = rest.end() if rest is not None else a.end()
            while end > a.end() and text[end - 1] in ".,;:!?":
                end -= 1  # sentence punctuation after a URL is not part of it
            if end > a.end():
                out.append(Span(a.start(), end, "URL", 0.95))
    if "::" in text:
        for m in _IP6_SHORT.finditer(text):
            if any(c.isalnum() for c in m.group()):
                out.append(Span(m.start(), m.end(), "IP", 0.9))
    if text.count(":") >= 7 and _HEX_COLON.search(text) is not None:
        for m in _IP6_FULL.finditer(text):
            out.append(Span(m.start(), m.end(), "IP", 0.9))


__all__ = ["MONTH", "find_network", "find_numbers", "rrn_checksum_ok"]
