"""Helpers for the cohort tests: tiny hand-built CDMs and ATLAS-shaped definition builders.

No tests live here; the module is imported by the ``test_cohort_*`` files.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from medhaven.cdm import CdmStore

D = dt.date


def day(n: int) -> dt.date:
    """Day ``n`` counted from 2020-01-01 (day 0)."""
    return D(2020, 1, 1) + dt.timedelta(days=n)


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


class TinyCdm:
    """Insert a handful of rows into a fresh store (only the NOT NULL columns are filled)."""

    def __init__(self, store: CdmStore) -> None:
        self.store = store
        store.create_schema(TABLES)
        self._ids: dict[str, int] = {}

    def _next(self, table: str) -> int:
        self._ids[table] = self._ids.get(table, 0) + 1
        return self._ids[table]

    def concept(self, cid: int, *, domain: str = "Condition", invalid: str | None = None) -> None:
        self.store.execute(
            "INSERT INTO concept (concept_id, concept_name, domain_id, vocabulary_id, "
            "concept_class_id, concept_code, valid_start_date, valid_end_date, invalid_reason) "
            "VALUES (?, ?, ?, 'SNOMED', 'Clinical Finding', ?, ?, ?, ?)",
            [cid, f"c{cid}", domain, str(cid), D(1970, 1, 1), D(2099, 12, 31), invalid],
        )

    def ancestor(self, ancestor: int, descendant: int) -> None:
        self.store.execute(
            "INSERT INTO concept_ancestor VALUES (?, ?, ?, ?)",
            [
                ancestor,
                descendant,
                0 if ancestor == descendant else 1,
                0 if ancestor == descendant else 1,
            ],
        )

    def maps_to(self, source: int, standard: int) -> None:
        self.store.execute(
            "INSERT INTO concept_relationship (concept_id_1, concept_id_2, relationship_id, "
            "valid_start_date, valid_end_date) VALUES (?, ?, 'Maps to', ?, ?)",
            [source, standard, D(1970, 1, 1), D(2099, 12, 31)],
        )

    def person(
        self, pid: int, *, yob: int = 1960, gender: int = 8507, op: tuple[int, int] = (0, 1000)
    ) -> None:
        self.store.execute(
            "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
            "ethnicity_concept_id) VALUES (?, ?, ?, 0, 0)",
            [pid, gender, yob],
        )
        self.obs(pid, *op)

    def obs(self, pid: int, start: int, end: int) -> None:
        self.store.execute(
            "INSERT INTO observation_period VALUES (?, ?, ?, ?, 32817)",
            [self._next("op"), pid, day(start), day(end)],
        )

    def condition(self, pid: int, cid: int, start: int, end: int | None = None) -> None:
        self.store.execute(
            "INSERT INTO condition_occurrence (condition_occurrence_id, person_id, "
            "condition_concept_id, condition_start_date, condition_end_date, "
            "condition_type_concept_id) VALUES (?, ?, ?, ?, ?, 32817)",
            [self._next("co"), pid, cid, day(start), None if end is None else day(end)],
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
            "procedure_concept_id, procedure_date, procedure_type_concept_id) VALUES (?, ?, ?, ?, 32817)",
            [self._next("po"), pid, cid, day(start)],
        )

    def measurement(
        self, pid: int, cid: int, start: int, value: float | None = None, unit: int | None = None
    ) -> None:
        self.store.execute(
            "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, "
            "measurement_date, measurement_type_concept_id, value_as_number, unit_concept_id) "
            "VALUES (?, ?, ?, ?, 32817, ?, ?)",
            [self._next("m"), pid, cid, day(start), value, unit],
        )

    def observation(self, pid: int, cid: int, start: int) -> None:
        self.store.execute(
            "INSERT INTO observation (observation_id, person_id, observation_concept_id, "
            "observation_date, observation_type_concept_id) VALUES (?, ?, ?, ?, 32817)",
            [self._next("o"), pid, cid, day(start)],
        )

    def visit(self, pid: int, cid: int, start: int, end: int) -> None:
        self.store.execute(
            "INSERT INTO visit_occurrence (visit_occurrence_id, person_id, visit_concept_id, "
            "visit_start_date, visit_end_date, visit_type_concept_id) VALUES (?, ?, ?, ?, ?, 32817)",
            [self._next("v"), pid, cid, day(start), day(end)],
        )

    def death(self, pid: int, start: int, cause: int | None = None) -> None:
        self.store.execute(
            "INSERT INTO death (person_id, death_date, cause_concept_id) VALUES (?, ?, ?)",
            [pid, day(start), cause],
        )


# ATLAS-shaped JSON builders -------------------------------------------------------------


def item(
    cid: int, *, desc: bool = False, excl: bool = False, mapped: bool = False
) -> dict[str, Any]:
    return {
        "concept": {"CONCEPT_ID": cid, "CONCEPT_NAME": f"c{cid}"},
        "isExcluded": excl,
        "includeDescendants": desc,
        "includeMapped": mapped,
    }


def cset(i: int, *items: dict[str, Any]) -> dict[str, Any]:
    return {"id": i, "name": f"set {i}", "expression": {"items": list(items)}}


def window(
    start: int | None, start_coeff: int, end: int | None, end_coeff: int, **kw: Any
) -> dict[str, Any]:
    w: dict[str, Any] = {
        "Start": {"Coeff": start_coeff} | ({"Days": start} if start is not None else {}),
        "End": {"Coeff": end_coeff} | ({"Days": end} if end is not None else {}),
    }
    w.update(kw)
    return w


def correlated(
    domain: str, attrs: dict[str, Any], win: dict[str, Any], typ: int, count: int, **kw: Any
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "Criteria": {domain: attrs},
        "StartWindow": win,
        "Occurrence": {"Type": typ, "Count": count},
    }
    c.update(kw)
    return c


def group(typ: str = "ALL", *, crit: list[Any] | None = None, demo: list[Any] | None = None,
          groups: list[Any] | None = None, count: int | None = None) -> dict[str, Any]:  # fmt: skip
    g: dict[str, Any] = {
        "Type": typ,
        "CriteriaList": crit or [],
        "DemographicCriteriaList": demo or [],
        "Groups": groups or [],
    }
    if count is not None:
        g["Count"] = count
    return g


def definition(
    primary: list[dict[str, Any]],
    *,
    sets: list[dict[str, Any]] | None = None,
    prior: int = 0,
    post: int = 0,
    limit: str = "All",
    rules: list[dict[str, Any]] | None = None,
    qlimit: str = "All",
    elimit: str = "All",
    end: dict[str, Any] | None = None,
    censor: list[dict[str, Any]] | None = None,
    pad: int = 0,
    additional: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Circe expression dict in ATLAS's shape."""
    e: dict[str, Any] = {
        "ConceptSets": sets or [],
        "PrimaryCriteria": {
            "CriteriaList": primary,
            "ObservationWindow": {"PriorDays": prior, "PostDays": post},
            "PrimaryCriteriaLimit": {"Type": limit},
        },
        "QualifiedLimit": {"Type": qlimit},
        "ExpressionLimit": {"Type": elimit},
        "InclusionRules": [
            {"name": f"rule {i}", "expression": g} for i, g in enumerate(rules or [])
        ],
        "CensoringCriteria": censor or [],
        "CollapseSettings": {"CollapseType": "ERA", "EraPad": pad},
        "CensorWindow": {},
    }
    if end is not None:
        e["EndStrategy"] = end
    if additional is not None:
        e["AdditionalCriteria"] = additional
    return e


def cohort_rows(store: CdmStore, cohort_id: int = 1) -> set[tuple[int, dt.date, dt.date]]:
    """The cohort table's rows for one definition, as (person, start, end)."""
    rows = store.fetchall(
        "SELECT subject_id, cohort_start_date, cohort_end_date FROM cohort "
        "WHERE cohort_definition_id = ?",
        [cohort_id],
    )
    return {(int(p), s, e) for p, s, e in rows}
