"""Site keys: generation, file handling, sub-key derivation, and that the key never leaks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from medhaven.deid.keys import KEY_BYTES, KeyFileError, SiteKey
from medhaven.errors import InvalidInput

RAW = bytes(range(32))


def _leak_forms(raw: bytes) -> list[str]:
    return [
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b32encode(raw).decode().rstrip("="),
        repr(raw),
    ]


def test_write_then_load_round_trips_with_mode_0600(tmp_path: Path) -> None:
    key = SiteKey.generate()
    path = key.write(tmp_path / "site.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size == KEY_BYTES
    assert SiteKey.load(path) == key
    assert [p.name for p in tmp_path.iterdir()] == ["site.key"]  # no temp file left behind


def test_generate_gives_distinct_keys() -> None:
    assert SiteKey.generate() != SiteKey.generate()


def test_write_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    first = SiteKey.generate()
    path = first.write(tmp_path / "site.key")
    second = SiteKey.generate()
    with pytest.raises(KeyFileError, match="already exists"):
        second.write(path)
    assert SiteKey.load(path) == first  # the old key is intact
    second.write(path, overwrite=True)
    assert SiteKey.load(path) == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_key_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"does not exist"):
        SiteKey.load(tmp_path / "nope.key")


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_wrong_length_key_file_is_a_typed_error_without_content(tmp_path: Path, size: int) -> None:
    raw = bytes((i * 7 + 3) % 256 for i in range(size))
    path = tmp_path / "bad.key"
    path.write_bytes(raw)
    with pytest.raises(KeyFileError) as info:
        SiteKey.load(path)
    msg = str(info.value)
    assert f"holds {size} bytes" in msg and "bad.key" in msg
    assert "\n" not in msg
    if size >= 8:
        for form in _leak_forms(raw):
            assert form not in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_key_file_is_a_typed_error(tmp_path: Path) -> None:
    path = SiteKey.generate().write(tmp_path / "site.key")
    path.chmod(0o000)
    try:
        with pytest.raises(KeyFileError, match="cannot be read"):
            SiteKey.load(path)
    finally:
        path.chmod(0o600)


def test_key_file_error_is_invalid_input() -> None:
    assert issubclass(KeyFileError, InvalidInput)


def test_repr_str_and_errors_never_contain_key_bytes(tmp_path: Path) -> None:
    key = SiteKey(RAW)
    texts = [repr(key), str(key), f"{key}", key.fingerprint]
    with pytest.raises(KeyFileError) as info:
        SiteKey(RAW).write(tmp_path / "missing-dir" / "k.key")
    texts.append(str(info.value))
    for text in texts:
        for raw in (RAW, key.pseudonym_key, key.date_shift_key, key.uid_key):
            for form in _leak_forms(raw):
                assert form not in text


def test_key_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(SiteKey(RAW))


def test_sub_keys_are_hkdf_sha256_with_distinct_labels() -> None:
    key = SiteKey(RAW)

    def hkdf(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(RAW)

    assert key.pseudonym_key == hkdf(b"medhaven/deid/pseudonym/v1")
    assert key.date_shift_key == hkdf(b"medhaven/deid/date-shift/v1")
    assert key.uid_key == hkdf(b"medhaven/deid/dicom-uid/v1")
    subs = {key.pseudonym_key, key.date_shift_key, key.uid_key, RAW}
    assert len(subs) == 4
    assert all(len(s) == 32 for s in subs)


def test_sub_keys_differ_between_sites() -> None:
    a, b = SiteKey(RAW), SiteKey(bytes(reversed(RAW)))
    assert a.pseudonym_key != b.pseudonym_key
    assert a.fingerprint != b.fingerprint
    # A sub-key is not a plain HMAC of the label (it is HKDF expand over an extracted PRK).
    assert a.pseudonym_key != hmac.new(RAW, b"medhaven/deid/pseudonym/v1", hashlib.sha256).digest()


def test_constructor_rejects_wrong_length() -> None:
    with pytest.raises(KeyFileError, match="exactly 32 bytes"):
        SiteKey(b"short")


def test_directory_instead_of_key_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="is a directory"):
        SiteKey.load(tmp_path)


def test_permission_denied_is_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Running as root makes chmod 000 ineffective, so the OS refusal is simulated here.
    path = SiteKey.generate().write(tmp_path / "site.key")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(KeyFileError, match=r"cannot be read \(Permission denied\)"):
        SiteKey.load(path)
