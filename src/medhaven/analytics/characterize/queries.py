"""Dialect-neutral SQL behind every characterization: concept counts and value distributions.

Each query is one statement that runs unchanged on DuckDB and PostgreSQL
(``?`` parameters, standard ``percentile_cont ... WITHIN GROUP``,
``COUNT(DISTINCT ...)``, integer ``date - date`` and ``date - integer``).
Only aggregates come back; no person-level row leaves the database here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medhaven.analytics.characterize.sections import ConceptCount, DistributionRow
from medhaven.cdm.store import CdmStore
from medhaven.errors import NotFound, StoreError

PERCENTILES = (0.10, 0.25, 0.50, 0.75, 0.90)


@dataclass(frozen=True)
class Domain:
    """A clinical table as a concept domain: its concept and date columns."""

    name: str
    table: str
    concept: str
    date: str


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("condition", "condition_occurrence", "condition_concept_id", "condition_start_date"),
        Domain("drug", "drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
        Domain("procedure", "procedure_occurrence", "procedure_concept_id", "procedure_date"),
        Domain("measurement", "measurement", "measurement_concept_id", "measurement_date"),
        Domain("observation", "observation", "observation_concept_id", "observation_date"),
        Domain("visit", "visit_occurrence", "visit_concept_id", "visit_start_date"),
    )
}


def require_tables(store: CdmStore, names: Sequence[str]) -> None:
    """Raise :class:`NotFound` naming the first CDM table the store lacks.

    On DuckDB it also switches off the engine's own progress bar, which would
    otherwise write to standard output during long queries (and so into
    ``--json`` output).
    """
    if store.dialect == "duckdb":
        store.execute("SET enable_progress_bar = false")
    present = store.table_names()
    for name in names:
        if name not in present:
            raise NotFound(f"the CDM store has no {name} table")


def index_cte() -> str:
    """``idx(person_id, index_date)``: each subject's first entry into cohort ``?``."""
    return (
        "idx AS (SELECT subject_id AS person_id, MIN(cohort_start_date) AS index_date "
        "FROM cohort WHERE cohort_definition_id = ? GROUP BY subject_id)"
    )


