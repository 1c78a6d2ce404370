"""Outcome prevalences of a generated (or any) CDM, computed in SQL on the store.

Definitions (the same ones the generator plants, so the demo table is honest):

* ``readmission_30d``: share of inpatient visits (9201) followed by another
  inpatient admission 1-30 days after discharge.
* ``hf_hospitalisation_1y``, ``mortality_1y``: share of persons with a full
  baseline year (index = observation start + 365 days, index + 365 inside
  the data) who, in the year after the index date, were admitted with heart
  failure (316139, its descendants, or 4229440) / died.
* ``ckd_progression``: share of persons with CKD stage 1-3 who later have
  CKD stage 4 or end-stage renal disease recorded.
"""

from __future__ import annotations

from medhaven.cdm.store import CdmStore
from medhaven.synth import concepts as C


def _ids(values: tuple[int, ...]) -> str:
    return ", ".join(str(int(v)) for v in values)


_ELIGIBLE = """
    SELECT person_id, observation_period_start_date + 365 AS index_date
    FROM observation_period
    WHERE observation_period_start_date + 730 <= (SELECT MAX(observation_period_end_date) FROM observation_period)
"""

QUERIES: dict[str, str] = {
    "readmission_30d": f"""
        SELECT AVG(CASE WHEN EXISTS (
            SELECT 1 FROM visit_occurrence r
            WHERE r.person_id = v.person_id AND r.visit_concept_id = {C.INPATIENT}
              AND r.visit_start_date > v.visit_end_date
              AND r.visit_start_date <= v.visit_end_date + 30) THEN 1.0 ELSE 0.0 END)
        FROM visit_occurrence v WHERE v.visit_concept_id = {C.INPATIENT}
    """,
    "hf_hospitalisation_1y": f"""
        WITH e AS ({_ELIGIBLE}),
        hf AS (
            SELECT descendant_concept_id AS id FROM concept_ancestor
            WHERE ancestor_concept_id = {C.HEART_FAILURE_IDS[0]}
            UNION SELECT {C.HEART_FAILURE_IDS[1]}
        )
        SELECT AVG(CASE WHEN EXISTS (
            SELECT 1 FROM visit_occurrence v
            JOIN condition_occurrence co ON co.visit_occurrence_id = v.visit_occurrence_id
            WHERE v.person_id = e.person_id AND v.visit_concept_id = {C.INPATIENT}
              AND co.condition_concept_id IN (SELECT id FROM hf)
              AND v.visit_start_date > e.index_date
              AND v.visit_start_date <= e.index_date + 365) THEN 1.0 ELSE 0.0 END)
        FROM e
    """,
    "mortality_1y": f"""
        WITH e AS ({_ELIGIBLE})
        SELECT AVG(CASE WHEN EXISTS (
            SELECT 1 FROM death d WHERE d.person_id = e.person_id
              AND d.death_date > e.index_date AND d.death_date <= e.index_date + 365)
            THEN 1.0 ELSE 0.0 END)
        FROM e
    """,
    "ckd_progression": f"""
        WITH early AS (
            SELECT person_id, MIN(condition_start_date) AS first_day FROM condition_occurrence
            WHERE condition_concept_id IN ({_ids(C.CKD_EARLY_IDS)}) GROUP BY person_id
        )
        SELECT AVG(CASE WHEN EXISTS (
            SELECT 1 FROM condition_occurrence co WHERE co.person_id = early.person_id
              AND co.condition_concept_id IN ({_ids(C.CKD_LATE_IDS)})
              AND co.condition_start_date > early.first_day) THEN 1.0 ELSE 0.0 END)
        FROM early
    """,
}


def outcome_summary(store: CdmStore) -> dict[str, float]:
    """Prevalence of each planted outcome (0.0 where its denominator is empty)."""
    out: dict[str, float] = {}
    for name, sql in QUERIES.items():
        value = store.scalar(sql)
        out[name] = round(float(value), 4) if value is not None else 0.0
    return out


__all__ = ["QUERIES", "outcome_summary"]
