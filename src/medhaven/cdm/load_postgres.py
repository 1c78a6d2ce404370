"""Load CDM files into a PostgreSQL store: parse and validate in DuckDB, then COPY in one transaction.

The files are parsed and checked in a private in-memory DuckDB (the same code
as for a DuckDB store). Then, inside one PostgreSQL transaction: missing CDM
tables are created, primary keys and person ids are checked against the rows
already in the store (only the keys travel, into temporary tables), and every
table is streamed in with ``COPY ... FROM STDIN`` from a CSV file that DuckDB
writes. Any failure rolls the whole transaction back.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql as pgsql

from medhaven.cdm import schema
from medhaven.cdm.load_checks import (
    Staged,
    check_unique_key,
    check_values,
    duplicate_key_error,
    person_fk_tables,
    unknown_person_error,
)
from medhaven.cdm.load_diagnose import Diagnoser
from medhaven.cdm.load_source import SourceFile
from medhaven.cdm.load_stage import bare, read_layout, select_sql, sql_str
from medhaven.cdm.postgres_store import PostgresStore
from medhaven.errors import MedHavenError, StoreError

Notify = Callable[[str, int], None]
_CHUNK = 1 << 20


def _stage(duck: duckdb.DuckDBPyConnection, src: SourceFile, diag: Diagnoser) -> Staged:
    """Parse one file into an in-memory staging table and check it on its own."""
    layout = read_layout(duck, src)
    relation = f"stage_{src.table}"
    try:
        duck.execute(f"CREATE TABLE {relation} AS {select_sql(src, layout)}")
    except duckdb.Error as exc:
        raise diag.parse_failure(src, layout, exc) from None
    count = duck.execute(f"SELECT count(*) FROM {relation}").fetchone()
    staged = Staged(src=src, layout=layout, relation=relation, rows=int(count[0]) if count else 0)
    check_values(duck, staged, diag)
    check_unique_key(duck, staged, diag)
    return staged


def _copy(
    duck: duckdb.DuckDBPyConnection,
    store: PostgresStore,
    *,
    query: str,
    table: str,
    columns: list[str],
    scratch: Path,
) -> None:
    """Stream the rows of a DuckDB query into a PostgreSQL table through a CSV file."""
    path = scratch / f"{table}.csv"
    duck.execute(f"COPY ({query}) TO {sql_str(str(path))} (FORMAT csv, HEADER false)")
    cols = pgsql.SQL(", ").join(pgsql.Identifier(bare(c)) for c in columns)
    stmt = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        pgsql.Identifier(table), cols
    )
    with store.con.cursor() as cur, cur.copy(stmt) as copy, path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            copy.write(chunk)
    path.unlink()


def _pg_has_rows(store: PostgresStore, table: str) -> bool:
    return bool(store.scalar(f"SELECT EXISTS (SELECT 1 FROM {table})"))


def _check_keys_in_store(
    duck: duckdb.DuckDBPyConnection,
    store: PostgresStore,
    staged: Staged,
    diag: Diagnoser,
    scratch: Path,
) -> None:
    """No staged primary key is already in the store's table."""
    pk = staged.table.primary_key
    assert pk is not None
    store.execute(f"CREATE TEMP TABLE _mh_keys (k {pk.sql_type('postgresql')}) ON COMMIT DROP")
    _copy(
        duck,
        store,
        query=f"SELECT {pk.name} FROM {staged.relation}",
        table="_mh_keys",
        columns=["k"],
        scratch=scratch,
    )
    clash = store.fetchall(
        f"SELECT k FROM _mh_keys WHERE k IN (SELECT {pk.name} FROM {staged.table.name}) LIMIT 1"
    )
    store.execute("DROP TABLE _mh_keys")
    if clash:
        raise duplicate_key_error(staged, diag, value=clash[0][0], in_store=True)


def _check_persons(
    duck: duckdb.DuckDBPyConnection,
    store: PostgresStore,
    staged: list[Staged],
    diag: Diagnoser,
    *,
    scratch: Path,
    existing: set[str],
) -> None:
    """Person ids not in the loaded person file must be in the store's person table."""
    loaded = [s.relation for s in staged if s.src.table == "person"]
    not_in_load = (
        f" AND NOT EXISTS (SELECT 1 FROM {loaded[0]} p WHERE p.person_id = r.person_id)"
        if loaded
        else ""
    )
    store_has_persons = "person" in existing and _pg_has_rows(store, "person")
    for s in person_fk_tables(staged):
        outside = (
            f"SELECT DISTINCT r.person_id FROM {s.relation} r "
            f"WHERE r.person_id IS NOT NULL{not_in_load}"
        )
        first = duck.execute(f"{outside} LIMIT 1").fetchone()
        if first is None:
            continue
        if not store_has_persons:
            raise unknown_person_error(s, diag, person_id=first[0])
        store.execute("CREATE TEMP TABLE _mh_persons (k BIGINT) ON COMMIT DROP")
        _copy(duck, store, query=outside, table="_mh_persons", columns=["k"], scratch=scratch)
        missing = store.fetchall(
            "SELECT k FROM _mh_persons WHERE NOT EXISTS "
            "(SELECT 1 FROM person p WHERE p.person_id = k) LIMIT 1"
        )
        store.execute("DROP TABLE _mh_persons")
        if missing:
            raise unknown_person_error(s, diag, person_id=missing[0][0])


def load_into_postgres(
    store: PostgresStore, files: list[SourceFile], diag: Diagnoser, notify: Notify
) -> dict[str, int]:
    """Load ``files`` into ``store`` all-or-nothing; return rows added per table."""
    duck = duckdb.connect(":memory:")
    try:
        staged: list[Staged] = []
        for src in files:
            staged.append(_stage(duck, src, diag))
            notify(f"checked {src.table}", staged[-1].rows)
        with tempfile.TemporaryDirectory(prefix="medhaven-copy-") as tmp, store.transaction():
            scratch = Path(tmp)
            existing = store.table_names()
            store.create_schema(n for n in schema.tables() if n not in existing)
            for s in staged:
                if (
                    s.rows
                    and s.table.primary_key is not None
                    and s.src.table in existing
                    and _pg_has_rows(store, s.src.table)
                ):
                    _check_keys_in_store(duck, store, s, diag, scratch)
            _check_persons(duck, store, staged, diag, scratch=scratch, existing=existing)
            for s in staged:
                cols = s.layout.fields(s.src.table)
                query = f"SELECT {', '.join(cols)} FROM {s.relation}"
                _copy(duck, store, query=query, table=s.src.table, columns=cols, scratch=scratch)
                notify(f"wrote {s.src.table}", s.rows)
    except MedHavenError:
        raise
    except psycopg.Error as exc:
        raise StoreError(
            f"writing to PostgreSQL at {store.location} failed; nothing was written",
            detail=type(exc).__name__,
        ) from exc
    finally:
        duck.close()
    return {s.src.table: s.rows for s in staged}


__all__ = ["load_into_postgres"]
