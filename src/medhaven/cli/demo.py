"""``medhaven demo``: the whole system on one machine, on generated hospitals."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from medhaven.cli.common import console, print_json
from medhaven.demo import DemoReport, run_demo
from medhaven.errors import CheckFailed

OUTCOME_LABELS: dict[str, str] = {
    "readmission_30d": "readmit\n30 d",
    "hf_hospitalisation_1y": "HF admit\n1 y",
    "mortality_1y": "death\n1 y",
    "ckd_progression": "CKD\nprogress",
}

COHORT_LABELS: dict[str, str] = {
    "t2dm_metformin_new_users": "metformin\nnew users",
    "heart_failure_admission": "HF\nadmission",
    "atrial_fibrillation_anticoagulated": "AF on\nwarfarin",
}


def _released(display: str) -> str:
    """A released count as shown: a number, or a dim marker where it was suppressed."""
    return display if display.replace(",", "").isdigit() else "[dim]suppr.[/]"


def _table(report: DemoReport) -> Table:
    view = Table(
        title=f"MedHaven demo: {len(report.hospitals)} hospitals (seed {report.seed})",
        caption="outcomes: prevalence planted by the generator, read back from each node; "
        "cohorts: persons in library cohorts as released (small counts suppressed)",
    )
    view.add_column("hospital")
    for name in ("persons", "visits", "events"):
        view.add_column(name, justify="right")
    for label in OUTCOME_LABELS.values():
        view.add_column(label, justify="right")
    for label in COHORT_LABELS.values():
        view.add_column(label, justify="right")
    view.add_column("quality\nchecks")
    for h in report.hospitals:
        status = (
            f"[green]pass[/] {h.checks_passed}"
            if h.checks_ok
            else f"[red]{h.checks_failed} fail[/]\n{h.checks_errors} error"
        )
        view.add_row(
            f"{h.name_en}\n{h.name_ko}",
            f"{h.persons:,}",
            f"{h.visits:,}",
            f"{h.events:,}",
            *(f"{100 * h.outcomes.get(key, 0.0):.1f}%" for key in OUTCOME_LABELS),
            *(_released(h.cohorts.get(key, "-")) for key in COHORT_LABELS),
            status,
        )
    return view


def demo(
    out: Path = typer.Option(
        Path("var/demo"), "--out", help="Where the demo writes its hospitals and node stores."
    ),
    hospitals: int = typer.Option(3, "--hospitals", help="Number of hospitals."),
    persons: int = typer.Option(2000, "--persons", help="Persons per hospital."),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives the same data."),
    postgres: str | None = typer.Option(
        None,
        "--postgres",
        help="Load the nodes into this PostgreSQL server (one demo_<hospital> schema each, "
        "dropped and re-created) instead of DuckDB files.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Generate hospitals, load each into its node store, run the quality checks, summarise.

    Writes OUT/extracts (the generated CDMs and their Parquet exports),
    OUT/nodes/<hospital>/cdm.duckdb (the node stores) and OUT/demo-summary.json.
    Exits 7 if any node fails its quality checks.
    """
    with console.status("starting") as status:
        report = run_demo(
            out,
            hospitals=hospitals,
            persons=persons,
            seed=seed,
            postgres_url=postgres,
            on_step=lambda what: status.update(what) if not as_json else None,
        )
    summary = out / "demo-summary.json"
    tmp = summary.with_name(f".{summary.name}.tmp")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    tmp.replace(summary)
    if as_json:
        print_json(report.to_dict())
    else:
        out_console = Console()
        if not out_console.is_terminal:  # piped or in CI: wide enough for every column
            out_console = Console(width=150)
        out_console.print(_table(report))
        console.print(
            f"{sum(h.loaded_rows for h in report.hospitals):,} rows loaded into "
            f"{len(report.hospitals)} node stores in {report.seconds:.1f} s; summary: {summary}"
        )
    if not report.ok:
        failing = ", ".join(h.slug for h in report.hospitals if not h.checks_ok)
        raise CheckFailed(
            f"quality checks failed on {failing}; see `medhaven cdm check --db <node store>`"
        )


__all__ = ["demo"]
