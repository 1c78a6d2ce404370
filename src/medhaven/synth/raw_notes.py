"""Pick the encounters that get a note and gather what each note may say about them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from medhaven.synth.identity import DoctorName, Identity
from medhaven.synth.notes import Measured, Note, NoteContext
from medhaven.synth.notes_templates import render_note
from medhaven.synth.raw_tables import ConceptIndex, column

KO_SHARE = 0.6
EVENT_TABLES = (
    ("condition_occurrence", "condition"),
    ("drug_exposure", "drug"),
    ("procedure_occurrence", "procedure"),
)


@dataclass(frozen=True)
class VisitFrame:
    """The extract's encounters, row-aligned: CDM visit id, raw id, person, times, class."""

    visit_ids: pa.Array
    encounter_ids: pa.Array
    person_index: npt.NDArray[np.int64]
    start_s: npt.NDArray[np.int64]
    end_s: npt.NDArray[np.int64]
    klass: list[str]
    provider_ids: pa.Array


@dataclass(frozen=True)
class NoteSite:
    """The hospital and clinicians that notes mention."""

    name_ko: str
    name_en: str
    slug: str
    doctors: Sequence[DoctorName]
    provider_doctor: Mapping[int, int]


def _day(seconds: int) -> date:
    return datetime.fromtimestamp(int(seconds), tz=UTC).date()


def _choose(frame: VisitFrame, per_patient: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Up to ``per_patient`` visits per person, preferring admissions and emergencies."""
    n = len(frame.start_s)
    if n == 0 or per_patient <= 0:
        return np.array([], dtype=np.int64)
    acute = np.array([k in ("inpatient", "emergency") for k in frame.klass])
    key = rng.random(n) - acute * 0.5
    order = np.lexsort((key, frame.person_index))
    p = frame.person_index[order]
    starts = np.r_[0, np.flatnonzero(np.diff(p)) + 1]
    sizes = np.diff(np.r_[starts, n])
    rank = np.arange(n) - np.repeat(starts, sizes)
    chosen = order[rank < per_patient]
    out: npt.NDArray[np.int64] = chosen[
        np.lexsort((frame.start_s[chosen], frame.person_index[chosen]))
    ]
    return out


def _previous(frame: VisitFrame) -> npt.NDArray[np.int64]:
    """For each visit, the index of the same person's previous visit (-1 for the first)."""
    n = len(frame.start_s)
    order = np.lexsort((frame.start_s, frame.person_index))
    prev = np.full(n, -1, dtype=np.int64)
    if n > 1:
        same = frame.person_index[order][1:] == frame.person_index[order][:-1]
        prev[order[1:]] = np.where(same, order[:-1], -1)
    return prev


def _content(
    cdm: Mapping[str, pa.Table], visit_ids: pa.Array, concepts: ConceptIndex
) -> dict[str, dict[int, list[str]]]:
    """Concept names per visit for conditions, drugs and procedures of the chosen visits."""
    out: dict[str, dict[int, list[str]]] = {}
    for table_name, prefix in EVENT_TABLES:
        per: dict[int, list[str]] = {}
        table = cdm.get(table_name)
        if table is not None and table.num_rows:
            vid = pc.cast(column(table, "visit_occurrence_id"), pa.int64())
            sub = table.filter(pc.fill_null(pc.is_in(vid, value_set=visit_ids), False))
            _, names = concepts.code_and_name(
                sub,
                concept=f"{prefix}_concept_id",
                source_concept=f"{prefix}_source_concept_id",
                source_value=f"{prefix}_source_value",
            )
            for v, name in zip(
                column(sub, "visit_occurrence_id").to_pylist(), names.to_pylist(), strict=True
            ):
                lst = per.setdefault(int(v), [])
                if name and name not in lst:
                    lst.append(name)
        out[prefix] = per
    return out


def _measurements(
    cdm: Mapping[str, pa.Table], visit_ids: pa.Array, concepts: ConceptIndex
) -> dict[int, list[Measured]]:
    table = cdm.get("measurement")
    per: dict[int, list[Measured]] = {}
    if table is None or not table.num_rows:
        return per
    vid = pc.cast(column(table, "visit_occurrence_id"), pa.int64())
    keep = pc.and_(
        pc.fill_null(pc.is_in(vid, value_set=visit_ids), False),
        pc.is_valid(column(table, "value_as_number")),
    )
    sub = table.filter(keep)
    _, names = concepts.code_and_name(
        sub,
        concept="measurement_concept_id",
        source_concept="measurement_source_concept_id",
        source_value="measurement_source_value",
    )
    units = pc.fill_null(pc.cast(column(sub, "unit_source_value"), pa.string()), "").to_pylist()
    values = column(sub, "value_as_number").to_pylist()
    for v, name, val, unit in zip(
        column(sub, "visit_occurrence_id").to_pylist(),
        names.to_pylist(),
        values,
        units,
        strict=True,
    ):
        per.setdefault(int(v), []).append(Measured(name, float(val), unit))
    return per


def generate_notes(
    cdm: Mapping[str, pa.Table],
    *,
    frame: VisitFrame,
    identities: Sequence[Identity],
    patient_ids: Sequence[str],
    concepts: ConceptIndex,
    site: NoteSite,
    per_patient: int,
    rng: np.random.Generator,
) -> list[Note]:
    """Notes for up to ``per_patient`` encounters per patient, from each encounter's CDM rows."""
    chosen = _choose(frame, per_patient, rng)
    prev = _previous(frame)
    all_ids = frame.visit_ids.to_pylist()
    chosen_ids = pa.array([all_ids[i] for i in chosen], pa.int64())
    content = _content(cdm, chosen_ids, concepts)
    meas = _measurements(cdm, chosen_ids, concepts)
    providers = frame.provider_ids.to_pylist()
    enc = frame.encounter_ids.to_pylist()
    notes: list[Note] = []
    for k, i in enumerate(chosen):
        vid = all_ids[i]
        prov = providers[i]
        doc_idx = site.provider_doctor.get(int(prov)) if prov is not None else None
        if doc_idx is None:
            doc_idx = int(rng.integers(0, len(site.doctors)))
        pidx = int(frame.person_index[i])
        ctx = NoteContext(
            identity=identities[pidx],
            patient_id=patient_ids[pidx],
            encounter_id=enc[i],
            hospital_ko=site.name_ko,
            hospital_en=site.name_en,
            hospital_slug=site.slug,
            doctor=site.doctors[doc_idx],
            visit_class=frame.klass[i],
            start=_day(frame.start_s[i]),
            end=_day(frame.end_s[i]),
            previous_visit=_day(frame.start_s[prev[i]]) if prev[i] >= 0 else None,
            conditions=tuple(content["condition"].get(int(vid), ())) if vid is not None else (),
            drugs=tuple(content["drug"].get(int(vid), ())) if vid is not None else (),
            procedures=tuple(content["procedure"].get(int(vid), ())) if vid is not None else (),
            measurements=tuple(meas.get(int(vid), ())) if vid is not None else (),
        )
        if frame.klass[i] in ("inpatient", "emergency"):
            kind = "discharge_summary"
        else:
            kind = "radiology_report" if rng.random() < 0.3 else "progress_note"
        lang = "ko" if rng.random() < KO_SHARE else "en"
        notes.append(
            render_note(ctx, kind=kind, lang=lang, note_id=f"{site.slug}-n{k:07d}", rng=rng)
        )
    return notes


__all__ = ["NoteSite", "VisitFrame", "generate_notes"]
