"""Combining nodes' released results (counts, characterizations, incidence) without
un-suppressing a cell.

Only what each node released is used: a shown count is added, a suppressed
one is not (its true value never left the node), and then the total is
marked as a lower bound, ``">= N"``. A node that refused, failed or holds
its result for approval contributes nothing and makes the total a lower
bound too. No minimum is assumed for a hidden count (a count hidden to
protect another one can be anything), so the bound is exactly the sum of
published figures and reveals nothing that they did not.
"""

from __future__ import annotations

import json
from typing import Any

MEASURES = ("persons", "records")


def _shown(result: dict[str, Any] | None, measure: str) -> int | None:
    if not isinstance(result, dict):
        return None
    cell = result.get(measure)
    if not isinstance(cell, dict):
        return None
    value = cell.get("value")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def combine_counts(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine ``handle_job`` replies of a ``cohort_count`` job into one total per measure.

    Returns ``{"kind", "nodes": [{node, status, persons, records}], "persons":
    {"value", "display", "lower_bound"}, "records": {...}, "complete"}``;
    ``complete`` is true only when every node answered ``ok`` with both
    counts shown.
    """
    nodes: list[dict[str, Any]] = []
    totals: dict[str, int] = dict.fromkeys(MEASURES, 0)
    partial: dict[str, bool] = dict.fromkeys(MEASURES, False)
    rounded = False
    for reply in results:
        status = reply.get("status")
        result = reply.get("result") if status == "ok" else None
        row: dict[str, Any] = {"node": reply.get("node"), "status": status}
        if status != "ok":
            row["reason"] = reply.get("reason")
        for m in MEASURES:
            value = _shown(result, m)
            if value is None:
                partial[m] = True
                row[m] = "suppressed" if result is not None else None
            else:
                totals[m] += value
                row[m] = value
        if isinstance(result, dict) and result.get("rounding_base") not in (None, 1):
            rounded = True
        nodes.append(row)
    out: dict[str, Any] = {"kind": "cohort_count", "nodes": nodes}
    for m in MEASURES:
        bound = partial[m] or not results
        value = totals[m]
        out[m] = {"value": value, "display": f">= {value}" if bound else str(value),
                  "lower_bound": bound}  # fmt: skip
    out["complete"] = bool(results) and not any(partial.values())
    out["rounded"] = rounded
    return out


# --- characterize and incidence -------------------------------------------------------------
#
# The same rule for every count: a cell is the sum of what the nodes showed; when any node did
# not show it (suppressed, not listed, or the node gave no result), the sum is a lower bound
# (">= N"). Every combined figure is a function of released figures only, so it reveals
# nothing that the nodes' own released results (kept next to it) did not. Nothing is ever
# subtracted. A ratio (percent, proportion, rate) is recomputed from combined numerator and
# denominator only when both are complete; otherwise it is withheld (None) and the row is
# marked partial: a ratio of two lower bounds is neither a bound nor an estimate.
# Percentiles cannot be pooled from released percentiles: they stay per node; the pooled
# minimum and maximum are given only when every node showed the row.

Number = int | float
_DIST_FIELDS = frozenset({"label", "unit", "persons", "records", "suppressed",
                          "min", "p10", "p25", "median", "p75", "p90", "max"})  # fmt: skip


def _num(value: Any) -> Number | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def sum_cell(
    values: list[Any], *, hidden: bool = False, digits: int | None = None
) -> dict[str, Any]:
    """``{"value", "display", "lower_bound"}``: the sum of shown values; a lower bound if any is not."""
    shown = [v for v in (_num(x) for x in values) if v is not None]
    bound = hidden or len(shown) < len(values) or not values
    total: Number = sum(shown)
    if digits is not None:
        total = round(float(total), digits)
    text = f"{total:g}" if isinstance(total, float) else str(total)
    return {"value": total, "display": f">= {text}" if bound else text, "lower_bound": bound}


def _ok_results(replies: list[dict[str, Any]]) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """The ``(node, result)`` of nodes that answered ok; whether any target gave no result."""
    ok: list[tuple[str, dict[str, Any]]] = []
    absent = not replies
    for reply in replies:
        result = reply.get("result")
        if reply.get("status") == "ok" and isinstance(result, dict):
            ok.append((str(reply.get("node")), result))
        else:
            absent = True
    return ok, absent


def _node_rows(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for reply in replies:
        row = {"node": reply.get("node"), "status": reply.get("status")}
        if reply.get("status") != "ok":
            row["reason"] = reply.get("reason")
        rows.append(row)
    return rows


def _ordered(keys: list[str]) -> list[str]:
    """Labels in first-seen order; all-numeric labels (years) in numeric order."""
    unique = list(dict.fromkeys(keys))
    if unique and all(k.isdigit() for k in unique):
        return sorted(unique, key=int)
    return unique


def _rounded(results: list[dict[str, Any]]) -> bool:
    return any(r.get("rounding_base") not in (None, 1) for r in results)


def _table(name: str, parts: list[dict[str, Any] | None], absent: bool) -> dict[str, Any]:
    """A count table: cells matched by label (a label a node's table lacks is a zero there)."""
    present = [p for p in parts if p is not None]
    head = present[0]
    entries: dict[str, dict[str, Any]] = {}
    for p in present:
        for e in p.get("table", {}).get("entries", []):
            key = json.dumps([e.get("label"), bool(e.get("margin"))])
            entries.setdefault(key, e)
    cells = [k for k, e in entries.items() if not e.get("margin")]
    margins = [k for k, e in entries.items() if e.get("margin")]
    order = cells
    labels = [entries[k].get("label") for k in cells]
    if labels and all(isinstance(lab, str) and lab.isdigit() for lab in labels):
        order = sorted(cells, key=lambda k: int(str(entries[k].get("label"))))
    out_entries = []
    for key in [*order, *margins]:
        values: list[Any] = []
        hidden = absent or len(present) < len(parts)
        for p in present:
            by_key = {json.dumps([e.get("label"), bool(e.get("margin"))]): e
                      for e in p.get("table", {}).get("entries", [])}  # fmt: skip
            e = by_key.get(key)
            values.append(0 if e is None else e.get("value"))
        cell = sum_cell(values, hidden=hidden)
        out_entries.append({"label": entries[key].get("label"),
                            "margin": bool(entries[key].get("margin")), **cell})  # fmt: skip
    return {"name": name, "title": head.get("title"), "type": "table",
            "row_title": head.get("row_title"), "col_title": head.get("col_title"),
            "entries": out_entries}  # fmt: skip


def _concepts(
    name: str, parts: list[dict[str, Any] | None], absent: bool, denom: dict[str, Any] | None
) -> dict[str, Any]:
    """Concepts: a concept a node did not list (too few persons, or outside its top) is unknown there."""
    present = [p for p in parts if p is not None]
    head = present[0]
    rows: dict[int, dict[str, Any]] = {}
    for p in present:
        for r in p.get("rows", []):
            rows.setdefault(int(r["concept_id"]), r)
    with_percent = any("percent" in r for p in present for r in p.get("rows", []))
    hidden_all = absent or len(present) < len(parts)
    out = []
    for cid, first in rows.items():
        persons: list[Any] = []
        records: list[Any] = []
        for p in present:
            mine = next((r for r in p.get("rows", []) if int(r["concept_id"]) == cid), None)
            persons.append(None if mine is None else mine.get("persons"))
            records.append(None if mine is None else mine.get("records"))
        item: dict[str, Any] = {
            "concept_id": cid,
            "concept_name": first.get("concept_name"),
            "persons": sum_cell(persons, hidden=hidden_all),
            "records": sum_cell(records, hidden=hidden_all),
        }
        if with_percent:
            complete = not item["persons"]["lower_bound"] and denom is not None \
                and not denom["lower_bound"] and denom["value"]  # fmt: skip
            item["percent"] = (round(100.0 * item["persons"]["value"] / denom["value"], 1)
                               if complete and denom is not None else None)  # fmt: skip
        item["partial"] = item["persons"]["lower_bound"] or item["records"]["lower_bound"]
        out.append(item)
    out.sort(key=lambda r: (-r["persons"]["value"], r["concept_id"]))
    top = max(int(p.get("top", 0) or 0) for p in present) or len(out)
    return {"name": name, "title": head.get("title"), "type": "concepts", "top": top,
            "rows": out[:top]}  # fmt: skip


def _distribution(name: str, parts: list[dict[str, Any] | None], absent: bool) -> dict[str, Any]:
    """Distributions: persons and records summed; min/max pooled only when every node showed it."""
    present = [p for p in parts if p is not None]
    head = present[0]

    def key(r: dict[str, Any]) -> str:
        ids = {k: v for k, v in r.items() if k not in _DIST_FIELDS}
        return json.dumps(ids or {"label": r.get("label")}, sort_keys=True)

    rows: dict[str, dict[str, Any]] = {}
    for p in present:
        for r in p.get("rows", []):
            rows.setdefault(key(r), r)
    hidden_all = absent or len(present) < len(parts)
    out = []
    for k, first in rows.items():
        mine = [next((r for r in p.get("rows", []) if key(r) == k), None) for p in present]
        persons = sum_cell([None if r is None else r.get("persons") for r in mine],
                           hidden=hidden_all)  # fmt: skip
        records = sum_cell([None if r is None else r.get("records") for r in mine],
                           hidden=hidden_all)  # fmt: skip
        item = {f: v for f, v in first.items() if f not in _DIST_FIELDS}
        item.update({"label": first.get("label"), "unit": first.get("unit"),
                     "persons": persons, "records": records})  # fmt: skip
        complete = not persons["lower_bound"]
        mins = [_num(r.get("min")) for r in mine if r is not None]
        maxs = [_num(r.get("max")) for r in mine if r is not None]
        item["min"] = min(v for v in mins if v is not None) if complete and None not in mins \
            and mins else None  # fmt: skip
        item["max"] = max(v for v in maxs if v is not None) if complete and None not in maxs \
            and maxs else None  # fmt: skip
        item["partial"] = not complete
        out.append(item)
    out.sort(key=lambda r: (-r["persons"]["value"], r.get("label") or ""))
    return {"name": name, "title": head.get("title"), "type": "distribution",
            "percentiles": "per node only (released percentiles cannot be pooled)",
            "rows": out}  # fmt: skip


def _complete(sections: list[dict[str, Any]]) -> bool:
    text = json.dumps(sections)
    return '"lower_bound": true' not in text and '"partial": true' not in text


def combine_characterize(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine ``handle_job`` replies of a ``characterize`` job section by section.

    Counts are summed where every node showed them, else marked ``>= N``
    (see the module notes); percents are recomputed only from complete
    figures. ``nodes`` lists each node's status; their released results stay
    in the job's own ``nodes`` replies.
    """
    ok, absent = _ok_results(replies)
    results = [r for _n, r in ok]
    out: dict[str, Any] = {"kind": "characterize", "nodes": _node_rows(replies),
                           "scope": results[0].get("kind") if results else None,
                           "rounded": _rounded(results)}  # fmt: skip
    if results and results[0].get("cohort") is not None:
        out["cohort"] = results[0].get("cohort")
    names: list[str] = []
    types: dict[str, str] = {}
    for r in results:
        for s in r.get("sections", []):
            if isinstance(s, dict) and s.get("name") not in types:
                names.append(str(s.get("name")))
                types[str(s.get("name"))] = str(s.get("type"))

    def parts(name: str) -> list[dict[str, Any] | None]:
        return [next((s for s in r.get("sections", []) if s.get("name") == name), None)
                for r in results]  # fmt: skip

    sections: list[dict[str, Any]] = []
    denom: dict[str, Any] | None = None
    for name in names:
        ps = parts(name)
        if types[name] == "count":
            present = [p for p in ps if p is not None]
            cell = sum_cell([p.get("value") for p in present],
                            hidden=absent or len(present) < len(ps))  # fmt: skip
            if name == "persons":
                denom = cell
            sections.append({"name": name, "title": present[0].get("title"), "type": "count",
                             **cell})  # fmt: skip
        elif types[name] == "table":
            sections.append(_table(name, ps, absent))
        elif types[name] == "concepts":
            sections.append(_concepts(name, ps, absent, denom))
        elif types[name] == "distribution":
            sections.append(_distribution(name, ps, absent))
    out["sections"] = sections
    out["complete"] = bool(results) and not absent and _complete(sections)
    return out


def _stratum_rows(stratum: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if stratum is None:
        return {}
    return {str(r.get("label")): r for r in stratum.get("rows", []) if isinstance(r, dict)}


def combine_incidence(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine ``handle_job`` replies of an ``incidence`` job, stratum by stratum, row by row.

    Persons, outcomes and person-years are summed where every node showed
    them (a row a node's stratum lacks is a zero there: it had nobody in
    it), else marked ``>= N``; the proportion and the rate are recomputed
    only from complete numerators and denominators, else withheld and the
    row marked ``partial``.
    """
    ok, absent = _ok_results(replies)
    results = [r for _n, r in ok]
    head = results[0] if results else {}
    out: dict[str, Any] = {"kind": "incidence", "nodes": _node_rows(replies),
                           "target": head.get("target"), "outcome": head.get("outcome"),
                           "time_at_risk": head.get("time_at_risk"),
                           "rounded": _rounded(results)}  # fmt: skip
    strata_names: list[str] = []
    for r in results:
        for s in r.get("strata", []):
            if isinstance(s, dict) and s.get("name") not in strata_names:
                strata_names.append(str(s.get("name")))
    strata = []
    for sname in strata_names:
        per_node = [next((s for s in r.get("strata", []) if s.get("name") == sname), None)
                    for r in results]  # fmt: skip
        missing = any(s is None for s in per_node)
        rows = [_stratum_rows(s) for s in per_node]
        labels: list[str] = []
        totals: list[str] = []
        for rs in rows:
            for lab, row in rs.items():
                (totals if row.get("total") else labels).append(lab)
        out_rows = []
        for lab in [*_ordered(labels), *dict.fromkeys(totals)]:
            hidden = absent or missing
            mine = [rs.get(lab) for rs in rows]
            persons = sum_cell([0 if r is None else r.get("persons") for r in mine], hidden=hidden)
            outcomes = sum_cell([0 if r is None else r.get("outcomes") for r in mine],
                                hidden=hidden)  # fmt: skip
            years = sum_cell([0 if r is None else r.get("person_years") for r in mine],
                             hidden=hidden, digits=2)  # fmt: skip
            p, o, y = persons, outcomes, years
            prop = (round(100.0 * o["value"] / p["value"], 3)
                    if not (p["lower_bound"] or o["lower_bound"]) and p["value"] else None)  # fmt: skip
            rate = (round(1000.0 * o["value"] / y["value"], 3)
                    if not (y["lower_bound"] or o["lower_bound"]) and y["value"] else None)  # fmt: skip
            total = any(bool(r.get("total")) for r in mine if r is not None)
            out_rows.append({"label": lab, "total": total, "persons": persons,
                             "outcomes": outcomes, "person_years": years,
                             "proportion_pct": prop, "rate_per_1000py": rate,
                             "partial": p["lower_bound"] or o["lower_bound"]
                             or y["lower_bound"]})  # fmt: skip
        strata.append({"name": sname, "rows": out_rows})
    out["strata"] = strata
    out["complete"] = bool(results) and not absent and _complete(strata)
    return out


def combine(kind: str | None, replies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The combination for a job kind (``None`` for a kind that is not combined)."""
    if kind == "cohort_count":
        return combine_counts(replies)
    if kind == "characterize":
        return combine_characterize(replies)
    if kind == "incidence":
        return combine_incidence(replies)
    if kind == "challenge":
        from medhaven.prediction.challenge import combine_challenge

        return combine_challenge(replies)
    return None


__all__ = ["combine", "combine_characterize", "combine_counts", "combine_incidence", "sum_cell"]
