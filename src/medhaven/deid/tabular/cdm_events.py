"""Where each de-identified Synthea file's rows go in the CDM, and the SQL date parsers.

Every clinical file becomes rows of one *event* frame (person, encounter,
start, end, source code, source vocabulary, default domain, value, unit);
:mod:`.cdm_build` maps the codes through the vocabulary and routes each event
to the table of its standard concept's domain.
"""

from __future__ import annotations

from dataclasses import dataclass

MACROS = (
    # Safe-harbor output holds years only: a year stands for 1 January of it.
    "CREATE OR REPLACE MACRO mh_date(v) AS CASE WHEN v IS NULL THEN NULL "
    "WHEN length(v) = 4 THEN make_date(CAST(v AS INTEGER), 1, 1) "
    "ELSE TRY_CAST(substr(v, 1, 10) AS DATE) END",
    "CREATE OR REPLACE MACRO mh_ts(v) AS CASE WHEN v IS NULL THEN NULL "
    "WHEN length(v) < 19 THEN CAST(mh_date(v) AS TIMESTAMP) "
    "ELSE coalesce(TRY_CAST(replace(substr(v, 1, 19), 'T', ' ') AS TIMESTAMP), "
    "CAST(mh_date(v) AS TIMESTAMP)) END",
)


@dataclass(frozen=True)
class EventSource:
    """How one file's rows become events (column names of the de-identified file)."""

    file: str
    start: str
    end: str | None
    code: str
    vocabulary: str
    """A vocabulary_id, or ``column:NAME`` to read it per row (Synthea's SYSTEM)."""
    domain: str
    """The default domain (used when the code maps to nothing)."""
    value: str | None = None
    unit: str | None = None
    numeric_when: str | None = None
    """A SQL condition (on ``s``) under which the row is a measurement rather than an observation."""


EVENT_SOURCES = (
    EventSource("conditions.csv", "START", "STOP", "CODE", "SNOMED", "Condition"),
    EventSource("medications.csv", "START", "STOP", "CODE", "RxNorm", "Drug"),
    EventSource("immunizations.csv", "DATE", None, "CODE", "CVX", "Drug"),
    EventSource("procedures.csv", "START", "STOP", "CODE", "SNOMED", "Procedure"),
    EventSource("imaging_studies.csv", "DATE", None, "PROCEDURE_CODE", "SNOMED", "Procedure"),
    EventSource(
        "observations.csv",
        "DATE",
        None,
        "CODE",
        "LOINC",
        "Observation",
        value="VALUE",
        unit="UNITS",
        numeric_when="s.\"TYPE\" = 'numeric'",
    ),
    EventSource("allergies.csv", "START", "STOP", "CODE", "column:SYSTEM", "Observation"),
    EventSource("devices.csv", "START", "STOP", "CODE", "SNOMED", "Device"),
    EventSource("supplies.csv", "DATE", None, "CODE", "SNOMED", "Device", value="QUANTITY"),
)

SYSTEM_VOCABULARY = {
    "SNOMED-CT": "SNOMED",
    "SNOMED": "SNOMED",
    "RXNORM": "RxNorm",
    "LOINC": "LOINC",
}

DOMAIN_TABLE = {
    "Condition": "condition_occurrence",
    "Drug": "drug_exposure",
    "Procedure": "procedure_occurrence",
    "Measurement": "measurement",
    "Observation": "observation",
    "Device": "device_exposure",
}

VISIT_CONCEPT = {
    "inpatient": 9201,
    "emergency": 9203,
    "urgentcare": 9203,
}
"""Synthea ENCOUNTERCLASS to visit concept; every other class is an outpatient visit (9202)."""

GENDER_CONCEPT = {"M": 8507, "F": 8532}
RACE_CONCEPT = {"white": 8527, "black": 8516, "asian": 8515, "native": 8657, "hawaiian": 8557}
ETHNICITY_CONCEPT = {"hispanic": 38003563, "nonhispanic": 38003564}
EHR = 32817
CDM_V54 = 756265

__all__ = [
    "CDM_V54",
    "DOMAIN_TABLE",
    "EHR",
    "ETHNICITY_CONCEPT",
    "EVENT_SOURCES",
    "GENDER_CONCEPT",
    "MACROS",
    "RACE_CONCEPT",
    "SYSTEM_VOCABULARY",
    "VISIT_CONCEPT",
    "EventSource",
]
