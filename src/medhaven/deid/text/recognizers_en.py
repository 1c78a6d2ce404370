"""English recognisers: names after titles, labels and relation words; first-name + surname pairs;
month-name dates; US and romanised Korean street addresses; hospitals; context identifiers."""

from __future__ import annotations

import re

from medhaven.deid.text.alternation import literal_led, starts_word, word_starts
from medhaven.deid.text.lexicon import (
    EN_EPONYM_FOLLOWERS,
    EN_FIRST_NAMES,
    EN_NOT_NAME_WORDS,
    ROMAN_SURNAMES,
)
from medhaven.deid.text.recognizers_num import MONTH
from medhaven.deid.text.spans import Span

_WORD = r"[A-Z][A-Za-z'’]*(?:-[A-Za-z]+)?"
_NAME_WORDS = rf"{_WORD}(?: {_WORD}){{0,2}}"
_RELATIONS = [
    "mother",
    "father",
    "daughter",
    "son",
    "wife",
    "husband",
    "spouse",
    "sister",
    "brother",
    "grandmother",
    "grandfather",
    "guardian",
    "caregiver",
    "partner",
    "friend",
    "niece",
    "nephew",
    "aunt",
    "uncle",
]
_TITLES = ("Dr", "Mr", "Mrs", "Ms", "Miss", "Prof", "Professor", "Doctor")
_LABELS = [
    "Patient",
    "Patient name",
    "Pt name",
    "Name",
    "Attending",
    "Signed",
    "Read by",
    "Referring physician",
    "Physician",
    "Surgeon",
    "Resident",
    "Nurse",
    "Guardian",
    "Caregiver",
    "Dear",
    "Discussed with",
    "Seen by",
    "Dictated by",
    "Electronically signed by",
    "Spoke with",
    "Contact person",
    "Next of kin",
    "cc",
    "CC",
    "the patient,",
]
_LABEL_TAIL = r"\s*:?(?:\s+(?:" + "|".join(_RELATIONS) + r"))?(?:\s+(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?)?"
# Every branch starts with a literal letter, so the engine skips ahead by a character test; the
# word boundary before the cue is checked in Python (``word_starts``).
_CONTEXT_NAME = re.compile(
    literal_led([t + r"\.?" for t in _TITLES] + [lb + _LABEL_TAIL for lb in _LABELS] + _RELATIONS)
    + rf"[ \t]+({_NAME_WORDS})"
)
_PAIR = re.compile(r"([A-Z][a-z]+(?:-[a-z]+)?) ([A-Z][a-z]+)\b(?: ([A-Za-z']+))?")

# "March 5[, 2024]" or (group ``my``) "March 2024"; the month word comes first so that the
# engine can skip ahead to capital letters J F M A S O N D.
_MONTH_DATE = re.compile(
    rf"{MONTH}(?:\.?\s+(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?(?:,?\s+(?:19|20)\d{{2}})?(?![\d:])"
    rf"|(?P<my>\.?,?\s+(?:19|20)\d{{2}}\b))"
)
_STREET_WORDS = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Drive|Dr|Lane|Ln|Way|Court|Ct|Place|Pl|"
    "Terrace|Parkway|Pkwy|Highway|Hwy|Circle|Cir"
)
_STREET = f"(?:{_STREET_WORDS})"
# Cues that every address match contains: "<word><spaces>Street" or "<word>-ro". Finding none of
# them (literal-led, so quick) spares the address pattern's scan of every number in the text.
_STREET_CUE = re.compile(literal_led(_STREET_WORDS.split("|")) + r"\b")
_ROMAN_ROAD_CUE = re.compile(r"-(?:ro|gil|daero)\b")
_ADDRESS_EN = re.compile(
    # The house number starts a digit run: "(?<!\d\d)" after its first digit spares the engine
    # the attempts at every later digit (a leading look-behind would disable its fast skip).
    r"\d(?<!\d\d)\d{0,5}[A-Z]?,?\s+(?:[A-Z][\w'.]*\s+){0,3}?"
    rf"(?:[A-Z][\w']*(?: [A-Z][\w']*)?-(?:ro|gil|daero)\b(?:\s\d{{1,3}}(?:beon-)?gil\b)?"
    rf"|[A-Z][\w']*\s+{_STREET}\b\.?)"
    r"(?:,?\s+(?:Apt|Suite|Unit|Ste|#)\.?\s*[\w-]+)?"
    r"(?:,\s*[A-Z][A-Za-z-]+(?: [A-Z][A-Za-z-]+)?){0,4}"
    r"(?:,?\s+[A-Z]{2}(?![A-Za-z]))?"
)
_HOSPITAL_EN = re.compile(
    r"(?:Hospital|Medical Center|Medical Centre|Clinic|Health System|Infirmary|Health Center)\b"
)
_HOSPITAL_WORDS_BEFORE = re.compile(r"(?:(?:[A-Z][\w'&.-]*|\d{1,4}|of|and|&) ){1,6}$")
_HOSPITAL_OF_AFTER = re.compile(r" of (?:[A-Z][\w'-]*)(?: [A-Z][\w'-]*){0,3}")
_GENERIC_LEAD = frozenset(
    [
        "The",
        "A",
        "An",
        "This",
        "That",
        "Our",
        "Your",
        "His",
        "Her",
        "Their",
        "Outpatient",
        "Local",
        "Private",
    ]
)

