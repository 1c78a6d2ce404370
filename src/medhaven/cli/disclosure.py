"""``medhaven disclosure``: check a count table before release; manage project privacy budgets."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Any, cast

import typer
from rich.table import Table

from medhaven.analytics import (
    DisclosurePolicy,
    LinkedTable,
    PrivacyLedger,
    ReleasedTable,
    audit_table,
    one_way,
    suppress_counts,
    two_way,
)
from medhaven.analytics.budget import Composition
from medhaven.cli.common import console, print_json, progress
from medhaven.errors import InvalidInput

app = typer.Typer(
    help="Disclosure control: suppress small counts in tables and account privacy budgets.",
    no_args_is_help=True,
)
budget_app = typer.Typer(help="Per-project differential-privacy budgets.", no_args_is_help=True)
app.add_typer(budget_app, name="budget")

LEDGER_OPTION = typer.Option(
    Path("privacy-ledger.sqlite"), "--ledger", help="The privacy ledger (SQLite file)."
)


def read_count_csv(path: Path) -> LinkedTable:
    """Read a CSV of counts: a header row, then a label and one or more counts per row."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot be read", detail=str(exc)) from exc
    if len(rows) < 2 or len(rows[0]) < 2:
        raise InvalidInput(f"{path.name}: expected a header and at least one row of counts")
    header, body = rows[0], rows[1:]
    counts: list[list[int]] = []
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InvalidInput(f"{path.name} row {r}: expected {len(header)} fields")
        parsed: list[int] = []
        for c, cell in enumerate(row[1:], start=1):
            try:
                parsed.append(int(cell))
            except ValueError:
                raise InvalidInput(
                    f"{path.name} row {r} field {header[c]}: not a whole number"
                ) from None
        counts.append(parsed)
    labels = [row[0] for row in body]
    if len(header) == 2:
        return one_way(dict(zip(labels, (c[0] for c in counts), strict=True)), name=path.name)
    return two_way(counts, row_labels=labels, col_labels=header[1:], name=path.name)


def _write_atomic(path: Path, doc: dict[str, Any]) -> None:
    # Write aside then rename, so a crash never leaves a half-written release.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _show(released: ReleasedTable, reasons: bool) -> None:
    view = Table("entry", "shown", *(["reason"] if reasons else []))
    for item in released.to_json(include_reasons=reasons)["entries"]:
        view.add_row(item["label"], item["display"], *([item["reason"]] if reasons else []))
    console.print(view)


def check(
    table: Path = typer.Argument(..., help="CSV: header, then a label and counts per row."),
    min_count: int = typer.Option(5, "--min-count", help="Smallest count that may be shown."),
    rounding: int | None = typer.Option(None, "--round", help="Round shown counts to this base."),
    zero_sensitive: bool = typer.Option(False, "--zero-sensitive", help="Suppress zeros too."),
    reasons: bool = typer.Option(
        False, "--reasons", help="Say primary/secondary (for the output checker, not for release)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the releasable JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Suppress small counts (and enough others) in a 1-D or 2-D table, audit it, show it."""
    policy = DisclosurePolicy(
        min_cell_count=min_count, rounding_base=rounding, zero_is_sensitive=zero_sensitive
    )
    linked = read_count_csv(table)
    with progress(enabled=not as_json) as bar:
        task = bar.add_task("suppressing and auditing", total=2)
        released = suppress_counts(linked, policy)
        bar.advance(task)
        intervals = audit_table(released)
        bar.advance(task)
    doc = released.to_json(include_reasons=reasons)
    doc["audit"] = {
        "hidden": len(intervals),
        "all_protected": all(ci.protected for ci in intervals),
        "protection_level": policy.protection,
    }
    if out is not None:
        _write_atomic(out, released.to_json())
    if as_json:
        print_json(doc)
    else:
        _show(released, reasons)
        console.print(
            f"{len(intervals)} hidden; every hidden entry protected: "
            f"{doc['audit']['all_protected']}"
        )


@budget_app.command("set")
def budget_set(
    project: str = typer.Argument(..., help="Project id."),
    epsilon: float = typer.Option(..., "--epsilon", help="Total ε for the project."),
    delta: float = typer.Option(0.0, "--delta", help="Total δ (needed for zcdp)."),
    composition: str = typer.Option("basic", "--composition", help="basic or zcdp."),
    ledger: Path = LEDGER_OPTION,
) -> None:
    """Create a project's privacy budget (an existing budget is never replaced)."""
    if composition not in ("basic", "zcdp"):
        raise InvalidInput("--composition must be basic or zcdp")
    book = PrivacyLedger(ledger)
    try:
        book.set_budget(
            project, epsilon=epsilon, delta=delta, composition=cast(Composition, composition)
        )
    finally:
        book.close()


@budget_app.command("show")
def budget_show(
    project: str = typer.Argument(..., help="Project id."),
    ledger: Path = LEDGER_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a project's budget, what is spent and what is left."""
    book = PrivacyLedger(ledger)
    try:
        state = book.state(project)
    finally:
        book.close()
    doc = {
        "project": state.project,
        "composition": state.composition,
        "epsilon": state.epsilon,
        "delta": state.delta,
        "spent_epsilon": state.spent_epsilon,
        "spent_rho": state.spent_rho,
        "remaining_epsilon": state.remaining_epsilon,
        "releases": state.releases,
    }
    if as_json:
        print_json(doc)
    else:
        for key, value in doc.items():
            console.print(f"{key}: {value}")


app.command("check")(check)

__all__ = ["app", "budget_app", "check", "read_count_csv"]
