"""Load staged CDM files into a DuckDB store: parse, validate and insert in one transaction.

Everything happens on the store's own connection inside one transaction, so a
failure anywhere leaves the file exactly as it was. A table that is empty (or
new) in the store is filled straight from the file and validated in place,
which saves a copy on the common first load; a table that already holds rows
is parsed into a temporary staging table first, so its primary keys can be
compared with the rows already there.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from medhaven.cdm import schema
from medhaven.cdm.duckdb_store import DuckDBStore
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
from medhaven.cdm.load_stage import read_layout, select_sql
from medhaven.errors import StoreError

Notify = Callable[[str, int], None]


def _has_rows(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    row = con.execute(f"SELECT EXISTS (SELECT 1 FROM {relation})").fetchone()
    return bool(row and row[0])


def _stage(
    con: duckdb.DuckDBPyConnection, src: SourceFile, diag: Diagnoser, *, existing: set[str]
) -> Staged:
    """Parse one file into its target table (if empty) or a temporary staging table."""
    layout = read_layout(con, src)
    table = src.table
    direct = table not in existing or not _has_rows(con, f"main.{table}")
    relation = f"main.{table}" if direct else f"temp.main._mh_stage_{table}"
    query = select_sql(src, layout)
    cols = ", ".join(layout.fields(table))
    try:
        if direct:
            con.execute(f"INSERT INTO {relation} ({cols}) {query}")
        else:
            con.execute(f"CREATE TEMP TABLE _mh_stage_{table} AS {query}")
    except duckdb.Error as exc:
        raise diag.parse_failure(src, layout, exc) from None
    count = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    staged = Staged(src=src, layout=layout, relation=relation, rows=int(count[0]) if count else 0)
    check_values(con, staged, diag)
    check_unique_key(con, staged, diag)
    pk = staged.table.primary_key
    if not direct and pk is not None:
        clash = con.execute(
            f"SELECT s.{pk.name} FROM {relation} s WHERE s.{pk.name} IN "
            f"(SELECT {pk.name} FROM main.{table}) LIMIT 1"
        ).fetchone()
        if clash is not None:
            raise duplicate_key_error(staged, diag, value=clash[0], in_store=True)
    return staged


def _check_persons(con: duckdb.DuckDBPyConnection, staged: list[Staged], diag: Diagnoser) -> None:
    """Every person_id of a clinical table names a person in the store or in the load."""
    persons = ["SELECT person_id FROM main.person"]
    persons += [f"SELECT person_id FROM {s.relation}" for s in staged if s.src.table == "person"]
    known = " UNION ALL ".join(persons)
    for s in person_fk_tables(staged):
        missing = con.execute(
            f"SELECT r.person_id FROM {s.relation} r WHERE r.person_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM ({known}) p WHERE p.person_id = r.person_id) LIMIT 1"
        ).fetchone()
        if missing is not None:
            raise unknown_person_error(s, diag, person_id=missing[0])


def load_into_duckdb(
    store: DuckDBStore, files: list[SourceFile], diag: Diagnoser, notify: Notify
) -> dict[str, int]:
    """Load ``files`` into ``store`` all-or-nothing; return rows added per table."""
    # Row order inside a CDM table carries no meaning, and letting DuckDB write
    # in any order makes large loads about a quarter faster. Error row numbers
    # do not depend on it (the Diagnoser re-reads the file on its own).
    row = store.con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    preserve = bool(row[0]) if row else True
    store.con.execute("SET preserve_insertion_order = false")
    try:
        return _load(store, files, diag, notify)
    except duckdb.Error as exc:
        raise StoreError(
            f"writing to DuckDB store {store.location} failed; nothing was written",
            detail=type(exc).__name__,
        ) from exc
    finally:
        store.con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")


def _load(
    store: DuckDBStore, files: list[SourceFile], diag: Diagnoser, notify: Notify
) -> dict[str, int]:
    con = store.con
    with store.transaction():
        existing = store.table_names()
        store.create_schema(n for n in schema.tables() if n not in existing)
        staged: list[Staged] = []
        for src in files:
            staged.append(_stage(con, src, diag, existing=existing))
            notify(f"checked {src.table}", staged[-1].rows)
        _check_persons(con, staged, diag)
        for s in staged:
            if s.relation.startswith("temp."):
                cols = ", ".join(s.layout.fields(s.src.table))
                con.execute(
                    f"INSERT INTO main.{s.src.table} ({cols}) SELECT {cols} FROM {s.relation}"
                )
                con.execute(f"DROP TABLE {s.relation}")
            notify(f"wrote {s.src.table}", s.rows)
    return {s.src.table: s.rows for s in staged}


__all__ = ["load_into_duckdb"]
