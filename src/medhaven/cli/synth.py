"""``medhaven synth``: synthetic hospitals as OMOP CDM, and raw extracts with identifiers."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.errors import InvalidInput


def synth(
    hospitals: int = typer.Option(3, "--hospitals", min=1, help="Number of hospitals."),
    persons: int = typer.Option(1000, "--persons", min=1, help="Persons per hospital."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same data."),
    out: Path = typer.Option(..., "--out", help="Output directory."),
    raw: bool = typer.Option(False, "--raw", help="Also write raw extracts with identifiers."),
) -> None:
    """Generate synthetic hospitals (one DuckDB CDM per hospital)."""
    raise InvalidInput("synth is being built in this change")
