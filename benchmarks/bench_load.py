"""CDM load speed: ``load_cdm`` into a fresh DuckDB file vs DuckDB's own ``read_csv`` on the same files.

At scale 1.0 the source is ``person.csv`` (100k rows) and ``measurement.csv``
(1.9M rows), generated with DuckDB into a temporary folder. MedHaven parses
with the spec's types, checks integer syntax, required fields, lengths,
primary keys and person ids, all in one transaction. Two baselines, each into
its own fresh DuckDB file: ``CREATE TABLE ... AS SELECT * FROM read_csv(...)``
(auto-detected types, no checks) and ``INSERT INTO <spec table> SELECT * FROM
read_csv(...)`` (the spec's tables, no checks). Goal: within 2x of both.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.result import Result
from medhaven.cdm import schema
from medhaven.cdm.duckdb_store import DuckDBStore
from medhaven.cdm.loader import load_cdm

_TABLES = ("person", "measurement")


def _generate(folder: Path, scale: float) -> int:
    """Write person.csv and measurement.csv; return the total number of data rows."""
    persons = max(1000, int(100_000 * scale))
    measurements = max(10_000, int(1_900_000 * scale))
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT i AS person_id, CASE WHEN i % 2 = 0 THEN 8507 ELSE 8532 END
                   AS gender_concept_id, 1930 + i % 80 AS year_of_birth, 1 + i % 12 AS month_of_birth,
                   8527 AS race_concept_id, 38003564 AS ethnicity_concept_id,
                   'src-' || i AS person_source_value, 'M' AS gender_source_value
            FROM range(1, {persons + 1}) t(i))
        TO '{folder / "person.csv"}' (HEADER)"""
    )
    con.execute(
        f"""COPY (SELECT i AS measurement_id, 1 + i % {persons} AS person_id,
                   3000000 + i % 500 AS measurement_concept_id,
                   DATE '2010-01-01' + CAST(i % 4000 AS INTEGER) AS measurement_date,
                   TIMESTAMP '2010-01-01 08:30:00' + INTERVAL (i % 4000) DAY AS measurement_datetime,
                   32817 AS measurement_type_concept_id, round((i % 997) / 7.0, 2) AS value_as_number,
                   8587 AS unit_concept_id, 'LOINC-' || (i % 500) AS measurement_source_value,
                   'mg/dL' AS unit_source_value
            FROM range(1, {measurements + 1}) t(i))
        TO '{folder / "measurement.csv"}' (HEADER)"""
    )
    con.close()
    return persons + measurements


def _medhaven(folder: Path, db: Path) -> float:
    """Seconds from opening the store to closing it (so the checkpoint counts on both sides)."""
    start = time.perf_counter()
    store = DuckDBStore(db)
    try:
        load_cdm(store, folder)
    finally:
        store.close()
    return time.perf_counter() - start


def _baseline(folder: Path, db: Path, *, into_spec: bool) -> float:
    """Seconds for plain DuckDB to read the same files into a fresh database file."""
    start = time.perf_counter()
    con = duckdb.connect(str(db))
    try:
        for name in _TABLES:
            reader = f"read_csv('{folder / name}.csv')"
            if into_spec:
                con.execute(schema.table(name).create_sql("duckdb"))
                header = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
                cols = ", ".join(r[0] for r in header)
                con.execute(f"INSERT INTO {name} ({cols}) SELECT * FROM {reader}")
            else:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM {reader}")
    finally:
        con.close()
    return time.perf_counter() - start


def run(scale: float) -> list[Result]:
    """Seconds to load the same files: MedHaven's loader and plain DuckDB, best of two runs each."""
    with tempfile.TemporaryDirectory(prefix="medhaven-bench-load-") as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        rows = _generate(src, scale)
        times: dict[str, float] = {"medhaven": 1e9, "ctas": 1e9, "insert": 1e9}
        for attempt in range(2):
            for key in times:
                db = root / f"{key}-{attempt}.duckdb"
                if key == "medhaven":
                    took = _medhaven(src, db)
                else:
                    took = _baseline(src, db, into_spec=key == "insert")
                times[key] = min(times[key], took)
                db.unlink()
    note = f"{rows:,} rows (person + measurement CSV), fresh DuckDB file, best of 2"
    return [
        Result(
            "cdm_load_vs_ctas",
            times["medhaven"],
            "s",
            "DuckDB CREATE TABLE AS read_csv",
            times["ctas"],
            "within 2x (ratio <= 2)",
            note,
        ),
        Result(
            "cdm_load_vs_insert",
            times["medhaven"],
            "s",
            "DuckDB INSERT INTO spec table read_csv",
            times["insert"],
            "within 2x (ratio <= 2)",
            note,
        ),
    ]


__all__ = ["run"]
