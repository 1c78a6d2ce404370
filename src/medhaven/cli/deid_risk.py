"""``medhaven deid risk``."""

from __future__ import annotations

from medhaven.errors import InvalidInput


def risk() -> None:
    """Being built in this change."""
    raise InvalidInput("deid risk is being built in this change")