_ID_LABELS = (
    "MRN|Mrn|M.R.N.|MR#|MR No|Medical record number|Medical record no|Chart No|Chart number|"
    "Hospital No|Hospital number|Patient ID|Pt ID|Record No|등록번호|병록번호|환자번호|차트번호|진료번호|"
    "의무기록번호|건강보험증번호|건강보험번호|건강보험증|건강보험|보험증번호|보험번호|의료급여번호|"
    "Insurance no|Insurance No|Insurance number|Insurance ID|insurance no|insurance number|"
    "Member ID|Policy no|Policy No|Policy number|Subscriber ID|Medicare|Medicaid|"
    "SSN|Social Security No|Social Security number|주민등록번호|주민번호|외국인등록번호|RRN|"
    "ZIP|Zip|Postcode|Postal code|Post code|aged|Aged|age|Age|AGE|나이|연령|만"
)
_ID_LABEL = re.compile(literal_led(_ID_LABELS.split("|")))
_ID_KIND = {
    **dict.fromkeys(("SSN", "Social Security No", "Social Security number"), "SSN"),
    **dict.fromkeys(("주민등록번호", "주민번호", "외국인등록번호", "RRN"), "RRN"),
    **dict.fromkeys(("ZIP", "Zip", "Postcode", "Postal code", "Post code"), "POSTCODE"),
    **dict.fromkeys(("aged", "Aged", "age", "Age", "AGE", "나이", "연령", "만"), "AGE"),
}
_VALUE = {
    "MRN": re.compile(r"\.?\s*[:#.]?\s*(?:is\s+)?([A-Z]{0,3}-?\d[\d-]{2,14}\d)(?!\d)"),
    "INSURANCE": re.compile(
        r"\.?\s*(?:(?:no|No|number|ID)\.?\s*)?[:#.]?\s*(?:is\s+)?([A-Z0-9][A-Z0-9-]{3,19}[A-Z0-9])(?![\w-])"
    ),
    "SSN": re.compile(r"\.?\s*[:#.]?\s*(\d{3}[- ]?\d{2}[- ]?\d{4})(?!\d)"),
    "RRN": re.compile(r"\s*[:#.]?\s*(\d{6}[- ]?\d{7})(?!\d)"),
    "POSTCODE": re.compile(r"(?: code)?\s*[:#.]?\s*(\d{5}(?:-\d{4})?)(?!\d)"),
    "AGE": re.compile(r"\s*[:=]?\s*(\d{2,3})(?!\d)"),
}
_INSURANCE_LABELS = (
    "보험",
    "건강보험",  # 건강보험번호 and 건강보험증번호 are insurance numbers, not record numbers
    "Insurance",
    "insurance",
    "Member",
    "Policy",
    "Subscriber",
    "Medic",
    "의료급여",
)
_ZIP_AFTER = re.compile(r",?\s{1,2}(\d{5})(?:-\d{4})?(?!\d)")


