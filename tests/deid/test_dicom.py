"""DICOM de-identification on the files bundled with pydicom: nothing identifying survives.

Expected values come from plain pydicom walks of the ORIGINAL files, a
hand-written HMAC for the replacement UIDs, and the date-shift function of the
keys module; never from the output of the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from medhaven.deid.dateshift import date_shift_days
from medhaven.deid.dicom import DeidContext
from medhaven.deid.dicom_files import deidentify_directory
from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import pseudonymize

BUNDLED = [
    "CT_small.dcm",
    "MR_small.dcm",
    "waveform_ecg.dcm",
    "examples_overlay.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
    "test-SR.dcm",
    "reportsi.dcm",
    "examples_palette.dcm",
    "liver_1frame.dcm",
    "JPEG2000.dcm",
]
# Attributes whose original values must not appear anywhere in the output.
IDENTIFYING = {
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy",
    "VerifyingObserverName",
    "PersonName",
    "AccessionNumber",
    "StationName",
    "DeviceSerialNumber",
}
# Kept by Table E.1-1 (not listed): MR_small's manufacturer "TOSHIBA_MEC" contains its
# institution name "TOSHIBA", which is not a leak of the institution.
KEPT_BY_PROFILE = {"Manufacturer", "ManufacturerModelName"}
# UIDs in these roles name a class, a transfer syntax or a coding scheme, never an instance.
ROLE_UID_SUFFIXES = ("ClassUID", "SyntaxUID", "SchemeUID")
UID_PATTERN = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")
KEY = SiteKey(bytes(range(32)))


def _walk(ds: Dataset) -> Iterator[pydicom.DataElement]:
    yield from ds.iterall()


def _expected_uid(uid: str) -> str:
    mac = hmac.new(KEY.uid_key, b"medhaven/dicom-uid\x00" + uid.encode(), hashlib.sha256)
    return "2.25." + str(int.from_bytes(mac.digest()[:16], "big"))


def _patient_ident(ds: Dataset) -> str:
    return str(ds.get("PatientID", "") or "").strip() or str(ds.StudyInstanceUID)


def _shift(value: str, days: int) -> str:
    d = dt.date(int(value[:4]), int(value[4:6]), int(value[6:8])) + dt.timedelta(days=days)
    return d.strftime("%Y%m%d")


def _referencing_copy(source: Path, target: Path) -> None:
    """A second CT of the same series that references the first one by SOP Instance UID."""
    ds = pydicom.dcmread(source)
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence = Sequence([ref])
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".99"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # A nested private element and a nested name: both must go.
    item = Dataset()
    item.add_new(0x00091010, "LO", "ACME 1.0")
    item.add_new(0x00091001, "LO", "secret private value")
    item.PersonName = "Nested^Person"
    ds.AcquisitionContextSequence = Sequence([item])
    ds.OperatorsName = "Operator^Olga"
    ds.InstitutionName = "Hospital Of Example Town"
    ds.save_as(target)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("dicom")
    src = base / "in"
    (src / "sub").mkdir(parents=True)
    for i, name in enumerate(BUNDLED):
        path = get_testdata_file(name, download=False)
        assert path is not None, name
        shutil.copy(path, (src / "sub" if i % 2 else src) / name)
    _referencing_copy(src / "CT_small.dcm", src / "CT_ref.dcm")
    out = base / "out"
    deidentify_directory(source=src, output=out, ctx=DeidContext.create(KEY))
    return src, out


def _pairs(src: Path, out: Path) -> Iterator[tuple[Dataset, Dataset]]:
    for path in sorted(src.rglob("*.dcm")):
        orig = pydicom.dcmread(path)
        new_uid = _expected_uid(str(orig.SOPInstanceUID))
        hits = list(out.rglob(f"{new_uid}.dcm"))
        assert len(hits) == 1, path.name
        yield orig, pydicom.dcmread(hits[0])


def test_every_input_is_written_once_under_its_new_uids(run: tuple[Path, Path]) -> None:
    src, out = run
    assert len(list(out.rglob("*.dcm"))) == len(BUNDLED) + 1
    for orig, new in _pairs(src, out):
        assert new.StudyInstanceUID == _expected_uid(str(orig.StudyInstanceUID))
        assert new.SeriesInstanceUID == _expected_uid(str(orig.SeriesInstanceUID))
    report = json.loads((out / "report.json").read_text())
    assert report["written"] == len(BUNDLED) + 1
    assert report["failed"] == 0
    assert report["held"] == 0


def test_no_identifying_value_survives_anywhere(run: tuple[Path, Path]) -> None:
    src, out = run
    for orig, new in _pairs(src, out):
        secrets_ = {
            str(e.value).strip()
            for e in _walk(orig)
            if (e.keyword in IDENTIFYING or e.VR == "PN") and e.value not in (None, "")
        }
        secrets_ = {s for s in secrets_ if len(s) >= 3}
        public_text = " ".join(str(e.value) for e in _walk(orig) if not e.tag.is_private)
        private_values = {  # a private value also found in a public element is not a leak
            str(e.value)
            for e in _walk(orig)
            if e.tag.is_private and isinstance(e.value, str) and str(e.value) not in public_text
        }
        for elem in _walk(new):
            assert not elem.tag.is_private, f"{orig.SOPInstanceUID}: private {elem.tag}"
            assert not (0x6000 <= elem.tag.group <= 0x601E), "overlay plane kept"
            if elem.VR in ("SQ", "OB", "OW", "UN") or elem.tag == 0x7FE00010:
                continue
            if elem.keyword in KEPT_BY_PROFILE:
                continue
            text = str(elem.value)
            for s in secrets_ | {p for p in private_values if len(p) >= 4}:
                assert s not in text, f"{elem.keyword or elem.tag} keeps an original value"


def test_no_original_uid_survives_and_new_ones_are_valid(run: tuple[Path, Path]) -> None:
    src, out = run
    for orig, new in _pairs(src, out):
        originals = {
            str(v)
            for e in _walk(orig)
            if e.VR == "UI" and e.value and not e.keyword.endswith(ROLE_UID_SUFFIXES)
            for v in (
                e.value if isinstance(e.value, list | pydicom.multival.MultiValue) else [e.value]
            )
            if not str(v).startswith("1.2.840.10008.") and len(str(v)) > 3  # "0" is no identity
        }
        for e in _walk(new):
            if e.VR != "UI" or not e.value:
                continue
            values = e.value if isinstance(e.value, pydicom.multival.MultiValue) else [e.value]
            for v in map(str, values):
                assert v not in originals, f"{e.keyword} keeps its original UID"
                assert len(v) <= 64 and UID_PATTERN.match(v), e.keyword


def test_dates_move_by_exactly_the_patients_offset(run: tuple[Path, Path]) -> None:
    src, out = run
    checked = 0
    for orig, new in _pairs(src, out):
        days = date_shift_days(_patient_ident(orig), KEY.date_shift_key)
        want = sorted(
            _shift(str(e.value), days)
            for e in _walk(orig)
            if e.VR == "DA"
            and e.value
            and e.keyword != "PatientBirthDate"
            and not e.tag.is_private  # private attributes are removed
        )
        got = sorted(str(e.value) for e in _walk(new) if e.VR == "DA" and e.value)
        assert got == want, orig.SOPClassUID
        for kw in ("StudyTime", "SeriesTime", "ContentTime"):
            if orig.get(kw):
                assert new.get(kw) == orig.get(kw)  # whole-day shifts keep the time of day
        checked += len(want)
        assert not new.get("PatientBirthDate")
    assert checked >= 20


def test_identity_attributes_and_method_codes(run: tuple[Path, Path]) -> None:
    src, out = run
    for orig, new in _pairs(src, out):
        pid = _patient_ident(orig)
        ns = "mrn" if str(orig.get("PatientID", "") or "").strip() else "dicom/study"
        assert new.PatientID == pseudonymize(pid, KEY.pseudonym_key, namespace=ns)
        assert str(new.PatientName) == new.PatientID
        assert new.PatientIdentityRemoved == "YES"
        assert new.LongitudinalTemporalInformationModified == "MODIFIED"
        codes = {
            (c.CodeValue, c.CodingSchemeDesignator) for c in new.DeidentificationMethodCodeSequence
        }
        assert codes == {("113100", "DCM"), ("113107", "DCM")}
        assert new.DeidentificationMethod


def test_file_meta_and_preamble_are_new_and_consistent(run: tuple[Path, Path]) -> None:
    src, out = run
    for orig, new in _pairs(src, out):
        assert new.preamble == b"\x00" * 128
        assert new.file_meta.MediaStorageSOPInstanceUID == new.SOPInstanceUID
        assert new.file_meta.MediaStorageSOPClassUID == orig.SOPClassUID == new.SOPClassUID
        assert new.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
        if "PixelData" in orig:
            assert new.PixelData == orig.PixelData


def test_references_between_files_still_resolve(run: tuple[Path, Path]) -> None:
    src, out = run
    by_name = {}
    for path in sorted(src.rglob("*.dcm")):
        orig = pydicom.dcmread(path)
        by_name[path.name] = pydicom.dcmread(
            next(out.rglob(f"{_expected_uid(str(orig.SOPInstanceUID))}.dcm"))
        )
    ct, ref = by_name["CT_small.dcm"], by_name["CT_ref.dcm"]
    assert ref.ReferencedImageSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert ref.FrameOfReferenceUID == ct.FrameOfReferenceUID
    assert ref.SeriesInstanceUID == ct.SeriesInstanceUID
    # rtdose names the plan it was computed from: the link survives on both sides.
    dose, plan = by_name["rtdose.dcm"], by_name["rtplan.dcm"]
    orig_dose = pydicom.dcmread(next(src.rglob("rtdose.dcm")))
    orig_plan = pydicom.dcmread(next(src.rglob("rtplan.dcm")))
    linked = (
        orig_dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == orig_plan.SOPInstanceUID
    )
    new_linked = dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID == plan.SOPInstanceUID
    assert linked == new_linked


def test_same_key_same_output_other_key_other_uids(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    shutil.copy(path, src / "a.dcm")
    runs = []
    for i, key in enumerate((KEY, KEY, SiteKey.generate())):
        out = tmp_path / f"out{i}"
        deidentify_directory(source=src, output=out, ctx=DeidContext.create(key))
        runs.append(sorted(p.relative_to(out) for p in out.rglob("*.dcm")))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
