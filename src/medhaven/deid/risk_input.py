"""Reading a table for the risk measure: CSV (UTF-8) or Parquet, only the declared columns.

CSV columns are read as text, exactly as written, so ``"01234"`` stays a
postcode with its leading zero and equivalence classes follow the written
values. Every failure is one line naming the file (and the line or column).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medhaven.errors import InvalidInput


def _first_bad_utf8_line(path: Path) -> int | None:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _missing(path: Path, available: Sequence[str], wanted: Sequence[str]) -> None:
    for name in wanted:
        if name not in available:
            known = ", ".join(list(available)[:20])
            raise InvalidInput(f"{path}: no column {name!r} (columns: {known})")


def _read_csv(path: Path, columns: Sequence[str]) -> pa.Table:
    with path.open("rb") as fh:
        head = fh.read(65536)
    try:
        header = head.split(b"\n", 1)[0].decode("utf-8").lstrip("\ufeff").rstrip("\r")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: line 1 is not valid UTF-8 (save the file as UTF-8)") from None
    names_all = next(csv.reader([header]), [])
    _missing(path, names_all, columns)
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=list(columns),
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
            line = _first_bad_utf8_line(path)
            where = f"line {line}" if line else "a line"
            raise InvalidInput(
                f"{path}: {where} is not valid UTF-8 (save the file as UTF-8)"
            ) from None
        # Arrow's message quotes the offending row's text, so it is neither shown nor logged.
        raise InvalidInput(
            f"{path}: not a well-formed CSV file (check quoting and the number of fields per line)"
        ) from None
    return table


def read_table(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """The declared ``columns`` of a CSV or Parquet file as a DataFrame (one-line errors)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InvalidInput(f"{p}: the file is empty")
    if not columns:
        raise InvalidInput("at least one quasi-identifier column must be declared")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            schema = pq.read_schema(p)
        except (pa.ArrowInvalid, OSError):
            raise InvalidInput(f"{p}: not a readable Parquet file") from None
        _missing(p, schema.names, columns)
        table = pq.read_table(p, columns=list(columns))
    elif suffix in (".csv", ".txt") or suffix == "":
        table = _read_csv(p, columns)
    else:
        raise InvalidInput(f"{p}: unsupported file type {suffix!r} (use .csv or .parquet)")
    if table.num_rows == 0:
        raise InvalidInput(f"{p}: has no data rows")
    frame: pd.DataFrame = table.to_pandas()
    return frame


__all__ = ["read_table"]
