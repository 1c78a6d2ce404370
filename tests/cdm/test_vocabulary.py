"""The shipped compact vocabulary: small, complete for the generator, loadable on both backends."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import medhaven.cdm
from medhaven.cdm import CdmStore
from medhaven.cdm.vocabulary import VOCABULARY_TABLES, load_vocabulary
from medhaven.synth.concepts import all_concepts

VOCAB = Path(medhaven.cdm.__file__).parent / "vocab"


def _rows(name: str) -> list[dict[str, str]]:
    with gzip.open(VOCAB / f"{name}.csv.gz", "rt", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_shipped_files_are_small_and_credited() -> None:
    total = sum(p.stat().st_size for p in VOCAB.glob("*.csv.gz"))
    assert total < 1_000_000
    assert "Apache-2.0" in (VOCAB / "README.md").read_text()


def test_every_generator_concept_is_shipped_standard_with_its_domain() -> None:
    shipped = {int(r["concept_id"]): r for r in _rows("concept")}
    for c in all_concepts():
        row = shipped.get(c.concept_id)
        assert row is not None, c
        assert row["domain_id"] == c.domain, c
        assert row["standard_concept"] == "S", c


def test_ancestor_rows_of_used_concepts_match_the_reference(reference: Path) -> None:
    used = {c.concept_id for c in all_concepts()}
    expected = set()
    with (reference / "vocabulary" / "concept_ancestor_seed.csv").open() as f:
        for r in csv.DictReader(f):
            if int(r["descendant_concept_id"]) in used:
                expected.add((int(r["ancestor_concept_id"]), int(r["descendant_concept_id"])))
    shipped = {
        (int(r["ancestor_concept_id"]), int(r["descendant_concept_id"]))
        for r in _rows("concept_ancestor")
    }
    assert expected <= shipped
    # every extra row is a level-0 self row for a used concept
    assert all(a == d and a in used for a, d in shipped - expected)
    # lisinopril 10 MG Oral Tablet descends from the ingredient lisinopril
    assert (1308216, 19080128) in shipped


def test_concept_rows_come_from_the_eunomia_concept_file(reference: Path) -> None:
    import zipfile

    with zipfile.ZipFile(reference / "eunomia" / "Synthea27Nj_5.4.zip") as z:
        text = z.read("CONCEPT.csv").decode("utf-8")
    source = {int(r["concept_id"]): r for r in csv.DictReader(io.StringIO(text))}
    hand_added = {0, 8507, 8532, 8515, 32817, 756265}
    for r in _rows("concept"):
        cid = int(r["concept_id"])
        if cid in hand_added:
            continue
        assert source[cid]["concept_name"] == r["concept_name"]
        assert source[cid]["domain_id"] == r["domain_id"]


def test_load_vocabulary_creates_and_fills_tables(store: CdmStore) -> None:
    counts = load_vocabulary(store)
    for name in VOCABULARY_TABLES:
        expected = len(_rows(name))
        assert counts[name] == expected
        assert store.count(name) == expected
    row = store.fetchall(
        "SELECT domain_id, standard_concept FROM concept WHERE concept_id = ?", [201826]
    )
    assert row == [("Condition", "S")]
    found = store.fetchall(
        "SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = ? "
        "ORDER BY 1",
        [317009],
    )
    assert (4051466,) in found


def test_build_script_reproduces_shipped_files(reference: Path, tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_vocabulary", Path(__file__).resolve().parents[2] / "tools" / "build_vocabulary.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.build(reference, tmp_path)
    for name in VOCABULARY_TABLES:
        assert (tmp_path / f"{name}.csv.gz").read_bytes() == (VOCAB / f"{name}.csv.gz").read_bytes()
