"""The study population of a prediction task, in SQL on the CDM store (DuckDB or PostgreSQL).

Both cohorts are generated into the OMOP ``cohort`` table with MedHaven's
cohort runner; then every target entry gets, as in PatientLevelPrediction's
``createStudyPopulation`` (``R/PopulationSettings.R``), in days from the index
date (the target cohort start):

* ``tar_start`` = ``risk_window_start`` (+ days to cohort end when anchored on
  the cohort end), ``tar_end`` likewise, then capped at the end of the
  observation period holding the index date (and at the cohort end when
  ``restrict_tar_to_cohort_end``);
* the label: an outcome cohort start in ``tar_start .. tar_end`` (inclusive);
* time at risk ``tar_end - tar_start + 1``.

The rules, in PLP's order, each one an attrition step when it applies:
first exposure only (earliest entry per person); washout (at least
``washout_period`` days of observation before the index); no prior outcome
(an outcome ``d`` days from the index with ``-prior_outcome_lookback < d <
tar_start``); time at risk (``tar_end >= tar_start + min_time_at_risk``, or,
with ``include_all_outcomes``, that or an outcome in the TAR; without
``require_time_at_risk`` only ``tar_end >= tar_start``). Target entries whose
index date lies in no observation period are dropped first (PLP's
``getPlpData`` does the same).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from medhaven.analytics.cohorts.runner import cohort_table, generate_cohort
from medhaven.cdm import CdmStore
from medhaven.errors import InvalidInput
from medhaven.prediction.task import PredictionTask

# Cohort definition ids a caller may name to keep a population's cohorts in the cohort table.
TARGET_COHORT_ID = 9_700_001
OUTCOME_COHORT_ID = 9_700_002
# Without ids, each call writes its two cohorts under ids of its own (from this range up) and
# deletes them afterwards: two jobs at one node at the same time never read each other's rows.
PRIVATE_COHORT_IDS = 10**12


@dataclass(frozen=True)
class Population:
    """One row per target entry kept by the rules (ordered by person, then index date)."""

    row_id: npt.NDArray[np.int64]
    person_id: npt.NDArray[np.int64]
    index_date: npt.NDArray[np.datetime64]
    cohort_end_date: npt.NDArray[np.datetime64]
    label: npt.NDArray[np.int8]
    time_at_risk: npt.NDArray[np.int64]
    attrition: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Number of target entries."""
        return int(self.row_id.size)

    @property
    def outcomes(self) -> int:
        """Number of entries with the outcome in their time at risk."""
        return int(self.label.sum())


def _tar(task: PredictionTask) -> tuple[str, str]:
    start = "t.days_to_cohort_end + " if task.start_anchor == "cohort end" else ""
    end = "t.days_to_cohort_end + " if task.end_anchor == "cohort end" else ""
    end_expr = f"LEAST({end}{int(task.risk_window_end)}, t.days_to_obs_end)"
    if task.restrict_tar_to_cohort_end:
        end_expr = f"LEAST({end_expr}, t.days_to_cohort_end)"
    return f"{start}{int(task.risk_window_start)}", end_expr


def _base_sql(task: PredictionTask, table: str, target_id: int, outcome_id: int) -> str:
    tar_start, tar_end = _tar(task)
    return f"""
        WITH c AS (
            SELECT subject_id AS person_id, cohort_start_date AS index_date,
                   MIN(cohort_end_date) AS cohort_end_date
            FROM {table} WHERE cohort_definition_id = {int(target_id)}
            GROUP BY subject_id, cohort_start_date
        ), t AS (
            SELECT c.person_id, c.index_date, c.cohort_end_date,
                   c.index_date - MIN(op.observation_period_start_date) AS days_from_obs_start,
                   MAX(op.observation_period_end_date) - c.index_date AS days_to_obs_end,
                   c.cohort_end_date - c.index_date AS days_to_cohort_end
            FROM c JOIN observation_period op ON op.person_id = c.person_id
              AND c.index_date >= op.observation_period_start_date
              AND c.index_date <= op.observation_period_end_date
            GROUP BY c.person_id, c.index_date, c.cohort_end_date
        ), r AS (
            SELECT ROW_NUMBER() OVER (ORDER BY t.person_id, t.index_date) AS row_id,
                   ROW_NUMBER() OVER (PARTITION BY t.person_id ORDER BY t.index_date) AS entry,
                   t.person_id, t.index_date, t.cohort_end_date, t.days_from_obs_start,
                   {tar_start} AS tar_start, {tar_end} AS tar_end
            FROM t
        ), o AS (
            SELECT r.row_id, oc.cohort_start_date - r.index_date AS d, r.tar_start, r.tar_end
            FROM r JOIN {table} oc ON oc.subject_id = r.person_id
              AND oc.cohort_definition_id = {int(outcome_id)}
        )
        SELECT r.row_id, r.entry, r.person_id, r.index_date, r.cohort_end_date,
               r.days_from_obs_start, r.tar_start, r.tar_end,
               (SELECT MIN(o.d) FROM o WHERE o.row_id = r.row_id
                  AND o.d >= o.tar_start AND o.d <= o.tar_end) AS first_outcome,
               CASE WHEN EXISTS (SELECT 1 FROM o WHERE o.row_id = r.row_id
                  AND o.d < o.tar_start AND o.d > -{int(task.prior_outcome_lookback)})
                  THEN 1 ELSE 0 END AS prior_outcome
        FROM r
    """


