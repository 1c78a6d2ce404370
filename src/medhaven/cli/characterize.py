"""``medhaven characterize``: dataset summaries, cohort Table 1 and incidence, disclosure-controlled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from medhaven.cdm.store import opened
from medhaven.cli.common import console, print_json, progress
from medhaven.config import get_settings
from medhaven.errors import InvalidInput

if TYPE_CHECKING:
    from medhaven.analytics.policy import DisclosurePolicy

# The analytics stack (scipy for the suppression audit) is imported inside each
# command, so that `medhaven --help` and other command groups start fast.
STATS = ("min", "p10", "p25", "median", "p75", "p90", "max")

app = typer.Typer(
    help="Characterize a CDM, a cohort, or an outcome's incidence; small cells never leave.",
    no_args_is_help=True,
)

_IS_URL = ("postgresql://", "postgresql+psycopg://", "postgres://")
DB_HELP = "The CDM store: a DuckDB file path or a postgresql:// URL (optional ?schema=NAME)."
RAW_HELP = (
    "Show every true count, unsuppressed: only for a custodian looking at their own node. "
    "Never release this output."
)
MIN_HELP = "Smallest count that may be shown (default: MEDHAVEN_MIN_CELL_COUNT, 5)."


def _policy(min_count: int | None, rounding: int | None) -> DisclosurePolicy:
    from medhaven.analytics.policy import DisclosurePolicy

    if min_count is not None and min_count < 1:
        raise InvalidInput("--min-count: must be at least 1")
    if rounding is not None and rounding < 1:
        raise InvalidInput("--round: must be at least 1")
    chosen = min_count if min_count is not None else get_settings().min_cell_count
    return DisclosurePolicy(min_cell_count=chosen, rounding_base=rounding)


def _check_db(db: str) -> None:
    if not db.startswith(_IS_URL) and not Path(db).is_file():
        raise InvalidInput(f"--db: no CDM store at {db}: not a DuckDB file or postgresql:// URL")


def _fmt(v: Any) -> str:
    if v is None:
        return "suppressed"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _show_section(sec: dict[str, Any]) -> None:
    kind = sec["type"]
    if kind == "count":
        console.print(f"[bold]{sec['title']}[/bold]: {sec['display']}")
        return
    if kind == "table":
        console.print(f"[bold]{sec['title']}[/bold]")
        view = Table(sec["row_title"], "persons")
        for e in sec["table"]["entries"]:
            view.add_row(e["label"], e["display"], style="bold" if e["margin"] else None)
        console.print(view)
        return
    if kind == "concepts":
        has_pct = any("percent" in r for r in sec["rows"])
        console.print(f"[bold]{sec['title']}[/bold]")
        view = Table("concept id", "concept", "persons", *(["%"] if has_pct else []), "records")
        for r in sec["rows"]:
            pct = [_fmt(r.get("percent"))] if has_pct else []
            view.add_row(str(r["concept_id"]), r["concept_name"] or "(not in vocabulary)",
                         _fmt(r["persons"]), *pct, _fmt(r["records"]))  # fmt: skip
        if not sec["rows"]:
            view.caption = "no concept reaches the minimum cell count"
        console.print(view)
        return
    console.print(f"[bold]{sec['title']}[/bold]")
    view = Table("what", "unit", "persons", "records", *STATS)
    for r in sec["rows"]:
        view.add_row(r["label"], r["unit"] or "", _fmt(r["persons"]), _fmt(r["records"]),
                     *(_fmt(r[s]) for s in STATS))  # fmt: skip
    console.print(view)


def _show(doc: dict[str, Any]) -> None:
    for sec in doc["sections"]:
        _show_section(sec)
    _footer(doc)


def _footer(doc: dict[str, Any]) -> None:
    if doc["raw"]:
        console.print("[red]RAW COUNTS: not disclosure-controlled; do not release.[/red]")
    else:
        console.print(f"counts below {doc['min_cell_count']} and cells that would reveal them "
                      "are shown as 'suppressed'")  # fmt: skip


@app.command("dataset")
def dataset(
    db: str = typer.Option(..., "--db", help=DB_HELP),
    top: int = typer.Option(20, "--top", help="Concepts listed per domain."),
    min_count: int | None = typer.Option(None, "--min-count", help=MIN_HELP),
    rounding: int | None = typer.Option(None, "--round", help="Round shown counts to this base."),
    raw_counts: bool = typer.Option(False, "--raw-counts", help=RAW_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON on stdout."),
) -> None:
    """Achilles-style summary of a whole CDM: persons by age, sex and year of birth,
    observation periods, visits by type, top concepts per domain, measurement values."""
    from medhaven.analytics.characterize.dataset import (
        DATASET_STEPS,
        characterize_dataset,
        release_dataset,
    )

    policy = _policy(min_count, rounding)
    _check_db(db)
    with opened(db, read_only=True) as store, progress(enabled=not as_json) as bar:
        task = bar.add_task("characterizing", total=DATASET_STEPS)
        sections = characterize_dataset(
            store, top=top, on_step=lambda s: bar.update(task, advance=1, description=s)
        )
        doc = release_dataset(sections, policy, raw=raw_counts)
    if as_json:
        print_json(doc)
    else:
        _show(doc)


@app.command("cohort")
def cohort(
    db: str = typer.Option(..., "--db", help=DB_HELP),
    cohort_id: int = typer.Option(
        ..., "--cohort-id", help="cohort_definition_id in the cohort table."
    ),
    top: int = typer.Option(20, "--top", help="Concepts listed per domain."),
    min_count: int | None = typer.Option(None, "--min-count", help=MIN_HELP),
    rounding: int | None = typer.Option(None, "--round", help="Round shown counts to this base."),
    raw_counts: bool = typer.Option(False, "--raw-counts", help=RAW_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON on stdout."),
) -> None:
    """Table 1 of a cohort in the OMOP cohort table: age at index, sex, and the most
    frequent conditions, drugs, procedures and measurements in the year before index."""
    from medhaven.analytics.characterize.cohort import (
        COHORT_STEPS,
        characterize_cohort,
        release_cohort,
    )

    policy = _policy(min_count, rounding)
    _check_db(db)
    with opened(db, read_only=True) as store, progress(enabled=not as_json) as bar:
        task = bar.add_task("characterizing", total=COHORT_STEPS)
        sections = characterize_cohort(
            store, cohort_id, top=top, on_step=lambda s: bar.update(task, advance=1, description=s)
        )
        doc = release_cohort(sections, cohort_id, policy, raw=raw_counts)
    if as_json:
        print_json(doc)
    else:
        console.print(f"[bold]Cohort {cohort_id}[/bold] (first entry per person)")
        _show(doc)


@app.command("incidence")
def incidence_cmd(
    db: str = typer.Option(..., "--db", help=DB_HELP),
    target_id: int = typer.Option(..., "--target-id", help="Target cohort_definition_id."),
    outcome_id: int = typer.Option(..., "--outcome-id", help="Outcome cohort_definition_id."),
    tar_days: int | None = typer.Option(
        None,
        "--tar-days",
        help="Time at risk ends this many days after target start "
        "(default: at target end); capped at the end of observation.",
    ),
    min_count: int | None = typer.Option(None, "--min-count", help=MIN_HELP),
    rounding: int | None = typer.Option(None, "--round", help="Round shown counts to this base."),
    raw_counts: bool = typer.Option(False, "--raw-counts", help=RAW_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the document as JSON on stdout."),
) -> None:
    """Incidence proportion and rate per 1,000 person-years of an outcome cohort within a
    target cohort, overall and by age group, sex and calendar year."""
    from medhaven.analytics.characterize.incidence import incidence

    policy = _policy(min_count, rounding)
    if tar_days is not None and tar_days < 0:
        raise InvalidInput("--tar-days: must be 0 or more")
    _check_db(db)
    with opened(db, read_only=True) as store, progress(enabled=not as_json) as bar:
        task = bar.add_task("computing incidence", total=4)
        doc = incidence(
            store,
            target_id=target_id,
            outcome_id=outcome_id,
            tar_days=tar_days,
            policy=policy,
            raw=raw_counts,
            on_step=lambda s: bar.update(task, advance=1, description=s),
        )
    if as_json:
        print_json(doc)
        return
    for strat in doc["strata"]:
        console.print(f"[bold]Incidence by {strat['name'].replace('_', ' ')}[/bold]")
        view = Table(strat["name"].replace("_", " "), "persons", "outcomes", "person-years",
                     "proportion %", "rate /1,000 PY")  # fmt: skip
        for r in strat["rows"]:
            view.add_row(r["label"], _fmt(r["persons"]), _fmt(r["outcomes"]),
                         _fmt(r["person_years"]), _fmt(r["proportion_pct"]),
                         _fmt(r["rate_per_1000py"]), style="bold" if r["total"] else None)  # fmt: skip
        console.print(view)
    _footer(doc)


__all__ = ["app"]
