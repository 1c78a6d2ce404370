"""Find the first offending row and field of a source file, for a precise one-line error.

Only runs when something is already known to be wrong, so it favours being
exact over being fast: it re-reads the file with every column as text, in a
private single-threaded in-memory DuckDB (so ``row_number()`` follows the
file's order), and numbers data rows from 1 (the header is not a data row).
Messages name the file, the data row and the field, never the value.
"""

from __future__ import annotations

import csv
import re
from typing import Any

import duckdb

from medhaven.cdm import schema
from medhaven.cdm.load_source import SourceFile
from medhaven.cdm.load_stage import INTEGER_PATTERN, Layout, bare, sql_str
from medhaven.errors import LoadError

_PROBLEM = {
    "integer": "not an integer",
    "float": "not a number",
    "date": "not a date (expected YYYY-MM-DD)",
    "datetime": "not a date-time (expected YYYY-MM-DD HH:MM:SS)",
}


def _bad_type(field: schema.Field, layout: Layout) -> str | None:
    """A predicate on the text column that is true when the value does not parse as the spec's type."""
    col = field.name
    if field.kind == "varchar":
        return None
    if field.kind == "date" and layout.date_format:
        ok = f"try_strptime({col}, {sql_str(layout.date_format)}) IS NOT NULL"
    elif field.kind == "integer":
        ok = f"regexp_full_match({col}, {sql_str(INTEGER_PATTERN)}) AND TRY_CAST({col} AS BIGINT) IS NOT NULL"
    else:
        ok = f"TRY_CAST({col} AS {field.sql_type('duckdb')}) IS NOT NULL"
    return f"{col} IS NOT NULL AND NOT coalesce({ok}, false)"


class Diagnoser:
    """Locates bad rows in source files; one per load, closed at the end."""

    def __init__(self) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET threads = 1")
        self._views: dict[str, str] = {}

    def close(self) -> None:
        """Release the in-memory database."""
        self.con.close()

    def _view(self, src: SourceFile, layout: Layout) -> str:
        """A view of the file: ``_rn`` (1-based data row) and every column as text."""
        name = f"_diag_{src.table}"
        if name in self._views:
            return name
        if src.format == "parquet":
            table = schema.table(src.table)
            cols = ", ".join(
                f"{layout.integer_text(c)} AS {c}"
                if table.field(c).kind == "integer"
                else f"CAST({c} AS VARCHAR) AS {c}"
                for c in layout.columns
            )
            body = (
                f"SELECT file_row_number + 1 AS _rn, {cols} FROM "
                f"read_parquet({sql_str(str(src.path))}, file_row_number=true)"
            )
        else:
            body = (
                f"SELECT row_number() OVER () AS _rn, * FROM {layout.reader(src, all_varchar=True)}"
            )
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {body}")
        self._views[name] = body
        return name

    def first_bad_value(self, src: SourceFile, layout: Layout) -> LoadError | None:
        """The first row with a value of the wrong type, a missing required value or one too long."""
        table = schema.table(src.table)
        checks: list[tuple[str, str, str]] = []  # (predicate, field, problem)
        for name in layout.columns:
            field = table.field(name)
            bad = _bad_type(field, layout)
            if bad is not None:
                problem = _PROBLEM[field.kind]
                if field.kind == "date" and layout.date_format:
                    problem = "not a date (expected YYYYMMDD, as in the file's first row)"
                checks.append((bad, name, problem))
            if field.required:
                checks.append((f"{name} IS NULL", name, "a required value is missing"))
            if field.max_length is not None:
                checks.append(
                    (
                        f"length({name}) > {field.max_length}",
                        name,
                        f"longer than the spec's maximum of {field.max_length} characters",
                    )
                )
        if not checks:
            return None
        view = self._view(src, layout)
        firsts = ", ".join(f"min(_rn) FILTER (WHERE {pred})" for pred, _, _ in checks)
        try:
            row = self.con.execute(f"SELECT {firsts} FROM {view}").fetchone()
        except duckdb.Error:
            return self.structure_error(src, layout)
        assert row is not None
        found = [(rn, i) for i, rn in enumerate(row) if rn is not None]
        if not found:
            return None
        rn, i = min(found)
        _, name, problem = checks[i]
        return LoadError(f"{src.display} data row {rn}, field {bare(name)}: {problem}")

    def rows_with_value(
        self, src: SourceFile, layout: Layout, *, field: str, value: Any, limit: int = 2
    ) -> list[int]:
        """Data rows (first ``limit``) whose ``field`` equals ``value`` once parsed."""
        spec = schema.table(src.table).field(field)
        view = self._view(src, layout)
        expr = (
            field if spec.kind == "varchar" else f"TRY_CAST({field} AS {spec.sql_type('duckdb')})"
        )
        rows = self.con.execute(
            f"SELECT _rn FROM {view} WHERE {expr} = ? ORDER BY _rn LIMIT {int(limit)}", [value]
        ).fetchall()
        return [int(r[0]) for r in rows]

    def structure_error(self, src: SourceFile, layout: Layout) -> LoadError:
        """Why a CSV file cannot be read even as text: a row with the wrong field count, bad UTF-8."""
        if src.format == "parquet":
            return LoadError(f"{src.display}: not a readable Parquet file")
        width = len(layout.columns)
        n = 0
        try:
            # Undecodable bytes become U+FFFD, so the row (a record, not a line) can be counted.
            with src.path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
                if layout.quoted:
                    reader = csv.reader(fh, delimiter=layout.delimiter, strict=True)
                else:
                    reader = csv.reader(fh, delimiter=layout.delimiter, quoting=csv.QUOTE_NONE)
                next(reader, None)
                for n, fields in enumerate(reader, start=1):
                    if fields and len(fields) != width:
                        return LoadError(
                            f"{src.display} data row {n}: {len(fields)} fields, "
                            f"the header has {width}"
                        )
                    for name, value in zip(layout.columns, fields, strict=False):
                        if "\ufffd" in value:
                            return LoadError(
                                f"{src.display} data row {n}, field {bare(name)}: not UTF-8 text"
                            )
        except csv.Error:
            return LoadError(f"{src.display} data row {n + 1}: malformed CSV (quoting)")
        return LoadError(f"{src.display}: could not be parsed as CSV")

    def parse_failure(self, src: SourceFile, layout: Layout, exc: duckdb.Error) -> LoadError:
        """The precise error for a file whose fast-path read failed with ``exc``."""
        found = self.first_bad_value(src, layout)
        if found is not None:
            return found
        # DuckDB's own message quotes the value, so only its line number is kept.
        line = re.search(r"on Line: (\d+)", str(exc))
        where = f" line {line.group(1)}" if line else ""
        return LoadError(
            f"{src.display}{where}: could not be read with the spec's column types",
            detail=type(exc).__name__,
        )


__all__ = ["Diagnoser"]
