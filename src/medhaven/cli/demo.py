"""``medhaven demo``: the whole system on one machine, on generated hospitals."""

from __future__ import annotations

from medhaven.errors import InvalidInput


def demo() -> None:
    """Run the demo."""
    raise InvalidInput("demo is being built in this change")
