"""Set-based validation of staged rows: required values, lengths, primary keys, the person key.

Every check is one SQL statement over a whole staged table in DuckDB; only
when it finds a problem does :class:`~medhaven.cdm.load_diagnose.Diagnoser`
go back to the file for the row number. Checks against rows that are already
in the store are the target's job (see :mod:`medhaven.cdm.loader`), because
on PostgreSQL those rows live in another database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from medhaven.cdm import schema
from medhaven.cdm.load_diagnose import Diagnoser
from medhaven.cdm.load_source import SourceFile
from medhaven.cdm.load_stage import Layout
from medhaven.errors import LoadError


@dataclass(frozen=True)
class Staged:
    """One source file parsed into DuckDB: the relation holding its rows and how it was read."""

    src: SourceFile
    layout: Layout
    relation: str
    rows: int

    @property
    def table(self) -> schema.Table:
        """The CDM table the rows belong to."""
        return schema.table(self.src.table)


def check_values(con: duckdb.DuckDBPyConnection, staged: Staged, diag: Diagnoser) -> None:
    """Required fields present and varchar lengths within the spec, in one pass."""
    preds: list[str] = []
    for field in staged.table.fields:
        if field.name not in staged.layout.columns:
            continue
        if field.required:
            preds.append(f"{field.name} IS NULL")
        if field.max_length is not None:
            preds.append(f"length({field.name}) > {field.max_length}")
    if not preds:
        return
    bad = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM {staged.relation} WHERE {' OR '.join(preds)})"
    ).fetchone()
    if bad is not None and bad[0]:
        raise diag.first_bad_value(staged.src, staged.layout) or LoadError(
            f"{staged.src.display}: a required value is missing or a value is too long"
        )


def duplicate_key_error(
    staged: Staged, diag: Diagnoser, *, value: Any, in_store: bool
) -> LoadError:
    """The error for a primary-key value that is not unique, naming the data row(s)."""
    pk = staged.table.primary_key
    assert pk is not None
    rows = diag.rows_with_value(staged.src, staged.layout, field=pk.name, value=value)
    where = f"{staged.src.display} data row {rows[-1] if rows else '?'}, field {pk.name}"
    if in_store:
        return LoadError(
            f"{where}: duplicate primary key (already in table {staged.table.name} of the store)"
        )
    first = f" (same as data row {rows[0]})" if len(rows) > 1 else ""
    return LoadError(f"{where}: duplicate primary key{first}")


def check_unique_key(con: duckdb.DuckDBPyConnection, staged: Staged, diag: Diagnoser) -> None:
    """No primary-key value twice within the staged rows."""
    pk = staged.table.primary_key
    if pk is None or staged.rows == 0:
        return
    dup = con.execute(
        f"SELECT {pk.name} FROM {staged.relation} GROUP BY {pk.name} HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if dup is not None:
        raise duplicate_key_error(staged, diag, value=dup[0], in_store=False)


def unknown_person_error(staged: Staged, diag: Diagnoser, *, person_id: Any) -> LoadError:
    """The error for a ``person_id`` found neither in the loaded person file nor in the store."""
    rows = diag.rows_with_value(staged.src, staged.layout, field="person_id", value=person_id)
    return LoadError(
        f"{staged.src.display} data row {rows[0] if rows else '?'}, field person_id: "
        "no such person (not in the person table being loaded nor in the store)"
    )


def person_fk_tables(staged: list[Staged]) -> list[Staged]:
    """Staged tables whose ``person_id`` must name a person."""
    return [
        s
        for s in staged
        if s.table.has_person_id
        and s.table.name != "person"
        and s.rows
        and "person_id" in s.layout.columns
    ]


__all__ = [
    "Staged",
    "check_unique_key",
    "check_values",
    "duplicate_key_error",
    "person_fk_tables",
    "unknown_person_error",
]
