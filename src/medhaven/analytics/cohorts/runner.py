"""Run a compiled cohort on a CDM store: fill the OMOP ``cohort`` table and count the attrition.

Everything happens in one store transaction: the temp tables, the
``DELETE`` of the definition's old rows and the ``INSERT`` of the new ones
commit together or not at all, so a failed run leaves the previous cohort in
place. The results are written to the standard OMOP ``cohort`` table
(``cohort_definition_id, subject_id, cohort_start_date, cohort_end_date``) in
the store's own schema, or in ``results_schema`` when one is given; either is
created when missing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from medhaven.analytics.cohorts.compiler import CompiledCohort, Step, compile_cohort
from medhaven.analytics.cohorts.model import CohortExpression
from medhaven.cdm import CdmStore
from medhaven.errors import InvalidInput, MedHavenError, StoreError

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_REQUIRED = ("person", "observation_period", "concept", "concept_ancestor", "concept_relationship")


@dataclass(frozen=True)
class Stage:
    """One step of the attrition: persons and events remaining after it.

    The last stage, ``cohort periods``, counts the cohort's rows after end
    dates and era collapse: its ``events`` are cohort records.
    """

    name: str
    persons: int
    events: int


@dataclass(frozen=True)
class CohortRun:
    """True (unsuppressed) counts of one cohort generation; stays at the node."""

    cohort_definition_id: int
    stages: tuple[Stage, ...]
    persons: int
    records: int
    rule_names: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """The raw counts as a JSON-ready dict (custodian use only)."""
        return {
            "cohort_definition_id": self.cohort_definition_id,
            "persons": self.persons,
            "records": self.records,
            "attrition": [
                {"stage": s.name, "persons": s.persons, "events": s.events} for s in self.stages
            ],
        }


def cohort_table(results_schema: str | None) -> str:
    """The qualified name of the cohort table (``cohort`` or ``SCHEMA.cohort``)."""
    if results_schema is None:
        return "cohort"
    if not _IDENT.fullmatch(results_schema):
        raise InvalidInput("--results-schema: use lower-case letters, digits and _ only")
    return f"{results_schema}.cohort"


def ensure_cohort_table(store: CdmStore, results_schema: str | None = None) -> str:
    """Create the results schema and the OMOP ``cohort`` table if missing; return its name."""
    name = cohort_table(results_schema)
    if results_schema is None:
        store.create_schema(["cohort"])
        return name
    store.execute(f"CREATE SCHEMA IF NOT EXISTS {results_schema}")
    store.execute(
        f"CREATE TABLE IF NOT EXISTS {name} (cohort_definition_id BIGINT NOT NULL, "
        "subject_id BIGINT NOT NULL, cohort_start_date DATE NOT NULL, "
        "cohort_end_date DATE NOT NULL)"
    )
    return name


def _counts(store: CdmStore, table: str) -> tuple[int, int]:
    row = store.fetchall(f"SELECT COUNT(DISTINCT person_id), COUNT(*) FROM {table}")[0]
    return int(row[0]), int(row[1])


def _rule_stages(store: CdmStore, compiled: CompiledCohort) -> list[Stage]:
    return [
        Stage(name, *_counts(store, table))
        for name, table in zip(compiled.rule_names, compiled.rule_tables, strict=True)
    ]


# Concept sets up to this many concepts in all are inlined as IN lists.
INLINE_LIMIT = 1000


def _create(store: CdmStore, step: Step, created: list[str]) -> None:
    store.execute(f"CREATE TEMP TABLE {step.name} AS {step.sql}")
    created.append(step.name)
    if store.dialect == "postgresql":
        # Temp tables get no autovacuum statistics; plans need them.
        store.execute(f"ANALYZE {step.name}")


def _with_inline_codesets(
    store: CdmStore, expr: CohortExpression, compiled: CompiledCohort, prefix: str
) -> CompiledCohort:
    rows = store.fetchall(f"SELECT codeset_id, concept_id FROM {compiled.steps[0].name}")
    if len(rows) > INLINE_LIMIT:
        return compiled
    sets: dict[int, list[int]] = {}
    for codeset_id, concept_id in rows:
        sets.setdefault(int(codeset_id), []).append(int(concept_id))
    return compile_cohort(expr, prefix=prefix, inline=sets)


def generate_cohort(
    store: CdmStore,
    expr: CohortExpression,
    *,
    cohort_definition_id: int,
    results_schema: str | None = None,
) -> CohortRun:
    """Generate one cohort into the ``cohort`` table (replacing its rows) and count its attrition."""
    if isinstance(cohort_definition_id, bool) or cohort_definition_id < 0:
        raise InvalidInput("--cohort-id: must be a whole number of 0 or more")
    present = store.table_names()
    missing = [t for t in _REQUIRED if t not in present]
    if missing:
        raise InvalidInput(f"the CDM store has no {missing[0]} table; load a CDM first")
    prefix = f"mh_cohort_{uuid.uuid4().hex[:10]}"
    compiled = compile_cohort(expr, prefix=prefix)
    target = cohort_table(results_schema)
    created: list[str] = []
    try:
        with store.transaction():
            ensure_cohort_table(store, results_schema)
            _create(store, compiled.steps[0], created)
            # Read the expanded concept sets back and write them into the later steps
            # as IN lists when small: same rows, and the scans can filter early.
            compiled = _with_inline_codesets(store, expr, compiled, prefix)
            for step in compiled.steps[1:]:
                _create(store, step, created)
            stages = [
                Stage("initial events", *_counts(store, compiled.primary_events)),
                Stage("qualifying events", *_counts(store, compiled.qualified_events)),
                *_rule_stages(store, compiled),
                Stage("expression limit", *_counts(store, compiled.included_events)),
            ]
            persons, records = _counts(store, compiled.final_cohort)
            stages.append(Stage("cohort periods", persons, records))
            store.execute(
                f"DELETE FROM {target} WHERE cohort_definition_id = ?", [cohort_definition_id]
            )
            store.execute(
                f"INSERT INTO {target} (cohort_definition_id, subject_id, cohort_start_date, "
                f"cohort_end_date) SELECT CAST(? AS BIGINT), person_id, start_date, end_date "
                f"FROM {compiled.final_cohort}",
                [cohort_definition_id],
            )
            for name in reversed(created):
                store.execute(f"DROP TABLE IF EXISTS {name}")
    except MedHavenError:
        raise
    except Exception as exc:
        raise StoreError(
            "cohort generation failed in the CDM store; nothing was written",
            detail=type(exc).__name__,
        ) from exc
    return CohortRun(
        cohort_definition_id=cohort_definition_id,
        stages=tuple(stages),
        persons=persons,
        records=records,
        rule_names=compiled.rule_names,
    )


__all__ = ["CohortRun", "Stage", "cohort_table", "ensure_cohort_table", "generate_cohort"]
