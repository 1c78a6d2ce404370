"""Free-text PHI recall and precision, per label, on the ground truth ``medhaven synth --raw`` writes.

The generator writes each note (``notes.jsonl``) and, separately, where it put
every identifier (``notes_phi.jsonl``); the scrubber never sees the latter.
Goal (issue 3): recall >= 0.99 and precision >= 0.95 for names, identifiers,
phones, dates and addresses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medhaven.deid.text.engine import detect
from medhaven.deid.text.evaluate import FAMILY, Evaluation, evaluate, read_gold
from medhaven.deid.text.spans import Span
from medhaven.synth.writer import write_hospitals

GOAL_FAMILIES = ("name", "identifier", "phone", "date", "address")
GOAL_LABELS = sorted(label for label, fam in FAMILY.items() if fam in GOAL_FAMILIES)


@pytest.fixture(scope="module")
def raw_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two synthetic hospitals' raw extracts (different populations, addresses, clinicians)."""
    out = tmp_path_factory.mktemp("synth")
    manifest = write_hospitals(out, hospitals=2, persons=120, seed=20261203, raw=True)
    dirs = [out / h.slug / "raw" for h in manifest.hospitals]
    assert all((d / "notes.jsonl").is_file() and (d / "notes_phi.jsonl").is_file() for d in dirs)
    return dirs


def _evaluate(raw_dirs: list[Path], *, strict_labels: bool) -> Evaluation:
    gold: dict[str, list[Span]] = {}
    predicted: dict[str, list[Span]] = {}
    for d in raw_dirs:
        gold.update(read_gold(d / "notes_phi.jsonl"))
        for line in (d / "notes.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            predicted[rec["id"]] = detect(rec["text"])
    assert predicted.keys() == gold.keys()
    return evaluate(gold, predicted, strict_labels=strict_labels)


@pytest.fixture(scope="module")
def by_family_rule(raw_dirs: list[Path]) -> Evaluation:
    return _evaluate(raw_dirs, strict_labels=False)


@pytest.fixture(scope="module")
def by_exact_label(raw_dirs: list[Path]) -> Evaluation:
    return _evaluate(raw_dirs, strict_labels=True)


def test_synthetic_corpus_has_every_goal_label_in_both_languages(raw_dirs: list[Path]) -> None:
    labels: set[str] = set()
    langs: set[str] = set()
    for d in raw_dirs:
        for line in (d / "notes.jsonl").read_text(encoding="utf-8").splitlines():
            langs.add(json.loads(line)["lang"])
        for spans in read_gold(d / "notes_phi.jsonl").values():
            labels.update(s.label for s in spans)
    assert langs == {"en", "ko"}
    # SSN is the one goal label the Korean-hospital generator rarely writes.
    assert set(GOAL_LABELS) - {"SSN"} <= labels


@pytest.mark.parametrize("label", GOAL_LABELS)
def test_goal_label_recall_and_precision_on_synthetic_notes(
    label: str, by_family_rule: Evaluation
) -> None:
    counts = by_family_rule.by_label.get(label)
    if counts is None:
        pytest.skip(f"no {label} span written or predicted in this corpus")
    assert counts.recall >= 0.99, counts.as_dict()
    assert counts.precision >= 0.95, counts.as_dict()


@pytest.mark.parametrize("label", GOAL_LABELS)
def test_goal_label_holds_with_exact_labels(label: str, by_exact_label: Evaluation) -> None:
    # Stricter than the documented rule: an insurance number tagged MRN would fail here.
    counts = by_exact_label.by_label.get(label)
    if counts is None:
        pytest.skip(f"no {label} span written or predicted in this corpus")
    assert counts.recall >= 0.99, counts.as_dict()
    assert counts.precision >= 0.95, counts.as_dict()


@pytest.mark.parametrize("family", GOAL_FAMILIES)
def test_goal_family_recall_and_precision_on_synthetic_notes(
    family: str, by_family_rule: Evaluation
) -> None:
    counts = by_family_rule.by_family[family]
    assert counts.gold >= 50, counts.as_dict()  # enough spans for 0.99 to mean something
    assert counts.recall >= 0.99, counts.as_dict()
    assert counts.precision >= 0.95, counts.as_dict()


def test_other_labels_are_found_too(by_family_rule: Evaluation) -> None:
    # E-mail, URL, IP, age over 89 and hospital names: no goal in the issue, but a leak all the same.
    for label in ("EMAIL", "URL", "IP", "AGE", "HOSPITAL"):
        counts = by_family_rule.by_label.get(label)
        if counts is not None and counts.gold:
            assert counts.recall >= 0.95, (label, counts.as_dict())
