"""Write the built CDM into a store: a new DuckDB file (aside, then renamed) or a PostgreSQL schema.

A DuckDB target must not exist yet; the file is built beside it under a
temporary name and renamed into place only when complete. A PostgreSQL
target must hold no persons yet; schema, vocabulary and data go in one
transaction, so a failure leaves it as it was.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import pyarrow as pa

from medhaven.cdm.store import CdmStore, open_store
from medhaven.cdm.vocabulary import VOCABULARY_TABLES, vocabulary_table
from medhaven.errors import InvalidInput

PG_PREFIXES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def is_url(target: str) -> bool:
    """Whether ``target`` names a PostgreSQL store rather than a DuckDB file."""
    return target.startswith(PG_PREFIXES)


def _fill(store: CdmStore, tables: dict[str, pa.Table]) -> None:
    with store.transaction():
        store.create_schema()
        if store.count("concept") == 0:
            for name in VOCABULARY_TABLES:
                store.append_arrow(name, vocabulary_table(name))
        for name, table in tables.items():
            if table.num_rows:
                store.append_arrow(name, table)


def check_target(target: str) -> None:
    """Refuse a DuckDB target that exists or whose folder does not (before any work is done)."""
    if is_url(target):
        return
    path = Path(target)
    if path.exists():
        raise InvalidInput(f"--cdm {path} already exists (give a new file)")
    if not path.parent.is_dir():
        raise InvalidInput(f"--cdm: folder {path.parent} does not exist")


def stage_duckdb(target: str, tables: dict[str, pa.Table]) -> Path:
    """Write a complete DuckDB CDM beside ``target``; return the temporary path to rename."""
    path = Path(target)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    try:
        with open_store(tmp) as store:
            _fill(store, tables)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(f"{tmp}.wal").unlink()
        raise
    return tmp


def write_postgres(target: str, tables: dict[str, pa.Table]) -> None:
    """Write into an empty PostgreSQL CDM schema in one transaction."""
    with open_store(target) as store:
        if "person" in store.table_names() and store.count("person") > 0:
            raise InvalidInput("--cdm: the PostgreSQL store already holds persons")
        _fill(store, tables)


__all__ = ["check_target", "is_url", "stage_duckdb", "write_postgres"]
