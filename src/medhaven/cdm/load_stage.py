"""Parse one source file into a DuckDB table with the spec's types (the loader's fast path).

CSV files are read by DuckDB's ``read_csv`` with every column's type given up
front: dates, timestamps and floats are parsed by the reader; integer columns
are read as text and cast behind a strict pattern check, because DuckDB's own
integer cast silently rounds ``1.5`` and accepts ``1e3`` or ``0x10``, and a
rounded id is a wrong join. Parquet columns are cast the same way. When the
fast path fails, :mod:`medhaven.cdm.load_diagnose` finds the first bad row.

The header is checked here, before any data is read: a column the table does
not define, a repeated column or a missing required column is an error; an
optional column may be absent (it loads as NULL).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import duckdb

from medhaven.cdm import schema
from medhaven.cdm.load_source import SourceFile
from medhaven.errors import LoadError

#: A whole-string integer, optionally signed and padded, as DuckDB's RE2 sees it.
INTEGER_PATTERN = r"\s*[+-]?[0-9]+\s*"


def bare(name: str) -> str:
    """A spec field name without the quotes the spec puts around reserved words."""
    return name.strip('"')


def sql_str(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Layout:
    """How a source file is laid out: its columns (lower case) in file order, and its delimiter."""

    columns: tuple[str, ...]
    delimiter: str = ","
    #: ``strptime`` format of date fields when not ISO (Athena writes ``YYYYMMDD``).
    date_format: str | None = None
    #: DuckDB types of the columns of a Parquet file (empty for CSV).
    source_types: tuple[str, ...] = ()

    def integer_text(self, name: str) -> str:
        """A text expression for an integer field: the column itself for CSV, canonical for Parquet.

        A Parquet float holding a whole number (pandas writes ``1.0`` for an
        int column with gaps) becomes ``'1'``; any other float keeps its
        fraction, so the integer pattern rejects it.
        """
        if not self.source_types:
            return name
        stype = self.source_types[self.columns.index(name)].upper()
        if stype.startswith(("FLOAT", "DOUBLE", "DECIMAL", "REAL")):
            return (
                f"CASE WHEN isfinite({name}) AND {name} = trunc({name}) "
                f"THEN CAST(CAST({name} AS HUGEINT) AS VARCHAR) ELSE CAST({name} AS VARCHAR) END"
            )
        return f"CAST({name} AS VARCHAR)"

    @property
    def quoted(self) -> bool:
        """Whether ``"`` quotes values (not in tab-separated Athena exports, where it is literal)."""
        return self.delimiter != "\t"

    def fields(self, table_name: str) -> list[str]:
        """The file's columns in the table's specification order."""
        present = set(self.columns)
        return [f.name for f in schema.table(table_name).fields if f.name in present]

    def reader(self, src: SourceFile, *, all_varchar: bool) -> str:
        """The DuckDB table function reading ``src`` with this layout."""
        if src.format == "parquet":
            return f"read_parquet({sql_str(str(src.path))})"
        table = schema.table(src.table)
        types = {
            bare(c): "VARCHAR" if all_varchar else _read_type(table.field(c)) for c in self.columns
        }
        struct = "{" + ", ".join(f"{sql_str(c)}: {sql_str(t)}" for c, t in types.items()) + "}"
        quoting = "quote='\"', escape='\"'" if self.quoted else "quote='', escape=''"
        dates = f", dateformat={sql_str(self.date_format)}" if self.date_format else ""
        return (
            f"read_csv({sql_str(str(src.path))}, header=true, auto_detect=false, "
            f"columns={struct}, delim={sql_str(self.delimiter)}, {quoting}{dates}, "
            "strict_mode=true)"
        )


def _read_type(field: schema.Field) -> str:
    """The type the CSV reader parses a field as (integers as text, see the module docstring)."""
    return "VARCHAR" if field.kind == "integer" else field.sql_type("duckdb")


