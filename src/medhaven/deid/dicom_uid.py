"""Keyed replacement of DICOM UIDs: ``2.25.<decimal of 128 bits of HMAC-SHA256(uid_key, uid)>``.

The same original UID always maps to the same replacement under one site key,
in every file and in every run, so references between instances
(Referenced SOP Instance UID, Frame of Reference UID, ...) still resolve after
de-identification. Without the key the mapping cannot be inverted or
recomputed. The ``2.25`` root (ISO/IEC 9834-8, PS3.5 B.2) allows a UID made
of a 128-bit integer, so no organisation root is needed; the result is at
most 44 characters, digits and dots only.
"""

from __future__ import annotations

import hmac

from medhaven.errors import InvalidInput

UID_ROOT = "2.25."
DICOM_ROOT = "1.2.840.10008."
"""UIDs under this root are defined by the standard (classes, syntaxes, coding schemes)."""


def replacement_uid(uid: str, key: bytes) -> str:
    """The keyed replacement of one UID (trailing NUL or space padding is ignored)."""
    if not isinstance(key, bytes | bytearray) or len(key) < 32:
        raise InvalidInput("a UID key must be at least 32 bytes (use SiteKey.uid_key)")
    value = uid.strip("\x00 ")
    digest = hmac.new(key, b"medhaven/dicom-uid\x00" + value.encode("ascii", "replace"), "sha256")
    number = int.from_bytes(digest.digest()[:16], "big")
    return UID_ROOT + str(number)


def is_standard_uid(uid: str) -> bool:
    """Whether a UID is one the standard defines (kept as is: it identifies no one)."""
    return uid.strip("\x00 ").startswith(DICOM_ROOT)


class UidMapper:
    """Replacement UIDs with a per-run cache (the HMAC is computed once per distinct UID)."""

    __slots__ = ("_cache", "_key")

    def __init__(self, key: bytes) -> None:
        replacement_uid("1", key)  # validates the key once, up front
        self._key = bytes(key)
        self._cache: dict[str, str] = {}

    def __call__(self, uid: str) -> str:
        """The replacement for ``uid`` (an empty UID stays empty)."""
        value = uid.strip("\x00 ")
        if not value:
            return ""
        out = self._cache.get(value)
        if out is None:
            out = replacement_uid(value, self._key)
            self._cache[value] = out
        return out

    def __repr__(self) -> str:
        return f"UidMapper(cached={len(self._cache)})"


__all__ = ["DICOM_ROOT", "UID_ROOT", "UidMapper", "is_standard_uid", "replacement_uid"]
