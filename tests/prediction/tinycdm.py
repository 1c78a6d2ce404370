"""A tiny hand-built CDM for the prediction tests (no tests here).

Day ``n`` is 2020-01-01 + n days; every helper fills only the columns the
population and feature SQL read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from medhaven.cdm import CdmStore

TABLES = (
    "person",
    "observation_period",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "measurement",
    "observation",
    "visit_occurrence",
    "death",
    "concept",
    "concept_ancestor",
    "concept_relationship",
)


def day(n: int) -> dt.date:
    """Day ``n`` counted from 2020-01-01 (day 0)."""
    return dt.date(2020, 1, 1) + dt.timedelta(days=n)


class TinyCdm:
    """Insert a handful of rows into a fresh store."""

    def __init__(self, store: CdmStore) -> None:
        self.store = store
        store.create_schema(TABLES)
        self._ids: dict[str, int] = {}

    def _next(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    def concept(self, cid: int, *, domain: str = "Condition", cls: str = "Clinical Finding",
                name: str | None = None) -> None:  # fmt: skip
        self.store.execute(
            "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id, "
            "concept_class_id, concept_code, valid_start_date, valid_end_date, standard_concept) "
            "VALUES (?, ?, ?, 'SNOMED', ?, ?, ?, ?, 'S')",
            [cid, name or f"c{cid}", domain, cls, str(cid), dt.date(1970, 1, 1),
             dt.date(2099, 12, 31)],
        )  # fmt: skip

    def ancestor(self, ancestor: int, descendant: int) -> None:
        level = 0 if ancestor == descendant else 1
        self.store.execute(
            "INSERT INTO concept_ancestor VALUES (?, ?, ?, ?)", [ancestor, descendant, level, level]
        )

    def person(self, pid: int, *, yob: int = 1960, gender: int | None = 8507,
               op: tuple[int, int] = (0, 1000)) -> None:  # fmt: skip
        self.store.execute(
            "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
            "ethnicity_concept_id) VALUES (?, ?, ?, 0, 0)",
            [pid, 0 if gender is None else gender, yob],
        )
        self.obs(pid, *op)

    def obs(self, pid: int, start: int, end: int) -> None:
        self.store.execute(
            "INSERT INTO observation_period VALUES (?, ?, ?, ?, 32817)",
            [self._next("op"), pid, day(start), day(end)],
        )

    def condition(self, pid: int, cid: int, start: int) -> None:
        self.store.execute(
            "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, "
            "condition_concept_id, condition_start_date, condition_type_concept_id) "
            "VALUES (?, ?, ?, ?, 32817)",
            [self._next("co"), pid, cid, day(start)],
        )

    def drug(self, pid: int, cid: int, start: int, end: int | None = None) -> None:
        self.store.execute(
            "INSERT INTO drug_exposure (drug_exposure_id, person_id, drug_concept_id, "
            "drug_exposure_start_date, drug_exposure_end_date, drug_type_concept_id) "
            "VALUES (?, ?, ?, ?, ?, 32817)",
            [self._next("de"), pid, cid, day(start), day(end if end is not None else start)],
        )

    def procedure(self, pid: int, cid: int, start: int) -> None:
        self.store.execute(
            "INSERT INTO procedure_occurrence (procedure_occurrence_id, person_id, "
            "procedure_concept_id, procedure_date, procedure_type_concept_id) "
            "VALUES (?, ?, ?, ?, 32817)",
            [self._next("po"), pid, cid, day(start)],
        )

    def measurement(self, pid: int, cid: int, start: int, value: float | None = None) -> None:
        self.store.execute(
            "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, "
            "measurement_date, measurement_type_concept_id, value_as_number) "
            "VALUES (?, ?, ?, ?, 32817, ?)",
            [self._next("m"), pid, cid, day(start), value],
        )


def item(cid: int) -> dict[str, Any]:
    """A concept-set item without descendants."""
    return {"concept": {"CONCEPT_ID": cid}, "isExcluded": False, "includeDescendants": False,
            "includeMapped": False}  # fmt: skip


def definition(domain: str, cid: int, *, end_offset: int | None = None) -> dict[str, Any]:
    """Every ``domain`` event of concept ``cid``; the cohort ends at the event's end date
    (+ ``end_offset``) when given, else at the end of the observation period."""
    e: dict[str, Any] = {
        "ConceptSets": [{"id": 0, "name": "s", "expression": {"items": [item(cid)]}}],
        "PrimaryCriteria": {
            "CriteriaList": [{domain: {"CodesetId": 0}}],
            "ObservationWindow": {"PriorDays": 0, "PostDays": 0},
            "PrimaryCriteriaLimit": {"Type": "All"},
        },
        "QualifiedLimit": {"Type": "All"},
        "ExpressionLimit": {"Type": "All"},
        "InclusionRules": [],
        "CensoringCriteria": [],
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": 0},
        "CensorWindow": {},
    }
    if end_offset is not None:
        e["EndStrategy"] = {"DateOffset": {"DateField": "EndDate", "Offset": end_offset}}
    return e
