"""The PostgreSQL CDM store (psycopg 3), MedHaven's production store.

The URL may carry ``?schema=NAME`` to keep a CDM in its own PostgreSQL schema
(created if missing); the default is ``public``. Bulk loads use ``COPY``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql as pgsql

from medhaven.cdm.store import CdmStore
from medhaven.errors import InvalidInput, StoreError

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def split_url(url: str) -> tuple[str, str]:
    """Return the libpq connection URL and the CDM schema named by ``?schema=``."""
    parts = urlsplit(url)
    scheme = "postgresql"
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
    schema_name = dict(parse_qsl(parts.query)).get("schema", "public").lower()
    if not _IDENT.fullmatch(schema_name):
        raise InvalidInput(f"invalid PostgreSQL schema name {schema_name!r} in --db URL")
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), "")), schema_name


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _to_pg(sql: str) -> str:
    """Translate ``?`` placeholders to psycopg's ``%s`` (and escape literal ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresStore(CdmStore):
    """A CDM in one schema of a PostgreSQL database."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self._url = url
        conninfo, self.schema_name = split_url(url)
        try:
            self.con = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {redact(url)}", detail=type(exc).__name__
            ) from exc
        ident = pgsql.Identifier(self.schema_name)
        self.con.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        self.con.execute(pgsql.SQL("SET search_path TO {}").format(ident))

    @property
    def location(self) -> str:
        """The URL without its password."""
        return redact(self._url)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement."""
        if params is None:
            self.con.execute(sql.encode())
        else:
            self.con.execute(_to_pg(sql).encode(), list(params))

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return its rows."""
        if params is None:
            cur = self.con.execute(sql.encode())
        else:
            cur = self.con.execute(_to_pg(sql).encode(), list(params))
        return list(cur.fetchall())

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query and return an Arrow table (built column by column)."""
        if params is None:
            cur = self.con.execute(sql.encode())
        else:
            cur = self.con.execute(_to_pg(sql).encode(), list(params))
        names = [d.name for d in cur.description or []]
        rows = cur.fetchall()
        columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
        if not rows:
            columns = [[] for _ in names]
        return pa.table({n: pa.array(c) for n, c in zip(names, columns, strict=True)})

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together (psycopg nests with savepoints)."""
        with self.con.transaction():
            yield

    def append_arrow(self, table_name: str, data: pa.Table) -> int:
        """COPY an Arrow table into a table, by column name, as CSV."""
        if data.num_rows == 0:
            return 0
        buf = io.BytesIO()
        pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
        cols = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in data.column_names)
        stmt = pgsql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
            pgsql.Identifier(table_name), cols
        )
        with self.con.cursor() as cur, cur.copy(stmt) as copy:
            view = buf.getbuffer()
            step = 1 << 20
            for start in range(0, len(view), step):
                copy.write(view[start : start + step])
        return int(data.num_rows)

    def table_names(self) -> set[str]:
        """Tables in this store's schema."""
        rows = self.fetchall(
            "SELECT lower(table_name) FROM information_schema.tables WHERE table_schema = ?",
            [self.schema_name],
        )
        return {r[0] for r in rows}

    def close(self) -> None:
        """Close the connection."""
        self.con.close()


__all__ = ["PostgresStore", "redact", "split_url"]
