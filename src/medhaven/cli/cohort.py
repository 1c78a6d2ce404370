"""``medhaven cohort``: run ATLAS cohort definitions on a CDM store; list the example library."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from medhaven.analytics.cohorts import (
    compile_cohort,
    generate_cohort,
    library_definition,
    library_names,
    raw_attrition,
    released_attrition,
    resolve,
)
from medhaven.analytics.policy import DisclosurePolicy
from medhaven.cdm import opened
from medhaven.cli.common import console, print_json, progress
from medhaven.config import get_settings

app = typer.Typer(
    help="Cohorts: OHDSI ATLAS cohort definitions run on the node's CDM, counts released safely.",
    no_args_is_help=True,
)

RAW_NOTE = (
    "RAW COUNTS: not disclosure-controlled; for the custodian at this node only, never release."
)


@app.command("run")
def run(
    db: str = typer.Option(..., "--db", help="CDM store: a DuckDB file or a postgresql:// URL."),
    definition: str = typer.Option(
        ..., "--definition", help="ATLAS cohort JSON file, or a library name (see `cohort list`)."
    ),
    cohort_id: int = typer.Option(
        1, "--cohort-id", help="cohort_definition_id under which the rows are stored."
    ),
    results_schema: str | None = typer.Option(
        None, "--results-schema", help="Schema for the cohort table (default: the CDM's schema)."
    ),
    min_count: int | None = typer.Option(
        None,
        "--min-count",
        help="Minimum cell count (default: the node's MEDHAVEN_MIN_CELL_COUNT).",
    ),
    rounding: int | None = typer.Option(None, "--round", help="Round shown counts to this base."),
    raw_counts: bool = typer.Option(
        False, "--raw-counts", help="Show true counts (custodian on their own node only)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Generate a cohort into the OMOP cohort table; print its counts and attrition.

    Counts pass disclosure control (minimum cell count, complementary
    suppression across the attrition) unless --raw-counts is given.
    """
    defn = resolve(definition)
    policy = DisclosurePolicy(
        min_cell_count=min_count if min_count is not None else get_settings().min_cell_count,
        rounding_base=rounding,
    )
    with opened(db) as store, progress(enabled=not as_json) as bar:
        task = bar.add_task(f"generating {defn.name}", total=1)
        result = generate_cohort(
            store,
            defn.expression,
            cohort_definition_id=cohort_id,
            results_schema=results_schema,
        )
        bar.advance(task)
    doc = raw_attrition(result) if raw_counts else released_attrition(result, policy)
    doc = {"cohort": defn.name, **doc}
    if raw_counts:
        doc["note"] = RAW_NOTE
    if as_json:
        print_json(doc)
        return
    _print(doc)


def _print(doc: dict[str, Any]) -> None:
    title = f"{doc['cohort']} (cohort_definition_id {doc['cohort_definition_id']})"
    view = Table("stage", "persons", "excluded", "events", "excluded", title=title)
    for row in doc["attrition"]:
        pe, ee = row["persons_excluded"], row["events_excluded"]
        view.add_row(
            row["stage"],
            row["persons"]["display"],
            pe["display"] if pe else "",
            row["events"]["display"],
            ee["display"] if ee else "",
        )
    typer.echo(f"persons: {doc['persons']['display']}  cohort records: {doc['records']['display']}")
    console.print(view)
    if doc["raw_counts"]:
        console.print(f"[bold red]{RAW_NOTE}[/]")
    else:
        console.print(
            f"disclosure control: counts under {doc['min_cell_count']} and any count they could "
            "be derived from are shown as suppressed"
        )


@app.command("sql")
def show_sql(
    definition: str = typer.Option(
        ..., "--definition", help="ATLAS cohort JSON file, or a library name (see `cohort list`)."
    ),
) -> None:
    """Print the SQL a definition compiles to (runs on DuckDB and PostgreSQL; no store needed)."""
    typer.echo(compile_cohort(resolve(definition).expression, prefix="cohort").script())


@app.command("list")
def list_library(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the example cohort definitions shipped with MedHaven."""
    items = []
    for name in library_names():
        d = library_definition(name)
        items.append({"name": name, "title": d.name, "description": d.description})
    if as_json:
        print_json(items)
        return
    view = Table("name", "title", "description")
    for it in items:
        view.add_row(it["name"], it["title"], it["description"])
    console.print(view)


__all__ = ["app"]
