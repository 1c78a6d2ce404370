"""Field-level conformance checks: isRequired, cdmDatatype, isPrimaryKey, isForeignKey.

isRequired and cdmDatatype share one scan of the table. isForeignKey here
covers keys to CDM tables (person, visit_occurrence, provider, ...); keys to
``concept`` are measured with the other concept checks in
:mod:`medhaven.cdm.checks.concept_checks`. Checks are only planned for fields
that exist (a missing field is reported once, by cdmField).
"""

from __future__ import annotations

from medhaven.cdm import schema
from medhaven.cdm.checks.measure import Counts, Ratio, StoreFacts, run_counts, run_ratios
from medhaven.cdm.checks.model import CheckResult, CheckSpec
from medhaven.cdm.checks.plausible import THRESHOLDS
from medhaven.cdm.store import CdmStore


def _integer_text_violation(column: str) -> str:
    """True for a non-null value whose text is not an optionally signed run of digits.

    Written with LTRIM/SUBSTR rather than a regular expression because the two
    backends spell regular expressions differently.
    """
    text = f"CAST({column} AS VARCHAR)"
    unsigned = f"CASE WHEN {text} LIKE '-%' THEN SUBSTR({text}, 2) ELSE {text} END"
    return f"{column} IS NOT NULL AND ({unsigned} = '' OR LTRIM({unsigned}, '0123456789') <> '')"


def required_and_datatype(
    store: CdmStore, facts: StoreFacts, table: schema.Table
) -> list[CheckResult]:
    """isRequired (no nulls in required fields) and cdmDatatype (integer fields hold integers)."""
    ratios: list[Ratio] = []
    for f in table.fields:
        if not facts.has(table.name, f.name):
            continue
        col = f"t.{f.name}"
        if f.required:
            spec = CheckSpec(
                "isRequired", "FIELD", table.name, f.name, threshold=THRESHOLDS["isRequired"]
            )
            ratios.append(Ratio(spec, f"{col} IS NULL"))
        if f.kind == "integer":
            spec = CheckSpec(
                "cdmDatatype", "FIELD", table.name, f.name, threshold=THRESHOLDS["cdmDatatype"]
            )
            # An integer-typed column cannot hold anything else: skip the text scan.
            violation = (
                "1 = 0"
                if facts.is_integer_column(table.name, f.name)
                else _integer_text_violation(col)
            )
            ratios.append(Ratio(spec, violation, f"{col} IS NOT NULL"))
    return run_ratios(store, f"{table.name} t", ratios)


def primary_key(store: CdmStore, facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """isPrimaryKey: rows whose primary-key value occurs more than once."""
    pk = table.primary_key
    if pk is None or not facts.has(table.name, pk.name):
        return []
    spec = CheckSpec(
        "isPrimaryKey", "FIELD", table.name, pk.name, threshold=THRESHOLDS["isPrimaryKey"]
    )
    # One aggregation, no self-join: the rows of every key value seen more than once.
    violated = (
        f"SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM {table.name} "
        f"GROUP BY {pk.name} HAVING COUNT(*) > 1) d"
    )
    return run_counts(store, [Counts(spec, violated, f"SELECT COUNT(*) FROM {table.name}")])


def foreign_keys(store: CdmStore, facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """isForeignKey for keys to CDM tables other than ``concept`` whose target exists."""
    items: list[Counts] = []
    for f in table.fields:
        if not (f.foreign_key and f.fk_table and f.fk_field) or f.fk_table.lower() == "concept":
            continue
        target, key = f.fk_table.lower(), f.fk_field.lower()
        if not (facts.has(table.name, f.name) and facts.has(target, key)):
            continue
        spec = CheckSpec(
            "isForeignKey", "FIELD", table.name, f.name, threshold=THRESHOLDS["isForeignKey"]
        )
        violated = (
            f"SELECT COUNT(*) FROM {table.name} c WHERE c.{f.name} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {target} x WHERE x.{key} = c.{f.name})"
        )
        items.append(Counts(spec, violated, f"SELECT COUNT(*) FROM {table.name}"))
    return run_counts(store, items)


__all__ = ["foreign_keys", "primary_key", "required_and_datatype"]
