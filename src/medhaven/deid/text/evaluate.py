"""Recall and precision per label against hand-labelled or synthetic ground truth.

Matching rule: labels are compared by family (identifiers RRN/MRN/INSURANCE/
SSN form one family, ADDRESS/POSTCODE another, every other label is its own).
A gold span is *found* when predicted spans of the same family cover at least
half of its characters. A predicted span is *correct* when gold spans of the
same family cover at least half of its characters. Recall is found / gold,
precision is correct / predicted, per label (of the gold span, resp. of the
prediction) and per family.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from medhaven.deid.text.spans import Span
from medhaven.errors import InvalidInput

FAMILY = {
    "NAME": "name",
    "RRN": "identifier",
    "MRN": "identifier",
    "INSURANCE": "identifier",
    "SSN": "identifier",
    "PHONE": "phone",
    "EMAIL": "email",
    "URL": "url",
    "IP": "ip",
    "DATE": "date",
    "AGE": "age",
    "ADDRESS": "address",
    "POSTCODE": "address",
    "HOSPITAL": "hospital",
}


@dataclass
class Counts:
    """Tallies for one label or family."""

    gold: int = 0
    found: int = 0
    predicted: int = 0
    correct: int = 0

    @property
    def recall(self) -> float:
        """Found gold spans / gold spans (1.0 when there are none)."""
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        """Correct predictions / predictions (1.0 when there are none)."""
        return self.correct / self.predicted if self.predicted else 1.0

    def as_dict(self) -> dict[str, float | int]:
        """Plain numbers for JSON output."""
        return {
            "gold": self.gold,
            "found": self.found,
            "predicted": self.predicted,
            "correct": self.correct,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
        }


@dataclass
class Evaluation:
    """Counts per label and per family, plus the overall tally."""

    by_label: dict[str, Counts] = field(default_factory=dict)
    by_family: dict[str, Counts] = field(default_factory=dict)
    overall: Counts = field(default_factory=Counts)
    strict_labels: bool = False

    def as_dict(self) -> dict[str, object]:
        """Plain dictionaries for JSON output."""
        same = "same label" if self.strict_labels else "same family"
        return {
            "rule": f"{same}, >= 50% of the characters covered",
            "overall": self.overall.as_dict(),
            "by_family": {k: v.as_dict() for k, v in sorted(self.by_family.items())},
            "by_label": {k: v.as_dict() for k, v in sorted(self.by_label.items())},
        }


def _covered(span: Span, others: Sequence[Span], family: Mapping[str, str]) -> bool:
    fam = family.get(span.label, span.label)
    chars = 0
    for o in others:
        if family.get(o.label, o.label) == fam:
            chars += max(0, min(span.end, o.end) - max(span.start, o.start))
    return chars * 2 >= span.end - span.start


def evaluate(
    gold: Mapping[str, Sequence[Span]],
    predicted: Mapping[str, Sequence[Span]],
    *,
    strict_labels: bool = False,
) -> Evaluation:
    """Score ``predicted`` against ``gold`` (both: note id -> spans) with the module's rule.

    With ``strict_labels`` a span only counts when covered by spans of the very
    same label (an insurance number found as a record number is then a miss).
    """
    family: Mapping[str, str] = {} if strict_labels else FAMILY
    ev = Evaluation(strict_labels=strict_labels)
    for nid in set(gold) | set(predicted):
        g, p = gold.get(nid, ()), predicted.get(nid, ())
        for s in g:
            hit = _covered(s, p, family)
            for c in _tallies(ev, s.label):
                c.gold += 1
                c.found += hit
        for s in p:
            ok = _covered(s, g, family)
            for c in _tallies(ev, s.label):
                c.predicted += 1
                c.correct += ok
    return ev


def _tallies(ev: Evaluation, label: str) -> Iterable[Counts]:
    yield ev.by_label.setdefault(label, Counts())
    yield ev.by_family.setdefault(FAMILY.get(label, label), Counts())
    yield ev.overall


def read_gold(path: Path) -> dict[str, list[Span]]:
    """Read ``{"id", "spans": [{"start","end","label"}]}`` lines; errors name file and line."""
    out: dict[str, list[Span]] = {}
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise InvalidInput(
            f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
            spans = [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in rec["spans"]]
            out[str(rec["id"])] = spans
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InvalidInput(
                f'{path} line {n}: expected {{"id", "spans": [{{"start", "end", "label"}}]}}'
            ) from None
    return out


__all__ = ["FAMILY", "Counts", "Evaluation", "evaluate", "read_gold"]
