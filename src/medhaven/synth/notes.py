"""Clinical notes with ground-truth PHI spans, built segment by segment.

A note is assembled by appending plain segments and PHI segments to a
:class:`NoteBuilder`; each PHI segment records its own offsets as it is
appended. The ground truth is therefore exact by construction: nothing is
found by searching the finished text, which would miss or double-count
values that occur twice or inside other words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np

from medhaven.lang import MONTHS_EN, PHI_LABELS
from medhaven.synth.identity import DoctorName, Identity

LABELS = frozenset(PHI_LABELS)
DATE_STYLES_KO = ("iso", "dot", "ko")
DATE_STYLES_EN = ("iso", "us", "long")
MONTHS = MONTHS_EN
AGE_PHI_OVER = 89


@dataclass(frozen=True)
class PhiSpan:
    """One PHI span: ``text[start:end]`` in Python string characters, and its label."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Note:
    """A finished note and its ground-truth PHI spans."""

    id: str
    patient: str
    encounter: str
    kind: str
    lang: str
    text: str
    spans: tuple[PhiSpan, ...]


@dataclass(frozen=True)
class Measured:
    """A measurement result mentioned in a note."""

    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class NoteContext:
    """What a note may say about one encounter: who, where, when and what happened."""

    identity: Identity
    patient_id: str
    encounter_id: str
    hospital_ko: str
    hospital_en: str
    hospital_slug: str
    doctor: DoctorName
    visit_class: str
    start: date
    end: date
    previous_visit: date | None
    conditions: tuple[str, ...] = ()
    drugs: tuple[str, ...] = ()
    measurements: tuple[Measured, ...] = ()
    procedures: tuple[str, ...] = ()

    @property
    def age(self) -> int:
        """The patient's age in completed years on the first day of the encounter."""
        b = self.identity.birth
        return self.start.year - b.year - ((self.start.month, self.start.day) < (b.month, b.day))


def format_date(d: date, style: str) -> str:
    """A date in one of the styles notes use: iso, dot, ko, us or long."""
    if style == "iso":
        return d.isoformat()
    if style == "dot":
        return f"{d.year}.{d.month}.{d.day}"
    if style == "ko":
        return f"{d.year}년 {d.month}월 {d.day}일"
    if style == "us":
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    if style == "long":
        return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    raise ValueError(f"unknown date style {style!r}")


@dataclass
class NoteBuilder:
    """Concatenates segments and records the offsets of the PHI ones as they are appended."""

    lang: str
    rng: np.random.Generator
    parts: list[str] = field(default_factory=list)
    spans: list[PhiSpan] = field(default_factory=list)
    pos: int = 0

    def text(self, s: str) -> NoteBuilder:
        """Append text that holds no PHI."""
        self.parts.append(s)
        self.pos += len(s)
        return self

    def phi(self, s: str, label: str) -> NoteBuilder:
        """Append a PHI value and record its span."""
        if label not in LABELS:
            raise ValueError(f"unknown PHI label {label!r}")
        if s:
            self.spans.append(PhiSpan(self.pos, self.pos + len(s), label))
        return self.text(s)

    def date(self, d: date) -> NoteBuilder:
        """Append a date in a style picked at random for the note's language."""
        styles = DATE_STYLES_KO if self.lang == "ko" else DATE_STYLES_EN
        return self.phi(format_date(d, styles[int(self.rng.integers(0, len(styles)))]), "DATE")

    def age(self, years: int) -> NoteBuilder:
        """Append an age; only ages over 89 are PHI (HIPAA Safe Harbor)."""
        s = str(years)
        return self.phi(s, "AGE") if years > AGE_PHI_OVER else self.text(s)

    def pick(self, options: tuple[str, ...]) -> str:
        """One of ``options`` at random."""
        return options[int(self.rng.integers(0, len(options)))]

    def build(self) -> tuple[str, tuple[PhiSpan, ...]]:
        """The finished text and its spans."""
        return "".join(self.parts), tuple(self.spans)


def note_to_json(note: Note) -> tuple[str, str]:
    """The two JSON lines of a note: its text record and its ground-truth record."""
    text = json.dumps(
        {
            "id": note.id,
            "patient": note.patient,
            "encounter": note.encounter,
            "kind": note.kind,
            "lang": note.lang,
            "text": note.text,
        },
        ensure_ascii=False,
    )
    phi = json.dumps(
        {
            "id": note.id,
            "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in note.spans],
        },
        ensure_ascii=False,
    )
    return text, phi


def write_notes(notes: Iterable[Note], *, notes_io: IO[str], phi_io: IO[str]) -> int:
    """Write ``notes.jsonl`` and ``notes_phi.jsonl`` records; return how many notes."""
    n = 0
    for note in notes:
        text, phi = note_to_json(note)
        notes_io.write(text + "\n")
        phi_io.write(phi + "\n")
        n += 1
    return n


def read_phi(path: Path) -> dict[str, list[PhiSpan]]:
    """Read a ground-truth file back: note id -> spans."""
    out: dict[str, list[PhiSpan]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            out[rec["id"]] = [PhiSpan(s["start"], s["end"], s["label"]) for s in rec["spans"]]
    return out


__all__ = [
    "LABELS",
    "Measured",
    "Note",
    "NoteBuilder",
    "NoteContext",
    "PhiSpan",
    "format_date",
    "note_to_json",
    "read_phi",
    "write_notes",
]
