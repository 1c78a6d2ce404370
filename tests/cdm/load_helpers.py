"""Small hand-written CDM sources and store snapshots shared by the loader tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medhaven.cdm import CdmStore

PERSON_HEADER = "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id,gender_source_value"
PERSON_ROWS = [
    "10,8507,1980,8527,38003564,M",
    "11,8532,1975,8527,38003564,F",
    "12,8532,2001,8516,38003564,F",
]
MEAS_HEADER = "measurement_id,person_id,measurement_concept_id,measurement_date,measurement_type_concept_id,value_as_number,unit_source_value"
MEAS_ROWS = [
    "100,10,3025315,2020-01-02,32817,48.5,kg",
    "101,11,3025315,2020-02-03,32817,61.0,kg",
    "102,12,3004249,2021-03-04,32817,120,mmHg",
    "103,10,3004249,2021-05-06,32817,,",
]


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    """Write a CSV file with ``\\n`` line ends."""
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def good_source(folder: Path) -> Path:
    """A valid two-table source (3 persons, 4 measurements) with upper-case file names."""
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "PERSON.csv", PERSON_HEADER, PERSON_ROWS)
    write_csv(folder / "MEASUREMENT.csv", MEAS_HEADER, MEAS_ROWS)
    return folder


def seed_existing(store: CdmStore) -> None:
    """Put two persons and one measurement in the store with plain SQL (not the loader)."""
    store.create_schema(["person", "measurement"])
    store.execute(
        "INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
        "ethnicity_concept_id) VALUES (1, 8507, 1950, 8527, 38003564), (2, 8532, 1960, 8527, 38003564)"
    )
    store.execute(
        "INSERT INTO measurement (measurement_id, person_id, measurement_concept_id, "
        "measurement_date, measurement_type_concept_id) VALUES (1, 1, 3025315, DATE '2019-01-01', 32817)"
    )


def snapshot(store: CdmStore) -> dict[str, Any]:
    """The store's table set, row counts and a checksum of person/measurement ids."""
    names = sorted(store.table_names())
    counts = {n: int(store.scalar(f"SELECT COUNT(*) FROM {n}")) for n in names}
    sums = {
        n: store.scalar(f"SELECT SUM({n}_id) FROM {n}")
        for n in ("person", "measurement")
        if n in names
    }
    return {"tables": names, "counts": counts, "sums": sums}
