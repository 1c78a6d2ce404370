"""Feature extraction throughput: ``extract_features`` (SQL on DuckDB) against plain pandas.

At scale 1.0 the CDM holds 1,000,000 persons: a generated hospital of 2,000
persons replicated with new person ids (``bench_characterize.build``). The
study population is the demo task (target ``essential_hypertension``, outcome
``heart_failure_admission``, PLP defaults), built once and given to both
sides. Events are the condition, drug, procedure and measurement records of
the CDM (the rows both sides read); the figure is events per second of the
feature step alone. The baseline reads the same tables into pandas data
frames, merges them with the population, filters the windows and aggregates
with ``groupby``; its matrix is checked equal to MedHaven's (same ids, same
values) before any figure is reported.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse

from benchmarks.bench_characterize import BLOCK, build
from benchmarks.result import Result

PERSONS_AT_SCALE_1 = 1_000_000
EVENT_TABLES = ("condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement")


def pandas_features(con: duckdb.DuckDBPyConnection, population: Any, spec: Any) -> tuple[
        np.ndarray[Any, Any], sparse.csr_matrix]:  # fmt: skip
    """The same features as ``extract_features``, the straightforward pandas way."""
    from medhaven.prediction import features as F

    pop = pd.DataFrame({"pos": np.arange(population.rows), "person_id": population.person_id,
                        "index_date": population.index_date.astype("datetime64[ns]")})  # fmt: skip
    longest = max(spec.windows)
    rows: list[Any] = []
    ids: list[Any] = []
    vals: list[Any] = []

    def add(frame: pd.DataFrame, analysis: int, values: Any) -> None:
        rows.append(frame["pos"].to_numpy(np.int64))
        ids.append(frame["concept_id"].to_numpy(np.int64) * 1000 + analysis)
        vals.append(np.asarray(values, dtype=np.float64))

    for domain in spec.domains:
        d = F.DOMAINS[domain]
        extra = ", CAST(value_as_number AS DOUBLE) AS v, measurement_id AS eid" * (
            domain == "measurement")  # fmt: skip
        ev = con.execute(f"SELECT person_id, {d.concept} AS concept_id, {d.date} AS day{extra} "
                         f"FROM {d.table}").df()  # fmt: skip
        ev = ev[ev["concept_id"] != 0]
        if domain == "drug" and spec.drug_level == "ingredient":
            ing = con.execute(
                "SELECT ca.descendant_concept_id AS concept_id, ca.ancestor_concept_id AS ingr "
                "FROM concept_ancestor ca JOIN concept c ON c.concept_id = ca.ancestor_concept_id "
                "WHERE c.concept_class_id = 'Ingredient'"
            ).df()
            ev = ev.merge(ing, on="concept_id", how="left")
            ev["concept_id"] = ev["ingr"].fillna(ev["concept_id"]).astype(np.int64)
        m = ev.merge(pop, on="person_id")
        m["before"] = (m["index_date"] - pd.to_datetime(m["day"])).dt.days
        m = m[(m["before"] >= 0) & (m["before"] <= longest)]
        for j, w in enumerate(spec.windows, start=1):
            n = m[m["before"] <= w].groupby(["pos", "concept_id"]).size().reset_index(name="n")
            add(n, d.base + j, np.ones(len(n)))
            if spec.counts:
                add(n, d.base + F.COUNT_OFFSET + j, n["n"])
        if domain == "measurement" and spec.measurement_values:
            mv = m[m["v"].notna()]
            latest = (mv.sort_values(["pos", "concept_id", "before", "eid"],
                                     ascending=[True, True, True, False])
                      .drop_duplicates(["pos", "concept_id"]))  # fmt: skip
            for j, w in enumerate(spec.windows, start=1):
                lw = latest[latest["before"] <= w]
                add(lw, d.base + F.LATEST_OFFSET + j, lw["v"])
                g = mv[mv["before"] <= w].groupby(["pos", "concept_id"])["v"]
                lo, hi = g.min().reset_index(), g.max().reset_index()
                add(lo, d.base + F.MIN_OFFSET + j, lo["v"])
                add(hi, d.base + F.MAX_OFFSET + j, hi["v"])
    if spec.demographics:
        person = con.execute("SELECT person_id, COALESCE(gender_concept_id, 0) AS g, "
                             "year_of_birth AS yob FROM person").df()  # fmt: skip
        p = pop.merge(person, on="person_id").sort_values("pos")
        age = np.maximum(p["index_date"].dt.year.to_numpy() - p["yob"].to_numpy(), 0)
        add(p.assign(concept_id=p["g"]), F.SEX_ANALYSIS, np.ones(len(p)))
        add(p.assign(concept_id=age // 5), F.AGE_GROUP_ANALYSIS, np.ones(len(p)))
    all_ids = np.concatenate(ids)
    feature_ids, cols = np.unique(all_ids, return_inverse=True)
    X = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), cols.ravel())),
                          shape=(population.rows, feature_ids.size))  # fmt: skip
    X.eliminate_zeros()
    X.sort_indices()
    return feature_ids, X


def run(scale: float) -> list[Result]:
    """Build a CDM of ``1,000,000 x scale`` persons; time both feature extractions."""
    from medhaven.cdm.store import open_store
    from medhaven.prediction.features import extract_features
    from medhaven.prediction.population import study_population
    from medhaven.prediction.task import PredictionTask

    persons = max(BLOCK, int(PERSONS_AT_SCALE_1 * scale))
    tmp = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        path = tmp / "cdm.duckdb"
        started = time.perf_counter()
        n, _ = build(path, persons)
        built = time.perf_counter() - started
        task = PredictionTask(name="hf", target_cohort="essential_hypertension",
                              outcome_cohort="heart_failure_admission")  # fmt: skip
        with open_store(path) as store:
            started = time.perf_counter()
            pop = study_population(store, task)
            pop_s = time.perf_counter() - started
            events = sum(int(store.scalar(f"SELECT COUNT(*) FROM {t}")) for t in EVENT_TABLES)
            started = time.perf_counter()
            data = extract_features(store, pop, task.features)
            mh_s = time.perf_counter() - started
        con = duckdb.connect(str(path), read_only=True)
        con.execute("SET enable_progress_bar = false")
        try:
            started = time.perf_counter()
            ids, X = pandas_features(con, pop, task.features)
            pd_s = time.perf_counter() - started
        finally:
            con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not np.array_equal(ids, data.feature_ids) or (X != data.X).nnz:
        raise AssertionError("pandas and MedHaven feature matrices differ")
    note = (f"{n:,} persons, {events:,} events, {pop.rows:,} population rows, "
            f"{data.X.shape[1]:,} features, {data.X.nnz:,} non-zeros; matrices equal; "
            f"CDM built in {built:.0f} s, population in {pop_s:.1f} s; "
            f"MedHaven {mh_s:.2f} s, pandas {pd_s:.2f} s")  # fmt: skip
    return [
        Result("extract_features_events_per_s", events / mh_s, "events/s",
               "pandas merge + groupby", events / pd_s,
               goal="faster than pandas at 1M persons", note=note),
    ]  # fmt: skip


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    for r in run(args.scale):
        print(json.dumps(r.as_dict()))
