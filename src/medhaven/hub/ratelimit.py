"""A sliding-window limit on login attempts per client address (in this process).

Account lockout (in the database, across processes) stops guessing one
account's password; this limit stops one client from trying many accounts.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from medhaven.errors import RateLimited


class LoginLimiter:
    """At most ``attempts`` login attempts per ``window_s`` seconds per client."""

    def __init__(self, *, attempts: int = 30, window_s: float = 60.0) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, client: str) -> None:
        """Count one attempt; raise :class:`RateLimited` over the limit."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.attempts:
                raise RateLimited("too many login attempts from this address; wait a minute")
            seen.append(now)


__all__ = ["LoginLimiter"]
