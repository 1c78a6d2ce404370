"""Site keys: one secret of 32 random bytes per hospital, and the sub-keys derived from it.

A site key is the root secret of a node's de-identification. It is kept apart
from the data (its own file, mode 0600) and never written to a log, a report
or an error message. Each purpose uses its own sub-key, derived with
HKDF-SHA256 under a distinct ``info`` label, so that knowing one sub-key (for
example a date-shift key handed to a DICOM tool) reveals nothing about the
others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path
from typing import NewType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from medhaven.errors import InvalidInput

KEY_BYTES = 32
"""Length of a site key and of every derived sub-key, in bytes."""

PseudonymKey = NewType("PseudonymKey", bytes)
DateShiftKey = NewType("DateShiftKey", bytes)
UidKey = NewType("UidKey", bytes)

# Versioned labels: changing one would change every pseudonym of a site, so
# they are part of the on-disk contract, like the key itself.
_INFO_PSEUDONYM = b"medhaven/deid/pseudonym/v1"
_INFO_DATE_SHIFT = b"medhaven/deid/date-shift/v1"
_INFO_UID = b"medhaven/deid/dicom-uid/v1"
_INFO_FINGERPRINT = b"medhaven/deid/key-fingerprint/v1"


class KeyFileError(InvalidInput):
    """A site key file is missing, unreadable, of the wrong length, or would be overwritten."""


def _derive(root: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(root)


class SiteKey:
    """A hospital's de-identification root key; its bytes never appear in ``repr`` or ``str``."""

    __slots__ = ("_raw",)

    def __init__(self, raw: bytes) -> None:
        if not isinstance(raw, bytes | bytearray) or len(raw) != KEY_BYTES:
            raise KeyFileError(f"a site key must be exactly {KEY_BYTES} bytes")
        self._raw = bytes(raw)

    @classmethod
    def generate(cls) -> SiteKey:
        """A new key of 32 bytes from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SiteKey:
        """Read a key file written by :meth:`write` (exactly 32 raw bytes)."""
        p = Path(path)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            raise KeyFileError(f"key file {p} does not exist") from None
        except IsADirectoryError:
            raise KeyFileError(f"key file {p} is a directory") from None
        except OSError as exc:
            raise KeyFileError(
                f"key file {p} cannot be read ({exc.strerror or type(exc).__name__})"
            ) from None
        if len(raw) != KEY_BYTES:
            # The length is safe to report; the content never is.
            raise KeyFileError(
                f"key file {p} holds {len(raw)} bytes, expected {KEY_BYTES}"
                " (write one with `medhaven deid keygen --out FILE`)"
            )
        return cls(raw)

    def write(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the key to ``path`` with mode 0600: aside first, then renamed into place."""
        target = Path(path)
        if target.exists() and not overwrite:
            raise KeyFileError(f"key file {target} already exists (use --force to replace it)")
        if not target.parent.is_dir():
            raise KeyFileError(f"directory {target.parent} does not exist")
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise KeyFileError(
                f"cannot write key file in {target.parent} ({exc.strerror or type(exc).__name__})"
            ) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)  # the umask cannot widen it, but be explicit
            if overwrite:
                os.replace(tmp, target)
            else:
                # link() fails if the target appeared meanwhile: no silent overwrite race.
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise KeyFileError(
                        f"key file {target} already exists (use --force to replace it)"
                    ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return target

    @property
    def pseudonym_key(self) -> PseudonymKey:
        """Sub-key for HMAC pseudonyms of identifiers."""
        return PseudonymKey(_derive(self._raw, _INFO_PSEUDONYM))

    @property
    def date_shift_key(self) -> DateShiftKey:
        """Sub-key for the per-patient date shift."""
        return DateShiftKey(_derive(self._raw, _INFO_DATE_SHIFT))

    @property
    def uid_key(self) -> UidKey:
        """Sub-key for replacement DICOM UIDs."""
        return UidKey(_derive(self._raw, _INFO_UID))

    @property
    def fingerprint(self) -> str:
        """A short public id of the key (safe to log): tells two keys apart, reveals nothing."""
        return hashlib.sha256(_derive(self._raw, _INFO_FINGERPRINT)).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"SiteKey(fingerprint={self.fingerprint})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SiteKey):
            return NotImplemented
        return secrets.compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would copy the secret into job payloads or caches unnoticed.
        raise TypeError("SiteKey cannot be pickled")


__all__ = [
    "KEY_BYTES",
    "DateShiftKey",
    "KeyFileError",
    "PseudonymKey",
    "SiteKey",
    "UidKey",
]
