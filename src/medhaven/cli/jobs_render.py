"""Rich views of a combined federated result (characterize, incidence) for ``medhaven jobs result``.

A figure marked ``>= N`` is a lower bound: at least one node did not show
that cell (suppressed, not listed, or no result). ``-`` is a ratio withheld
because its numerator or denominator is incomplete.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

LEGEND = ("'>= N': a lower bound (a node did not show that cell); "
          "'-': a ratio withheld because its parts are incomplete")  # fmt: skip


def _cell(cell: Any) -> str:
    if isinstance(cell, dict):
        return str(cell.get("display", ""))
    if cell is None:
        return "-"
    if isinstance(cell, float):
        return f"{cell:,.4g}"
    return str(cell)


def _nodes(console: Console, combined: dict[str, Any]) -> None:
    parts = []
    for n in combined.get("nodes", []):
        why = f" ({n['reason']})" if n.get("reason") else ""
        parts.append(f"{n.get('node')}: {n.get('status')}{why}")
    if parts:
        console.print("nodes: " + "; ".join(parts))


def _section(console: Console, sec: dict[str, Any]) -> None:
    kind = sec.get("type")
    title = f"[bold]{sec.get('title') or sec.get('name')}[/bold]"
    if kind == "count":
        console.print(f"{title}: {_cell(sec)}")
        return
    console.print(title)
    if kind == "table":
        view = Table(str(sec.get("row_title") or ""), "persons (all nodes)")
        for e in sec.get("entries", []):
            view.add_row(str(e.get("label")), _cell(e), style="bold" if e.get("margin") else None)
    elif kind == "concepts":
        view = Table("concept id", "concept", "persons", "%", "records")
        for r in sec.get("rows", []):
            view.add_row(str(r.get("concept_id")), str(r.get("concept_name") or ""),
                         _cell(r.get("persons")), _cell(r.get("percent")),
                         _cell(r.get("records")))  # fmt: skip
    else:
        view = Table("what", "unit", "persons", "records", "min", "max")
        for r in sec.get("rows", []):
            view.add_row(str(r.get("label")), str(r.get("unit") or ""), _cell(r.get("persons")),
                         _cell(r.get("records")), _cell(r.get("min")), _cell(r.get("max")))  # fmt: skip
        view.caption = "percentiles: per node only (released percentiles cannot be pooled)"
    console.print(view)


def render_combined(combined: dict[str, Any], console: Console | None = None) -> None:
    """Print a combined characterize or incidence result as Rich tables."""
    console = console or Console()
    kind = combined.get("kind")
    state = "complete" if combined.get("complete") else "partial (some figures are lower bounds)"
    if kind == "characterize":
        what = str(combined.get("scope") or "characterization").replace("_", " ")
        cohort = f" of {combined['cohort']}" if combined.get("cohort") else ""
        console.print(f"[bold]{what}{cohort}, combined across nodes[/bold]: {state}")
        _nodes(console, combined)
        for sec in combined.get("sections", []):
            _section(console, sec)
    elif kind == "incidence":
        console.print(f"[bold]incidence of {combined.get('outcome')} in {combined.get('target')},"
                      f" combined across nodes[/bold]: {state}")  # fmt: skip
        _nodes(console, combined)
        for strat in combined.get("strata", []):
            name = str(strat.get("name", "")).replace("_", " ")
            view = Table(name, "persons", "outcomes", "person-years", "proportion %",
                         "rate /1,000 PY", title=f"by {name}")  # fmt: skip
            for r in strat.get("rows", []):
                view.add_row(str(r.get("label")), _cell(r.get("persons")),
                             _cell(r.get("outcomes")), _cell(r.get("person_years")),
                             _cell(r.get("proportion_pct")), _cell(r.get("rate_per_1000py")),
                             style="bold" if r.get("total") else None)  # fmt: skip
            console.print(view)
    elif kind == "train":
        model = combined.get("model") or {}
        training = model.get("training") or {}
        console.print(f"[bold]{model.get('kind')} model trained across "
                      f"{', '.join(training.get('sites') or [])}[/bold]: "
                      f"{training.get('mode')}, {combined.get('rounds')} rounds, "
                      f"{model.get('n_train')} persons, {len(model.get('feature_ids') or [])} "
                      f"features; sha256 {str(model.get('sha256'))[:16]}...")  # fmt: skip
        console.print("the bundle and each node's released evaluation: --json")
        return
    else:
        console.print(f"no combined view for {kind} results")
        return
    if combined.get("rounded"):
        console.print("some nodes round their counts: sums are of rounded figures")
    console.print(LEGEND)


__all__ = ["render_combined"]
