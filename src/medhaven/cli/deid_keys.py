"""``medhaven deid keygen``."""

from __future__ import annotations

from medhaven.errors import InvalidInput


def keygen() -> None:
    """Being built in this change."""
    raise InvalidInput("deid keygen is being built in this change")
