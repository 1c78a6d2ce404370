"""Combining nodes' released cohort counts into one figure that never un-suppresses a cell.

Only what each node released is used: a shown count is added, a suppressed
one is not (its true value never left the node), and then the total is
marked as a lower bound, ``">= N"``. A node that refused, failed or holds
its result for approval contributes nothing and makes the total a lower
bound too. No minimum is assumed for a hidden count (a count hidden to
protect another one can be anything), so the bound is exactly the sum of
published figures and reveals nothing that they did not.
"""

from __future__ import annotations

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


__all__ = ["combine_counts"]
