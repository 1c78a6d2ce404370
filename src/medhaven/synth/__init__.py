"""Synthetic hospitals: OMOP CDM generator, raw extracts with identifiers, notes."""
