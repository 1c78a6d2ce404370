"""SQL for one domain criterion (condition, drug, procedure, measurement, observation, visit, death).

Every criterion query returns the same columns, as Circe's do: ``person_id``,
``event_id`` (the row's own id; the person id for death), ``start_date``,
``end_date`` and ``visit_occurrence_id``. End dates follow Circe: the
recorded end, else start + 1 day (conditions); start + 1 day (procedures,
measurements, observations, deaths); the visit end for visits; the recorded
end, else start + 1 day for drugs. ``First`` keeps each person's earliest
row of the concept set, before any other attribute filters.

The SQL is plain ANSI that DuckDB and PostgreSQL both run: ``date + integer``
for day offsets, ``EXTRACT(YEAR FROM ...)``, window functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from medhaven.analytics.cohorts.model import (
    DeathCriterion,
    DomainCriteria,
    MeasurementCriterion,
    NumericRange,
)
from medhaven.errors import InvalidInput


@dataclass(frozen=True)
class DomainTable:
    """Where a domain's rows live and which columns play which role."""

    table: str
    id_col: str
    concept_col: str
    start_col: str
    end_expr: str
    visit_expr: str = "t.visit_occurrence_id"


DOMAIN_TABLES: dict[str, DomainTable] = {
    "ConditionOccurrence": DomainTable(
        "condition_occurrence",
        "condition_occurrence_id",
        "condition_concept_id",
        "condition_start_date",
        "COALESCE(t.condition_end_date, t.condition_start_date + 1)",
    ),
    "DrugExposure": DomainTable(
        "drug_exposure",
        "drug_exposure_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "COALESCE(t.drug_exposure_end_date, t.drug_exposure_start_date + 1)",
    ),
    "ProcedureOccurrence": DomainTable(
        "procedure_occurrence",
        "procedure_occurrence_id",
        "procedure_concept_id",
        "procedure_date",
        "t.procedure_date + 1",
    ),
    "Measurement": DomainTable(
        "measurement",
        "measurement_id",
        "measurement_concept_id",
        "measurement_date",
        "t.measurement_date + 1",
    ),
    "Observation": DomainTable(
        "observation",
        "observation_id",
        "observation_concept_id",
        "observation_date",
        "t.observation_date + 1",
    ),
    "VisitOccurrence": DomainTable(
        "visit_occurrence",
        "visit_occurrence_id",
        "visit_concept_id",
        "visit_start_date",
        "t.visit_end_date",
    ),
    "Death": DomainTable(
        "death",
        "person_id",
        "cause_concept_id",
        "death_date",
        "t.death_date + 1",
        "CAST(NULL AS BIGINT)",
    ),
}


def number(value: float) -> str:
    """A numeric literal for SQL (whole numbers without a decimal point)."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def numeric_range(expr: str, rng: NumericRange) -> str:
    """A SQL predicate for a Circe numeric range applied to ``expr``."""
    v = number(rng.Value)
    simple = {"lt": "<", "lte": "<=", "eq": "=", "!eq": "<>", "gt": ">", "gte": ">="}
    if rng.Op in simple:
        return f"{expr} {simple[rng.Op]} {v}"
    assert rng.Extent is not None  # the model requires an Extent for bt / !bt
    e = number(rng.Extent)
    if rng.Op == "bt":
        return f"({expr} >= {v} AND {expr} <= {e})"
    return f"NOT ({expr} >= {v} AND {expr} <= {e})"


def id_list(ids: list[int]) -> str:
    """Integers joined for an ``IN (...)`` list (ids come from validated ints, never text)."""
    return ", ".join(str(int(i)) for i in ids)


def criterion_sql(
    crit: DomainCriteria,
    *,
    codesets: str,
    known_codesets: set[int],
    path: str,
    inline: Mapping[int, Sequence[int]] | None = None,
) -> str:
    """The SELECT returning one criterion's events (columns as described in the module doc).

    With ``inline`` (codeset id -> its expanded concept ids), the concept filter is
    written as an ``IN`` list instead of a join to the codesets table: the same rows,
    and the database can push the filter into its table scan.
    """
    domain = crit.domain
    spec = crit.criterion
    d = DOMAIN_TABLES[domain]
    codeset_id = spec.CodesetId
    join = ""
    if codeset_id is not None:
        if codeset_id not in known_codesets:
            raise InvalidInput(
                f"cohort definition: {path}.{domain}.CodesetId {codeset_id} names no concept set"
            )
        if inline is not None:
            ids = list(inline.get(codeset_id, ()))
            join = f" WHERE t.{d.concept_col} IN ({id_list(ids)})" if ids else " WHERE 1 = 0"
        else:
            join = (
                f" JOIN {codesets} cs ON cs.concept_id = t.{d.concept_col}"
                f" AND cs.codeset_id = {int(codeset_id)}"
            )
    first = not isinstance(spec, DeathCriterion) and spec.First
    extra_cols = ""
    where: list[str] = []
    if first:
        extra_cols += (
            f", row_number() OVER (PARTITION BY t.person_id ORDER BY t.{d.start_col}, "
            f"t.{d.id_col}) AS ordinal"
        )
        where.append("C.ordinal = 1")
    if isinstance(spec, MeasurementCriterion):
        extra_cols += ", t.value_as_number, t.unit_concept_id"
        if spec.ValueAsNumber is not None:
            where.append(numeric_range("C.value_as_number", spec.ValueAsNumber))
        if spec.Unit:
            where.append(f"C.unit_concept_id IN ({id_list([c.CONCEPT_ID for c in spec.Unit])})")
    inner = (
        f"SELECT t.person_id, t.{d.id_col} AS event_id, t.{d.start_col} AS start_date, "
        f"{d.end_expr} AS end_date, {d.visit_expr} AS visit_occurrence_id{extra_cols} "
        f"FROM {d.table} t{join}"
    )
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        "SELECT C.person_id, C.event_id, C.start_date, C.end_date, C.visit_occurrence_id "
        f"FROM ({inner}) C{clause}"
    )


__all__ = ["DOMAIN_TABLES", "DomainTable", "criterion_sql", "id_list", "number", "numeric_range"]