def _rules(task: PredictionTask) -> list[tuple[str, str]]:
    rules: list[tuple[str, str]] = []
    if task.first_exposure_only:
        rules.append(("first exposure only", "entry = 1"))
    if task.washout_period:
        rules.append(
            (
                f"at least {task.washout_period} days of observation before the index",
                f"days_from_obs_start >= {int(task.washout_period)}",
            )
        )
    if task.remove_subjects_with_prior_outcome:
        rules.append(("no prior outcome", "prior_outcome = 0"))
    enough = f"tar_end >= tar_start + {int(task.min_time_at_risk)}"
    if not task.require_time_at_risk:
        rules.append(("some time at risk", "tar_end >= tar_start"))
    elif task.include_all_outcomes:
        rules.append(
            (
                f"at least {task.min_time_at_risk} days at risk, or the outcome",
                f"(first_outcome IS NOT NULL OR {enough})",
            )
        )
    else:
        rules.append((f"at least {task.min_time_at_risk} days at risk", enough))
    return rules


def study_population(
    store: CdmStore,
    task: PredictionTask,
    *,
    target_id: int | None = None,
    outcome_id: int | None = None,
    results_schema: str | None = None,
) -> Population:
    """Generate both cohorts and apply the task's population rules; the rows stay at the node.

    With ``target_id``/``outcome_id`` the cohorts stay in the cohort table under
    those ids; without, they are written under ids private to this call and
    deleted when the population is read.
    """
    if target_id is None and outcome_id is None:
        private = PRIVATE_COHORT_IDS + 2 * secrets.randbelow(10**12)
        population = None
        try:
            population = study_population(store, task, target_id=private,
                                          outcome_id=private + 1, results_schema=results_schema)  # fmt: skip
        finally:
            try:
                with store.transaction():
                    store.execute(f"DELETE FROM {cohort_table(results_schema)} "
                                  f"WHERE cohort_definition_id IN (?, ?)", [private, private + 1])  # fmt: skip
            except Exception:
                if population is not None:  # else the error that stopped it is the one to see
                    raise
        return population
    target_id = TARGET_COHORT_ID if target_id is None else target_id
    outcome_id = OUTCOME_COHORT_ID if outcome_id is None else outcome_id
    if target_id == outcome_id:
        raise InvalidInput("study population: target and outcome need different cohort ids")
    generate_cohort(store, task.target_expression(), cohort_definition_id=target_id,
                    results_schema=results_schema)  # fmt: skip
    generate_cohort(store, task.outcome_expression(), cohort_definition_id=outcome_id,
                    results_schema=results_schema)  # fmt: skip
    table = cohort_table(results_schema)
    base = f"mh_pop_{uuid.uuid4().hex[:10]}"
    attrition: list[dict[str, Any]] = []
    with store.transaction():
        store.execute(
            f"CREATE TEMP TABLE {base} AS {_base_sql(task, table, target_id, outcome_id)}"
        )
        try:
            where: list[str] = []
            steps = [("target cohort entries in an observation period", "1 = 1"), *_rules(task)]
            for step, predicate in steps:
                where.append(predicate)
                entries, persons, outcomes = store.fetchall(
                    f"SELECT COUNT(*), COUNT(DISTINCT person_id), COUNT(first_outcome) "
                    f"FROM {base} WHERE {' AND '.join(where)}"
                )[0]
                attrition.append({"step": step, "persons": int(persons),
                                  "entries": int(entries), "outcomes": int(outcomes)})  # fmt: skip
            rows = store.fetchall(
                f"SELECT row_id, person_id, index_date, cohort_end_date, "
                f"CASE WHEN first_outcome IS NULL THEN 0 ELSE 1 END, tar_end - tar_start + 1 "
                f"FROM {base} WHERE {' AND '.join(where)} ORDER BY row_id"
            )
        finally:
            store.execute(f"DROP TABLE IF EXISTS {base}")
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    return Population(
        row_id=np.array(cols[0], dtype=np.int64),
        person_id=np.array(cols[1], dtype=np.int64),
        index_date=np.array(cols[2], dtype="datetime64[D]"),
        cohort_end_date=np.array(cols[3], dtype="datetime64[D]"),
        label=np.array(cols[4], dtype=np.int8),
        time_at_risk=np.array(cols[5], dtype=np.int64),
        attrition=attrition,
    )


__all__ = [
    "OUTCOME_COHORT_ID",
    "PRIVATE_COHORT_IDS",
    "TARGET_COHORT_ID",
    "Population",
    "study_population",
]
