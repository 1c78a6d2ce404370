"""Node console accounts: custodians of one hospital node, nothing shared with the hub.

Accounts live in a JSON file beside ``node.toml`` (``console_users``, mode
0600): an email and an argon2id hash (:mod:`medhaven.hub.security`), never a
password. :mod:`medhaven.web.console` signs them in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

from medhaven.errors import ConfigError, InvalidInput
from medhaven.hub.security import MIN_PASSWORD_LENGTH, hash_password, verify_password

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


__all__ = ["add_user", "check_password", "users"]
