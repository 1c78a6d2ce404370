"""The CDM store interface and how to open one from a path or URL.

One small interface (:class:`CdmStore`) with two implementations: DuckDB
(a file or ``:memory:``; the embedded default) in :mod:`medhaven.cdm.duckdb_store`
and PostgreSQL (a ``postgresql://`` URL, optional ``?schema=NAME``) in
:mod:`medhaven.cdm.postgres_store`. SQL given to a store uses ``?`` for
positional parameters on both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from medhaven.cdm import schema


class CdmStore(ABC):
    """A database holding one OMOP CDM v5.4 instance."""

    dialect: ClassVar[str]

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement that returns no rows."""

    @abstractmethod
    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows as tuples."""

    @abstractmethod
    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and return the result as an Arrow table."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A context in which every statement commits together or not at all."""

    @abstractmethod
    def append_arrow(self, table_name: str, data: pa.Table) -> int:
        """Append ``data`` (columns named as the table's fields) to a table; return rows added."""

    @abstractmethod
    def table_names(self) -> set[str]:
        """Names (lower case) of the tables that exist in the store."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the store lives, with any password removed (safe to print)."""

    # Shared behaviour -------------------------------------------------------------

    def create_schema(self, names: Iterable[str] | None = None) -> None:
        """Create the CDM tables (all by default) that do not exist yet."""
        wanted = list(names) if names is not None else list(schema.tables())
        for name in wanted:
            self.execute(schema.table(name).create_sql(self.dialect))

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run a query returning one value."""
        rows = self.fetchall(sql, params)
        return rows[0][0] if rows else None

    def count(self, table_name: str) -> int:
        """Number of rows in a CDM table."""
        name = schema.table(table_name).name
        return int(self.scalar(f"SELECT COUNT(*) FROM {name}"))

    def __enter__(self) -> CdmStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(target: str | Path, *, read_only: bool = False) -> CdmStore:
    """Open a CDM store: a ``postgresql://`` URL, else a DuckDB file path or ``:memory:``."""
    text = str(target)
    if text.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from medhaven.cdm.postgres_store import PostgresStore

        return PostgresStore(text)
    from medhaven.cdm.duckdb_store import DuckDBStore

    return DuckDBStore(text, read_only=read_only)


@contextmanager
def opened(target: str | Path, *, read_only: bool = False) -> Iterator[CdmStore]:
    """Open a store for the length of a ``with`` block."""
    store = open_store(target, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


__all__ = ["CdmStore", "open_store", "opened"]
