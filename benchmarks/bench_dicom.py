"""DICOM de-identification throughput: MedHaven vs pydicom/deid's ``replace_identifiers``.

Both tools de-identify the same copies of pydicom's bundled test files (a few
hundred at scale 1.0) and write them to disk; the figure is files per second
on one core. The baseline runs with its default recipe (``deid.dicom``), which
is a different (smaller) rule set than Table E.1-1 with the modified-dates
option, so the ratio compares cost, not coverage.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from benchmarks.result import Result
from medhaven.deid.dicom import DeidContext
from medhaven.deid.dicom_files import deidentify_directory
from medhaven.deid.keys import SiteKey

_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "waveform_ecg.dcm",
    "examples_overlay.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
    "test-SR.dcm",
    "examples_palette.dcm",
    "liver_1frame.dcm",
    "JPEG2000.dcm",
)


def _corpus(root: Path, copies: int) -> list[Path]:
    import pydicom
    from pydicom.data import get_testdata_file

    out = []
    for name in _FILES:
        path = get_testdata_file(name, download=False)
        if path is None:
            continue
        ds = pydicom.dcmread(path)
        uid = str(ds.SOPInstanceUID)
        for i in range(copies):
            # Distinct instances, as in a real series (otherwise outputs would overwrite).
            ds.SOPInstanceUID = f"{uid}.{i + 1}"
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            target = root / f"{i:04d}_{name}"
            ds.save_as(target)
            out.append(target)
    return out


def _baseline(files: list[Path], out: Path) -> tuple[float, str]:
    try:
        from deid.dicom import replace_identifiers
    except ImportError:
        return 0.0, "deid not installed"
    logging.getLogger("deid").setLevel(logging.ERROR)
    out.mkdir()
    t0 = time.perf_counter()
    replace_identifiers(
        dicom_files=[str(f) for f in files], save=True, output_folder=str(out), overwrite=True
    )
    return time.perf_counter() - t0, "deid default recipe"


def run(scale: float) -> list[Result]:
    """Files per second for MedHaven and for deid on the same copies of the bundled files."""
    copies = max(1, round(30 * scale))
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        src = root / "in"
        src.mkdir()
        files = _corpus(src, copies)
        ctx = DeidContext.create(SiteKey.generate())
        t0 = time.perf_counter()
        report = deidentify_directory(source=src, output=root / "ours", ctx=ctx)
        ours = time.perf_counter() - t0
        base_s, note = _baseline(files, root / "theirs")
    n = len(files)
    return [
        Result(
            "dicom_deid_throughput",
            n / ours,
            "files/s",
            "pydicom/deid replace_identifiers",
            n / base_s if base_s else None,
            ">= baseline files/s",
            f"{n} files ({report.written} written); baseline: {note}; higher is better",
        )
    ]


__all__ = ["run"]
