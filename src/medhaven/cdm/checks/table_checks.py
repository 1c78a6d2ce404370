"""Table-level checks: cdmTable, cdmField and measurePersonCompleteness.

cdmTable and cdmField compare the store with the CDM v5.4 specification (one
"row" each: violated 1 of 1 when missing). measurePersonCompleteness is the
share of persons with no row in the table, failing above DQD's default
threshold for that table (:data:`PERSON_COMPLETENESS_THRESHOLDS`: 0 % for
observation_period, 95 % for most clinical event tables); an empty table
passes with denominator 0, as every check on an empty table does.
"""

from __future__ import annotations

from medhaven.cdm import schema
from medhaven.cdm.checks.measure import Counts, StoreFacts, run_counts
from medhaven.cdm.checks.model import CheckResult, CheckSpec
from medhaven.cdm.checks.plausible import PERSON_COMPLETENESS_THRESHOLDS
from medhaven.cdm.store import CdmStore


def cdm_table(facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """cdmTable: the table exists."""
    spec = CheckSpec("cdmTable", "TABLE", table.name)
    return [
        CheckResult.measured(spec, violated=0 if facts.has_table(table.name) else 1, denominator=1)
    ]


def cdm_fields(facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """cdmField: every field of the specification exists (only for a table that exists)."""
    if not facts.has_table(table.name):
        return []
    return [
        CheckResult.measured(
            CheckSpec("cdmField", "FIELD", table.name, f.name),
            violated=0 if facts.has(table.name, f.name) else 1,
            denominator=1,
        )
        for f in table.fields
    ]


def person_completeness(
    store: CdmStore, facts: StoreFacts, table: schema.Table
) -> list[CheckResult]:
    """measurePersonCompleteness: persons without any row in ``table``."""
    threshold = PERSON_COMPLETENESS_THRESHOLDS.get(table.name)
    if threshold is None:
        return []
    if not (facts.has("person", "person_id") and facts.has(table.name, "person_id")):
        return []
    spec = CheckSpec("measurePersonCompleteness", "TABLE", table.name, threshold=threshold)
    # An empty table is "not populated at this site": it passes with denominator 0,
    # like every other check on an empty table, rather than failing for every person.
    populated = f"EXISTS (SELECT 1 FROM {table.name})"
    violated = (
        f"SELECT CASE WHEN {populated} THEN (SELECT COUNT(*) FROM person p WHERE NOT EXISTS "
        f"(SELECT 1 FROM {table.name} t WHERE t.person_id = p.person_id)) ELSE 0 END"
    )
    denominator = f"SELECT CASE WHEN {populated} THEN (SELECT COUNT(*) FROM person) ELSE 0 END"
    return run_counts(store, [Counts(spec, violated, denominator)])


__all__ = ["cdm_fields", "cdm_table", "person_completeness"]
