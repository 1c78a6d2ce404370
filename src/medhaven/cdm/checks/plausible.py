"""Thresholds and plausibility knowledge: the numbers behind the checks, in one place.

Thresholds are percentages of violating rows above which a check fails, as
in DQD: 0 for conformance checks (any violation fails) and 1 for the
plausibility checks, which tolerate a little noise in real data.

The measurement ranges are for common LOINC standard concepts (ids taken from
the OMOP vocabulary shipped with the Eunomia test CDM) in one unit each; a
value outside a range is physiologically implausible, not merely abnormal.
They follow the spirit of DQD's concept-level plausibleValueLow/High table,
widened where a value is rare but real (a neonate's weight, a hypertensive
crisis).
"""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLDS: dict[str, float] = {
    "cdmTable": 0.0,
    "cdmField": 0.0,
    "isRequired": 0.0,
    "cdmDatatype": 0.0,
    "isPrimaryKey": 0.0,
    "isForeignKey": 0.0,
    "fkDomain": 0.0,
    "isStandardValidConcept": 0.0,
    "plausibleDuringLife": 1.0,
    "plausibleAfterBirth": 1.0,
    "plausibleStartBeforeEnd": 1.0,
    "plausibleValueLow": 1.0,
    "plausibleValueHigh": 1.0,
}

# measurePersonCompleteness: the tables DQD measures and its default threshold for each
# (percent of persons with no row in the table above which the check fails). From OHDSI
# DataQualityDashboard v2, inst/csv/OMOP_CDMv5.4_Table_Level.csv, column
# measurePersonCompletenessThreshold (the same figures as
# inst/csv/thresholdsLongFormat/long_OMOP_CDMv5.4_Table_Level.csv). Every person must have an
# observation period (0); most people have a visit, a diagnosis, a drug, a procedure, a
# measurement or an observation, but a healthy one legitimately has none of one kind (95);
# tables that many sites never fill are measured for information only (100, never fails).
# The CDM specification's own Table_Level.csv says 0 for every table, which no real site meets.
PERSON_COMPLETENESS_THRESHOLDS: dict[str, float] = {
    "observation_period": 0.0,
    "visit_occurrence": 95.0,
    "visit_detail": 100.0,
    "condition_occurrence": 95.0,
    "drug_exposure": 95.0,
    "procedure_occurrence": 95.0,
    "device_exposure": 100.0,
    "measurement": 95.0,
    "observation": 95.0,
    "death": 100.0,
    "note": 100.0,
    "specimen": 100.0,
    "payer_plan_period": 100.0,
    "drug_era": 95.0,
    "dose_era": 100.0,
    "condition_era": 95.0,
}

# DQD allows events up to 60 days after death (late claims, post-mortem results).
DEATH_GRACE_DAYS = 60


@dataclass(frozen=True)
class MeasurementRange:
    """A plausible range for one measurement concept recorded in one unit."""

    concept_id: int
    unit_concept_id: int
    name: str
    low: float
    high: float


_MG_DL, _MMOL_L, _G_DL, _PCT = 8840, 8753, 8713, 8554

MEASUREMENT_RANGES: tuple[MeasurementRange, ...] = (
    MeasurementRange(3004410, _PCT, "Hemoglobin A1c (%)", 2.0, 20.0),
    MeasurementRange(3000483, _MG_DL, "Glucose in blood (mg/dL)", 10.0, 1500.0),
    MeasurementRange(3004501, _MG_DL, "Glucose in serum/plasma (mg/dL)", 10.0, 1500.0),
    MeasurementRange(3051825, _MG_DL, "Creatinine in blood (mg/dL)", 0.1, 25.0),
    MeasurementRange(3016723, _MG_DL, "Creatinine in serum/plasma (mg/dL)", 0.1, 25.0),
    MeasurementRange(46236952, 720870, "eGFR, MDRD (mL/min/1.73m2)", 1.0, 200.0),
    MeasurementRange(3004249, 8876, "Systolic blood pressure (mmHg)", 40.0, 300.0),
    MeasurementRange(3012888, 8876, "Diastolic blood pressure (mmHg)", 20.0, 200.0),
    MeasurementRange(3038553, 9531, "Body mass index (kg/m2)", 8.0, 100.0),
    MeasurementRange(3025315, 9529, "Body weight (kg)", 0.3, 350.0),
    MeasurementRange(3036277, 8582, "Body height (cm)", 20.0, 250.0),
    MeasurementRange(3009966, _MG_DL, "LDL cholesterol, direct (mg/dL)", 1.0, 600.0),
    MeasurementRange(3007070, _MG_DL, "HDL cholesterol (mg/dL)", 5.0, 200.0),
    MeasurementRange(3027114, _MG_DL, "Total cholesterol (mg/dL)", 30.0, 1000.0),
    MeasurementRange(3005456, _MMOL_L, "Potassium in blood (mmol/L)", 1.0, 10.0),
    MeasurementRange(3023103, _MMOL_L, "Potassium in serum/plasma (mmol/L)", 1.0, 10.0),
    MeasurementRange(3000285, _MMOL_L, "Sodium in blood (mmol/L)", 100.0, 200.0),
    MeasurementRange(3019550, _MMOL_L, "Sodium in serum/plasma (mmol/L)", 100.0, 200.0),
    MeasurementRange(3000963, _G_DL, "Hemoglobin in blood (g/dL)", 2.0, 25.0),
    MeasurementRange(3027018, 8541, "Heart rate (/min)", 20.0, 300.0),
    MeasurementRange(3024171, 8541, "Respiratory rate (/min)", 2.0, 100.0),
    MeasurementRange(3020891, 586323, "Body temperature (Cel)", 25.0, 45.0),
)

# Event tables whose dates must fall between birth and death (+ grace).
EVENT_TABLES: tuple[str, ...] = (
    "visit_occurrence",
    "visit_detail",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "device_exposure",
    "measurement",
    "observation",
    "note",
    "specimen",
    "condition_era",
    "drug_era",
    "dose_era",
    "episode",
)
# Tables where only "after birth" applies (a period or a death on the death day itself).
AFTER_BIRTH_ONLY: tuple[str, ...] = ("observation_period", "death", "payer_plan_period")

# The source's own verbatim end date is often approximate; it is not an event date.
IGNORED_DATE_FIELDS: frozenset[str] = frozenset({"verbatim_end_date"})


__all__ = [
    "AFTER_BIRTH_ONLY",
    "DEATH_GRACE_DAYS",
    "EVENT_TABLES",
    "IGNORED_DATE_FIELDS",
    "MEASUREMENT_RANGES",
    "PERSON_COMPLETENESS_THRESHOLDS",
    "THRESHOLDS",
    "MeasurementRange",
]