def fetch(store: CdmStore, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run a characterization query, turning driver errors into a one-line StoreError."""
    try:
        return store.fetchall(sql, params)
    except Exception as exc:  # duckdb.Error and psycopg.Error share no base class
        if isinstance(exc, NotFound | StoreError):
            raise
        raise StoreError(
            "a characterization query failed on the CDM store", detail=type(exc).__name__
        ) from exc


#: How many of the largest per-person record counts each group brings back, for the
#: dominance rules on record counts (exact for (n, k) rules with n up to this).
TOP_CONTRIBUTORS = 5


def _per_person_sql(keys: Sequence[str], source: str) -> str:
    """CTEs ``pc``, ``rk``, ``agg``: records per person, then persons, records and top counts."""
    k = ", ".join(keys)
    tops = ", ".join(
        f"MAX(CASE WHEN rn = {i} THEN n END) AS t{i}" for i in range(1, TOP_CONTRIBUTORS + 1)
    )
    return (
        f"pc AS (SELECT {k}, person_id, COUNT(*) AS n FROM {source} GROUP BY {k}, person_id), "
        f"rk AS (SELECT {k}, n, ROW_NUMBER() OVER (PARTITION BY {k} ORDER BY n DESC) AS rn "
        "FROM pc), "
        f"agg AS (SELECT {k}, COUNT(*) AS persons, SUM(n) AS records, {tops} FROM rk GROUP BY {k})"
    )


def _tops(values: Sequence[Any]) -> tuple[int, ...]:
    return tuple(int(v) for v in values if v is not None)


def concept_counts(
    store: CdmStore, domain: Domain, *, cohort_id: int | None = None, window_days: int = 365
) -> list[ConceptCount]:
    """Persons and records per concept of ``domain`` (within the window before index if a cohort)."""
    if cohort_id is None:
        source = f"SELECT person_id, {domain.concept} AS concept_id FROM {domain.table}"
        prefix, params = "", []
    else:
        source = (
            f"SELECT d.person_id, d.{domain.concept} AS concept_id FROM {domain.table} d "
            f"JOIN idx ON idx.person_id = d.person_id "
            f"AND d.{domain.date} BETWEEN idx.index_date - {int(window_days)} AND idx.index_date"
        )
        prefix, params = f"{index_cte()}, ", [cohort_id]
    tops = ", ".join(f"agg.t{i}" for i in range(1, TOP_CONTRIBUTORS + 1))
    sql = (
        f"WITH {prefix}x AS ({source}), {_per_person_sql(['concept_id'], 'x')} "
        f"SELECT agg.concept_id, c.concept_name, agg.persons, agg.records, {tops} "
        "FROM agg LEFT JOIN concept c ON c.concept_id = agg.concept_id"
    )
    return [
        ConceptCount(
            int(row[0]) if row[0] is not None else 0,
            row[1],
            int(row[2]),
            int(row[3]),
            top_records=_tops(row[4:]),
        )
        for row in fetch(store, sql, params)
    ]


def _stat_sql(col: str) -> str:
    pcts = ", ".join(
        f"percentile_cont({p}) WITHIN GROUP (ORDER BY {col}) AS p{int(p * 100)}"
        for p in PERCENTILES
    )
    return f"MIN({col}) AS vmin, {pcts}, MAX({col}) AS vmax"


@dataclass(frozen=True)
class Found:
    """One group of :func:`distributions`: key, persons, records, top per-person records, stats."""

    key: tuple[int, ...]
    persons: int
    records: int
    top_records: tuple[int, ...]
    stats: tuple[float, ...]


def distributions(
    store: CdmStore, source: str, params: Sequence[Any], *, keys: Sequence[str], prefix: str = ""
) -> list[Found]:
    """Persons, records and value statistics per group of ``source`` (keys, person_id, value)."""
    key_sql = ", ".join(keys)
    on = " AND ".join(f"st.{k} = agg.{k}" for k in keys)
    tops = ", ".join(f"agg.t{i}" for i in range(1, TOP_CONTRIBUTORS + 1))
    sql = (
        f"WITH {prefix}v AS ({source}), {_per_person_sql(keys, 'v')}, "
        f"st AS (SELECT {key_sql}, {_stat_sql('value')} FROM v GROUP BY {key_sql}) "
        f"SELECT {', '.join(f'agg.{k}' for k in keys)}, agg.persons, agg.records, {tops}, "
        "st.vmin, st.p10, st.p25, st.p50, st.p75, st.p90, st.vmax "
        f"FROM agg JOIN st ON {on}"
    )
    n = len(keys)
    out = []
    for row in fetch(store, sql, params):
        key = tuple(int(k) if k is not None else 0 for k in row[:n])
        top_end = n + 2 + TOP_CONTRIBUTORS
        out.append(
            Found(
                key=key,
                persons=int(row[n]),
                records=int(row[n + 1]),
                top_records=_tops(row[n + 2 : top_end]),
                stats=tuple(float(x) for x in row[top_end:]),
            )
        )
    return out


def concept_names(store: CdmStore, ids: set[int]) -> dict[int, str]:
    """Names of the given concept ids from the concept table (absent ids are left out)."""
    if not ids:
        return {}
    ordered = sorted(ids)
    names: dict[int, str] = {}
    # Bounded IN lists keep the statement small on either database.
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = fetch(
            store,
            f"SELECT concept_id, concept_name FROM concept WHERE concept_id IN ({marks})",
            chunk,
        )
        names.update({int(cid): str(name) for cid, name in rows})
    return names


def measurement_rows(
    store: CdmStore, *, cohort_id: int | None = None, window_days: int = 365
) -> list[DistributionRow]:
    """Value distributions per measurement concept and unit (numeric values only)."""
    value = "CAST(m.value_as_number AS DOUBLE PRECISION)"
    cols = (
        "m.measurement_concept_id AS concept_id, COALESCE(m.unit_concept_id, 0) AS unit_id, "
        f"m.person_id, {value} AS value"
    )
    if cohort_id is None:
        source = f"SELECT {cols} FROM measurement m WHERE m.value_as_number IS NOT NULL"
        prefix, params = "", []
    else:
        source = (
            f"SELECT {cols} FROM measurement m JOIN idx ON idx.person_id = m.person_id "
            f"AND m.measurement_date BETWEEN idx.index_date - {int(window_days)} "
            "AND idx.index_date WHERE m.value_as_number IS NOT NULL"
        )
        prefix, params = f"{index_cte()}, ", [cohort_id]
    found = distributions(store, source, params, keys=("concept_id", "unit_id"), prefix=prefix)
    names = concept_names(store, {k for f in found for k in f.key})
    return [
        DistributionRow(
            key=f.key,
            label=names.get(f.key[0], f"concept {f.key[0]}"),
            unit=names.get(f.key[1]) if f.key[1] else None,
            persons=f.persons,
            records=f.records,
            stats=f.stats,
            top_records=f.top_records,
        )
        for f in found
    ]


__all__ = [
    "DOMAINS",
    "PERCENTILES",
    "TOP_CONTRIBUTORS",
    "Domain",
    "Found",
    "concept_counts",
    "concept_names",
    "distributions",
    "fetch",
    "index_cte",
    "measurement_rows",
    "require_tables",
]
