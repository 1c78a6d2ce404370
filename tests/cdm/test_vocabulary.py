"""The shipped compact vocabulary: small, complete for the generator, loadable on both backends."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
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


def _eunomia_concepts(reference: Path) -> dict[int, dict[str, str]]:
    with zipfile.ZipFile(reference / "eunomia" / "Synthea27Nj_5.4.zip") as z:
        text = z.read("CONCEPT.csv").decode("utf-8")
    return {int(r["concept_id"]): r for r in csv.DictReader(io.StringIO(text))}


def _seed(reference: Path, name: str) -> list[dict[str, str]]:
    with (reference / "vocabulary" / f"{name}_seed.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# (table, key column, name column, concept id column, the vocabulary/class of its concepts)
METADATA = [
    ("domain", "domain_id", "domain_name", "domain_concept_id", "Domain"),
    ("vocabulary", "vocabulary_id", "vocabulary_name", "vocabulary_concept_id", "Vocabulary"),
    ("concept_class", "concept_class_id", "concept_class_name", "concept_class_concept_id",
     "Concept Class"),
    ("relationship", "relationship_id", "relationship_name", "relationship_concept_id",
     "Relationship"),
]  # fmt: skip
HAND_ADDED = {0, 8507, 8532, 8515, 32817, 756265}


def test_every_referenced_concept_and_code_is_shipped() -> None:
    concepts = {int(r["concept_id"]): r for r in _rows("concept")}
    refs: list[tuple[str, str, int]] = []
    for table, _, _, concept_col, _ in METADATA:
        refs += [(table, concept_col, int(r[concept_col])) for r in _rows(table)]
    for r in _rows("concept_ancestor"):
        refs += [("concept_ancestor", k, int(r[k]))
                 for k in ("ancestor_concept_id", "descendant_concept_id")]  # fmt: skip
    for r in _rows("concept_relationship"):
        refs += [("concept_relationship", k, int(r[k])) for k in ("concept_id_1", "concept_id_2")]
    assert refs and [x for x in refs if x[2] not in concepts] == []
    keys = {t: {r[k] for r in _rows(t)} for t, k, *_ in METADATA}
    for r in concepts.values():
        assert r["domain_id"] in keys["domain"], r
        assert r["vocabulary_id"] in keys["vocabulary"], r
        assert r["concept_class_id"] in keys["concept_class"], r
    for r in _rows("concept_relationship"):
        assert r["relationship_id"] in keys["relationship"], r
    for r in _rows("relationship"):
        assert r["reverse_relationship_id"] in keys["relationship"], r
    # Trimmed: nothing in a metadata table that no shipped row uses.
    assert keys["domain"] == {r["domain_id"] for r in concepts.values()}
    assert keys["concept_class"] == {r["concept_class_id"] for r in concepts.values()}


def test_metadata_concepts_are_named_as_the_reference_seeds(reference: Path) -> None:
    concepts = {int(r["concept_id"]): r for r in _rows("concept")}
    for table, key, label, concept_col, kind in METADATA:
        seed = {r[key]: r for r in _seed(reference, table)}
        for r in _rows(table):
            assert seed[r[key]] == r  # the shipped row is the reference row
            c = concepts[int(r[concept_col])]
            assert (c["concept_name"], c["domain_id"], c["vocabulary_id"], c["concept_class_id"],
                    c["standard_concept"]) == (r[label], "Metadata", kind, kind, "")  # fmt: skip


def test_ancestor_rows_are_the_reference_rows_between_shipped_concepts(reference: Path) -> None:
    concepts = {int(r["concept_id"]): r for r in _rows("concept")}
    expected = set()
    with (reference / "vocabulary" / "concept_ancestor_seed.csv").open() as f:
        for r in csv.DictReader(f):
            a, d = int(r["ancestor_concept_id"]), int(r["descendant_concept_id"])
            if a in concepts and d in concepts:
                expected.add((a, d))
    shipped = {
        (int(r["ancestor_concept_id"]), int(r["descendant_concept_id"]))
        for r in _rows("concept_ancestor")
    }
    assert expected <= shipped
    # every extra row is a level-0 self row for a shipped standard or classification concept
    assert all(
        a == d and concepts[a]["standard_concept"] in ("S", "C") for a, d in shipped - expected
    )
    # and every such concept has its self row, so "include descendants" finds the concept itself
    standard = {c for c, r in concepts.items() if r["standard_concept"] in ("S", "C")}
    assert {a for a, d in shipped if a == d} == standard
    # lisinopril 10 MG Oral Tablet descends from the ingredient lisinopril
    assert (1308216, 19080128) in shipped


def test_generator_concepts_keep_every_reference_ancestor_that_has_a_concept(
    reference: Path,
) -> None:
    source = _eunomia_concepts(reference)
    used = {c.concept_id for c in all_concepts()}
    shipped = {
        (int(r["ancestor_concept_id"]), int(r["descendant_concept_id"]))
        for r in _rows("concept_ancestor")
    }
    with (reference / "vocabulary" / "concept_ancestor_seed.csv").open() as f:
        wanted = {
            (int(r["ancestor_concept_id"]), int(r["descendant_concept_id"]))
            for r in csv.DictReader(f)
            if int(r["descendant_concept_id"]) in used and int(r["ancestor_concept_id"]) in source
        }
    assert wanted and wanted <= shipped
    # Cohort heads: each finds itself and the generator concepts the reference puts below it.
    for head in (201826, 320128, 316139, 313217, 317009, 1308216, 134057, 443597):
        found = {d for a, d in shipped if a == head}
        assert head in found, head
        assert {d for a, d in wanted if a == head} <= found, head
    assert {320128, 317576, 4329847} <= {d for a, d in shipped if a == 134057}


def test_concept_rows_come_from_the_reference(reference: Path) -> None:
    source = _eunomia_concepts(reference)
    metadata = {int(r[col]) for t, _, _, col, _ in METADATA for r in _seed(reference, t)}
    for r in _rows("concept"):
        cid = int(r["concept_id"])
        if cid in HAND_ADDED or cid in metadata:
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
