"""Keyed pseudonyms: HMAC-SHA256 of the normalised identifier, stable, keyed, computed once."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys

import pytest

import medhaven.deid.pseudonym as pseudonym_mod
from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import normalise_identifier, pseudonymize, pseudonymize_many
from medhaven.errors import InvalidInput

KEY = SiteKey(bytes(range(32))).pseudonym_key
OTHER = SiteKey(bytes(range(1, 33))).pseudonym_key


def _expected(text: str, key: bytes, ns: str) -> str:
    return hmac.new(key, ns.encode() + b"\x00" + text.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  AbC-12  ", "abc-12"),
        ("900101-1234567", "9001011234567"),
        ("555 12 3456", "555123456"),
        ("９００１０１－１２３４５６７", "9001011234567"),  # full-width digits and hyphen (NFKC)
        ("Straße", "strasse"),
        ("Kim   Min  Jun", "kim min jun"),
        ("ﬁle", "file"),
    ],
)
def test_normalisation(raw: str, normal: str) -> None:
    assert normalise_identifier(raw) == normal


def test_pseudonym_is_hmac_sha256_of_normalised_identifier() -> None:
    assert pseudonymize(" 900101-1234567 ", KEY, namespace="rrn") == _expected(
        "9001011234567", KEY, "rrn"
    )


def test_same_identifier_written_differently_gives_same_pseudonym() -> None:
    forms = ["555-12-3456", "555 12 3456", "５５５１２３４５６", "555123456 "]
    assert len({pseudonymize(f, KEY, namespace="ssn") for f in forms}) == 1


def test_other_key_or_namespace_gives_other_pseudonym() -> None:
    a = pseudonymize("MRN-001", KEY, namespace="mrn")
    assert a != pseudonymize("MRN-001", OTHER, namespace="mrn")
    assert a != pseudonymize("MRN-001", KEY, namespace="person")


def test_base32_encoding_and_length() -> None:
    b32 = pseudonymize("x1", KEY, namespace="n", encoding="base32")
    assert len(b32) == 52 and b32 == b32.lower()
    assert pseudonymize("x1", KEY, namespace="n", length=20) == _expected("x1", KEY, "n")[:20]


def test_stable_across_processes() -> None:
    code = (
        "from medhaven.deid.keys import SiteKey;"
        "from medhaven.deid.pseudonym import pseudonymize;"
        "print(pseudonymize('Patient-42', SiteKey(bytes(range(32))).pseudonym_key, namespace='p'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == pseudonymize("Patient-42", KEY, namespace="p")


def test_many_matches_single_and_keeps_order() -> None:
    values = ["b", "a", "B ", "c", "a"]
    assert pseudonymize_many(values, KEY, namespace="p") == [
        pseudonymize(v, KEY, namespace="p") for v in values
    ]


def test_many_computes_once_per_distinct_identifier(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = pseudonym_mod._digest

    def spy(normalised: str, key: bytes, ns: bytes) -> bytes:
        calls.append(normalised)
        return real(normalised, key, ns)

    monkeypatch.setattr(pseudonym_mod, "_digest", spy)
    values = ["id-1", "ID-1", "id-2", "id-1", " id-2 ", "id-3"] * 100
    out = pseudonymize_many(values, KEY, namespace="p")
    assert len(out) == 600
    assert sorted(calls) == ["id-1", "id-2", "id-3"]


@pytest.mark.parametrize("bad", ["", "   ", "\u3000"])
def test_empty_identifier_is_rejected(bad: str) -> None:
    with pytest.raises(InvalidInput, match="empty identifier"):
        pseudonymize(bad, KEY, namespace="p")


def test_short_key_and_bad_namespace_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="at least 32 bytes"):
        pseudonymize("x", b"short", namespace="p")
    with pytest.raises(InvalidInput, match="namespace"):
        pseudonymize("x", KEY, namespace="")


def test_error_messages_do_not_echo_the_identifier() -> None:
    with pytest.raises(InvalidInput) as info:
        pseudonymize("secret-id", b"short", namespace="p")
    assert "secret-id" not in str(info.value)


def test_too_short_pseudonym_length_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="between 8 and 64"):
        pseudonymize("x", KEY, namespace="p", length=4)
    with pytest.raises(InvalidInput, match="between 8 and 64"):
        pseudonymize_many(["x"], KEY, namespace="p", length=4)
