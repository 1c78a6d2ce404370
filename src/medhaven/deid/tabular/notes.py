"""The extract's notes (``notes.jsonl``): PHI scrubbed, dates moved by the note's patient offset.

Each input line is ``{"id", "patient", "encounter", "text", ...}``. Output
lines keep ``kind`` and ``lang`` (when present), replace ``id``,
``patient`` and ``encounter`` by their keyed pseudonyms (the same as in the
tables), and carry the scrubbed ``text``. Any other field is dropped.

A note whose encounter holds a row in a sensitive category (a withheld or
flagged row, or a sensitive reason code) follows that row: it is withheld,
or, when rows are flagged, written with ``sensitive_category``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import normalise_identifier, pseudonymize
from medhaven.deid.tabular.keymaps import PSEUDONYM_LENGTH
from medhaven.deid.tabular.model import SensitiveMode
from medhaven.deid.text.engine import detect
from medhaven.deid.text.replace import Replacer
from medhaven.errors import InvalidInput

KEPT_FIELDS = ("kind", "lang")


@dataclass
class NotesResult:
    """Counts of one notes file (never a value)."""

    rows_in: int = 0
    rows_out: int = 0
    spans: dict[str, int] = field(default_factory=dict)
    dates_shifted: bool = False
    withheld: int = 0
    flagged: int = 0
    by_category: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "phi_spans_replaced": dict(sorted(self.spans.items())),
            "dates": "shifted by the patient's offset" if self.dates_shifted else "tagged",
            "withheld": self.withheld,
            "flagged": self.flagged,
            "by_category": dict(sorted(self.by_category.items())),
        }


def _pseudo(value: object, key: bytes, ns: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not normalise_identifier(text):
        return None
    return pseudonymize(text, key, namespace=ns, length=PSEUDONYM_LENGTH)


def deidentify_notes(
    *,
    source: Path,
    target: Path,
    key: SiteKey,
    shift_dates: bool,
    sensitive_encounters: Mapping[str, str] | None = None,
    sensitive_mode: SensitiveMode = "off",
) -> NotesResult:
    """Scrub ``source`` into ``target`` (a new file); errors name the file and line only.

    ``sensitive_encounters`` maps a normalised raw encounter id to its category:
    the notes of those encounters are withheld (``withhold``) or carry
    ``sensitive_category`` (``flag``).
    """
    replacer = Replacer(key, mode="tag")
    pkey = key.pseudonym_key
    result = NotesResult(dates_shifted=shift_dates)
    labels: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    sensitive = sensitive_encounters if sensitive_mode != "off" and sensitive_encounters else {}
    name = source.name
    with source.open("rb") as fh, target.open("w", encoding="utf-8") as out:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidInput(f"{name} line {n}: not valid UTF-8") from None
            except json.JSONDecodeError:
                raise InvalidInput(f"{name} line {n}: not valid JSON") from None
            if not isinstance(rec, dict):
                raise InvalidInput(f"{name} line {n}: expected a JSON object")
            text = rec.get("text")
            if not isinstance(text, str):
                raise InvalidInput(f"{name} line {n}: field 'text' is missing or not a string")
            patient = rec.get("patient")
            if patient is not None and not isinstance(patient, str | int):
                raise InvalidInput(f"{name} line {n}: field 'patient' is not a string")
            result.rows_in += 1
            encounter = rec.get("encounter")
            category = (
                sensitive.get(normalise_identifier(str(encounter)))
                if sensitive and isinstance(encounter, str | int)
                else None
            )
            if category is not None:
                categories[category] += 1
                if sensitive_mode == "withhold":
                    result.withheld += 1
                    continue
                result.flagged += 1
            spans = detect(text)
            labels.update(s.label for s in spans)
            pat = str(patient) if shift_dates and patient is not None else None
            doc: dict[str, Any] = {
                "id": _pseudo(rec.get("id"), pkey, "note"),
                "patient": _pseudo(patient, pkey, "person"),
                "encounter": _pseudo(rec.get("encounter"), pkey, "encounter"),
            }
            doc.update({k: rec[k] for k in KEPT_FIELDS if isinstance(rec.get(k), str)})
            if category is not None:
                doc["sensitive_category"] = category
            doc["text"] = replacer.scrub(text, spans, patient=pat)
            out.write(json.dumps(doc, ensure_ascii=False) + "\n")
            result.rows_out += 1
    result.spans = dict(labels)
    result.by_category = dict(categories)
    return result


__all__ = ["NotesResult", "deidentify_notes"]
