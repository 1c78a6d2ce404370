"""``medhaven demo``: the whole system on one machine, on generated hospitals."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from medhaven.cli.common import console, print_json
from medhaven.demo import DemoReport, run_demo
from medhaven.errors import CheckFailed, InvalidInput

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


def wide_console() -> Console:
    """Standard output: the terminal's width, or wide enough for every column when piped."""
    out_console = Console()
    return out_console if out_console.is_terminal else Console(width=150)


def print_report(report: DemoReport) -> None:
    """The per-hospital table on standard output."""
    wide_console().print(_table(report))


def demo(
    out: Path = typer.Option(
        Path("var/demo"), "--out", help="Where the demo keeps its hospitals, nodes and hub."
    ),
    hospitals: int = typer.Option(3, "--hospitals", help="Number of hospitals."),
    persons: int = typer.Option(2000, "--persons", help="Persons per hospital."),
    seed: int = typer.Option(42, "--seed", help="Random seed; the same seed gives the same data."),
    smoke: bool = typer.Option(
        False, "--smoke", help="Run one federated count and one characterization, then stop."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Remove what an earlier demo wrote under --out and start again."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="The hub's port (default: a free one)."
    ),
    data_only: bool = typer.Option(
        False,
        "--data-only",
        help="Only generate, load, check and summarise the node stores (no processes).",
    ),
    postgres: str | None = typer.Option(
        None,
        "--postgres",
        help="With --data-only: load the nodes into this PostgreSQL server (one demo_<hospital> "
        "schema each, dropped and re-created) instead of DuckDB files.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON on stdout."),
) -> None:
    """The whole system on generated hospitals: nodes, Flower, the hub, a first federated result.

    Generates raw extracts, de-identifies them into each node's CDM, starts the
    SuperLink, a SuperNode per hospital and the hub on loopback, seeds
    organisations, users, a project and its grant, runs a federated count and
    characterization as the researcher, prints the URL and the logins
    (OUT/logins.json) and serves until Ctrl-C. A second run reuses the data.
    --smoke stops after the two jobs and exits 0 only if every node was up and
    both jobs completed. --data-only is the earlier data-only demo.
    """
    if data_only:
        _data_only(out, hospitals=hospitals, persons=persons, seed=seed, postgres=postgres,
                   as_json=as_json)  # fmt: skip
        return
    if postgres is not None:
        raise InvalidInput("--postgres goes with --data-only (the full demo's nodes use DuckDB)")
    from medhaven.cli.demo_run import run_system

    run_system(out, hospitals=hospitals, persons=persons, seed=seed, smoke=smoke, fresh=fresh,
               port=port, as_json=as_json)  # fmt: skip


def _data_only(
    out: Path, *, hospitals: int, persons: int, seed: int, postgres: str | None, as_json: bool
) -> None:
    """Generate hospitals, load each into its node store, run the quality checks, summarise.

    Writes OUT/extracts (the generated CDMs and their Parquet exports),
    OUT/nodes/<hospital>/cdm.duckdb (the node stores) and OUT/demo-summary.json.
    Exits 7 if any node fails its quality checks.
    """
    from medhaven.demo_data import MANIFEST

    if (out / MANIFEST).exists():
        raise InvalidInput(f"--out {out} holds a full demo: use another --out for --data-only")
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
        print_report(report)
        console.print(
            f"{sum(h.loaded_rows for h in report.hospitals):,} rows loaded into "
            f"{len(report.hospitals)} node stores in {report.seconds:.1f} s; summary: {summary}"
        )
    if not report.ok:
        failing = ", ".join(h.slug for h in report.hospitals if not h.checks_ok)
        raise CheckFailed(
            f"quality checks failed on {failing}; see `medhaven cdm check --db <node store>`"
        )


__all__ = ["demo", "print_report", "wide_console"]
