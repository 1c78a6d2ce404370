"""De-identify one DICOM dataset: PS3.15 Basic Profile with the modified-dates option.

Every element is visited, items of nested sequences included, and gets the
action of Table E.1-1 (:mod:`.dicom_profile`). Attributes the table does not
list are kept, with three safety nets that go beyond the table: every
non-standard UID is replaced (so no original instance UID survives, even one
in an attribute newer than the table), every DA and DT value is shifted, and
private attributes are removed unless safe-listed. Overlay planes (60xx) are
removed whole, because the table removes Overlay Data and a plane without
data is invalid; curves (50xx) are removed.

Patient ID and Patient's Name become the keyed pseudonym of the original
Patient ID; every date moves by ``date_shift_days(original Patient ID)``, so
intervals within a patient are preserved. Nothing here logs or raises with
an element value.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from medhaven.deid.dateshift import date_shift_days, shift_date
from medhaven.deid.dicom_profile import Action, ProfileTable, load_profile
from medhaven.deid.dicom_uid import UidMapper, is_standard_uid
from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import pseudonymize
from medhaven.errors import InvalidInput

PATIENT_NAMESPACE = "mrn"
"""Pseudonym namespace of the DICOM Patient ID (the hospital record number)."""

DEID_METHOD = "MedHaven PS3.15 Basic Profile + Retain Long. Modified Dates"
METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)

_DUMMY_TEXT = "ANONYMIZED"
_DUMMY: dict[str, object] = {
    "AE": "ANONYMIZED",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "TM": "000000",
    "UR": "",
}
_BINARY = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_NUMERIC = frozenset({"FL", "FD", "SL", "SS", "SV", "UL", "US", "UV", "AT"})
_TEXT_VALUE = 0x0040A160
_CLASS_UID_SUFFIXES = ("ClassUID", "SyntaxUID", "ClassUIDInFile", "SchemeUID")


@dataclass
class Tally:
    """What was done to a dataset: counts per action code and per kind of change (no values)."""

    actions: Counter[str] = field(default_factory=Counter)

    def add(self, what: str, n: int = 1) -> None:
        """Count ``n`` more of ``what``."""
        self.actions[what] += n


@dataclass(frozen=True)
class DeidContext:
    """The keys and options one run applies to every file."""

    key: SiteKey
    uids: UidMapper
    profile: ProfileTable
    safe_private: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def create(cls, key: SiteKey, *, safe_private: Iterable[tuple[str, int]] = ()) -> DeidContext:
        """A context for ``key``; ``safe_private`` lists (private creator, element byte) to keep."""
        return cls(key, UidMapper(key.uid_key), load_profile(), frozenset(safe_private))


def _shift_da(value: str, days: int) -> str | None:
    text = value.strip()
    if len(text) == 10 and text[4] == "." and text[7] == ".":  # ACR-NEMA YYYY.MM.DD
        text = text.replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        d = shift_date(dt.date(int(text[:4]), int(text[4:6]), int(text[6:])), days)
    except (ValueError, InvalidInput):
        return None
    return f"{d.year:04d}{d.month:02d}{d.day:02d}"


def _shift_dt(value: str, days: int) -> str | None:
    text = value.strip()
    # Less than a full date (YYYY or YYYYMM) cannot move by a number of days: emptied.
    head = _shift_da(text[:8], days) if len(text) >= 8 else None
    return None if head is None else head + text[8:]


def _values(elem: DataElement) -> list[str]:
    if elem.value is None or elem.value == "":
        return []
    if isinstance(elem.value, MultiValue | list | tuple):
        return [str(v) for v in elem.value]
    return [str(elem.value)]


def _set_values(elem: DataElement, values: list[str]) -> None:
    elem.value = values[0] if len(values) == 1 else (values or "")


class _Walker:
    """Applies the profile to one dataset tree, counting into a :class:`Tally`."""

    def __init__(self, ctx: DeidContext, days: int, tally: Tally) -> None:
        self.ctx = ctx
        self.days = days
        self.tally = tally

    def dataset(self, ds: Dataset, *, dummy_tree: bool = False) -> None:
        creators = self._safe_creators(ds)
        for tag in list(ds.keys()):
            elem = ds[tag]
            group = tag.group
            if group % 2 == 1:
                if self._private_is_safe(tag, creators):
                    self.tally.add("K")
                    continue
                del ds[tag]
                self.tally.add("X")
                self.tally.add("private_removed")
                continue
            if 0x6000 <= group <= 0x601E and group % 2 == 0:
                del ds[tag]  # the whole overlay plane (see module doc)
                self.tally.add("X")
                continue
            rule = self.ctx.profile.rule_for(int(tag))
            action = rule.action if rule is not None else None
            if dummy_tree and action is None and (elem.VR == "PN" or int(tag) == _TEXT_VALUE):
                action = "D"
            self.element(ds, elem, action, dummy_tree=dummy_tree)

    def element(
        self, ds: Dataset, elem: DataElement, action: Action | None, *, dummy_tree: bool = False
    ) -> None:
        vr = elem.VR
        if action == "X":
            del ds[elem.tag]
            self.tally.add("X")
        elif action == "Z":
            elem.value = (
                Sequence() if vr == "SQ" else ("" if vr not in _NUMERIC | _BINARY else None)
            )
            self.tally.add("Z")
        elif vr == "SQ":
            # K, D, U, C or unlisted: keep the sequence, process every item with the table.
            # Items of a D sequence (Content Sequence) lose their free text and names too.
            for item in elem.value:
                self.dataset(item, dummy_tree=dummy_tree or action == "D")
            self.tally.add(action or "K")
        elif vr == "UI":
            self.uid(elem, action)
        elif vr in ("DA", "DT"):
            self.date(elem)
        elif action == "D":
            elem.value = self._dummy(vr)
            self.tally.add("D")
        else:
            # C on TM and other non-date VRs: a whole-day shift leaves a time of day as it is.
            self.tally.add(action or "K")

    def uid(self, elem: DataElement, action: Action | None) -> None:
        keyword = elem.keyword or ""
        values = _values(elem)
        if action is None and (
            keyword.endswith(_CLASS_UID_SUFFIXES) or all(is_standard_uid(v) for v in values)
        ):
            self.tally.add("K")
            return
        _set_values(elem, [v if is_standard_uid(v) else self.ctx.uids(v) for v in values])
        self.tally.add("U")

    def date(self, elem: DataElement) -> None:
        shift = _shift_da if elem.VR == "DA" else _shift_dt
        shifted = [shift(v, self.days) for v in _values(elem)]
        if any(s is None for s in shifted):
            elem.value = ""  # an unparseable date cannot be shifted: emptied, never kept
            self.tally.add("Z")
            return
        _set_values(elem, [s for s in shifted if s is not None])
        self.tally.add("C")

    @staticmethod
    def _dummy(vr: str) -> object:
        if vr in _NUMERIC:
            return 0
        if vr in _BINARY:
            return b"\x00\x00"
        return _DUMMY.get(vr, _DUMMY_TEXT)

    def _safe_creators(self, ds: Dataset) -> dict[tuple[int, int], str]:
        if not self.ctx.safe_private:
            return {}
        out: dict[tuple[int, int], str] = {}
        for tag in ds.keys():  # noqa: SIM118 (iterating a Dataset yields elements)
            if tag.group % 2 == 1 and 0x10 <= tag.element <= 0xFF:
                out[(tag.group, tag.element)] = str(ds[tag].value).strip()
        return out

    def _private_is_safe(self, tag: int, creators: dict[tuple[int, int], str]) -> bool:
        if not creators:
            return False
        group, element = tag >> 16, tag & 0xFFFF
        if 0x10 <= element <= 0xFF:  # a creator is kept when one of its elements is
            creator = creators.get((group, element), "")
            return any(c == creator for c, _ in self.ctx.safe_private)
        creator = creators.get((group, element >> 8), "")
        return (creator, element & 0xFF) in self.ctx.safe_private


def patient_key(ds: Dataset) -> tuple[str, str]:
    """The identifier the pseudonym and date shift derive from, and the namespace it lives in.

    Files without a Patient ID fall back to their Study Instance UID: intervals
    within the study are preserved, linking across studies is not possible.
    """
    pid = str(ds.get("PatientID", "") or "").strip()
    if pid:
        return pid, PATIENT_NAMESPACE
    study = str(ds.get("StudyInstanceUID", "") or "").strip("\x00 ")
    if study:
        return study, "dicom/study"
    raise InvalidInput("has neither a Patient ID nor a Study Instance UID")


def deidentify_dataset(ds: Dataset, ctx: DeidContext) -> Tally:
    """De-identify ``ds`` in place (file meta is not touched) and say what was done."""
    ident, namespace = patient_key(ds)
    days = date_shift_days(ident, ctx.key.date_shift_key)
    pseudonym = pseudonymize(ident, ctx.key.pseudonym_key, namespace=namespace)
    tally = Tally()
    _Walker(ctx, days, tally).dataset(ds)
    ds.PatientID = pseudonym
    ds.PatientName = pseudonym
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEID_METHOD
    codes = []
    for value, meaning in METHOD_CODES:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(codes)
    ds.LongitudinalTemporalInformationModified = "MODIFIED"
    return tally


__all__ = [
    "DEID_METHOD",
    "METHOD_CODES",
    "PATIENT_NAMESPACE",
    "DeidContext",
    "Tally",
    "deidentify_dataset",
    "patient_key",
]
