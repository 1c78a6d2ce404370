"""Synthetic Korean direct identifiers: names, RRNs, phones, addresses, MRNs.

Everything here is invented, but shaped like the real thing so that the
de-identification path meets realistic input: resident registration numbers
carry a valid check digit and a century/sex digit that agrees with the birth
date and sex, phones follow the Korean numbering plan, and an address, its
postcode and a landline share one region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from medhaven.errors import InvalidInput
from medhaven.synth.identity_data import (
    EMAIL_DOMAINS,
    FEMALE_GIVEN,
    FOREIGN_NAMES,
    MALE_GIVEN,
    REGIONS,
    ROADS,
    SURNAMES,
    GivenName,
)

RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
FOREIGNER_SHARE = 0.03
GUARDIAN_RELATIONS = (
    ("배우자", "spouse"),
    ("아들", "son"),
    ("딸", "daughter"),
    ("어머니", "mother"),
)
# Patients born after this year get a parent as guardian (CDM data end in the 2020s).
PARENT_GUARDIAN_AFTER = 2004
PARENTS = (("어머니", "mother"), ("아버지", "father"))


@dataclass(frozen=True)
class PersonKey:
    """What the identity generator needs to know about one CDM person."""

    person_id: int
    birth: date
    sex: str  # "M" or "F"


@dataclass(frozen=True)
class Identity:
    """One patient's synthetic direct identifiers, in Korean and English forms."""

    person_id: int
    sex: str
    birth: date
    foreigner: bool
    name_ko: str
    surname_ko: str
    given_ko: str
    first_en: str
    last_en: str
    rrn: str
    us_ssn: str
    phone_mobile: str
    phone_home: str
    email: str
    mrn: str
    insurance_no: str
    drivers: str
    passport: str
    address_ko: str
    address_en: str
    sido_ko: str
    sido_en: str
    sigungu_en: str
    postcode: str
    lat: float
    lon: float
    guardian_name_ko: str
    guardian_name_en: str
    guardian_relation_ko: str
    guardian_relation_en: str
    guardian_phone: str

    @property
    def name_en(self) -> str:
        """Given name then surname, as written in English notes."""
        return f"{self.first_en} {self.last_en}"


def rrn_check_digit(first12: str, *, foreigner: bool = False) -> int:
    """The 13th digit of a registration number: weighted sum mod 11 (13 - ... for foreigners)."""
    if len(first12) != 12 or not first12.isdigit():
        raise InvalidInput("a registration number needs 12 digits before the check digit")
    total = sum(int(d) * w for d, w in zip(first12, RRN_WEIGHTS, strict=True))
    return ((13 if foreigner else 11) - total % 11) % 10


def sex_century_digit(birth: date, sex: str, *, foreigner: bool) -> int:
    """The 7th RRN digit: 1/2 (1900s), 3/4 (2000s), 9/0 (1800s); 5-8 for foreigners."""
    male = sex == "M"
    if birth.year < 1900:
        if foreigner:
            raise InvalidInput("foreigner registration numbers start in 1900")
        return 9 if male else 0
    offset = 0 if birth.year < 2000 else 2
    base = 5 if foreigner else 1
    return base + offset + (0 if male else 1)


def make_rrn(birth: date, sex: str, *, foreigner: bool, serial: int) -> str:
    """A registration number ``YYMMDD-SXXXXXX`` for a birth date, sex and 5-digit serial."""
    # Digits 8-12: region/office code and serial; for foreigners digits 8-9 must be even.
    tail = f"{serial % 100000:05d}"
    if foreigner and int(tail[:2]) % 2:
        tail = f"{(int(tail[:2]) + 1) % 100:02d}{tail[2:]}"
    first12 = f"{birth:%y%m%d}{sex_century_digit(birth, sex, foreigner=foreigner)}{tail}"
    check = rrn_check_digit(first12, foreigner=foreigner)
    return f"{first12[:6]}-{first12[6:]}{check}"


def _phone(area: str, rng: np.random.Generator) -> str:
    """A landline, mobile or VoIP number in the usual hyphenated form."""
    if area in ("010", "070"):
        return f"{area}-{rng.integers(2000, 10000)}-{rng.integers(0, 10000):04d}"
    if area == "02" and rng.random() < 0.5:
        return f"02-{rng.integers(200, 1000)}-{rng.integers(0, 10000):04d}"
    return f"{area}-{rng.integers(2000, 10000)}-{rng.integers(0, 10000):04d}"


def _given(sex: str, rng: np.random.Generator) -> GivenName:
    pool = MALE_GIVEN if sex == "M" else FEMALE_GIVEN
    return pool[int(rng.integers(0, len(pool)))]


