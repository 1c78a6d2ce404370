"""The DuckDB CDM store: a single file (or ``:memory:``), MedHaven's embedded default."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from medhaven.cdm.store import CdmStore
from medhaven.errors import StoreError


class DuckDBStore(CdmStore):
    """A CDM in a DuckDB database file."""

    dialect = "duckdb"

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self._path, read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open DuckDB store {self._path}", detail=str(exc)) from exc
        self._depth = 0

    @property
    def location(self) -> str:
        """The database file path."""
        return self._path

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement."""
        self.con.execute(sql, list(params) if params is not None else None)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""
        rows: list[tuple[Any, ...]] = self.con.execute(
            sql, list(params) if params is not None else None
        ).fetchall()
        return rows

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and return an Arrow table."""
        cur = self.con.execute(sql, list(params) if params is not None else None)
        # DuckDB 2 renamed fetch_arrow_table() to to_arrow_table().
        fetch = getattr(cur, "to_arrow_table", None) or getattr(cur, "fetch_arrow_table")  # noqa: B009
        result: pa.Table = fetch()
        return result

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together; nested blocks join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")
        finally:
            self._depth = 0

    def append_arrow(self, table_name: str, data: pa.Table) -> int:
        """Insert an Arrow table by column name."""
        view = "_medhaven_append_src"
        self.con.register(view, data)
        try:
            cols = ", ".join(data.column_names)
            self.con.execute(f"INSERT INTO {table_name} ({cols}) SELECT {cols} FROM {view}")
        finally:
            self.con.unregister(view)
        return int(data.num_rows)

    def table_names(self) -> set[str]:
        """Tables in the main schema."""
        rows = self.fetchall(
            "SELECT lower(table_name) FROM information_schema.tables "
            "WHERE table_schema = current_schema()"
        )
        return {r[0] for r in rows}

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


__all__ = ["DuckDBStore"]
