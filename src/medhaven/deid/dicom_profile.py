"""The PS3.15 Annex E action table (Table E.1-1) and how one attribute's action is chosen.

The table ships as ``data/dicom_profile_e1_1.csv`` (its provenance is in the
file header): for every listed attribute the Basic Application Level
Confidentiality Profile action and the action of the *Retain Longitudinal
Temporal Information with Modified Dates* option.

Actions, as the standard defines them:

* ``D``: replace with a non-empty dummy value consistent with the VR;
* ``Z``: replace with a zero-length value (or a dummy);
* ``X``: remove;
* ``K``: keep (sequences are still processed item by item);
* ``C``: clean; with the modified-dates option, dates are shifted;
* ``U``: replace the UID with a keyed, consistent replacement.

Compound codes (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*``) let the
choice depend on the attribute's type in the IOD. We do not track IOD types,
so we take the alternative that keeps every IOD valid: ``D`` whenever it is
offered (a dummy satisfies Type 1, 2 and 3), else ``Z`` (Type 2 and 3), and
``X/Z/U*`` keeps the sequence and replaces the UIDs inside it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

Action = Literal["D", "Z", "X", "K", "C", "U"]

PROFILE_FILE = "dicom_profile_e1_1.csv"

_COMPOUND: dict[str, Action] = {
    "D": "D",
    "Z": "Z",
    "X": "X",
    "K": "K",
    "C": "C",
    "U": "U",
    "X/Z": "Z",
    "X/D": "D",
    "Z/D": "D",
    "X/Z/D": "D",
    "X/Z/U*": "U",
}


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1: the attribute, its Basic Profile code and its modified-dates code."""

    tag: str
    name: str
    basic: str
    modified_dates: str

    @property
    def action(self) -> Action:
        """The action applied under the Basic Profile with the modified-dates option."""
        if self.modified_dates == "C":
            return "C"
        return _COMPOUND[self.basic]


@dataclass(frozen=True)
class ProfileTable:
    """Table E.1-1 indexed for lookups by tag, with the repeating-group rows kept apart."""

    rules: tuple[Rule, ...]
    by_tag: dict[int, Rule]
    curve_rule: Rule
    overlay_rules: dict[int, Rule]
    private_rule: Rule

    def rule_for(self, tag: int) -> Rule | None:
        """The rule for a (public) tag, resolving the 50xx curve and 60xx overlay groups."""
        rule = self.by_tag.get(tag)
        if rule is not None:
            return rule
        group, element = tag >> 16, tag & 0xFFFF
        if 0x5000 <= group <= 0x501E and group % 2 == 0:
            return self.curve_rule
        if 0x6000 <= group <= 0x601E and group % 2 == 0:
            return self.overlay_rules.get(element)
        return None


def _read_rows(text: str) -> list[Rule]:
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows = []
    for rec in csv.DictReader(io.StringIO("\n".join(lines))):
        if rec["basic"] not in _COMPOUND:
            raise ValueError(f"{PROFILE_FILE}: unknown action code in row for {rec['tag']}")
        rows.append(
            Rule(
                tag=rec["tag"].upper(),
                name=rec["name"],
                basic=rec["basic"],
                modified_dates=rec["modified_dates"],
            )
        )
    return rows


@lru_cache(maxsize=1)
def load_profile() -> ProfileTable:
    """The packaged Table E.1-1 (read once per process)."""
    text = (resources.files("medhaven.deid") / "data" / PROFILE_FILE).read_text(encoding="utf-8")
    rules = _read_rows(text)
    by_tag: dict[int, Rule] = {}
    overlay: dict[int, Rule] = {}
    curve = private = None
    for rule in rules:
        if rule.tag == "50XXXXXX":
            curve = rule
        elif rule.tag.startswith("60XX"):
            overlay[int(rule.tag[4:], 16)] = rule
        elif rule.tag == "GGGGEEEE":
            private = rule
        else:
            by_tag[int(rule.tag, 16)] = rule
    if curve is None or private is None or not overlay:
        raise ValueError(f"{PROFILE_FILE}: the curve, overlay or private rows are missing")
    return ProfileTable(tuple(rules), by_tag, curve, overlay, private)


__all__ = ["PROFILE_FILE", "Action", "ProfileTable", "Rule", "load_profile"]
