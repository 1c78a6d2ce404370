"""``medhaven deid risk``: re-identification risk of a table and the release-gate verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from medhaven.cli.common import console, print_json, progress
from medhaven.deid.risk import RiskReport, measure_risk
from medhaven.deid.risk_gate import GateVerdict, ReleaseRefused, evaluate_release
from medhaven.deid.risk_input import read_table
from medhaven.errors import InvalidInput


def _columns(text: str, option: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise InvalidInput(f"{option} needs at least one column name")
    return names


def _print_human(report: RiskReport, verdict: GateVerdict) -> None:
    table = Table(title=f"Re-identification risk ({report.records} records)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows: list[tuple[str, Any]] = [
        ("quasi-identifiers", ", ".join(report.quasi_identifiers)),
        ("equivalence classes", report.equivalence_classes),
        ("k-anonymity", report.k),
        ("distinct l-diversity", "-" if report.l_diversity is None else report.l_diversity),
        ("prosecutor risk: highest", f"{report.prosecutor.highest:.4f}"),
        (
            f"prosecutor risk: share of records > {report.threshold}",
            f"{report.prosecutor.share_above_threshold:.4f}",
        ),
        ("prosecutor risk: average", f"{report.prosecutor.average:.4f}"),
        ("journalist risk: highest", f"{report.journalist.highest:.4f}"),
        ("journalist risk: average", f"{report.journalist.average:.4f}"),
        ("marketer risk", f"{report.marketer:.4f}"),
        ("population", report.population),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    if verdict.released:
        console.print(
            f"release gate: PASS (k >= {verdict.k_min}, average <= {verdict.max_avg_risk})"
        )
        return
    console.print("release gate: REFUSED: " + "; ".join(verdict.reasons))
    if verdict.suggestion is not None:
        s = verdict.suggestion
        console.print(
            f"suggestion: {s.description} (k = {s.k}, average risk = {s.average_risk:.4f})"
        )
    else:
        console.print("suggestion: no generalisation in the search lattice passes")


def risk(
    input_path: Path = typer.Option(
        ..., "--input", help="The table to assess: a UTF-8 CSV or Parquet."
    ),
    quasi: str = typer.Option(
        ..., "--quasi", help="Quasi-identifier columns, comma-separated (e.g. age,sex,zip)."
    ),
    sensitive: str | None = typer.Option(
        None, "--sensitive", help="Sensitive attribute column(s), comma-separated, for l-diversity."
    ),
    population: Path | None = typer.Option(
        None,
        "--population",
        help="Population table with the same quasi-identifiers, for journalist and marketer "
        "risk. Without it the sample is assumed to be the population.",
    ),
    k: int = typer.Option(5, "--k", min=1, help="Release gate: smallest allowed class size."),
    max_risk: float = typer.Option(
        0.05, "--max-risk", min=0.0, max=1.0, help="Release gate: highest allowed average risk."
    ),
    threshold: float = typer.Option(
        0.2,
        "--threshold",
        min=0.0,
        max=1.0,
        help="Record risk above which a record counts as high.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report and verdict as JSON."),
) -> None:
    """Measure k-anonymity, l-diversity and prosecutor / journalist / marketer risk; gate release.

    Exits 0 when the release gate passes, 7 when it refuses (the verdict, with
    a suggested generalisation, is printed either way), 2 on bad input.
    """
    quasi_cols = _columns(quasi, "--quasi")
    sens_cols = _columns(sensitive, "--sensitive") if sensitive else []
    with progress(enabled=not json_out) as bar:
        task = bar.add_task("reading", total=4)
        data = read_table(input_path, quasi_cols + sens_cols)
        pop = read_table(population, quasi_cols) if population is not None else None
        bar.update(task, advance=1, description="measuring")
        report = measure_risk(
            data, quasi_cols, sens_cols, population=pop, threshold=threshold, source=str(input_path)
        )
        bar.update(task, advance=1, description="release gate")
        verdict = evaluate_release(data, quasi_cols, sens_cols, k_min=k, max_avg_risk=max_risk)
        bar.update(task, advance=2)
    if json_out:
        print_json(
            {"input": str(input_path), "report": report.as_dict(), "release": verdict.as_dict()}
        )
    else:
        _print_human(report, verdict)
    if not verdict.released:
        raise ReleaseRefused("release refused: " + "; ".join(verdict.reasons))


__all__ = ["risk"]
