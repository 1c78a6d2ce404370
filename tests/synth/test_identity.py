"""Synthetic Korean identities: registration numbers, phones, names, determinism."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import pytest

from medhaven.errors import InvalidInput
from medhaven.synth.identity import PersonKey, generate_identities, make_rrn, rrn_check_digit

MOBILE = re.compile(r"^010-\d{4}-\d{4}$")
LANDLINE = re.compile(
    r"^(02-\d{3,4}-\d{4}|0(3[1-3]|4[1-4]|5[1-5]|6[1-4])-\d{3,4}-\d{4}|070-\d{4}-\d{4})$"
)


def independent_check(rrn: str) -> bool:
    """Registration-number checksum written from the published rule, not from the code."""
    digits = [int(c) for c in rrn.replace("-", "")]
    weights = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]
    s = sum(d * w for d, w in zip(digits[:12], weights, strict=True))
    foreigner = digits[6] in (5, 6, 7, 8)
    expected = ((13 if foreigner else 11) - s % 11) % 10
    return digits[12] == expected


def persons(n: int) -> list[PersonKey]:
    births = [date(1890 + (i * 7) % 130, 1 + i % 12, 1 + i % 28) for i in range(n)]
    return [PersonKey(i + 1, births[i], "M" if i % 2 else "F") for i in range(n)]


def test_known_rrn_check_digit_matches_published_example() -> None:
    # Worked by hand: weighted sum 124, 124 mod 11 = 3, 11 - 3 = 8.
    assert rrn_check_digit("900101123456") == 8


def test_rrn_has_valid_check_digit_and_century_sex_digit() -> None:
    people = persons(2000)
    idents = generate_identities(people, seed=3)
    for p, ident in zip(people, idents, strict=True):
        assert re.fullmatch(r"\d{6}-\d{7}", ident.rrn)
        assert independent_check(ident.rrn)
        assert ident.rrn[:6] == p.birth.strftime("%y%m%d")
        s = int(ident.rrn[7])
        century = {9: 1800, 0: 1800, 1: 1900, 2: 1900, 5: 1900, 6: 1900}.get(s, 2000)
        assert century == p.birth.year // 100 * 100
        male = s in (1, 3, 5, 7, 9)
        assert male == (p.sex == "M")
        assert (s in (5, 6, 7, 8)) == ident.foreigner


def test_some_foreigner_registration_numbers() -> None:
    idents = generate_identities(persons(3000), seed=5)
    foreign = [i for i in idents if i.foreigner]
    assert 20 < len(foreign) < 250
    assert all(int(i.rrn[8:10]) % 2 == 0 for i in foreign)


def test_phone_numbers_follow_korean_numbering() -> None:
    for ident in generate_identities(persons(500), seed=1):
        assert MOBILE.match(ident.phone_mobile)
        assert MOBILE.match(ident.guardian_phone)
        assert LANDLINE.match(ident.phone_home), ident.person_id


def test_surnames_follow_census_order() -> None:
    idents = generate_identities(persons(5000), seed=2)
    counts = Counter(i.surname_ko for i in idents if not i.foreigner)
    top = [s for s, _ in counts.most_common(3)]
    assert top == ["김", "이", "박"]
    assert 0.17 < counts["김"] / sum(counts.values()) < 0.26


def test_addresses_and_postcodes_are_korean_forms() -> None:
    for ident in generate_identities(persons(300), seed=4):
        assert re.fullmatch(r"\d{5}", ident.postcode)
        assert re.search(r"(로|길) \d+$", ident.address_ko)
        assert re.match(r"^\d+ .*(-ro|-gil|daero)", ident.address_en)
        assert re.fullmatch(r"[a-z.]+\d+@[a-z]+\.(com|net)", ident.email)


def test_identities_are_deterministic_for_a_seed() -> None:
    a = generate_identities(persons(50), seed=9)
    assert a == generate_identities(persons(50), seed=9)
    assert a != generate_identities(persons(50), seed=10)


def test_mrns_are_unique() -> None:
    idents = generate_identities(persons(3000), seed=6)
    assert len({i.mrn for i in idents}) == 3000


def test_bad_sex_is_rejected_without_values() -> None:
    with pytest.raises(InvalidInput, match="person 1: sex"):
        generate_identities([PersonKey(1, date(1980, 1, 1), "X")], seed=1)


def test_foreigner_before_1900_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        make_rrn(date(1899, 1, 1), "M", foreigner=True, serial=1)
