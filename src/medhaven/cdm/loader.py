"""Load an OMOP CDM v5.4 export (CSV or Parquet, a folder or a zip) into a CDM store.

Public API, for the CLI, the demo and the synthetic-hospital generator::

    from medhaven.cdm.loader import load_cdm

    report = load_cdm(store, Path("export.zip"), on_progress=lambda step, rows: ...)
    report.tables  # {"person": 28, ...}: rows added per table

``load_cdm(store, source, *, on_progress=None) -> LoadReport`` reads every CDM
table file of ``source`` (file names in any case; macOS junk skipped), coerces
values to the specification's types, validates required fields, varchar
lengths, primary-key uniqueness (within the load and against rows already in
the store) and that each clinical ``person_id`` names a person (in the load or
already in the store), creates the CDM tables the store lacks, and writes
everything in one transaction. Any problem raises :class:`~medhaven.errors.LoadError`
with a one-line message naming the file, the 1-based data row and the field
(never a value), and leaves the store exactly as it was.

``on_progress(step, rows)`` is called with ``"checked <table>"`` once a table
is parsed and validated, then with ``"wrote <table>"`` once it is written:
two calls per table (see :func:`source_tables` for the table list up front).

DuckDB is the parsing and validation engine for both kinds of store: for a
DuckDB store it works inside the store's own transaction
(:mod:`medhaven.cdm.load_duckdb`); for PostgreSQL it works in a private
in-memory DuckDB and then streams the rows in with ``COPY``
(:mod:`medhaven.cdm.load_postgres`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medhaven.cdm.load_diagnose import Diagnoser
from medhaven.cdm.load_source import source_files, source_tables
from medhaven.cdm.store import CdmStore
from medhaven.errors import StoreError

ProgressFn = Callable[[str, int], None]


@dataclass
class LoadReport:
    """What a load did: rows added per table (specification order) and how long it took."""

    source: str
    store: str
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows added over all tables."""
        return sum(self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the CLI's ``--json`` output)."""
        return {
            "source": self.source,
            "store": self.store,
            "tables": dict(self.tables),
            "total_rows": self.total_rows,
            "seconds": round(self.seconds, 3),
        }


def _quiet(step: str, rows: int) -> None:
    """The default progress callback: say nothing."""


def load_cdm(store: CdmStore, source: Path, *, on_progress: ProgressFn | None = None) -> LoadReport:
    """Load a CDM export folder or zip into ``store``, all or nothing; see the module docstring."""
    started = time.perf_counter()
    notify = on_progress or _quiet
    source = Path(source)
    diag = Diagnoser()
    try:
        with source_files(source) as files:
            if store.dialect == "duckdb":
                from medhaven.cdm.duckdb_store import DuckDBStore
                from medhaven.cdm.load_duckdb import load_into_duckdb

                assert isinstance(store, DuckDBStore)
                tables = load_into_duckdb(store, files, diag, notify)
            elif store.dialect == "postgresql":
                from medhaven.cdm.load_postgres import load_into_postgres
                from medhaven.cdm.postgres_store import PostgresStore

                assert isinstance(store, PostgresStore)
                tables = load_into_postgres(store, files, diag, notify)
            else:
                raise StoreError(f"cannot load into a {store.dialect} store")
    finally:
        diag.close()
    return LoadReport(
        source=str(source),
        store=store.location,
        tables=tables,
        seconds=time.perf_counter() - started,
    )


__all__ = ["LoadReport", "ProgressFn", "load_cdm", "source_tables"]
