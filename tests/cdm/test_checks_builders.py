"""Builders for small hand-made CDMs used by the quality-check tests (no tests here).

Rows are plain dicts; :func:`build` turns them into Arrow tables typed as the
CDM specification says and appends them with ``store.append_arrow``, so the
checks are tested independently of the CSV loader.
"""

from __future__ import annotations

import copy
import datetime as dt
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from medhaven.cdm import CdmStore, schema

Rows = list[dict[str, Any]]
D = dt.date

_ARROW = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "varchar": pa.string(),
}

# Real OMOP concept ids (from the Eunomia vocabulary); attributes as OMOP has them.
CONCEPTS: Rows = [
    {"concept_id": 0, "concept_name": "No matching concept", "domain_id": "Metadata", "standard_concept": None},
    {"concept_id": 8507, "concept_name": "MALE", "domain_id": "Gender", "standard_concept": "S"},
    {"concept_id": 8532, "concept_name": "FEMALE", "domain_id": "Gender", "standard_concept": "S"},
    {"concept_id": 8527, "concept_name": "White", "domain_id": "Race", "standard_concept": "S"},
    {"concept_id": 38003564, "concept_name": "Not Hispanic or Latino", "domain_id": "Ethnicity", "standard_concept": "S"},
    {"concept_id": 32817, "concept_name": "EHR", "domain_id": "Type Concept", "standard_concept": "S"},
    {"concept_id": 9202, "concept_name": "Outpatient Visit", "domain_id": "Visit", "standard_concept": "S"},
    {"concept_id": 201826, "concept_name": "Type 2 diabetes mellitus", "domain_id": "Condition", "standard_concept": "S"},
    {"concept_id": 3004249, "concept_name": "Systolic blood pressure", "domain_id": "Measurement", "standard_concept": "S"},
    {"concept_id": 3025315, "concept_name": "Body weight", "domain_id": "Measurement", "standard_concept": "S"},
    {"concept_id": 8876, "concept_name": "millimeter mercury column", "domain_id": "Unit", "standard_concept": "S"},
    {"concept_id": 9529, "concept_name": "kilogram", "domain_id": "Unit", "standard_concept": "S"},
    # A classification (non-standard) condition concept and an invalidated one.
    {"concept_id": 44054006, "concept_name": "Diabetes mellitus type 2 (SNOMED source)", "domain_id": "Condition", "standard_concept": None},
    {"concept_id": 40316773, "concept_name": "Prediabetes", "domain_id": "Condition", "standard_concept": "S", "invalid_reason": "U"},
]  # fmt: skip

CHECKED_TABLES = [
    "concept",
    "person",
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "measurement",
    "death",
]


def _concept_rows() -> Rows:
    rows = []
    for c in CONCEPTS:
        row = {
            "vocabulary_id": "Test",
            "concept_class_id": "Test",
            "concept_code": str(c["concept_id"]),
            "valid_start_date": D(1970, 1, 1),
            "valid_end_date": D(2099, 12, 31),
            "invalid_reason": None,
        }
        row.update(c)
        rows.append(row)
    return rows


