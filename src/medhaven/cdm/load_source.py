"""Find the CDM table files in a load source: a folder or a zip, CSV or Parquet, any name case.

A source file's table is its name without the extension, in any case
(``PERSON.csv``, ``person.csv``, ``Person.parquet``). macOS archive junk
(``__MACOSX/`` folders, ``._*`` resource forks, ``.DS_Store``) is skipped, and
so are files that are not data files (a ``README`` or ``LICENSE``). A zip is
extracted to a private temporary folder first, checking every member's CRC,
so a truncated or corrupt archive fails before anything is read.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from medhaven.cdm import schema
from medhaven.errors import LoadError

#: File extensions read as data, by format.
FORMATS = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
#: Extensions that could be CDM data but that the loader does not read.
_UNSUPPORTED = {".gz", ".xlsx", ".json", ".zip"}


@dataclass(frozen=True)
class SourceFile:
    """One table file of a source: the CDM table, where it is on disk, how to name it in errors."""

    table: str
    path: Path
    display: str
    format: str


def _is_junk(parts: tuple[str, ...]) -> bool:
    """macOS archive junk and hidden files, which are never data."""
    name = parts[-1]
    return "__MACOSX" in parts or name.startswith(("._", ".")) or name == "Thumbs.db"


def _classify(rel: tuple[str, ...]) -> tuple[str, str] | None:
    """``(table, format)`` for a data file, ``None`` for a file to skip; raise on an unknown table."""
    if _is_junk(rel):
        return None
    name = rel[-1]
    suffix = PurePosixPath(name).suffix.lower()
    fmt = FORMATS.get(suffix)
    display = "/".join(rel)
    if fmt is None:
        if suffix in _UNSUPPORTED:
            raise LoadError(f"{display}: unsupported file type {suffix!r} (use CSV or Parquet)")
        return None
    stem = PurePosixPath(name).stem.lower()
    if stem not in schema.tables():
        raise LoadError(
            f"{display}: unknown table {stem!r}: the file name is not an OMOP CDM "
            f"v{schema.CDM_VERSION} table"
        )
    return stem, fmt


def _collect(root: Path, *, label: str) -> list[SourceFile]:
    """Data files under ``root`` (recursively), one per table, in specification order."""
    found: dict[str, SourceFile] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).parts
        kind = _classify(rel)
        if kind is None:
            continue
        table, fmt = kind
        display = f"{label}{'/'.join(rel)}"
        if table in found:
            raise LoadError(
                f"{display}: a second file for table {table} (first: {found[table].display})"
            )
        if path.stat().st_size == 0:
            raise LoadError(f"{display}: the file is empty (0 bytes; a CSV needs a header line)")
        found[table] = SourceFile(table=table, path=path, display=display, format=fmt)
    order = list(schema.tables())
    return sorted(found.values(), key=lambda s: order.index(s.table))


def _extract(archive: Path, into: Path) -> None:
    """Extract the data members of a zip, checking each member's CRC as it is read."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                parts = PurePosixPath(info.filename).parts
                if any(p in ("..", "") for p in parts) or info.filename.startswith("/"):
                    raise LoadError(f"{archive.name}: member {info.filename!r} has an unsafe path")
                if _classify(parts) is None:
                    continue
                target = into.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                # Reading to the end makes zipfile verify the CRC of the member.
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    except LoadError:
        raise
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise LoadError(
            f"{archive.name}: not a readable zip archive (truncated or corrupt)",
            detail=type(exc).__name__,
        ) from exc
    except OSError as exc:
        raise LoadError(f"{archive.name}: could not be read", detail=type(exc).__name__) from exc


@contextmanager
def source_files(source: Path) -> Iterator[list[SourceFile]]:
    """The table files of a folder or zip, available on disk for the length of the block."""
    if source.is_dir():
        files = _collect(source, label="")
    elif source.is_file() and source.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="medhaven-load-") as tmp:
            _extract(source, Path(tmp))
            files = _collect(Path(tmp), label=f"{source.name}:")
            if not files:
                raise LoadError(f"{source.name}: no CDM table files (CSV or Parquet) in the zip")
            yield files
        return
    elif source.is_file():
        raise LoadError(f"{source}: the source must be a folder or a .zip file")
    else:
        raise LoadError(f"{source}: no such folder or zip file")
    if not files:
        raise LoadError(f"{source}: no CDM table files (CSV or Parquet) in the folder")
    yield files


def source_tables(source: Path) -> list[str]:
    """The CDM tables a source would load, without extracting or reading any file."""
    if source.is_file() and source.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(source) as zf:
                names = [i.filename for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            raise LoadError(
                f"{source.name}: not a readable zip archive (truncated or corrupt)"
            ) from exc
        found = {k[0] for n in names if (k := _classify(PurePosixPath(n).parts)) is not None}
        return [t for t in schema.tables() if t in found]
    with source_files(source) as files:
        return [f.table for f in files]


__all__ = ["FORMATS", "SourceFile", "source_files", "source_tables"]
