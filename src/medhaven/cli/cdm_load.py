"""``medhaven cdm load``: load an OMOP CDM export (CSV or Parquet, folder or zip) into a store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from medhaven.cdm.loader import LoadReport, load_cdm, source_tables
from medhaven.cdm.store import opened
from medhaven.cli.common import console, print_json, progress


def _show(report: LoadReport) -> None:
    """A Rich table of rows added per table, then one summary line."""
    view = Table(title=f"Loaded into {report.store}")
    view.add_column("table")
    view.add_column("rows added", justify="right")
    for name, rows in report.tables.items():
        view.add_row(name, f"{rows:,}")
    console.print(view)
    console.print(
        f"{report.total_rows:,} rows in {len(report.tables)} tables in {report.seconds:.1f} s"
    )


def load(
    db: str = typer.Option(
        ...,
        "--db",
        help="Target store: a DuckDB file path (created if missing) or a postgresql:// URL "
        "(optional ?schema=NAME).",
    ),
    source: Path = typer.Option(
        ...,
        "--source",
        help="A folder or .zip of one CSV or Parquet file per CDM table (PERSON.csv, "
        "person.parquet, ...; any case).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the load report as JSON on stdout instead of a table."
    ),
) -> None:
    """Load an OMOP CDM v5.4 export into a store, all or nothing.

    Values are checked against the CDM v5.4 specification (types, required
    fields, varchar lengths, unique primary keys, person ids). On any problem
    nothing is written and a one-line error names the file, row and field.
    """
    tables = source_tables(source)
    # A bar on a non-terminal stderr only adds blank lines around the one-line error.
    show_bar = not as_json and console.is_terminal
    with opened(db) as store, progress(enabled=show_bar) as bar:
        task = bar.add_task("loading", total=2 * len(tables))

        def step(what: str, rows: int) -> None:
            bar.update(task, advance=1, description=f"{what} ({rows:,} rows)")

        report = load_cdm(store, source, on_progress=step)
    if as_json:
        print_json(report.as_dict())
    else:
        _show(report)


__all__ = ["load"]