def clean_cdm() -> dict[str, Rows]:
    """A small CDM on which every check passes: 4 persons, one of them dead."""
    persons = [
        {"person_id": i, "gender_concept_id": g, "year_of_birth": y, "month_of_birth": m,
         "day_of_birth": d, "race_concept_id": 8527, "ethnicity_concept_id": 38003564}
        for i, g, y, m, d in [(1, 8507, 1950, 3, 10), (2, 8532, 1960, None, None),
                              (3, 8532, 1985, 7, 1), (4, 8507, 2001, 12, 24)]
    ]  # fmt: skip
    data: dict[str, Rows] = {"concept": _concept_rows(), "person": persons}
    data["observation_period"] = [
        {"observation_period_id": p["person_id"], "person_id": p["person_id"],
         "observation_period_start_date": D(2010, 1, 1), "observation_period_end_date": D(2020, 12, 31),
         "period_type_concept_id": 32817}
        for p in persons
    ]  # fmt: skip
    data["visit_occurrence"] = [
        {"visit_occurrence_id": 10 + p["person_id"], "person_id": p["person_id"], "visit_concept_id": 9202,
         "visit_start_date": D(2015, 5, p["person_id"]), "visit_end_date": D(2015, 5, p["person_id"] + 1),
         "visit_type_concept_id": 32817, "visit_source_concept_id": 0}
        for p in persons
    ]  # fmt: skip
    data["condition_occurrence"] = [
        {"condition_occurrence_id": 100 + p["person_id"], "person_id": p["person_id"],
         "condition_concept_id": 201826, "condition_start_date": D(2015, 5, p["person_id"]),
         "condition_end_date": None, "condition_type_concept_id": 32817,
         "visit_occurrence_id": 10 + p["person_id"], "condition_source_concept_id": 44054006}
        for p in persons
    ]  # fmt: skip
    data["measurement"] = [
        {"measurement_id": 1000 + i, "person_id": 1 + i % 4, "measurement_concept_id": cid,
         "measurement_date": D(2016, 1, 1 + i), "measurement_type_concept_id": 32817,
         "value_as_number": value, "unit_concept_id": unit}
        for i, (cid, value, unit) in enumerate(
            [(3004249, 120.0, 8876), (3004249, 135.0, 8876), (3025315, 70.5, 9529),
             (3025315, 3.2, 9529), (3004249, 101.0, 8876), (3025315, 88.0, 9529)]
        )
    ]  # fmt: skip
    # Person 1 died on 2017-01-01; their last event (2016-01-05) is before that.
    data["death"] = [{"person_id": 1, "death_date": D(2017, 1, 1), "death_type_concept_id": 32817}]
    return copy.deepcopy(data)


def arrow_table(name: str, rows: Rows) -> pa.Table:
    """Rows as an Arrow table typed from the CDM spec (fields not given are left out)."""
    table = schema.table(name)
    present = [f for f in table.fields if any(f.name in r for r in rows)]
    return pa.table(
        {f.name: pa.array([r.get(f.name) for r in rows], type=_ARROW[f.kind]) for f in present}
    )


def build(store: CdmStore, data: dict[str, Rows], *, create: bool = True) -> None:
    """Create the tables of ``data`` (unless ``create`` is false) and append its rows."""
    if create:
        store.create_schema(list(data))
    for name, rows in data.items():
        if rows:
            store.append_arrow(name, arrow_table(name, rows))


def column_sql(store: CdmStore, table: str, overrides: dict[str, str]) -> str:
    """``CREATE TABLE`` for a CDM table with some columns given other SQL types (or dropped: '')."""
    cols = []
    for f in schema.table(table).fields:
        sql_type = overrides.get(f.name, f.sql_type(store.dialect))
        if sql_type:
            cols.append(f"{f.name} {sql_type}")
    return f"CREATE TABLE {table} ({', '.join(cols)})"


def eunomia_tables(zip_path: Path, *, skip: Iterable[str] = ()) -> dict[str, pa.Table]:
    """The Eunomia CSVs (one per CDM table) as Arrow tables cast to the CDM spec's types."""
    skipped = {s.lower() for s in skip}
    out: dict[str, pa.Table] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.namelist():
            stem = Path(member).stem.lower()
            if "__macosx" in member.lower() or not member.lower().endswith(".csv"):
                continue
            if stem in skipped or stem not in schema.tables():
                continue
            spec = schema.table(stem)
            with zf.open(member) as fh:
                head = fh.readline().decode("utf-8").strip().split(",")
            wanted = {f.name: _ARROW[f.kind] for f in spec.fields if f.name in head}
            # Read as text, then cast to the spec's types (ISO dates and datetimes parse on cast).
            text_types = {name: pa.string() for name in head}
            opts = pacsv.ConvertOptions(
                column_types=text_types,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            )
            with zf.open(member) as fh:
                raw = pacsv.read_csv(fh, convert_options=opts)
            cols = {}
            for name, typ in wanted.items():
                col = raw.column(name)
                if pa.types.is_date32(typ):
                    # Some Eunomia date columns carry a time part: keep the date.
                    col = pc.utf8_slice_codeunits(col, 0, 10)
                col = pc.cast(col, typ)
                cols[name] = col
            out[stem] = pa.table(cols)
    return out
