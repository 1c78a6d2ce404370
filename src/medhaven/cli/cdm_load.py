"""``medhaven cdm load``: load an OMOP CDM export (CSV or Parquet, folder or zip) into a store."""

from __future__ import annotations

from medhaven.errors import InvalidInput


def load() -> None:
    """Load an OMOP CDM export into a store (being built in this change)."""
    raise InvalidInput("cdm load is being built in this change")
