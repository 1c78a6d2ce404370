"""The program dashboard page (program officers and admins): tables, bar charts, CSV links.

The page checks the caller against the permission table entry of the API route it mirrors
and calls the same service (:mod:`medhaven.hub.services.program`), so the suppression of
small counts of people is the service's own. The CSV downloads are the API routes themselves
(they accept the session cookie).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from medhaven.errors import InvalidInput
from medhaven.hub.api.deps import StateDep
from medhaven.hub.permissions import V1
from medhaven.hub.services import program
from medhaven.web.i18n import translator
from medhaven.web.render import N_, guard, language, principal_of, render
from medhaven.web.results import Bar, bar_chart

router = APIRouter(include_in_schema=False)
TITLES = {
    "trainees": N_("Trainees against the target"),
    "projects": N_("Projects by type and organisation kind"),
    "datasets": N_("Datasets in use"),
    "jobs": N_("Jobs per month by kind and status"),
    "nodes": N_("Jobs per node and outcome"),
}
COLUMNS = {
    "year": N_("Year"),
    "university": N_("University"),
    "enrolled": N_("Enrolled"),
    "completed": N_("Completed"),
    "target": N_("Target"),
    "enrolled_pct": N_("Enrolled, % of target"),
    "completed_pct": N_("Completed, % of target"),
    "org_kind": N_("Organisation kind"),
    "education": N_("Education"),
    "academic": N_("Academic"),
    "commercial": N_("Commercial"),
    "total": N_("Total"),
    "dataset_id": N_("ID"),
    "dataset": N_("Dataset"),
    "organisation": N_("Organisation"),
    "active_grants": N_("Active grants"),
    "projects": N_("Projects"),
    "jobs": N_("Jobs"),
    "month": N_("Month"),
    "kind": N_("Kind"),
    "status": N_("Status"),
    "node": N_("Node"),
    "outcome": N_("Outcome"),
}
WORDS = {
    program.TOTAL: N_("Total"),
    program.HIDDEN: N_("hidden"),
    "hospital": N_("Hospital"),
    "university": N_("University"),
    "research_institute": N_("Research institute"),
    "company": N_("Company"),
    "ministry": N_("Ministry"),
}


def _year(request: Request) -> int | None:
    raw = request.query_params.get("year", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise InvalidInput("year: must be between 2000 and 2100")
    return int(raw)


def _cell(value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and value in WORDS:
        return translator(lang)(WORDS[value])
    return str(value)


def _charts(tables: dict[str, program.Table], lang: str) -> list[Markup]:
    t = translator(lang)

    charts: list[Markup] = []
    trainees = [
        dict(zip(tables["trainees"].columns, r, strict=True)) for r in tables["trainees"].rows
    ]
    bars = []
    for r in trainees:
        label = f"{r['year']} · {_cell(r['university'], lang)}"
        value = r["enrolled"]
        shown = float(value) if isinstance(value, int) else None
        bars.append(Bar(label, shown, _cell(value, lang)))
    if bars:
        charts.append(bar_chart(bars, title=t(N_("Trainees enrolled"))))
    shares = []
    for r in trainees:
        pct = r["completed_pct"]
        if r["target"] is not None:
            label = f"{r['year']} · {_cell(r['university'], lang)}"
            share = float(pct) if isinstance(pct, int | float) else None
            shares.append(Bar(label, share, "—" if share is None else f"{share:g}%"))
    if shares:
        charts.append(bar_chart(shares, title=t(N_("Completed, % of target"))))
    per_type = dict(zip(tables["projects"].columns, tables["projects"].rows[-1], strict=True))
    charts.append(bar_chart([Bar(t(COLUMNS[k]), float(per_type[k] or 0), str(per_type[k]))
                             for k in ("education", "academic", "commercial")],
                            title=t(N_("Projects by type"))))  # fmt: skip
    per_month: dict[str, int] = defaultdict(int)
    for month, _kind, _status, n in tables["jobs"].rows:
        per_month[str(month)] += int(n or 0)
    if per_month:
        charts.append(bar_chart([Bar(m, float(n), str(n)) for m, n in sorted(per_month.items())],
                                title=t(N_("Jobs per month"))))  # fmt: skip
    per_node: dict[str, int] = defaultdict(int)
    for node, _outcome, n in tables["nodes"].rows:
        per_node[str(node)] += int(n or 0)
    if per_node:
        charts.append(bar_chart([Bar(k, float(n), str(n)) for k, n in sorted(per_node.items())],
                                title=t(N_("Jobs per node"))))  # fmt: skip
    return charts


@router.get("/program", response_class=HTMLResponse)
def dashboard(request: Request, state: StateDep) -> Response:
    """The program dashboard, optionally for one year."""
    me = principal_of(request)
    guard(me, f"GET {V1}/program/dashboard")
    year = _year(request)
    lang = language(request)
    with state.db.unit(readonly=True) as session:
        tables = program.dashboard(session, me, min_cell_count=state.min_cell_count, year=year)
        years = program.years(session)
    shown = [
        {"name": name, "title": TITLES[name],
         "columns": [COLUMNS.get(c, c) for c in table.columns],
         "rows": [[_cell(v, lang) for v in row] for row in table.rows],
         "csv": f"{V1}/program/tables/{name}.csv" + ("" if year is None else f"?year={year}")}
        for name, table in tables.items()
    ]  # fmt: skip
    return render(request, "program_dashboard.html", principal=me, tables=shown, year=year,
                  years=years, charts=_charts(tables, lang), marker=f"<{state.min_cell_count}",
                  min_cell_count=state.min_cell_count)  # fmt: skip
