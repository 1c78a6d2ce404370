"""``medhaven cdm check``: DataQualityDashboard-style checks on a CDM store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from medhaven.cdm.checks import CheckReport, run_checks
from medhaven.cdm.store import opened
from medhaven.cli.common import console, print_json, progress
from medhaven.errors import CheckFailed, InvalidInput

_IS_URL = ("postgresql://", "postgresql+psycopg://", "postgres://")


def _show(report: CheckReport) -> None:
    """A Rich table of the failed and errored checks, then one summary line."""
    problems = report.problems()
    if problems:
        view = Table(title=f"Checks that did not pass on {report.location}")
        for name, justify in [
            ("status", "left"),
            ("check", "left"),
            ("target", "left"),
            ("violated", "right"),
            ("of", "right"),
            ("%", "right"),
            ("threshold %", "right"),
            ("message", "left"),
        ]:
            view.add_column(name, justify=justify)  # type: ignore[arg-type]
        for r in problems:
            view.add_row(
                "[red]error[/red]" if r.status == "error" else "[yellow]fail[/yellow]",
                r.check,
                r.target,
                "-" if r.violated is None else f"{r.violated:,}",
                "-" if r.denominator is None else f"{r.denominator:,}",
                "-" if r.percent is None else f"{r.percent:.2f}",
                f"{r.threshold:g}",
                r.message or "",
            )
        console.print(view)
    console.print(
        f"{len(report.results)} checks: {report.passed} passed, {report.failed} failed, "
        f"{report.errors} errors ({report.seconds:.1f} s)"
    )


def check(
    db: str = typer.Option(
        ...,
        "--db",
        help="The CDM store to check: a DuckDB file path or a postgresql:// URL "
        "(optional ?schema=NAME). A DuckDB file is opened read-only.",
    ),
    table: list[str] = typer.Option(
        None,
        "--table",
        "-t",
        help="Check only this table (repeat for several). Default: every CDM and "
        "vocabulary table of OMOP CDM v5.4.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the full report (every check) as JSON on stdout."
    ),
) -> None:
    """Run data-quality checks (OHDSI DataQualityDashboard style) on an OMOP CDM store.

    Table, field and concept level: table and field presence, person
    completeness, required fields, integer datatypes, primary and foreign keys,
    concept domains, standard valid concepts, plausible measurement values and
    plausible dates (after birth, during life, start before end). Exits 0 when
    every check passes, otherwise with the check_failed exit code after
    printing the report. A check whose query fails is reported as an error.
    """
    if not db.startswith(_IS_URL) and not Path(db).is_file():
        raise InvalidInput(f"no CDM store at {db}: not a DuckDB file or postgresql:// URL")
    with opened(db, read_only=True) as store, progress(enabled=not as_json) as bar:
        task = bar.add_task("checking", total=None)

        def step(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        report = run_checks(store, tables=table or None, on_progress=step)
    if as_json:
        print_json(report.to_dict())
    else:
        _show(report)
    if not report.ok:
        raise CheckFailed(
            f"{report.failed} checks failed and {report.errors} could not run on {report.location}"
        )


__all__ = ["check"]
