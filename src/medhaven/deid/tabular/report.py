"""The run report: counts per action per column, rows in and out, risk, CDM mapping — never a value."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import duckdb

from medhaven import __version__
from medhaven.deid.keys import SiteKey
from medhaven.deid.risk import measure_risk
from medhaven.deid.risk_gate import evaluate_release
from medhaven.deid.tabular.model import Profile
from medhaven.deid.tabular.sql import ident
from medhaven.deid.tabular.transform import TableResult


def risk_figures(
    con: duckdb.DuckDBPyConnection, *, table: str, quasi: tuple[str, ...], columns: set[str]
) -> dict[str, Any] | None:
    """k, l, prosecutor / journalist / marketer risk and the release gate on ``quasi``."""
    present = [q for q in quasi if q in columns]
    if not present:
        return None
    data = con.execute(f"SELECT {', '.join(ident(q) for q in present)} FROM {table}").df()
    if data.empty:
        return {"records": 0, "quasi_identifiers": present}
    out = measure_risk(data, present, source=table).as_dict()
    gate = evaluate_release(data, present, max_candidates=100)
    out["release_gate"] = {
        "released": gate.released,
        "k_min": gate.k_min,
        "max_avg_risk": gate.max_avg_risk,
        "reasons": list(gate.reasons),
        "suggestion": gate.suggestion.description if gate.suggestion is not None else None,
        "suggestion_reaches": (
            {
                "k": gate.suggestion.k,
                "average_risk": round(gate.suggestion.average_risk, 6),
                "generalise": dict(gate.suggestion.steps),
                "drop": list(gate.suggestion.dropped),
            }
            if gate.suggestion is not None
            else None
        ),
    }
    return out


def _extract_gate(risk: dict[str, Any]) -> dict[str, Any] | None:
    """The extract's verdict: released when every file with quasi-identifiers passes the gate."""
    gates = {f: r["release_gate"] for f, r in risk.items() if r.get("release_gate")}
    if not gates:
        return None
    return {
        "released": all(g["released"] for g in gates.values()),
        "refused": {f: g["suggestion"] for f, g in sorted(gates.items()) if not g["released"]},
    }


def build_report(
    *,
    profile: Profile,
    fmt: str,
    key: SiteKey,
    tables: dict[str, TableResult],
    keyed_values: dict[str, int],
    notes: dict[str, Any] | None,
    not_copied: list[str],
    ground_truth_skipped: list[str],
    risk: dict[str, Any],
    cdm: dict[str, Any] | None,
    seconds: float,
    patients_90: int = 0,
) -> dict[str, Any]:
    """The JSON document written to ``--report``."""
    actions: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for t in tables.values():
        for c in t.columns.values():
            actions[str(c["action"])] += int(c["values"])
        categories.update(t.by_category)
    return {
        "tool": "medhaven deid tabular",
        "tool_version": __version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "format": fmt,
        "profile": profile.name,
        "config_hash": profile.config_hash(),
        "key_fingerprint": key.fingerprint,
        "rows_in": sum(t.rows_in for t in tables.values()),
        "rows_out": sum(t.rows_out for t in tables.values()),
        "values_per_action": dict(sorted(actions.items())),
        "tables": {name: t.as_dict() for name, t in sorted(tables.items())},
        "distinct_keyed_values": keyed_values,
        "notes": notes,
        "sensitive": {
            "mode": profile.sensitive_mode,
            "list_entries": len(profile.sensitive),
            "withheld": sum(t.withheld for t in tables.values()),
            "flagged": sum(t.flagged for t in tables.values()),
            "reason_codes_blanked": sum(t.reason_codes_blanked for t in tables.values()),
            "by_category": dict(sorted(categories.items())),
            "notes_withheld": int(notes["withheld"]) if notes else 0,
            "notes_flagged": int(notes["flagged"]) if notes else 0,
        },
        "ages_90_or_over": {
            "patients": patients_90,
            "birth_years_pooled": sum(t.birth_years_pooled_90 for t in tables.values()),
            "event_years_pooled": sum(t.dates_pooled_90 for t in tables.values()),
        },
        "not_copied": sorted(not_copied),
        "ground_truth_skipped": sorted(ground_truth_skipped),
        "risk": risk,
        "release_gate": _extract_gate(risk),
        "cdm": cdm,
        "seconds": round(seconds, 3),
    }


__all__ = ["build_report", "risk_figures"]
