"""What the node console shows about its node: released counts, quality, the risk gate, results.

Every figure here is released under the node's own disclosure policy
(``min_cell_count``, ``rounding``) before it reaches a page or the
publication file, like a job's result; the CDM is opened read-only and only
for as long as a computation takes (a job may need to write its cohorts).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medhaven.analytics import release_count
from medhaven.federation.kinds import policy_of
from medhaven.federation.node import NodeConfig
from medhaven.hub.services.catalogue import RISK_GATE, risk_verdict

PUBLISH_DOMAINS = ["condition", "drug", "measurement", "procedure", "visit", "observation"]


@dataclass
class NodeFacts:
    """The overview: released person count and characterization, the quality checks."""

    persons: dict[str, Any]
    characterization: dict[str, dict[str, int]]
    checks: dict[str, Any]
    computed_at: str
    problem: str | None = None
    sections: list[dict[str, Any]] = field(default_factory=list)


def compute_facts(config: NodeConfig) -> NodeFacts:
    """Count, characterize and check the node's CDM (read-only), released by its policy."""
    from medhaven.analytics.characterize import characterize_dataset, release_dataset
    from medhaven.cdm import opened
    from medhaven.cdm.checks.runner import run_checks
    from medhaven.errors import MedHavenError

    policy = policy_of(config.min_cell_count, config.rounding)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        with opened(config.cdm, read_only=True) as store:
            count = release_count(store.count("person"), policy, name="persons")
            doc = release_dataset(characterize_dataset(store, top=10), policy)
            report = run_checks(store)
    except (MedHavenError, OSError) as exc:
        msg = exc.message if isinstance(exc, MedHavenError) else "the CDM cannot be opened"
        return NodeFacts({"value": None, "marker": None}, {}, {}, now, problem=msg)
    except Exception as exc:  # e.g. DuckDB's lock while a job writes its cohorts
        return NodeFacts({"value": None, "marker": None}, {}, {}, now,
                         problem=f"the CDM is busy or unreadable ({type(exc).__name__})")  # fmt: skip
    checks = {"passed": report.passed, "failed": report.failed, "errors": report.errors,
              "checked_at": now}  # fmt: skip
    sections = [s for s in doc.get("sections", []) if isinstance(s, dict)]
    return NodeFacts({"value": count.value, "marker": count.marker},
                     _characterization(sections), checks, now, sections=sections)  # fmt: skip


def _characterization(sections: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{section: {label: count}}`` of the shown (not suppressed) one-way table cells."""
    out: dict[str, dict[str, int]] = {}
    for s in sections:
        table = s.get("table")
        if s.get("type") != "table" or not isinstance(table, dict):
            continue
        if table.get("kind") != "one_way":
            continue
        cells = {str(e["label"]): e["value"] for e in table.get("entries", [])
                 if isinstance(e, dict) and not e.get("margin") and isinstance(e.get("value"), int)
                 and not isinstance(e.get("value"), bool)}  # fmt: skip
        if cells:
            out[str(s.get("name"))] = cells
    return out


def deid_verdict(config: NodeConfig) -> tuple[dict[str, Any] | None, str | None]:
    """The risk gate's verdict from ``deid_report`` (as ``quality_summary.risk_gate``), or why not.

    One verdict for the extract: released only when every file with
    quasi-identifiers passed; ``k`` is the smallest, ``average_risk`` the
    largest of the files'; the reasons name their file.
    """
    path = config.deid_report
    if path is None:
        return None, None
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{Path(path).name}: no such file"
    except (OSError, ValueError):
        return None, f"{Path(path).name}: not a de-identification report"
    risk = report.get("risk") if isinstance(report, dict) else None
    files = {f: r for f, r in (risk or {}).items()
             if isinstance(r, dict) and isinstance(r.get("release_gate"), dict)}  # fmt: skip
    if not files:
        return None, f"{Path(path).name}: no risk gate verdict in the report"
    try:
        gates = {f: r["release_gate"] for f, r in files.items()}
        verdict = {
            "released": all(bool(g["released"]) for g in gates.values()),
            "k": min(int(r["k"]) for r in files.values()),
            "k_min": max(int(g["k_min"]) for g in gates.values()),
            "average_risk": max(float(r["prosecutor"]["average"]) for r in files.values()),
            "max_avg_risk": min(float(g["max_avg_risk"]) for g in gates.values()),
            "reasons": [f"{f}: {why}" for f, g in sorted(gates.items()) for why in g["reasons"]],
            "suggestions": {f: g.get("suggestion") for f, g in sorted(gates.items())
                            if not g["released"]},
            "source": Path(path).name,
        }  # fmt: skip
        risk_verdict({RISK_GATE: verdict})  # the hub's own consistency check
    except (KeyError, TypeError, ValueError) as exc:
        return None, f"{Path(path).name}: unreadable risk figures ({type(exc).__name__})"
    except Exception as exc:  # InvalidInput: a verdict the hub would refuse as inconsistent
        return None, f"{Path(path).name}: {getattr(exc, 'message', type(exc).__name__)}"
    return verdict, None


def publication(config: NodeConfig, facts: NodeFacts, org_id: int) -> dict[str, Any]:
    """The ``DatasetCreate`` JSON for ``medhaven datasets publish`` (released figures only)."""
    verdict, _why = deid_verdict(config)
    quality: dict[str, Any] = {"checks": facts.checks} if facts.checks else {}
    if verdict is not None:
        quality[RISK_GATE] = verdict
    return {
        "org_id": org_id,
        "name": config.name,
        "description": f"OMOP CDM of node {config.name}",
        "cdm_version": "5.4",
        "domains": PUBLISH_DOMAINS,
        "person_count": facts.persons["value"] or 0,
        "characterization": facts.characterization,
        "quality_summary": quality,
        "terms_of_use": "",
    }


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict) and ("display" in value or "value" in value):
        shown = value.get("display")
        if shown is None:
            shown = value.get("marker") or value.get("value")
        return "suppressed" if shown is None else str(shown)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)[:300]
    return str(value)


def result_tables(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A held result as tables: each list of rows one table, every other figure a row of one."""
    tables: list[dict[str, Any]] = []
    figures: list[list[str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and ("display" in value or "value" in value):
            figures.append([path, _text(value)])
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            columns = list(dict.fromkeys(c for r in value for c in r))
            flat = all(not isinstance(r.get(c), list) for r in value for c in columns)
            if flat:
                rows = [[_text(r.get(c)) for c in columns] for r in value[:500]]
                tables.append({"title": path, "columns": columns, "rows": rows})
            else:
                for i, r in enumerate(value[:100]):
                    walk(r, f"{path}[{i}]")
        else:
            figures.append([path, _text(value)])

    walk(result, "")
    if figures:
        tables.insert(0, {"title": "", "columns": ["figure", "value"], "rows": figures})
    return tables


__all__ = ["NodeFacts", "compute_facts", "deid_verdict", "publication", "result_tables"]
