"""Korean recognisers: Hangul names with context, 도로명 and 지번 addresses, hospitals, labels.

Each recogniser searches for a short literal anchor (a suffix such as ``님``
or ``병원``, a label such as ``환자명:``, a road suffix ``로``/``길`` followed
by a number) and then looks a few characters back or forward. Anchors are
rare compared with Hangul syllables, so the text is not scanned syllable by
syllable with a heavy pattern.
"""

from __future__ import annotations

import re

from medhaven.deid.text.lexicon import (
    KO_COMPOUND_SURNAMES,
    KO_GENERIC_HOSPITAL_PREFIXES,
    KO_GIVEN_SYLLABLES,
    KO_NOT_NAMES,
    KO_SIDO,
    KO_SURNAMES,
)
from medhaven.deid.text.spans import Span

_HANGUL = re.compile("[가-힣]")
_SUR = "(?:" + "|".join(KO_COMPOUND_SURNAMES) + "|[" + "".join(sorted(KO_SURNAMES)) + "])"
_GIV = "[" + "".join(sorted(KO_GIVEN_SYLLABLES)) + "]"
_NAME = f"{_SUR}{_GIV}{{1,2}}"
_SIDO = "(?:" + "|".join(sorted(KO_SIDO, key=len, reverse=True)) + ")"

# "환자명: 홍길동", "담당의: 김선우" - a label and a colon: any Hangul run (foreign names too).
_LABEL_NAME = re.compile(
    r"(?:환자명|환자 성명|성명|이름|보호자명|담당의|주치의|담당교수|판독의|판독|작성자|작성|의뢰의|전공의|"
    r"서명|확인자|간호사)\s*[:：]\s*([가-힣]{2,7})(?![가-힣])"
)
# "환자 홍길동은", "보호자 이영희(", "아들 김철수" - a role word before a surname-led name.
_BEFORE_NAME = re.compile(
    r"(?:환자|보호자|배우자|아들|딸|남편|아내|어머니|아버지|며느리|사위|손자|손녀|형|누나|언니|오빠|동생|"
    r"담당의|주치의|교수|의사|간호사|전공의|원장)\s+(" + _NAME + ")"
)
# "홍길동 환자", "홍길동님", "김선우 선생님", "정지후씨", "박서연 교수".
_AFTER = re.compile(
    "님|씨|환자|보호자|의사|선생님|선생|교수님|교수|간호사|원장님|원장|과장님|과장|전공의|"
    r"\((?:[MF남여]|\d{1,3}\s?세)"
)
_NAME_BEFORE = re.compile(r"(?<![가-힣])(" + _NAME + r")\s?$")
_PARTICLES = frozenset("은는이가을를의도와과께에")

_HOSPITAL_SUFFIX = re.compile(
    r"대학교병원|대학병원|의료원|요양병원|암센터|병원|한의원|치과의원|의원|메디컬센터|의료센터|보건소"
)
_HOSPITAL_PREFIX = re.compile(r"[가-힣A-Za-z0-9]{1,16}$")

_ROAD = re.compile(
    r"(?:로|길)(?:\s?\d{1,4}(?:번길|길))?\s?(\d{1,4}(?:-\d{1,4})?)(?:번지)?(?![\d.])"
    r"(?:,?\s?\d{1,4}동)?(?:\s?\d{1,5}호)?(?:\s?\([가-힣,\s]{1,20}\))?"
)
_LOT = re.compile(r"(?:동|리|가)\s(?:산\s?)?(\d{1,4}(?:-\d{1,4})?)(?:번지)?(?![\d.])")
_ADMIN_BEFORE = re.compile(
    r"(?:(?:" + _SIDO + r")\s+)?(?:[가-힣]{1,6}(?:시|군|구|읍|면)\s+){1,3}[가-힣A-Za-z0-9]{0,14}$"
)
_SIDO_BEFORE = re.compile(_SIDO + r"\s+[가-힣A-Za-z0-9]{0,14}$")
_LOT_STEM = re.compile(r"[가-힣0-9]{1,8}$")
_POSTCODE = re.compile(
    r"(?:우편번호|우\))\s*[:：]?\s*(\d{5})(?!\d)|\((\d{5})\)\s*(?=" + _SIDO + ")"
)


def _trim_particle(start: int, end: int, text: str) -> int:
    # "이소연은" after 환자: a 4-syllable capture ending in a particle is a name plus particle.
    if end - start == 4 and text[end - 1] in _PARTICLES:
        return end - 1
    return end


def _name_ok(name: str) -> bool:
    return name not in KO_NOT_NAMES


def find_korean(text: str, out: list[Span]) -> None:
    """Append Korean names, hospitals, addresses and postcodes found in ``text``."""
    if text.isascii() or _HANGUL.search(text) is None:
        return  # no Hangul (isascii is a C-speed test that settles most English notes)
    for m in _LABEL_NAME.finditer(text):
        s, e = m.span(1)
        name = text[s:e]
        if not name.endswith(("과", "실", "팀")) and name not in KO_NOT_NAMES:
            out.append(Span(s, e, "NAME", 0.9))
    for m in _BEFORE_NAME.finditer(text):
        s, e = m.span(1)
        e = _trim_particle(s, e, text)
        if _name_ok(text[s:e]):
            out.append(Span(s, e, "NAME", 0.85))
    for m in _AFTER.finditer(text):
        b = _NAME_BEFORE.search(text, max(0, m.start() - 6), m.start())
        if b is not None and _name_ok(b.group(1)):
            out.append(Span(b.start(1), b.end(1), "NAME", 0.85))
    _hospitals(text, out)
    _addresses(text, out)
    for m in _POSTCODE.finditer(text):
        g = 1 if m.group(1) else 2
        out.append(Span(m.start(g), m.end(g), "POSTCODE", 0.9))


def _hospitals(text: str, out: list[Span]) -> None:
    for m in _HOSPITAL_SUFFIX.finditer(text):
        p = _HOSPITAL_PREFIX.search(text, max(0, m.start() - 16), m.start())
        if p is None:
            continue
        prefix = p.group()
        if len(prefix) < 2 or prefix in KO_GENERIC_HOSPITAL_PREFIXES or prefix == "국회":
            continue
        if prefix.isdigit():
            continue
        out.append(Span(p.start(), m.end(), "HOSPITAL", 0.85))


def _addresses(text: str, out: list[Span]) -> None:
    for m in _ROAD.finditer(text):
        b = _ADMIN_BEFORE.search(text, max(0, m.start() - 60), m.start())
        if b is None:
            b = _SIDO_BEFORE.search(text, max(0, m.start() - 40), m.start())
        if b is None or b.end() == b.start():
            continue
        out.append(Span(b.start(), m.end(), "ADDRESS", 0.85))
    for m in _LOT.finditer(text):
        stem = _LOT_STEM.search(text, max(0, m.start() - 8), m.start())
        if stem is None or text[m.start() - 1 : m.start() + 1] == "병동":
            continue
        b = _ADMIN_BEFORE.search(text, max(0, m.start() - 60), m.start())
        start = b.start() if b is not None else stem.start()
        # Without a city or district, only "…동 123-4" / "…번지" is specific enough.
        if b is None and "-" not in m.group(1) and "번지" not in m.group():
            continue
        out.append(Span(start, m.end(), "ADDRESS", 0.8))


__all__ = ["find_korean"]
