"""Concept-level checks: isForeignKey to ``concept``, fkDomain, isStandardValidConcept, plausible values.

All ``*_concept_id`` fields of a table are unpivoted with ``UNION ALL`` and
joined to ``concept`` once, so a table costs one query however many concept
fields it has. Concept id 0 ("no matching concept") is exempt from fkDomain
and isStandardValidConcept, as in DQD; it must still exist in ``concept`` for
isForeignKey, as the OMOP vocabulary ships it.
"""

from __future__ import annotations

from dataclasses import dataclass

from medhaven.cdm import schema
from medhaven.cdm.checks.measure import StoreFacts
from medhaven.cdm.checks.model import CheckResult, CheckSpec
from medhaven.cdm.checks.plausible import MEASUREMENT_RANGES, THRESHOLDS
from medhaven.cdm.store import CdmStore

_CONCEPT_COLUMNS = ("concept_id", "domain_id", "standard_concept", "invalid_reason")


@dataclass(frozen=True)
class _ConceptField:
    name: str
    fk: CheckSpec
    domain: CheckSpec | None
    standard: CheckSpec | None
    domains: tuple[str, ...]

    def specs(self) -> list[CheckSpec]:
        return [s for s in (self.fk, self.domain, self.standard) if s is not None]


def _is_standard_target(table: schema.Table, field: schema.Field) -> bool:
    return (
        table.schema == "CDM"
        and field.name.endswith("_concept_id")
        and not field.name.endswith("_source_concept_id")
    )


def _plan(facts: StoreFacts, table: schema.Table) -> list[_ConceptField]:
    out = []
    for f in table.fields:
        if not (f.foreign_key and (f.fk_table or "").lower() == "concept"):
            continue
        if not facts.has(table.name, f.name):
            continue

        def spec(check: str, name: str = f.name) -> CheckSpec:
            return CheckSpec(check, "FIELD", table.name, name, threshold=THRESHOLDS[check])

        domains = tuple(d.strip() for d in (f.fk_domain or "").split(",") if d.strip())
        out.append(
            _ConceptField(
                name=f.name,
                fk=spec("isForeignKey"),
                domain=spec("fkDomain") if domains and table.schema == "CDM" else None,
                standard=spec("isStandardValidConcept") if _is_standard_target(table, f) else None,
                domains=domains,
            )
        )
    return out


def _query(table: str, fields: list[_ConceptField]) -> str:
    branches = []
    for cf in fields:
        doms = "," + ",".join(cf.domains) + "," if cf.domains else ""
        # Domain names come from the CDM spec, never from data: safe to inline.
        branches.append(
            f"SELECT '{cf.name}' AS f, t.{cf.name} AS cid, CAST('{doms}' AS VARCHAR) AS doms "
            f"FROM {table} t"
        )
    union = " UNION ALL ".join(branches)
    # Count rows per distinct (field, concept) first: a table has millions of rows but
    # few distinct concepts, so the join to concept stays small.
    grouped = (
        f"SELECT u.f, u.cid, u.doms, COUNT(*) AS n FROM ({union}) u GROUP BY u.f, u.cid, u.doms"
    )
    return (
        "SELECT g.f, SUM(g.n), "
        "SUM(CASE WHEN g.cid IS NOT NULL AND c.concept_id IS NULL THEN g.n ELSE 0 END), "
        "SUM(CASE WHEN c.concept_id <> 0 AND g.doms <> '' "
        "AND POSITION(',' || c.domain_id || ',' IN g.doms) = 0 THEN g.n ELSE 0 END), "
        "SUM(CASE WHEN c.concept_id <> 0 AND (c.standard_concept IS NULL "
        "OR c.standard_concept <> 'S' OR c.invalid_reason IS NOT NULL) THEN g.n ELSE 0 END) "
        f"FROM ({grouped}) g LEFT JOIN concept c ON c.concept_id = g.cid GROUP BY g.f"
    )


def _measure(store: CdmStore, table: str, fields: list[_ConceptField]) -> list[CheckResult]:
    try:
        rows = store.fetchall(_query(table, fields))
    except Exception as exc:  # any driver error makes these checks errors
        if len(fields) == 1:
            return [CheckResult.errored(s, exc) for s in fields[0].specs()]
        return [r for cf in fields for r in _measure(store, table, [cf])]
    by_field = {str(r[0]): r for r in rows}
    out: list[CheckResult] = []
    for cf in fields:
        # An empty table returns no group: zero rows, zero violations (DQD).
        _, n, fk, dom, std = by_field.get(cf.name, (cf.name, 0, 0, 0, 0))
        total = int(n or 0)
        out.append(CheckResult.measured(cf.fk, violated=int(fk or 0), denominator=total))
        if cf.domain is not None:
            out.append(CheckResult.measured(cf.domain, violated=int(dom or 0), denominator=total))
        if cf.standard is not None:
            out.append(CheckResult.measured(cf.standard, violated=int(std or 0), denominator=total))
    return out


def concept_fields(store: CdmStore, facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """isForeignKey (to concept), fkDomain and isStandardValidConcept for one table."""
    if not facts.has("concept", *_CONCEPT_COLUMNS):
        return []
    fields = _plan(facts, table)
    return _measure(store, table.name, fields) if fields else []


def plausible_values(store: CdmStore, facts: StoreFacts) -> list[CheckResult]:
    """plausibleValueLow/High for the common measurements in :data:`MEASUREMENT_RANGES`."""
    needed = ("measurement_concept_id", "unit_concept_id", "value_as_number")
    if not facts.has("measurement", *needed):
        return []

    def spec(check: str, concept_id: int, unit: int) -> CheckSpec:
        return CheckSpec(
            check, "CONCEPT", "measurement", "value_as_number",
            concept_id=concept_id, unit_concept_id=unit, threshold=THRESHOLDS[check],
        )  # fmt: skip

    values = ", ".join(
        f"({r.concept_id}, {r.unit_concept_id}, {r.low!r}, {r.high!r})" for r in MEASUREMENT_RANGES
    )
    sql = (
        "SELECT r.cid, r.uid, "
        "SUM(CASE WHEN m.value_as_number IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN m.value_as_number < r.lo THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN m.value_as_number > r.hi THEN 1 ELSE 0 END) "
        f"FROM (VALUES {values}) AS r(cid, uid, lo, hi) "
        "LEFT JOIN measurement m ON m.measurement_concept_id = r.cid "
        "AND m.unit_concept_id = r.uid GROUP BY r.cid, r.uid"
    )
    specs = [
        (spec("plausibleValueLow", r.concept_id, r.unit_concept_id),
         spec("plausibleValueHigh", r.concept_id, r.unit_concept_id))
        for r in MEASUREMENT_RANGES
    ]  # fmt: skip
    try:
        rows = {(int(r[0]), int(r[1])): r for r in store.fetchall(sql)}
    except Exception as exc:  # any driver error makes these checks errors
        return [CheckResult.errored(s, exc) for pair in specs for s in pair]
    out: list[CheckResult] = []
    for rng, (low, high) in zip(MEASUREMENT_RANGES, specs, strict=True):
        _, _, n, lo, hi = rows.get((rng.concept_id, rng.unit_concept_id), (0, 0, 0, 0, 0))
        out.append(CheckResult.measured(low, violated=int(lo or 0), denominator=int(n or 0)))
        out.append(CheckResult.measured(high, violated=int(hi or 0), denominator=int(n or 0)))
    return out


__all__ = ["concept_fields", "plausible_values"]
