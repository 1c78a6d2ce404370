"""Synthetic hospitals: OMOP CDM generator, raw extracts with identifiers, notes."""

__all__: list[str] = []
