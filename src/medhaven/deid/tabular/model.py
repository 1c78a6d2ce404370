"""The per-column action model: what happens to each column of each file of an extract.

A :class:`Profile` names, for every file it knows, the column holding the
patient id (whose keyed offset shifts that row's dates) and one
:class:`ColumnRule` per column. A column the profile does not name is
dropped, and a file it does not name is not copied: nothing passes through
unreviewed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from medhaven.errors import ConfigError

Action = Literal["drop", "pseudonymize", "date_shift", "generalize", "keep", "text"]
ACTIONS: tuple[Action, ...] = ("drop", "pseudonymize", "date_shift", "generalize", "keep", "text")

Generalization = Literal["zip3", "postcode3", "age_band", "year", "birth_year"]
GENERALIZATIONS: tuple[Generalization, ...] = (
    "zip3",
    "postcode3",
    "age_band",
    "year",
    "birth_year",
)
"""``zip3``: first 3 ZIP digits, ``000`` for the HIPAA small-population prefixes;
``postcode3``: first 3 digits (a Korean 5-digit postcode's district prefix);
``age_band``: a whole age to a 5-year band, 90 and over as ``90+``;
``year``: a date or datetime to its year;
``birth_year``: a birth date to its year, with every age of 90 or more at the
reference date pooled into one year (HIPAA's "90 or older")."""

SensitiveMode = Literal["off", "flag", "withhold"]


@dataclass(frozen=True)
class ColumnRule:
    """One column's action; ``namespace`` for pseudonyms, ``method`` for generalize."""

    action: Action
    namespace: str | None = None
    method: Generalization | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"unknown column action {self.action!r}")
        if self.action == "pseudonymize" and not self.namespace:
            raise ConfigError("a pseudonymize action needs a namespace")
        if self.action == "generalize" and self.method not in GENERALIZATIONS:
            raise ConfigError(f"unknown generalization {self.method!r}")

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready form (for the configuration hash and the report)."""
        out: dict[str, str] = {"action": self.action}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.method:
            out["method"] = self.method
        return out


DROP = ColumnRule("drop")
KEEP = ColumnRule("keep")
SHIFT = ColumnRule("date_shift")
TEXT = ColumnRule("text")


def pseudo(namespace: str) -> ColumnRule:
    """A pseudonymize rule in ``namespace``."""
    return ColumnRule("pseudonymize", namespace=namespace)


def gen(method: Generalization) -> ColumnRule:
    """A generalize rule with ``method``."""
    return ColumnRule("generalize", method=method)


@dataclass(frozen=True)
class TableRule:
    """The rules of one file.

    ``patient`` is the column holding the raw patient id (dates of the row move
    by that patient's offset); ``codes`` are the columns whose code puts the
    whole row in a sensitive category; ``reason_codes`` maps a secondary code
    column to the description column blanked with it when the code is
    sensitive (the row itself stays).
    """

    file: str
    columns: Mapping[str, ColumnRule]
    patient: str | None = None
    codes: tuple[str, ...] = ()
    reason_codes: Mapping[str, str | None] = field(default_factory=dict)
    quasi: tuple[str, ...] = ()
    blank_values: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    """Column -> (code column, codes): the column is emptied on rows with one of the codes
    (a survey answer such as LOINC 56799-0 "What address do you live at?")."""

    def __post_init__(self) -> None:
        shifted = [c for c, r in self.columns.items() if r.action == "date_shift"]
        if shifted and not self.patient:
            raise ConfigError(f"{self.file}: date_shift needs a patient column")
        if self.patient and self.patient not in self.columns:
            raise ConfigError(f"{self.file}: the patient column {self.patient} has no rule")
        for c in self.quasi:
            if self.columns.get(c, DROP).action == "drop":
                raise ConfigError(f"{self.file}: quasi-identifier {c} is dropped")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "file": self.file,
            "patient": self.patient,
            "columns": {c: r.as_dict() for c, r in self.columns.items()},
            "codes": list(self.codes),
            "reason_codes": dict(self.reason_codes),
            "quasi": list(self.quasi),
            "blank_values": {c: [k, list(v)] for c, (k, v) in self.blank_values.items()},
        }


@dataclass(frozen=True)
class Profile:
    """A whole de-identification configuration: tables, notes, sensitive rows, reference date."""

    name: str
    tables: tuple[TableRule, ...]
    notes_file: str | None = None
    notes_dates: Literal["shift", "tag"] = "tag"
    sensitive_mode: SensitiveMode = "off"
    sensitive: tuple[tuple[str, str], ...] = ()
    """(code, category) pairs; a code ending in ``*`` matches as a prefix."""
    reference_date: dt.date | None = None
    skip_files: tuple[str, ...] = ()

    def table(self, file: str) -> TableRule | None:
        """The rule of ``file`` (case-insensitive), or ``None``."""
        for t in self.tables:
            if t.file.lower() == file.lower():
                return t
        return None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form of everything that decides the output (never the key)."""
        return {
            "name": self.name,
            "tables": [t.as_dict() for t in self.tables],
            "notes_file": self.notes_file,
            "notes_dates": self.notes_dates,
            "sensitive_mode": self.sensitive_mode,
            "sensitive": [list(p) for p in self.sensitive],
            "reference_date": self.reference_date.isoformat() if self.reference_date else None,
            "skip_files": list(self.skip_files),
        }

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON configuration: equal hashes, equal treatment."""
        text = json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = [
    "ACTIONS",
    "DROP",
    "GENERALIZATIONS",
    "KEEP",
    "SHIFT",
    "TEXT",
    "Action",
    "ColumnRule",
    "Generalization",
    "Profile",
    "SensitiveMode",
    "TableRule",
    "gen",
    "pseudo",
]
