"""Read one extract CSV as text columns, with one-line errors that name file, row and column."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from medhaven.errors import InvalidInput

ROW = "__medhaven_row"
"""The 1-based data-row number added to every table read (for error messages)."""


def _header(path: Path) -> list[str]:
    try:
        with path.open("rb") as fh:
            first = fh.readline()
    except OSError as exc:
        raise InvalidInput(f"{path.name}: cannot be read ({exc.strerror})") from None
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path.name}: the header row is not valid UTF-8") from None
    names = next(csv.reader([line]), [])
    names = [n.strip() for n in names]
    if not names or names == [""]:
        raise InvalidInput(f"{path.name}: no header row")
    seen: set[str] = set()
    for n in names:
        if not n:
            raise InvalidInput(f"{path.name}: the header has an empty column name")
        if n in seen:
            raise InvalidInput(f"{path.name}: column {n} appears twice in the header")
        if n == ROW:
            raise InvalidInput(f"{path.name}: column name {n} is reserved")
        seen.add(n)
    return names


def _bad_utf8_row(path: Path) -> int:
    """The 1-based data row holding the first invalid UTF-8 byte (0 if none is found)."""
    with path.open("rb") as fh:
        fh.readline()
        for n, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return 0


def read_extract_csv(path: Path) -> pa.Table:
    """All columns of ``path`` as strings (empty cells null), plus the row-number column."""
    names = _header(path)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        text = str(exc)
        if "UTF8" in text or "utf8" in text.lower():
            row = _bad_utf8_row(path)
            where = f" (data row {row})" if row else ""
            raise InvalidInput(f"{path.name}: not valid UTF-8{where}") from None
        if "Expected" in text and "columns" in text:
            raise InvalidInput(
                f"{path.name}: a row has a different number of fields than the header"
            ) from None
        raise InvalidInput(f"{path.name}: not a readable CSV file") from None
    if table.column_names != names:  # utf-8-sig BOM or padded names
        table = table.rename_columns(names)
    rows = pa.array(range(1, table.num_rows + 1), type=pa.int64())
    return table.append_column(ROW, rows)


__all__ = ["ROW", "read_extract_csv"]