def _check_header(src: SourceFile, names: list[str]) -> tuple[str, ...]:
    """Lower-cased header names, or a :class:`LoadError` naming the offending column."""
    table = schema.table(src.table)
    # The spec quotes reserved words (note_nlp's "offset"); files do not.
    known = {bare(f.name): f.name for f in table.fields}
    seen: list[str] = []
    where = f"{src.display} header" + (" (line 1)" if src.format == "csv" else "")
    for raw in names:
        name = raw.strip().lower()
        if name not in known:
            raise LoadError(
                f"{where}, column {name!r}: not a field of table {table.name} "
                f"in OMOP CDM v{schema.CDM_VERSION}"
            )
        if known[name] in seen:
            raise LoadError(f"{where}, column {name!r}: the column appears twice")
        seen.append(known[name])
    for field in table.fields:
        if field.required and field.name not in seen:
            raise LoadError(f"{where}: required column {bare(field.name)!r} is missing")
    return tuple(seen)


def read_layout(con: duckdb.DuckDBPyConnection, src: SourceFile) -> Layout:
    """Read and check the header of a source file."""
    if src.format == "parquet":
        try:
            rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(src.path))})")
            described = rows.fetchall()
        except duckdb.Error as exc:
            raise LoadError(
                f"{src.display}: not a readable Parquet file", detail=type(exc).__name__
            ) from exc
        columns = _check_header(src, [r[0] for r in described])
        return Layout(columns=columns, source_types=tuple(str(r[1]) for r in described))
    try:
        # Decode only the first line: a bad byte further down is the data's problem, not the header's.
        with src.path.open("rb") as fh:
            first = fh.readline().decode("utf-8-sig")
            second = fh.readline().decode("utf-8", errors="replace")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{src.display} line 1: the header is not UTF-8 text") from exc
    if not first.strip():
        raise LoadError(f"{src.display} line 1: the header line is empty")
    # Athena vocabulary exports are tab-separated; everything else here is comma-separated.
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    columns = _check_header(src, next(csv.reader([first], delimiter=delimiter)))
    return Layout(
        columns=columns, delimiter=delimiter, date_format=_date_format(src, columns, second)
    )


def _date_format(src: SourceFile, columns: tuple[str, ...], line: str) -> str | None:
    """``%Y%m%d`` when the first data row writes its dates as Athena does, else ``None`` (ISO)."""
    cells = line.rstrip("\r\n").split("\t" if "\t" in line else ",")
    table = schema.table(src.table)
    for name, cell in zip(columns, cells, strict=False):
        if table.field(name).kind == "date" and re.fullmatch(r"\d{8}", cell.strip('" ')):
            return "%Y%m%d"
    return None


def guarded_integer(expr: str) -> str:
    """``expr`` (text) cast to BIGINT, raising inside DuckDB unless it is a whole integer."""
    return (
        f"CASE WHEN {expr} IS NULL OR regexp_full_match({expr}, {sql_str(INTEGER_PATTERN)}) "
        f"THEN CAST({expr} AS BIGINT) ELSE error('medhaven: not an integer') END"
    )


def select_sql(src: SourceFile, layout: Layout) -> str:
    """``SELECT`` of the file's fields (:attr:`Layout.fields` order) in the spec's types.

    Absent optional fields are left out rather than selected as NULL: inserting
    only the present columns lets the table default fill the rest, which is
    markedly faster in DuckDB than writing explicit NULL columns.
    """
    table = schema.table(src.table)
    exprs: list[str] = []
    for name in layout.fields(src.table):
        field = table.field(name)
        sql_type = field.sql_type("duckdb")
        if field.kind == "integer":
            exprs.append(f"{guarded_integer(layout.integer_text(name))} AS {field.name}")
        elif src.format == "parquet" or field.kind == "varchar":
            exprs.append(f"CAST({field.name} AS {sql_type}) AS {field.name}")
        else:
            exprs.append(field.name)
    return f"SELECT {', '.join(exprs)} FROM {layout.reader(src, all_varchar=False)}"


__all__ = [
    "INTEGER_PATTERN",
    "Layout",
    "bare",
    "guarded_integer",
    "read_layout",
    "select_sql",
    "sql_str",
]
