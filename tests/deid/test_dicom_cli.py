"""``medhaven deid dicom`` end to end, bad input, held images and the Table E.1-1 data file."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from medhaven.deid.dicom import DeidContext
from medhaven.deid.dicom_files import DicomFileError, deidentify_directory
from medhaven.deid.dicom_profile import load_profile
from medhaven.deid.keys import SiteKey


def _bundled(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None, name
    return Path(path)


def _medhaven(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from medhaven.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return SiteKey.generate().write(tmp_path / "site.key")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(_bundled(name), d / name)
    return d


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_table_has_the_standards_codes_for_well_known_attributes() -> None:
    table = load_profile()
    expected = {
        0x00100010: ("Z", ""),  # Patient's Name
        0x00100020: ("Z", ""),  # Patient ID
        0x00100030: ("Z", ""),  # Patient's Birth Date
        0x0020000D: ("U", ""),  # Study Instance UID
        0x0020000E: ("U", ""),  # Series Instance UID
        0x00080018: ("U", ""),  # SOP Instance UID
        0x00081155: ("U", ""),  # Referenced SOP Instance UID
        0x00200052: ("U", ""),  # Frame of Reference UID
        0x00080080: ("X/Z/D", ""),  # Institution Name
        0x00080081: ("X", ""),  # Institution Address
        0x00080090: ("Z", ""),  # Referring Physician's Name
        0x00081050: ("X", ""),  # Performing Physician's Name
        0x00081070: ("X/Z/D", ""),  # Operators' Name
        0x00080050: ("Z", ""),  # Accession Number
        0x00080020: ("Z", "C"),  # Study Date
        0x00080021: ("X/D", "C"),  # Series Date
        0x00080030: ("Z", "C"),  # Study Time
        0x00101010: ("X", ""),  # Patient's Age
        0x00101040: ("X", ""),  # Patient's Address
        0x0040A730: ("D", ""),  # Content Sequence
        0x00081140: ("X/Z/U*", ""),  # Referenced Image Sequence
    }
    for tag, (basic, dates) in expected.items():
        rule = table.rule_for(tag)
        assert rule is not None, hex(tag)
        assert (rule.basic, rule.modified_dates) == (basic, dates), rule.name
    assert table.rule_for(0x50001000) is not None and table.curve_rule.basic == "X"
    assert table.rule_for(0x60023000) is not None
    assert table.private_rule.basic == "X"
    assert len(table.rules) >= 450
    assert len({r.tag for r in table.rules}) == len(table.rules)  # no duplicate rows


def test_cli_writes_json_report_and_files(src: Path, key_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _medhaven(
        "deid",
        "dicom",
        "--input",
        str(src),
        "--output",
        str(out),
        "--key-file",
        str(key_file),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["written"] == 2 and report["failed"] == 0 and report["held"] == 0
    assert report["actions"]["U"] > 0 and report["actions"]["C"] > 0
    assert json.loads((out / "report.json").read_text())["written"] == 2
    files = list(out.rglob("*.dcm"))
    assert len(files) == 2
    for f in files:
        ds = pydicom.dcmread(f)
        assert f.stem == ds.SOPInstanceUID
    # Nothing the originals identified a patient with is in the report.
    for name in ("CT_small.dcm", "MR_small.dcm"):
        orig = pydicom.dcmread(src / name)
        assert str(orig.PatientID) not in res.stdout
        assert str(orig.StudyInstanceUID) not in res.stdout


def test_not_a_dicom_file_stops_the_run_and_writes_nothing(
    src: Path, key_file: Path, tmp_path: Path
) -> None:
    (src / "notes.txt").write_text("this is not DICOM\n")
    out = tmp_path / "out"
    res = _medhaven(
        "deid", "dicom", "--input", str(src), "--output", str(out), "--key-file", str(key_file)
    )
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == ["error: notes.txt: not a DICOM file (no DICM preamble)"]
    assert not out.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_truncated_file_is_refused_by_name(src: Path, tmp_path: Path, name: str) -> None:
    shutil.copy(_bundled(name), src / name)
    out = tmp_path / "out"
    with pytest.raises(DicomFileError, match=rf"^{name}: truncated"):
        deidentify_directory(source=src, output=out, ctx=DeidContext.create(SiteKey.generate()))
    assert not out.exists()
    assert _leftovers(tmp_path) == []


def test_skip_invalid_lists_the_file_and_goes_on(src: Path, key_file: Path, tmp_path: Path) -> None:
    shutil.copy(_bundled("MR_truncated.dcm"), src / "cut.dcm")
    out = tmp_path / "out"
    res = _medhaven(
        "deid", "dicom", "--input", str(src), "--output", str(out),
        "--key-file", str(key_file), "--skip-invalid", "--json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["written"] == 2
    assert report["failed_files"] == [
        {"file": "cut.dcm", "reason": "truncated (element (7FE0,0010) is cut short)"}
    ]


def test_burned_in_annotation_is_held_not_written(src: Path, tmp_path: Path) -> None:
    ds = pydicom.dcmread(src / "CT_small.dcm")
    ds.BurnedInAnnotation = "YES"
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
    ds.save_as(src / "burned.dcm")
    out = tmp_path / "out"
    report = deidentify_directory(
        source=src, output=out, ctx=DeidContext.create(SiteKey.generate())
    )
    assert report.written == 2 and report.held == ["burned.dcm"]
    held = json.loads((out / "held" / "held.json").read_text())
    assert held["files"] == ["burned.dcm"]
    written = [pydicom.dcmread(f) for f in out.rglob("*.dcm")]
    assert all(d.get("BurnedInAnnotation") != "YES" for d in written)
    assert len(written) == 2


def test_existing_output_is_refused(src: Path, key_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    res = _medhaven(
        "deid", "dicom", "--input", str(src), "--output", str(out), "--key-file", str(key_file)
    )
    assert res.returncode == 2
    assert "already exists" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_pydicom_warnings_with_values_are_not_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(_bundled("badVR.dcm"), src / "bad.dcm")  # pydicom warns quoting bad values
    caplog.set_level(logging.DEBUG)
    deidentify_directory(
        source=src, output=tmp_path / "out", ctx=DeidContext.create(SiteKey.generate())
    )
    captured = capfd.readouterr()
    assert "Invalid value" not in caplog.text
    assert "Invalid value" not in captured.err + captured.out


def test_safe_listed_private_element_is_kept_and_others_removed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    ds = pydicom.dcmread(_bundled("CT_small.dcm"))
    for tag in [t for t in ds.keys() if t.group % 2 == 1]:  # noqa: SIM118
        del ds[tag]
    ds.add_new(0x00290010, "LO", "SAFE VENDOR")
    ds.add_new(0x00291001, "DS", "1.5")
    ds.add_new(0x00291002, "LO", "private note")
    ds.save_as(src / "a.dcm")
    out = tmp_path / "out"
    ctx = DeidContext.create(SiteKey.generate(), safe_private={("SAFE VENDOR", 0x01)})
    deidentify_directory(source=src, output=out, ctx=ctx)
    new = pydicom.dcmread(next(out.rglob("*.dcm")))
    private = {int(t): new[t].value for t in new.keys() if t.group % 2 == 1}  # noqa: SIM118
    assert set(private) == {0x00290010, 0x00291001}
