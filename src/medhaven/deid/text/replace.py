"""Replace PHI spans: by a label tag (``[NAME]``) or by a realistic surrogate derived from the key.

Surrogates are deterministic: the same value under the same site key always
becomes the same surrogate (an HMAC of the value picks it), so a patient
mentioned twice stays one person. Dates are shifted by the patient's own
offset when the record names its patient, so intervals survive; without a
patient they are tagged, because a shift that is not per patient would be
neither consistent nor safe to undo.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from medhaven.deid.dateshift import date_shift_days
from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import pseudonymize
from medhaven.deid.text.dates import shift_date_text
from medhaven.deid.text.spans import Span

Mode = Literal["tag", "surrogate"]

_KO_SUR = "김이박최정강조윤장임한오서신권황안송전홍"
_KO_GIVEN = [
    "민준",
    "서연",
    "도윤",
    "하은",
    "지호",
    "수빈",
    "예준",
    "지우",
    "현우",
    "채원",
    "건우",
    "윤서",
    "선우",
    "다은",
    "우진",
    "소율",
]
_EN_FIRST = [
    "Alex",
    "Jamie",
    "Morgan",
    "Taylor",
    "Jordan",
    "Casey",
    "Riley",
    "Avery",
    "Quinn",
    "Drew",
    "Robin",
    "Sam",
]
_EN_LAST = [
    "Moreau",
    "Lindqvist",
    "Okafor",
    "Brennan",
    "Castillo",
    "Novak",
    "Haddad",
    "Varga",
    "Whitlock",
    "Sato",
]
_KO_HOSPITAL = ["가람", "나래", "다온", "라온", "마루", "바름", "새솔", "아라"]
_EN_HOSPITAL = ["Alder", "Birch", "Cedar", "Maple", "Willow", "Aspen", "Rowan", "Linden"]
_KO_ROADS = ["가상로", "예시로", "보기길", "샘플대로"]


class Replacer:
    """Turns the spans of one text into a scrubbed text, by tag or by keyed surrogate."""

    def __init__(self, key: SiteKey | None, *, mode: Mode = "tag") -> None:
        if mode not in ("tag", "surrogate"):
            raise ValueError(f"unknown replacement mode {mode!r}")
        if mode == "surrogate" and key is None:
            raise ValueError("surrogate mode needs a site key")
        self.mode = mode
        self._pkey = key.pseudonym_key if key is not None else None
        self._dkey = key.date_shift_key if key is not None else None

    def _h(self, value: str, label: str) -> int:
        assert self._pkey is not None
        return int(pseudonymize(value, self._pkey, namespace=f"text/{label}", length=16), 16)

    def scrub(self, text: str, spans: Sequence[Span], *, patient: str | None = None) -> str:
        """``text`` with every span replaced; spans must not overlap."""
        days = None
        if patient and self._dkey is not None:
            days = date_shift_days(patient, self._dkey)
        out: list[str] = []
        pos = 0
        for s in spans:
            out.append(text[pos : s.start])
            out.append(self._replacement(text[s.start : s.end], s.label, days))
            pos = s.end
        out.append(text[pos:])
        return "".join(out)

    def _replacement(self, value: str, label: str, days: int | None) -> str:
        if label == "DATE" and days is not None:
            shifted = shift_date_text(value, days)
            if shifted is not None:
                return shifted
        if self.mode == "tag" or label == "DATE" or not value.strip():
            return f"[{label}]"
        return _surrogate(value, label, self._h(value, label))


def _digits(value: str, h: int, keep: int = 0) -> str:
    out: list[str] = []
    seen = 0
    for c in value:
        if c.isdigit():
            seen += 1
            if seen > keep:
                h, d = divmod(h * 31 + seen, 10)
                h = h or 7919 * seen
                out.append(str(d))
                continue
        out.append(c)
    return "".join(out)


def _surrogate(value: str, label: str, h: int) -> str:
    hangul = any("가" <= c <= "힣" for c in value)
    if label == "NAME":
        if hangul:
            return _KO_SUR[h % len(_KO_SUR)] + _KO_GIVEN[(h >> 8) % len(_KO_GIVEN)]
        last = _EN_LAST[h % len(_EN_LAST)]
        return (
            last if " " not in value.strip() else f"{_EN_FIRST[(h >> 8) % len(_EN_FIRST)]} {last}"
        )
    if label == "PHONE":
        return _digits(value, h, keep=3 if value.startswith("0") else 0)
    if label in ("RRN", "MRN", "INSURANCE", "SSN", "POSTCODE"):
        return _digits(value, h)
    if label == "EMAIL":
        return f"user{h % 10**6:06d}@example.org"
    if label == "URL":
        return f"https://example.org/r/{h % 16**8:08x}"
    if label == "IP":
        return f"2001:db8::{h % 65536:x}" if ":" in value else f"192.0.2.{h % 254 + 1}"
    if label == "AGE":
        return "90"  # HIPAA Safe Harbor: ages over 89 are pooled as 90 or older
    if label == "HOSPITAL":
        if hangul:
            return _KO_HOSPITAL[h % len(_KO_HOSPITAL)] + "병원"
        return f"{_EN_HOSPITAL[h % len(_EN_HOSPITAL)]} General Hospital"
    if label == "ADDRESS":
        if hangul:
            return f"서울특별시 가상구 {_KO_ROADS[h % len(_KO_ROADS)]} {h % 300 + 1}"
        return f"{h % 900 + 100} Example Street, Springfield"
    return f"[{label}]"


__all__ = ["Mode", "Replacer"]
