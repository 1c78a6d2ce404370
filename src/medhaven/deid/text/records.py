"""Read note records from JSON Lines and write scrubbed ones aside, then rename into place.

A bad line stops everything before anything is written: the error names the
file and the line number, never the line's content (it may hold PHI).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from medhaven.deid.text.engine import detect
from medhaven.deid.text.replace import Replacer
from medhaven.errors import InvalidInput


@dataclass(frozen=True)
class NoteRecord:
    """One input line: an id, the text and optionally the patient it belongs to."""

    id: str
    text: str
    patient: str | None
    line: int


def read_records(path: Path) -> Iterator[NoteRecord]:
    """Yield the records of a JSON Lines file; raise InvalidInput naming the file and line."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidInput(
            f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    with fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{path} line {n}: not valid UTF-8") from None
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise InvalidInput(f"{path} line {n}: not valid JSON") from None
            if not isinstance(rec, dict):
                raise InvalidInput(f"{path} line {n}: expected a JSON object")
            rid, text, patient = rec.get("id"), rec.get("text"), rec.get("patient")
            if not isinstance(rid, str | int) or isinstance(rid, bool) or rid == "":
                raise InvalidInput(f"{path} line {n}: field 'id' is missing or not a string")
            if not isinstance(text, str):
                raise InvalidInput(f"{path} line {n}: field 'text' is missing or not a string")
            if patient is not None and not isinstance(patient, str | int):
                raise InvalidInput(f"{path} line {n}: field 'patient' is not a string")
            yield NoteRecord(str(rid), text, None if patient is None else str(patient), n)


@dataclass(frozen=True)
class TextSummary:
    """What a de-identification run did (counts only: safe to print and log)."""

    notes: int
    characters: int
    spans: int
    by_label: dict[str, int]
    seconds: float


def deidentify_file(
    *,
    source: Path,
    target: Path,
    replacer: Replacer,
    on_note: Callable[[int], None] | None = None,
) -> TextSummary:
    """De-identify every note of ``source`` into ``target`` (written aside, then renamed)."""
    import time

    t0 = time.perf_counter()
    if not target.parent.is_dir():
        raise InvalidInput(f"output directory {target.parent} does not exist")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    notes = chars = spans = 0
    by_label: dict[str, int] = {}
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for rec in read_records(source):
                found = detect(rec.text)
                scrubbed = replacer.scrub(rec.text, found, patient=rec.patient)
                out.write(
                    json.dumps(
                        {
                            "id": rec.id,
                            "text": scrubbed,
                            "spans": [
                                {"start": s.start, "end": s.end, "label": s.label} for s in found
                            ],
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                notes += 1
                chars += len(rec.text)
                spans += len(found)
                for s in found:
                    by_label[s.label] = by_label.get(s.label, 0) + 1
                if on_note is not None:
                    on_note(len(rec.text.encode("utf-8")) + 1)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return TextSummary(
        notes, chars, spans, dict(sorted(by_label.items())), time.perf_counter() - t0
    )


__all__ = ["NoteRecord", "TextSummary", "deidentify_file", "read_records"]
