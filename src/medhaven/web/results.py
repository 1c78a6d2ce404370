"""Result pages of cohort count, characterization and incidence jobs: tables and bar charts.

Every figure shown is one the nodes released or one the hub combined from released figures
(:mod:`medhaven.federation.combine`): a suppressed cell shows its marker exactly as released
and draws no bar; a lower bound (``">= N"``) draws a dashed bar to ``N`` and is labelled as
released. Nothing is estimated for a hidden cell. Charts are inline SVG drawn here (no script).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from medhaven.federation.combine import sum_cell
from medhaven.web.i18n import Translate
from medhaven.web.render import N_

NOT_LISTED = "—"
WIDTH = 680
LABEL_W = 250
VALUE_W = 110
ROW_H = 22
MAX_BARS = 40


@dataclass(frozen=True)
class Bar:
    """One bar: a shown value, a lower bound, or nothing (suppressed); ``ci`` draws a whisker."""

    label: str
    value: float | None
    display: str
    bound: bool = False
    ci: tuple[float, float] | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def bar_chart(bars: Sequence[Bar], *, title: str) -> Markup:
    """A horizontal bar chart as inline SVG (escaped text; drawn from the numbers given only)."""
    bars = list(bars)[:MAX_BARS]
    tops = [b.ci[1] if b.ci else (b.value or 0.0) for b in bars]
    top = max([*tops, 0.0]) or 1.0
    # room for the longest value text (about 7 px a character at 12 px) right of the bars
    value_w = max([VALUE_W, *(int(7 * len(b.display)) + 12 for b in bars)])
    area = WIDTH - LABEL_W - value_w
    height = ROW_H * len(bars) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
    ]
    for i, b in enumerate(bars):
        y = 24 + i * ROW_H
        mid = y + ROW_H / 2 + 4
        label = b.label if len(b.label) <= 36 else b.label[:35] + "…"
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{mid:.1f}" text-anchor="end">{escape(label)}</text>'
        )
        end = float(LABEL_W)
        if b.value is not None:
            w = max(area * b.value / top, 0.0)
            cls = "rbar bound" if b.bound else "rbar"
            parts.append(
                f'<rect class="{cls}" x="{LABEL_W}" y="{y + 3}" width="{w:.1f}" '
                f'height="{ROW_H - 6}"/>'
            )
            end = LABEL_W + w
        if b.ci is not None:
            lo, hi = (LABEL_W + area * v / top for v in b.ci)
            parts.append(
                f'<path class="ci" d="M{lo:.1f} {y + ROW_H / 2:.1f}H{hi:.1f}'
                f'M{lo:.1f} {y + 6}V{y + ROW_H - 6}M{hi:.1f} {y + 6}V{y + ROW_H - 6}"/>'
            )
            end = max(end, hi)
        cls = "value" if b.value is not None else "value hidden"
        parts.append(
            f'<text x="{end + 6:.1f}" y="{mid:.1f}" class="{cls}">{escape(b.display)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every text above is escaped


def _display(cell: Any) -> str:
    """A released cell as text, exactly as released (its display, else its value)."""
    if cell is None:
        return NOT_LISTED
    if isinstance(cell, dict):
        if cell.get("display") not in (None, ""):
            return str(cell["display"])
        return _display(cell.get("value"))
    if isinstance(cell, float):
        return f"{cell:g}"
    return str(cell)


def _bar(label: str, cell: Any) -> Bar:
    value = _number(cell.get("value")) if isinstance(cell, dict) else _number(cell)
    bound = bool(cell.get("lower_bound")) if isinstance(cell, dict) else False
    return Bar(label, value, _display(cell), bound=bound)


def _label(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


# -- cohort count: attrition -------------------------------------------------------------------


def count_view(result: Mapping[str, Any], _: Translate) -> dict[str, Any]:
    """Attrition per node and combined (a stage's combined count is a lower bound if any node
    hid it or gave no result), with one bar chart per column."""
    released = result.get("node_results")
    released = released if isinstance(released, dict) else {}
    statuses = [r for r in result.get("nodes", []) if isinstance(r, dict)]
    absent = any(r.get("status") != "ok" for r in statuses) or not statuses
    nodes = sorted(n for n, doc in released.items() if isinstance(doc, dict))
    stages: list[str] = []
    by_node: dict[str, dict[str, Any]] = {}
    for node in nodes:
        rows = released[node].get("attrition") or []
        by_node[node] = {str(r.get("stage")): r.get("persons") for r in rows if isinstance(r, dict)}
        for r in rows:
            if isinstance(r, dict) and str(r.get("stage")) not in stages:
                stages.append(str(r.get("stage")))
    rows_out: list[dict[str, Any]] = []
    combined_bars: list[Bar] = []
    for stage in stages:
        cells = [by_node[n].get(stage) for n in nodes]
        values = [c.get("value") if isinstance(c, dict) else None for c in cells]
        total = sum_cell(values, hidden=absent)
        rows_out.append({"stage": stage, "cells": [_display(c) for c in cells],
                         "combined": total["display"], "partial": total["lower_bound"]})  # fmt: skip
        combined_bars.append(_bar(stage, total))
    charts = []
    if stages:
        charts.append(bar_chart(combined_bars, title=_("Persons remaining, combined")))
        for node in nodes:
            bars = [_bar(s, by_node[node].get(s)) for s in stages]
            charts.append(bar_chart(bars, title=_("Persons remaining at {node}", node=node)))
    totals = [(m, _display(result.get(m))) for m in ("persons", "records")]
    return {"nodes": nodes, "stages": rows_out, "charts": charts, "totals": totals,
            "complete": bool(result.get("complete")), "statuses": statuses}  # fmt: skip


# -- characterization: Table 1 -----------------------------------------------------------------


def _sections(doc: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(doc, dict):
        return {}
    return {str(s.get("name")): s for s in doc.get("sections", []) if isinstance(s, dict)}


def _entry_cells(section: dict[str, Any] | None) -> dict[tuple[str, bool], Any]:
    """Label → released cell of a count table (combined sections hold entries directly)."""
    if section is None:
        return {}
    entries = section.get("entries")
    if entries is None:
        entries = (section.get("table") or {}).get("entries", [])
    out: dict[tuple[str, bool], Any] = {}
    for e in entries:
        if isinstance(e, dict):
            out[(_label(e.get("label")), bool(e.get("margin")))] = e
    return out


def _concept_cells(section: dict[str, Any] | None) -> dict[int, dict[str, Any]]:
    if section is None:
        return {}
    return {int(r["concept_id"]): r for r in section.get("rows", []) if isinstance(r, dict)}


def _percent(value: Any) -> str:
    number = _number(value)
    return NOT_LISTED if number is None else f"{number:.1f}%"


def characterize_view(result: Mapping[str, Any], _: Translate) -> dict[str, Any]:
    """Table 1 per node and combined: counts, count tables and top concepts; partial marked."""
    combined = result.get("combined") if isinstance(result.get("combined"), dict) else {}
    assert isinstance(combined, dict)
    per_node_docs = result.get("nodes") if isinstance(result.get("nodes"), dict) else {}
    assert isinstance(per_node_docs, dict)
    nodes = sorted(per_node_docs)
    per_node = {n: _sections(per_node_docs[n]) for n in nodes}
    tables: list[dict[str, Any]] = []
    for section in combined.get("sections", []):
        if not isinstance(section, dict):
            continue
        name, title = str(section.get("name")), str(section.get("title") or section.get("name"))
        kind = section.get("type")
        if kind == "count":
            rows = [{"label": title, "cells": [_display(per_node[n].get(name)) for n in nodes],
                     "combined": _display(section), "percent": "",
                     "partial": bool(section.get("lower_bound"))}]  # fmt: skip
            tables.append({"name": name, "title": title, "rows": rows, "chart": None})
        elif kind == "table":
            cells = {n: _entry_cells(per_node[n].get(name)) for n in nodes}
            rows, bars = [], []
            for key, e in _entry_cells(section).items():
                label = key[0]
                # a label a node's table lacks is a zero there (as combine() counts it)
                rows.append({"label": label, "margin": key[1],
                             "cells": [_display(cells[n].get(key, 0)) if cells[n]
                                       else NOT_LISTED for n in nodes],
                             "combined": _display(e), "percent": "",
                             "partial": bool(e.get("lower_bound"))})  # fmt: skip
                if not e.get("margin"):
                    bars.append(_bar(label, e))
            tables.append({"name": name, "title": title, "rows": rows,
                           "chart": bar_chart(bars, title=title) if bars else None})  # fmt: skip
        elif kind == "concepts":
            cells_c = {n: _concept_cells(per_node[n].get(name)) for n in nodes}
            rows, bars = [], []
            for r in section.get("rows", []):
                label = str(r.get("concept_name") or r.get("concept_id"))
                cid = int(r["concept_id"])
                mine = [cells_c[n].get(cid) for n in nodes]
                rows.append({"label": label,
                             "cells": [NOT_LISTED if m is None else _display(m.get("persons"))
                                       for m in mine],
                             "combined": _display(r.get("persons")),
                             "percent": _percent(r.get("percent")),
                             "partial": bool(r.get("partial"))})  # fmt: skip
                bars.append(_bar(label, r.get("persons")))
            tables.append({"name": name, "title": title, "rows": rows, "percent": True,
                           "chart": bar_chart(bars, title=title) if bars else None})  # fmt: skip
    return {"nodes": nodes, "tables": tables, "complete": bool(combined.get("complete")),
            "cohort": combined.get("cohort"), "scope": combined.get("scope"),
            "statuses": combined.get("nodes") or []}  # fmt: skip


# -- incidence -------------------------------------------------------------------------------


def poisson_ci(events: int, person_years: float, *, per: float = 1000.0) -> tuple[float, float]:
    """The exact (Garwood) 95% interval of a rate ``events / person_years`` times ``per``."""
    from scipy.stats import chi2

    lo = 0.0 if events == 0 else float(chi2.ppf(0.025, 2 * events)) / 2
    hi = float(chi2.ppf(0.975, 2 * events + 2)) / 2
    return per * lo / person_years, per * hi / person_years


def _rate(row: Mapping[str, Any]) -> tuple[float | None, tuple[float, float] | None]:
    """The released rate and its CI, from released outcomes and person-years when complete."""
    rate = _number(row.get("rate_per_1000py"))
    outcomes, years = row.get("outcomes"), row.get("person_years")
    o = _number(outcomes.get("value") if isinstance(outcomes, dict) else outcomes)
    y = _number(years.get("value") if isinstance(years, dict) else years)
    if rate is None or o is None or not y or row.get("partial"):
        return rate, None
    if isinstance(outcomes, dict) and outcomes.get("lower_bound"):
        return rate, None
    return rate, poisson_ci(int(o), y)


def _fmt_rate(
    rate: float | None, ci: tuple[float, float] | None, _: Translate, *, hidden: bool
) -> tuple[str, str]:
    if rate is None:  # withheld when its figures are hidden or bounds; none without person-years
        return (_("withheld") if hidden else NOT_LISTED), NOT_LISTED
    return f"{rate:.2f}", NOT_LISTED if ci is None else f"{ci[0]:.2f}–{ci[1]:.2f}"


#: incidence strata names (as the analytics name them) → msgid
STRATA = {
    "overall": N_("overall"),
    "age_group": N_("age group"),
    "sex": N_("sex"),
    "calendar_year": N_("calendar year"),
}


def _incidence_row(r: Mapping[str, Any], _: Translate, *, hidden: bool) -> dict[str, Any]:
    rate, ci = _rate(r)
    shown_rate, shown_ci = _fmt_rate(rate, ci, _, hidden=hidden)
    return {"label": str(r.get("label")), "persons": _display(r.get("persons")),
            "outcomes": _display(r.get("outcomes")),
            "person_years": _display(r.get("person_years")), "rate": shown_rate,
            "ci": shown_ci, "partial": bool(r.get("partial")), "total": bool(r.get("total")),
            "value": rate, "interval": ci}  # fmt: skip


def incidence_view(result: Mapping[str, Any], _: Translate) -> dict[str, Any]:
    """Each stratum: persons, outcomes, person-years, rate per 1,000 person-years with its
    exact Poisson CI (from released figures); withheld rates and partial rows are marked."""
    combined = result.get("combined") if isinstance(result.get("combined"), dict) else {}
    assert isinstance(combined, dict)
    per_node_docs = result.get("nodes") if isinstance(result.get("nodes"), dict) else {}
    assert isinstance(per_node_docs, dict)
    strata: list[dict[str, Any]] = []
    for stratum in combined.get("strata", []):
        rows = [_incidence_row(r, _, hidden=bool(r.get("partial")))
                for r in stratum.get("rows", [])]  # fmt: skip
        bars = [Bar(r["label"], r["value"], r["rate"] if r["interval"] is None
                    else f"{r['rate']} ({r['ci']})", ci=r["interval"])
                for r in rows if not r["total"]]  # fmt: skip
        name = str(stratum.get("name"))
        title = _(STRATA.get(name, name))
        chart = None
        if len(bars) > 1 and any(b.value is not None for b in bars):
            chart = bar_chart(bars, title=_("Rate per 1,000 person-years by {name}", name=title))
        strata.append({"name": name, "title": title, "rows": rows, "chart": chart})
    node_tables = []
    for node in sorted(per_node_docs):
        doc = per_node_docs[node]
        overall = next((s for s in doc.get("strata", []) if s.get("name") == "overall"), None)
        rows = []
        for r in (overall or {}).get("rows", []):
            hidden = any(r.get(k) is None for k in ("persons", "outcomes", "person_years"))
            rows.append(_incidence_row(r, _, hidden=hidden))
        node_tables.append({"node": node, "rows": rows})
    return {"strata": strata, "nodes": node_tables, "complete": bool(combined.get("complete")),
            "target": combined.get("target"), "outcome": combined.get("outcome"),
            "time_at_risk": combined.get("time_at_risk"),
            "statuses": combined.get("nodes") or []}  # fmt: skip


def result_view(kind: str, result: Mapping[str, Any], _: Translate) -> dict[str, Any] | None:
    """The result page's view of a job kind (None: the generic tables are shown)."""
    if kind == "cohort_count" and isinstance(result.get("node_results"), dict):
        return {"kind": kind, **count_view(result, _)}
    if kind == "characterize" and isinstance(result.get("combined"), dict):
        return {"kind": kind, **characterize_view(result, _)}
    if kind == "incidence" and isinstance(result.get("combined"), dict):
        return {"kind": kind, **incidence_view(result, _)}
    return None


__all__ = [
    "Bar",
    "bar_chart",
    "characterize_view",
    "count_view",
    "incidence_view",
    "poisson_ci",
    "result_view",
]
