"""Node console sessions (accounts: :mod:`medhaven.federation.console_users`).

A session is a cookie signed with HMAC-SHA-256 under a key made
when the console starts (a restart signs everybody out); it carries the
email, an expiry and the session's CSRF token, which every form sends back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "medhaven_console"
SESSION_SECONDS = 8 * 3600


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


__all__ = ["SESSION_COOKIE", "Session", "Sessions", "same_token"]
