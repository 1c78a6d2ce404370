"""Signed job specs: what the hub sends to a node, and how the node knows it came from the hub.

A :class:`JobSpec` is signed with the hub's Ed25519 key over its canonical
JSON (sorted keys, no whitespace, UTF-8, datetimes as ISO-8601 with ``Z``),
so any change to any field, however small, invalidates the signature. The
node verifies with the hub's public key before it looks at anything else.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medhaven.errors import ConfigError, InvalidInput, NotFound

JobKind = Literal["cohort_count", "characterize", "incidence", "train", "evaluate", "challenge"]
JOB_KINDS: tuple[str, ...] = (
    "cohort_count",
    "characterize",
    "incidence",
    "train",
    "evaluate",
    "challenge",
)
PRIVATE_KEY_FILE = "hub_ed25519.pem"
PUBLIC_KEY_FILE = "hub_ed25519.pub.pem"


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("must carry a timezone (UTC)")
    # microseconds dropped: the signed text is the same whichever side formats it
    return value.astimezone(dt.UTC).replace(microsecond=0)


class JobSpec(BaseModel):
    """One job as the hub approved it: who asks, under which grant, what to run, where, until when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=1, max_length=200)
    project: str = Field(min_length=1, max_length=200)
    grant_id: str = Field(min_length=1, max_length=200)
    kind: JobKind
    parameters: dict[str, Any]
    targets: list[str] = Field(min_length=1)
    expires_at: dt.datetime
    issued_at: dt.datetime

    @field_validator("expires_at", "issued_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        return _utc(value)


def _default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        return _utc(obj).strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def canonical_json(spec: JobSpec) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8, datetimes ``...Z``."""
    data = spec.model_dump(mode="python")
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default
    ).encode("utf-8")


class SignedJob(BaseModel):
    """A job spec with the hub's signature and the id of the key that made it."""

    model_config = ConfigDict(extra="forbid")

    spec: JobSpec
    signature: str
    key_id: str

    def to_json(self) -> str:
        """The wire form: one JSON object (the spec in canonical form inside it)."""
        spec = json.loads(canonical_json(self.spec))
        return json.dumps(
            {"spec": spec, "signature": self.signature, "key_id": self.key_id},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> SignedJob:
        """Parse the wire form; a malformed job is ``InvalidInput`` naming the first bad field."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise InvalidInput(f"signed job: {where}: {err['msg']}") from None

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """Whether the signature is valid for this spec under ``public_key``."""
        try:
            raw = base64.b64decode(self.signature, validate=True)
            public_key.verify(raw, canonical_json(self.spec))
        except (InvalidSignature, ValueError):
            return False
        return True


def sign_job(spec: JobSpec, private_key: Ed25519PrivateKey, key_id: str) -> SignedJob:
    """Sign ``spec`` with the hub's key."""
    signature = base64.b64encode(private_key.sign(canonical_json(spec))).decode("ascii")
    return SignedJob(spec=spec, signature=signature, key_id=key_id)


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """A short stable id for a public key: the first 16 hex digits of its SHA-256."""
    from hashlib import sha256

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256(raw).hexdigest()[:16]


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def generate_hub_keypair(dir: Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair into ``dir``: private PEM (mode 0600) and public PEM.

    An existing key is never overwritten (the nodes trust it): that is a ``ConfigError``.
    """
    private_path, public_path = dir / PRIVATE_KEY_FILE, dir / PUBLIC_KEY_FILE
    if private_path.exists() or public_path.exists():
        raise ConfigError(f"--out: {dir} already holds a hub key; move it away first")
    try:
        dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"--out: cannot create {dir}", detail=str(exc)) from exc
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        _write_private(private_path, private_pem)
        tmp = public_path.with_name(f".{public_path.name}.tmp")
        tmp.write_bytes(public_pem)
        os.replace(tmp, public_path)
    except OSError as exc:
        raise InvalidInput(f"--out: cannot write the key into {dir}", detail=str(exc)) from exc
    return private_path, public_path


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such {what} file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} file", detail=str(exc)) from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The hub's Ed25519 private key from a PEM file (one-line error if missing or not one)."""
    data = _read(path, "hub private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The hub's Ed25519 public key from a PEM file (one-line error if missing or not one)."""
    data = _read(path, "hub public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise ConfigError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key")
    return key


__all__ = [
    "JOB_KINDS",
    "PRIVATE_KEY_FILE",
    "PUBLIC_KEY_FILE",
    "JobKind",
    "JobSpec",
    "SignedJob",
    "canonical_json",
    "generate_hub_keypair",
    "key_id_of",
    "load_private_key",
    "load_public_key",
    "sign_job",
]