def generate_identities(
    persons: Sequence[PersonKey], *, seed: int, mrn_base: int = 10_000_000
) -> list[Identity]:
    """One deterministic identity per person (same seed, same persons: same identities)."""
    rng = np.random.default_rng([seed, 0x1D])
    n = len(persons)
    shares = np.array([s.share for s in SURNAMES])
    surname_idx = rng.choice(len(SURNAMES), size=n, p=shares / shares.sum())
    region_idx = rng.integers(0, len(REGIONS), size=n)
    foreigner = rng.random(n) < FOREIGNER_SHARE
    # MRNs are unique within a hospital: a random permutation of a block of numbers.
    mrns = mrn_base + rng.permutation(max(n * 10, 1))[:n]
    out: list[Identity] = []
    for i, p in enumerate(persons):
        if p.sex not in ("M", "F"):
            raise InvalidInput(f"person {p.person_id}: sex must be M or F")
        is_foreign = bool(foreigner[i]) and p.birth.year >= 1900
        sur = SURNAMES[int(surname_idx[i])]
        if is_foreign:
            fn_en, ln_en, name_ko = FOREIGN_NAMES[int(rng.integers(0, len(FOREIGN_NAMES)))]
            surname_ko, given_ko = name_ko[:1], name_ko[1:]
        else:
            g = _given(p.sex, rng)
            fn_en, ln_en, surname_ko, given_ko = g.roman, sur.roman, sur.hangul, g.hangul
            name_ko = surname_ko + given_ko
        reg = REGIONS[int(region_idx[i])]
        road = ROADS[int(rng.integers(0, len(ROADS)))]
        number = int(rng.integers(1, 400))
        if rng.random() < 0.3:
            # A side street: "중앙로12번길 7" / "7 Jungang-ro 12beon-gil".
            side = int(rng.integers(1, 80))
            road_ko, road_en = f"{road.hangul}{side}번길", f"{road.roman} {side}beon-gil"
        else:
            road_ko, road_en = road.hangul, road.roman
        postcode = f"{int(rng.integers(reg.postcode_lo, reg.postcode_hi + 1)):05d}"
        address_ko = f"{reg.sido_ko} {reg.sigungu_ko} {road_ko} {number}"
        address_en = f"{number} {road_en}, {reg.sigungu_en}, {reg.sido_en}"
        g_sur = SURNAMES[int(rng.integers(0, 10))]
        g_given = _given("F" if rng.random() < 0.5 else "M", rng)
        relations = PARENTS if p.birth.year > PARENT_GUARDIAN_AFTER else GUARDIAN_RELATIONS
        rel_ko, rel_en = relations[int(rng.integers(0, len(relations)))]
        local = f"{fn_en.split()[0].lower()}.{ln_en.lower()}{int(rng.integers(1, 999))}"
        home_area = "070" if rng.random() < 0.1 else reg.area_code
        out.append(
            Identity(
                person_id=p.person_id,
                sex=p.sex,
                birth=p.birth,
                foreigner=is_foreign,
                name_ko=name_ko,
                surname_ko=surname_ko,
                given_ko=given_ko,
                first_en=fn_en,
                last_en=ln_en,
                rrn=make_rrn(
                    p.birth, p.sex, foreigner=is_foreign, serial=int(rng.integers(0, 100000))
                ),
                us_ssn=(
                    f"{rng.integers(100, 900)}-{rng.integers(10, 100)}-{rng.integers(1000, 10000)}"
                    if is_foreign and rng.random() < 0.5
                    else ""
                ),
                phone_mobile=_phone("010", rng),
                phone_home=_phone(home_area, rng),
                email=f"{local}@{EMAIL_DOMAINS[int(rng.integers(0, len(EMAIL_DOMAINS)))]}",
                mrn=f"{int(mrns[i]):08d}",
                insurance_no=f"{rng.integers(1, 10)}-{rng.integers(0, 10**10):010d}",
                drivers=(
                    f"{rng.integers(11, 29)}-{rng.integers(0, 100):02d}-"
                    f"{rng.integers(0, 10**6):06d}-{rng.integers(0, 100):02d}"
                ),
                passport=f"M{rng.integers(0, 10**8):08d}",
                address_ko=address_ko,
                address_en=address_en,
                sido_ko=reg.sido_ko,
                sido_en=reg.sido_en,
                sigungu_en=reg.sigungu_en,
                postcode=postcode,
                lat=round(reg.lat + float(rng.normal(0, 0.01)), 6),
                lon=round(reg.lon + float(rng.normal(0, 0.01)), 6),
                guardian_name_ko=g_sur.hangul + g_given.hangul,
                guardian_name_en=f"{g_given.roman} {g_sur.roman}",
                guardian_relation_ko=rel_ko,
                guardian_relation_en=rel_en,
                guardian_phone=_phone("010", rng),
            )
        )
    return out


@dataclass(frozen=True)
class DoctorName:
    """A clinician's name in Hangul and romanised form."""

    name_ko: str
    name_en: str
    sex: str


def generate_doctors(n: int, *, seed: int) -> list[DoctorName]:
    """``n`` deterministic clinician names."""
    rng = np.random.default_rng([seed, 0xD0C])
    shares = np.array([s.share for s in SURNAMES])
    idx = rng.choice(len(SURNAMES), size=n, p=shares / shares.sum())
    out = []
    for i in range(n):
        sex = "F" if rng.random() < 0.4 else "M"
        g, s = _given(sex, rng), SURNAMES[int(idx[i])]
        out.append(DoctorName(s.hangul + g.hangul, f"{g.roman} {s.roman}", sex))
    return out


__all__ = [
    "DoctorName",
    "Identity",
    "PersonKey",
    "generate_doctors",
    "generate_identities",
    "make_rrn",
    "rrn_check_digit",
    "sex_century_digit",
]
