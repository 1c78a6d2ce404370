"""``medhaven cdm check``: DataQualityDashboard-style checks on a CDM store."""

from __future__ import annotations

from medhaven.errors import InvalidInput


def check() -> None:
    """Run quality checks (being built in this change)."""
    raise InvalidInput("cdm check is being built in this change")
