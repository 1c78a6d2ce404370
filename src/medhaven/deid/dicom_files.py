"""De-identify a directory of DICOM files: read and validate, de-identify, write aside, rename.

The output tree is built in a hidden sibling directory and renamed into place
only when every file has been handled, so a failed run leaves nothing behind.
Files are written as ``<new Study UID>/<new Series UID>/<new SOP Instance
UID>.dcm`` (input file names can carry identifiers and are not reused), with a
fresh 128-byte preamble and new file meta. Images whose Burned In Annotation
is YES are held back: listed in ``held/held.json``, never copied. The run
report (``report.json``) holds counts and relative input paths, never a value.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from medhaven.deid.dicom import DeidContext, deidentify_dataset
from medhaven.errors import InvalidInput, MedHavenError

REPORT_NAME = "report.json"
HELD_DIR = "held"
_UNDEFINED = 0xFFFFFFFF


class DicomFileError(InvalidInput):
    """One input file is not a readable DICOM instance (the message names the file only)."""


@dataclass
class RunReport:
    """Counts of one run; file names are relative to the input directory."""

    files_seen: int = 0
    written: int = 0
    held: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no element value can appear in it)."""
        return {
            "files_seen": self.files_seen,
            "written": self.written,
            "held": len(self.held),
            "held_files": self.held,
            "failed": len(self.failed),
            "failed_files": self.failed,
            "duplicates": self.duplicates,
            "actions": dict(sorted(self.actions.items())),
            "seconds": round(self.seconds, 3),
        }


def list_inputs(root: Path) -> list[Path]:
    """Every regular file under ``root`` (hidden files and DICOMDIR index files skipped), sorted."""
    if not root.is_dir():
        raise InvalidInput(f"input directory {root} does not exist")
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.upper() == "DICOMDIR":
                continue
            out.append(Path(dirpath) / name)
    return out


def read_instance(path: Path, *, shown: str) -> Dataset:
    """Read and fully parse one DICOM file, refusing anything that is not a whole instance."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, force=False)
        except InvalidDicomError:
            raise DicomFileError(f"{shown}: not a DICOM file (no DICM preamble)") from None
        except Exception as exc:  # pydicom raises many types on damaged input
            raise DicomFileError(f"{shown}: cannot be parsed ({type(exc).__name__})") from None
        for raw in ds._dict.values():
            # pydicom keeps a short read silently: a value shorter than its length is truncation.
            if (
                isinstance(raw, RawDataElement)
                and isinstance(raw.value, bytes)
                and raw.length != _UNDEFINED
                and len(raw.value) != raw.length
            ):
                raise DicomFileError(f"{shown}: truncated (element {raw.tag} is cut short)")
        try:
            for _ in ds.iterall():  # converts every value, nested ones included
                pass
        except Exception as exc:
            raise DicomFileError(f"{shown}: cannot be parsed ({type(exc).__name__})") from None
    if any("end of file" in str(w.message).lower() or "EOF" in str(w.message) for w in caught):
        raise DicomFileError(f"{shown}: truncated (unexpected end of file)")
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not str(ds.get(keyword, "") or "").strip("\x00 "):
            raise DicomFileError(f"{shown}: has no {keyword}, so it is not a storable instance")
    return ds


def _transfer_syntax(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return str(ts)
    implicit, little = ds.original_encoding
    if implicit:
        return str(ImplicitVRLittleEndian)
    return str(ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _new_meta(ds: Dataset, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "MEDHAVEN_DEID"
    return meta


def _write(ds: Dataset, staging: Path) -> bool:
    rel = Path(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), f"{ds.SOPInstanceUID}.dcm")
    target = staging / rel
    duplicate = target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.preamble = b"\x00" * 128
    ds.save_as(target, enforce_file_format=True)
    return duplicate


@contextlib.contextmanager
def _quiet_pydicom() -> Iterator[None]:
    # pydicom's own warnings quote element values ("Invalid value for VR UI: '1.2...'"):
    # with patient data they must reach neither the log nor the terminal.
    logger = logging.getLogger("pydicom")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


def _burned_in(ds: Dataset) -> bool:
    return str(ds.get("BurnedInAnnotation", "") or "").strip().upper() == "YES"


def _prepare_output(output: Path) -> Path:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InvalidInput(f"output {output} already exists and is not an empty directory")
    if not output.parent.is_dir():
        raise InvalidInput(f"directory {output.parent} does not exist")
    staging = output.parent / f".{output.name}.{secrets.token_hex(6)}.tmp"
    staging.mkdir()
    return staging


def _one_file(
    path: Path, *, shown: str, staging: Path, ctx: DeidContext, report: RunReport
) -> None:
    ds = read_instance(path, shown=shown)
    if _burned_in(ds):
        report.held.append(shown)
        return
    ts = _transfer_syntax(ds)
    try:
        tally = deidentify_dataset(ds, ctx)
    except MedHavenError as exc:
        raise DicomFileError(f"{shown}: {exc.message}") from None
    ds.file_meta = _new_meta(ds, ts)
    duplicate = _write(ds, staging)
    report.actions.update(tally.actions)
    report.duplicates += duplicate
    report.written += 0 if duplicate else 1


def _finish(staging: Path, output: Path, report: RunReport) -> None:
    if report.held:
        (staging / HELD_DIR).mkdir()
        held = {
            "reason": "Burned In Annotation is YES: review before release",
            "files": report.held,
        }
        (staging / HELD_DIR / "held.json").write_text(json.dumps(held, indent=2) + "\n")
    (staging / REPORT_NAME).write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    if output.exists():
        output.rmdir()  # empty, checked before the run
    os.replace(staging, output)


def deidentify_directory(
    *,
    source: Path,
    output: Path,
    ctx: DeidContext,
    skip_invalid: bool = False,
    on_file: Callable[[], None] | None = None,
    files: Iterable[Path] | None = None,
) -> RunReport:
    """De-identify every DICOM file under ``source`` into the new directory ``output``.

    A file that is not a readable DICOM instance stops the run with a one-line
    error naming it and nothing is written, unless ``skip_invalid`` is set: then
    it is listed under ``failed`` in the report and the run goes on.
    """
    started = time.perf_counter()
    inputs = list(files) if files is not None else list_inputs(source)
    staging = _prepare_output(output)
    report = RunReport()
    try:
        with _quiet_pydicom():
            for path in inputs:
                shown = str(path.relative_to(source)) if path.is_relative_to(source) else path.name
                report.files_seen += 1
                try:
                    _one_file(path, shown=shown, staging=staging, ctx=ctx, report=report)
                except DicomFileError as exc:
                    if not skip_invalid:
                        raise
                    reason = exc.message.split(": ", 1)[-1]
                    report.failed.append({"file": shown, "reason": reason})
                if on_file is not None:
                    on_file()
        report.seconds = time.perf_counter() - started
        _finish(staging, output, report)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise
    return report


__all__ = [
    "HELD_DIR",
    "REPORT_NAME",
    "DicomFileError",
    "RunReport",
    "deidentify_directory",
    "list_inputs",
    "read_instance",
]
