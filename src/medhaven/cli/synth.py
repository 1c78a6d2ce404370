"""``medhaven synth``: synthetic hospitals as OMOP CDM, and raw extracts with identifiers."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.cli.common import console, print_json, progress
from medhaven.errors import InvalidInput


def synth(
    hospitals: int = typer.Option(3, "--hospitals", help="Number of hospitals (1 or more)."),
    persons: int = typer.Option(1000, "--persons", help="Persons per hospital (1 or more)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same data."),
    out: Path = typer.Option(..., "--out", help="Output directory (created if missing)."),
    raw: bool = typer.Option(
        False, "--raw", help="Also write raw extracts with identifiers (DIR/<slug>/raw)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Generate synthetic hospitals: DIR/hospitals.json and one DIR/<slug>/cdm.duckdb per hospital.

    Each CDM has every OMOP v5.4 table, the shipped vocabulary and cdm_source
    filled. Hospitals differ in age mix, prevalence and coding habits.
    """
    # Checked here (not by Typer's min=) so the error is one line and uses our exit codes.
    if hospitals < 1:
        raise InvalidInput("--hospitals: must be at least 1")
    if persons < 1:
        raise InvalidInput("--persons: must be at least 1")
    from medhaven.synth.writer import write_hospitals

    with progress(enabled=not as_json) as bar:
        task = bar.add_task("generating hospitals", total=hospitals)
        manifest = write_hospitals(
            out,
            hospitals=hospitals,
            persons=persons,
            seed=seed,
            raw=raw,
            on_hospital=lambda _p: bar.advance(task),
        )
    if as_json:
        print_json(manifest.to_dict())
        return
    for h in manifest.hospitals:
        console.print(f"{h.slug}: {h.name_en} / {h.name_ko} ({h.persons} persons) -> {out / h.cdm}")
    console.print(f"manifest: {out / 'hospitals.json'}")


__all__ = ["synth"]
