"""Temporal plausibility: plausibleDuringLife, plausibleAfterBirth, plausibleStartBeforeEnd.

Each family is one query per table with one ``SUM(CASE ...)`` per date field.
Dates are compared as ``DATE`` and day differences taken as ``date - date``,
which both DuckDB and PostgreSQL return as a whole number of days.
"""

from __future__ import annotations

from medhaven.cdm import schema
from medhaven.cdm.checks.measure import Ratio, StoreFacts, run_ratios
from medhaven.cdm.checks.model import CheckResult, CheckSpec
from medhaven.cdm.checks.plausible import (
    AFTER_BIRTH_ONLY,
    DEATH_GRACE_DAYS,
    EVENT_TABLES,
    IGNORED_DATE_FIELDS,
    THRESHOLDS,
)
from medhaven.cdm.store import CdmStore

# One death date per person: a duplicated death row must not count an event twice.
_DEATHS = "(SELECT person_id, MIN(death_date) AS death_date FROM death GROUP BY person_id)"
# Birth as DQD builds it: the birth datetime, else year/month/day with 1 for missing parts.
_BIRTHS = (
    "(SELECT person_id, COALESCE(CAST(birth_datetime AS DATE), MAKE_DATE("
    "CAST(year_of_birth AS INTEGER), CAST(COALESCE(month_of_birth, 1) AS INTEGER), "
    "CAST(COALESCE(day_of_birth, 1) AS INTEGER))) AS birth_date FROM person)"
)


def _date_fields(facts: StoreFacts, table: schema.Table) -> list[str]:
    return [
        f.name
        for f in table.fields
        if f.kind == "date" and f.name not in IGNORED_DATE_FIELDS and facts.has(table.name, f.name)
    ]


def _spec(check: str, table: str, field: str) -> CheckSpec:
    return CheckSpec(check, "FIELD", table, field, threshold=THRESHOLDS[check])


def during_life(store: CdmStore, facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """plausibleDuringLife: event dates more than 60 days after the person's death.

    The denominator is every row of a person who has a death record (DQD).
    """
    if table.name not in EVENT_TABLES or not facts.has("death", "person_id", "death_date"):
        return []
    if not facts.has(table.name, "person_id"):
        return []
    ratios = [
        Ratio(
            _spec("plausibleDuringLife", table.name, name),
            f"CAST(t.{name} AS DATE) - d.death_date > {DEATH_GRACE_DAYS}",
        )
        for name in _date_fields(facts, table)
    ]
    from_sql = f"{table.name} t JOIN {_DEATHS} d ON d.person_id = t.person_id"
    return run_ratios(store, from_sql, ratios)


def after_birth(store: CdmStore, facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """plausibleAfterBirth: event dates before the person's date of birth."""
    if table.name not in EVENT_TABLES + AFTER_BIRTH_ONLY:
        return []
    needed = ("person_id", "year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime")
    if not (facts.has("person", *needed) and facts.has(table.name, "person_id")):
        return []
    ratios = [
        Ratio(
            _spec("plausibleAfterBirth", table.name, name),
            f"CAST(t.{name} AS DATE) < p.birth_date",
            f"t.{name} IS NOT NULL",
        )
        for name in _date_fields(facts, table)
    ]
    from_sql = f"{table.name} t JOIN {_BIRTHS} p ON p.person_id = t.person_id"
    return run_ratios(store, from_sql, ratios)


def start_end_pairs(table: schema.Table) -> list[tuple[str, str]]:
    """(start, end) date-field pairs of a clinical table: ``x_start_date``/``x_end_date``, ``x_date``/``x_end_date``."""
    if table.schema != "CDM":
        return []
    names = {f.name for f in table.fields if f.kind == "date"}
    pairs = []
    for end in sorted(names - IGNORED_DATE_FIELDS):
        if not end.endswith("_end_date"):
            continue
        stem = end.removesuffix("_end_date")
        start = next((s for s in (f"{stem}_start_date", f"{stem}_date") if s in names), None)
        if start is not None:
            pairs.append((start, end))
    return pairs


def start_before_end(store: CdmStore, facts: StoreFacts, table: schema.Table) -> list[CheckResult]:
    """plausibleStartBeforeEnd: rows whose start date is after their end date."""
    ratios = [
        Ratio(
            _spec("plausibleStartBeforeEnd", table.name, start),
            f"CAST(t.{start} AS DATE) > CAST(t.{end} AS DATE)",
            f"t.{start} IS NOT NULL AND t.{end} IS NOT NULL",
        )
        for start, end in start_end_pairs(table)
        if facts.has(table.name, start, end)
    ]
    return run_ratios(store, f"{table.name} t", ratios)


__all__ = ["after_birth", "during_life", "start_before_end", "start_end_pairs"]
