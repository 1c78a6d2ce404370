"""Dataset characterization: time and peak memory on a large generated CDM, against baselines.

At scale 1.0 the CDM holds 1,000,000 persons: a generated hospital of 2,000
persons (all its visits, conditions, drugs, procedures, measurements and
observations) replicated 500 times with new person ids, in one DuckDB file
(about 76 measurements and 19 visits per person). MedHaven runs
``characterize_dataset`` and ``release_dataset`` (every SQL query plus the
disclosure control) on it. Baselines, each in its own process over the same
file: the same figures with pandas ``groupby`` over the tables read into data
frames, and DuckDB's ``SUMMARIZE`` of the same tables. Each side runs in a fresh
child process so that its peak resident memory (``VmHWM``, else ``ru_maxrss``) is its own.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.result import Result

PERSONS_AT_SCALE_1 = 1_000_000
BLOCK = 2_000
TABLES = ("person", "observation_period", "visit_occurrence", "condition_occurrence",
          "drug_exposure", "procedure_occurrence", "measurement", "observation")  # fmt: skip


def build(path: Path, persons: int, seed: int = 3) -> tuple[int, int]:
    """Write a CDM of about ``persons`` persons into ``path``; return (persons, clinical rows)."""
    from medhaven.cdm.store import open_store
    from medhaven.cdm.vocabulary import load_vocabulary
    from medhaven.synth.generator import generate_hospital
    from medhaven.synth.profiles import hospital_profiles

    block = min(BLOCK, persons)
    copies = math.ceil(persons / block)
    base = generate_hospital(hospital_profiles(1)[0], persons=block, seed=seed)
    with open_store(path) as store:
        store.create_schema()
        load_vocabulary(store)
    con = duckdb.connect(str(path))
    con.execute("SET enable_progress_bar = false")
    try:
        for name in TABLES:
            con.register("src", base[name])
            con.execute(
                f"INSERT INTO {name} BY NAME SELECT * EXCLUDE (k) REPLACE (person_id + k * {block} AS person_id) "
                f"FROM src, range({copies}) r(k)"
            )
            con.unregister("src")
        rows = sum(int(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES)  # type: ignore[index]
    finally:
        con.close()
    return block * copies, rows


def _peak_mb() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` (Linux) belongs to the process image, so a child does not inherit
    the parent's peak the way ``ru_maxrss`` survives fork and exec; elsewhere
    fall back to ``ru_maxrss``.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _medhaven(path: str) -> tuple[float, float]:
    from medhaven.analytics import DisclosurePolicy, characterize_dataset, release_dataset
    from medhaven.cdm.store import open_store

    start = time.perf_counter()
    with open_store(path, read_only=True) as store:
        doc = release_dataset(characterize_dataset(store), DisclosurePolicy())
    assert doc["sections"]
    return time.perf_counter() - start, _peak_mb()


def _pandas(path: str) -> tuple[float, float]:
    import pandas as pd

    start = time.perf_counter()
    con = duckdb.connect(path, read_only=True)
    con.execute("SET enable_progress_bar = false")

    def df(sql: str) -> pd.DataFrame:
        return con.execute(sql).df()

    person = df("SELECT person_id, year_of_birth, gender_concept_id FROM person")
    op = df("SELECT person_id, observation_period_start_date AS s, observation_period_end_date AS e "
            "FROM observation_period")  # fmt: skip
    first = op.sort_values(["person_id", "s", "e"]).groupby("person_id").first()
    p = person.join(first, on="person_id")
    age = pd.to_datetime(p["s"]).dt.year - p["year_of_birth"]
    out: dict[str, Any] = {
        "age": pd.cut(age, [-1, 17, 34, 49, 64, 74, 84, 200]).value_counts(),
        "sex": person["gender_concept_id"].value_counts(),
        "yob": person["year_of_birth"].value_counts(),
    }
    days = (pd.to_datetime(first["e"]) - pd.to_datetime(first["s"])).dt.days
    out["length"] = days.quantile([0.1, 0.25, 0.5, 0.75, 0.9])
    for table, col in [("visit_occurrence", "visit_concept_id"),
                       ("condition_occurrence", "condition_concept_id"),
                       ("drug_exposure", "drug_concept_id"),
                       ("procedure_occurrence", "procedure_concept_id"),
                       ("measurement", "measurement_concept_id"),
                       ("observation", "observation_concept_id")]:  # fmt: skip
        d = df(f"SELECT person_id, {col} AS c FROM {table}")
        out[table] = d.groupby("c")["person_id"].agg(["nunique", "size"])
    m = df("SELECT person_id, measurement_concept_id AS c, COALESCE(unit_concept_id, 0) AS u, "
           "value_as_number AS v FROM measurement WHERE value_as_number IS NOT NULL")  # fmt: skip
    g = m.groupby(["c", "u"])
    out["values"] = (g["v"].quantile([0.1, 0.25, 0.5, 0.75, 0.9]), g["v"].agg(["min", "max"]),
                     g["person_id"].nunique())  # fmt: skip
    con.close()
    return time.perf_counter() - start, _peak_mb()


def _summarize(path: str) -> tuple[float, float]:
    start = time.perf_counter()
    con = duckdb.connect(path, read_only=True)
    con.execute("SET enable_progress_bar = false")
    for t in TABLES:
        con.execute(f"SUMMARIZE {t}").fetchall()
    con.close()
    return time.perf_counter() - start, _peak_mb()


def _child(fn_name: str, path: str, queue: Any) -> None:
    queue.put(globals()[fn_name](path))


def _in_child(fn_name: str, path: Path) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn_name, str(path), queue))
    proc.start()
    result: tuple[float, float] = queue.get()
    proc.join()
    return result


def run(scale: float) -> list[Result]:
    """Build a CDM of ``1,000,000 x scale`` persons and characterize it three ways."""
    persons = max(BLOCK, int(PERSONS_AT_SCALE_1 * scale))
    tmp = Path(tempfile.mkdtemp(prefix="bench_characterize_"))
    try:
        path = tmp / "cdm.duckdb"
        started = time.perf_counter()
        n, rows = build(path, persons)
        built = time.perf_counter() - started
        mh_s, mh_mb = _in_child("_medhaven", path)
        pd_s, pd_mb = _in_child("_pandas", path)
        su_s, su_mb = _in_child("_summarize", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = f"{n:,} persons, {rows:,} clinical rows (built in {built:.0f} s)"
    return [
        Result("characterize_dataset_seconds", mh_s, "s", "pandas groupby", pd_s,
               goal="time and memory reported", note=note),
        Result("characterize_dataset_peak_rss", mh_mb, "MB", "pandas groupby", pd_mb,
               goal="time and memory reported", note="peak resident memory (VmHWM) of each child process"),
        Result("characterize_dataset_vs_summarize", mh_s, "s", "DuckDB SUMMARIZE", su_s,
               note=f"SUMMARIZE peak {su_mb:.0f} MB; no per-concept or percentile figures"),
    ]  # fmt: skip


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    for r in run(args.scale):
        print(json.dumps(r.as_dict()))