def _cut_tokens(s: int, value: str, *, titled: bool) -> tuple[int, int] | None:
    words = value.split(" ")
    kept: list[str] = []
    for w in words:
        # Right after "Mr."/"Dr." a surname that is also a common word ("Ms. An") is a name.
        surname_after_title = titled and not kept and w in ROMAN_SURNAMES
        if not surname_after_title and (w in EN_NOT_NAME_WORDS or w.lower() in EN_EPONYM_FOLLOWERS):
            break
        kept.append(w)
    if not kept:
        return None
    return s, s + len(" ".join(kept))


def find_english(text: str, out: list[Span]) -> None:
    """Append English names, month-name dates, street addresses, hospitals and labelled ids."""
    for m in word_starts(_CONTEXT_NAME, text):
        cut = _cut_tokens(m.start(1), m.group(1), titled=text.startswith(_TITLES, m.start()))
        if cut is not None:
            out.append(Span(cut[0], cut[1], "NAME", 0.85))
    for m in word_starts(_PAIR, text):
        first, last, after = m.group(1), m.group(2), m.group(3)
        if after is not None and after.lower() in EN_EPONYM_FOLLOWERS:
            continue
        if first in EN_NOT_NAME_WORDS or last in EN_NOT_NAME_WORDS:
            continue
        if first in EN_FIRST_NAMES or (last in ROMAN_SURNAMES and first not in ROMAN_SURNAMES):
            out.append(Span(m.start(1), m.end(2), "NAME", 0.75))
    _month_dates(text, out)
    for m in _ADDRESS_EN.finditer(text) if _may_hold_address(text) else ():
        s = m.start()
        if s and (text[s - 1].isalnum() or text[s - 1] in "-./"):
            continue
        out.append(Span(s, m.end(), "ADDRESS", 0.85))
        z = _ZIP_AFTER.match(text, m.end())
        if z is not None:
            out.append(Span(z.start(1), z.end(1), "POSTCODE", 0.85))
    for m in _HOSPITAL_EN.finditer(text):
        if not starts_word(text, m.start()):
            continue
        b = _HOSPITAL_WORDS_BEFORE.search(text, max(0, m.start() - 80), m.start())
        if b is None:
            continue
        words = b.group().split()
        while words and (words[0] in _GENERIC_LEAD or words[0] in ("of", "and", "&")):
            words.pop(0)
        if not words:
            continue
        start = m.start() - len(" ".join(words)) - 1
        end = m.end()
        o = _HOSPITAL_OF_AFTER.match(text, end)
        if o is not None:
            end = o.end()
        out.append(Span(start, end, "HOSPITAL", 0.85))
    _context_ids(text, out)


def _may_hold_address(text: str) -> bool:
    """False only if ``text`` has no street cue, hence no match of ``_ADDRESS_EN``."""
    for r in _ROMAN_ROAD_CUE.finditer(text):
        if r.start() and (text[r.start() - 1].isalnum() or text[r.start() - 1] in "_'"):
            return True
    for m in _STREET_CUE.finditer(text):
        i = m.start()
        if i == 0 or not text[i - 1].isspace():
            continue
        while i > 0 and text[i - 1].isspace():
            i -= 1
        if i and (text[i - 1].isalnum() or text[i - 1] in "_'"):
            return True
    return False


def _month_dates(text: str, out: list[Span]) -> None:
    search = _MONTH_DATE.search
    pos = 0
    while (m := search(text, pos)) is not None:
        s = m.start()
        pos = m.end()
        if s and text[s - 1].isalpha():
            continue
        if m.start("my") >= 0 and not starts_word(text, s):
            pos = s + 1  # "March 2024" needs a word boundary before the month
            continue
        out.append(Span(s, pos, "DATE", 0.9))


def _context_ids(text: str, out: list[Span]) -> None:
    for m in _ID_LABEL.finditer(text):
        label = m.group()
        s = m.start()
        if s and text[s - 1].isascii() and text[s - 1].isalpha():
            continue  # "Image", "Passage": a label must start a word
        kind = _ID_KIND.get(label) or (
            "INSURANCE" if label.startswith(_INSURANCE_LABELS) else "MRN"
        )
        v = _VALUE[kind].match(text, m.end())
        if v is None:
            continue
        if kind == "AGE" and not 89 < int(v.group(1)) < 130:
            continue
        if not any(c.isdigit() for c in v.group(1)):
            continue
        out.append(Span(v.start(1), v.end(1), kind, 0.95))


__all__ = ["find_english"]
