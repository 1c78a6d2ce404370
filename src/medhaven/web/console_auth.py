"""Node console accounts and sessions: custodians of one hospital node, nothing shared with the hub.

Accounts live in a JSON file beside ``node.toml`` (``console_users``, mode
0600): an email and an argon2id hash (:mod:`medhaven.hub.security`), never a
password. A session is a cookie signed with HMAC-SHA-256 under a key made
when the console starts (a restart signs everybody out); it carries the
email, an expiry and the session's CSRF token, which every form sends back.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medhaven.errors import ConfigError, InvalidInput
from medhaven.hub.security import MIN_PASSWORD_LENGTH, hash_password, verify_password

SESSION_COOKIE = "medhaven_console"
SESSION_SECONDS = 8 * 3600
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}")


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"users": {}}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a console users file") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("users"), dict):
        raise ConfigError(f"{path}: not a console users file")
    return doc


def add_user(path: Path, email: str, password: str) -> bool:
    """Create or reset a console account; True when it is new. The file is written 0600."""
    address = email.strip().lower()
    if not _EMAIL.fullmatch(address):
        raise InvalidInput("--email: not an email address")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    doc = _read(path)
    new = address not in doc["users"]
    doc["users"][address] = {"hash": hash_password(password),
                             "set_at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return new


def users(path: Path) -> list[str]:
    """The console accounts' emails."""
    return sorted(_read(path)["users"])


def check_password(path: Path, email: str, password: str) -> str | None:
    """The account's email when the password matches, else None (a full verify either way)."""
    address = email.strip().lower()
    entry = _read(path)["users"].get(address)
    stored = entry.get("hash") if isinstance(entry, dict) else None
    ok = verify_password(stored if isinstance(stored, str) else None, password)
    return address if ok else None


@dataclass(frozen=True)
class Session:
    """A signed-in custodian: their email and the session's CSRF token."""

    email: str
    csrf: str


class Sessions:
    """Issues and checks signed session cookies under a key of this process."""

    def __init__(self, key: bytes | None = None, seconds: int = SESSION_SECONDS) -> None:
        self._key = key or secrets.token_bytes(32)
        self._seconds = seconds

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")

    def issue(self, email: str) -> tuple[str, Session]:
        """A cookie value for ``email`` and the session it opens."""
        session = Session(email, secrets.token_urlsafe(24))
        payload = {"e": email, "c": session.csrf, "x": int(time.time()) + self._seconds}
        raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        body = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        return f"{body}.{self._sign(body)}", session

    def check(self, cookie: str | None) -> Session | None:
        """The session of a valid, unexpired cookie; None otherwise."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._sign(body)):
            return None
        try:
            doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            email, csrf, expiry = str(doc["e"]), str(doc["c"]), int(doc["x"])
        except (ValueError, KeyError, TypeError):
            return None
        return Session(email, csrf) if expiry > time.time() else None


def same_token(sent: str | None, expected: str) -> bool:
    """Constant-time CSRF comparison."""
    return bool(sent) and hmac.compare_digest(str(sent), expected)


__all__ = [
    "SESSION_COOKIE",
    "Session",
    "Sessions",
    "add_user",
    "check_password",
    "same_token",
    "users",
]
