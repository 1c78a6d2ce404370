"""Secrets of the hub: argon2id password hashes, random tokens stored as SHA-256, CSRF.

A password is only ever held as an argon2id hash. API tokens, session cookies
and CSRF tokens are 256-bit random strings: only their SHA-256 is stored, so a
copy of the database cannot be replayed. None of these values is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's current (RFC 9106 low-memory) defaults
_DUMMY_HASH = _HASHER.hash("medhaven-timing-equaliser")
MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "mht_"  # noqa: S105 - a prefix that makes leaked tokens greppable, not a secret


def set_password_cost(*, time_cost: int, memory_cost_kib: int, parallelism: int = 1) -> None:
    """Change the argon2id cost for new hashes (tests lower it; production keeps the defaults)."""
    global _HASHER, _DUMMY_HASH
    _HASHER = PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost_kib, parallelism=parallelism
    )
    _DUMMY_HASH = _HASHER.hash("medhaven-timing-equaliser")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; runs a full verify even for unknown users (timing)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


def new_secret(prefix: str = "") -> str:
    """A fresh URL-safe 256-bit secret."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The SHA-256 hex digest under which a high-entropy secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(secret: str, stored: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(digest(secret), stored)


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "digest",
    "hash_password",
    "needs_rehash",
    "new_secret",
    "same_digest",
    "set_password_cost",
    "verify_password",
]
