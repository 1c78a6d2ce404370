"""Keyed pseudonyms: HMAC-SHA256 of a normalised identifier under the site's pseudonym key.

Normalisation (so that the same person gets the same pseudonym however a
clerk typed the identifier):

1. Unicode NFKC (full-width digits and letters become ASCII, ligatures split);
2. strip leading and trailing white space;
3. case-fold (``"AbC"`` and ``"abc"`` are one identifier);
4. if what remains is a number written with spaces or hyphens
   (``"900101-1234567"``, ``"555 12 3456"``), remove the spaces and hyphens;
   otherwise collapse runs of inner white space to one space.

The ``namespace`` (for example ``"person"``, ``"mrn"``, ``"accession"``) is
mixed into the HMAC so that equal strings in different roles get unrelated
pseudonyms. The output is stable across runs and machines for the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from medhaven.errors import InvalidInput

Encoding = Literal["hex", "base32"]

_NUMBER_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_INNER_SPACE = re.compile(r"\s+")


def normalise_identifier(value: str) -> str:
    """The canonical form of an identifier that the pseudonym is computed from (see module doc)."""
    text = unicodedata.normalize("NFKC", value).strip().casefold()
    compact = _NUMBER_SEPARATORS.sub("", text)
    if compact.isdecimal():
        return compact
    return _INNER_SPACE.sub(" ", text)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) < 32:
        raise InvalidInput("a pseudonym key must be at least 32 bytes (use SiteKey.pseudonym_key)")


def _check_namespace(namespace: str) -> bytes:
    if not namespace or "\x00" in namespace:
        raise InvalidInput("a pseudonym namespace must be a non-empty string without NUL")
    return namespace.encode("utf-8")


def _digest(normalised: str, key: bytes, ns: bytes) -> bytes:
    # The NUL separator makes (namespace, value) pairs unambiguous.
    return hmac.new(key, ns + b"\x00" + normalised.encode("utf-8"), hashlib.sha256).digest()


def _encode(digest: bytes, encoding: Encoding) -> str:
    if encoding == "hex":
        return digest.hex()
    if encoding == "base32":
        return base64.b32encode(digest).decode("ascii").rstrip("=").lower()
    raise InvalidInput(f"unknown pseudonym encoding {encoding!r} (use hex or base32)")


def _check_length(length: int | None) -> None:
    # Fewer than 8 characters (32 bits) would make collisions between patients likely.
    if length is not None and not 8 <= length <= 64:
        raise InvalidInput("a pseudonym length must be between 8 and 64 characters")


def _normalise_checked(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"an identifier must be a string, not {type(value).__name__}")
    normalised = normalise_identifier(value)
    if not normalised:
        raise InvalidInput("an empty identifier cannot be pseudonymised")
    return normalised


def pseudonymize(
    value: str, key: bytes, *, namespace: str, encoding: Encoding = "hex", length: int | None = None
) -> str:
    """The keyed pseudonym of one identifier (64 hex or 52 base32 characters, or ``length``)."""
    _check_key(key)
    _check_length(length)
    ns = _check_namespace(namespace)
    out = _encode(_digest(_normalise_checked(value), key, ns), encoding)
    return out[:length] if length else out


def pseudonymize_many(
    values: Sequence[str],
    key: bytes,
    *,
    namespace: str,
    encoding: Encoding = "hex",
    length: int | None = None,
) -> list[str]:
    """Pseudonyms for many identifiers in order, computing the HMAC once per distinct identifier."""
    _check_key(key)
    _check_length(length)
    ns = _check_namespace(namespace)
    by_raw: dict[str, str] = {}
    by_normalised: dict[str, str] = {}
    out: list[str] = []
    for value in values:
        cached = by_raw.get(value)
        if cached is None:
            normalised = _normalise_checked(value)
            cached = by_normalised.get(normalised)
            if cached is None:
                cached = _encode(_digest(normalised, key, ns), encoding)
                if length:
                    cached = cached[:length]
                by_normalised[normalised] = cached
            by_raw[value] = cached
        out.append(cached)
    return out


__all__ = ["Encoding", "normalise_identifier", "pseudonymize", "pseudonymize_many"]
