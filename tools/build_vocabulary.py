"""Rebuild the compact vocabulary shipped in ``src/medhaven/cdm/vocab`` from the reference data.

Sources (OHDSI, Apache-2.0): ``CONCEPT.csv`` inside
``eunomia/Synthea27Nj_5.4.zip`` and the dbt-synthea ``vocabulary/*_seed.csv``
slices under ``/work/shared/reference``. The subset holds every concept the
generator emits (``medhaven.synth.concepts``), every ancestor row of those
concepts (with the ancestor's concept row where the source has one), the
relationships among the kept concepts, and the full (small) domain,
vocabulary, concept_class and relationship tables.

Usage: ``python tools/build_vocabulary.py [--reference DIR] [--out DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import duckdb
import pyarrow.csv as pacsv

from medhaven.synth.concepts import all_concepts

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
DEFAULT_OUT = ROOT / "src" / "medhaven" / "cdm" / "vocab"

# Standard OMOP metadata concepts that the CDM needs but the Eunomia slice lacks.
# Ids, names and codes are those of the OHDSI Athena vocabulary.
HAND_ADDED = [
    (0, "No matching concept", "Metadata", "None", "Undefined", None, "No matching concept"),
    (8507, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    (8515, "Asian", "Race", "Race", "Race", "S", "2"),
    (32817, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
    (756265, "OMOP CDM Version 5.4.0", "Metadata", "CDM", "CDM", "S", "CDM v5.4.0"),
]


def build(reference: Path, out: Path) -> dict[str, int]:
    """Write the vocabulary subset as gzip CSV files into ``out``; return row counts."""
    con = duckdb.connect()
    with zipfile.ZipFile(reference / "eunomia" / "Synthea27Nj_5.4.zip") as z:
        raw = z.read("CONCEPT.csv")
    tmp = out / "_concept_src.csv"
    out.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(raw)
    try:
        con.execute(
            f"CREATE TABLE src AS SELECT * FROM read_csv('{tmp}', header=true, all_varchar=true)"
        )
    finally:
        tmp.unlink()
    voc = reference / "vocabulary"
    con.execute(
        "CREATE TABLE ca AS SELECT * FROM read_csv(?, header=true)",
        [str(voc / "concept_ancestor_seed.csv")],
    )
    con.execute(
        "CREATE TABLE cr AS SELECT * FROM read_csv(?, header=true, all_varchar=true)",
        [str(voc / "concept_relationship_seed.csv")],
    )
    used = [c.concept_id for c in all_concepts()]
    con.execute("CREATE TABLE used AS SELECT unnest(?::BIGINT[]) AS id", [used])
    hand = [h[0] for h in HAND_ADDED]
    missing = con.execute(
        "SELECT id FROM used WHERE id NOT IN (SELECT concept_id::BIGINT FROM src) "
        "AND id NOT IN (SELECT unnest(?::BIGINT[]))",
        [hand],
    ).fetchall()
    if missing:
        raise SystemExit(f"concepts not in the reference vocabulary: {[m[0] for m in missing]}")
    # Ancestor rows of used concepts, plus a self row for each used standard concept
    # (Athena has one for every standard concept; the seed slice omits some).
    con.execute(
        """
        CREATE TABLE anc AS
        SELECT DISTINCT ancestor_concept_id::BIGINT AS ancestor_concept_id,
               descendant_concept_id::BIGINT AS descendant_concept_id,
               min_levels_of_separation::INT AS min_levels_of_separation,
               max_levels_of_separation::INT AS max_levels_of_separation
        FROM ca WHERE descendant_concept_id IN (SELECT id FROM used)
        """
    )
    con.execute(
        """
        CREATE TABLE keep AS
        SELECT id FROM used
        UNION SELECT ancestor_concept_id FROM anc
        WHERE ancestor_concept_id IN (SELECT concept_id::BIGINT FROM src)
        """
    )
    con.execute(
        "CREATE TABLE concept AS SELECT * FROM src WHERE concept_id::BIGINT IN (SELECT id FROM keep)"
    )
    for cid, name, domain, vocab, cclass, std, code in HAND_ADDED:
        con.execute(
            "INSERT INTO concept VALUES (?, ?, ?, ?, ?, ?, ?, '1970-01-01', '2099-12-31', NULL)",
            [str(cid), name, domain, vocab, cclass, std, code],
        )
    con.execute(
        """
        INSERT INTO anc SELECT concept_id::BIGINT, concept_id::BIGINT, 0, 0 FROM concept
        WHERE standard_concept = 'S' AND concept_id::BIGINT IN (SELECT id FROM used)
          AND concept_id::BIGINT NOT IN (
              SELECT descendant_concept_id FROM anc
              WHERE ancestor_concept_id = descendant_concept_id)
        """
    )
    con.execute(
        """
        CREATE TABLE rel AS SELECT * FROM cr
        WHERE concept_id_1::BIGINT IN (SELECT concept_id::BIGINT FROM concept)
          AND concept_id_2::BIGINT IN (SELECT concept_id::BIGINT FROM concept)
        """
    )
    queries = {
        "concept": "SELECT * FROM concept ORDER BY concept_id::BIGINT",
        "concept_ancestor": "SELECT * FROM anc ORDER BY 1, 2",
        "concept_relationship": "SELECT * FROM rel ORDER BY 1, 2, 3",
    }
    for name in ("domain", "vocabulary", "concept_class", "relationship"):
        queries[name] = (
            f"SELECT * FROM read_csv('{voc / (name + '_seed.csv')}', header=true, all_varchar=true)"
            " ORDER BY 1"
        )
    counts: dict[str, int] = {}
    for name, sql in queries.items():
        table = con.sql(sql).to_arrow_table()
        sink = io.BytesIO()
        pacsv.write_csv(table, sink)
        # mtime=0 keeps the gzip bytes identical between rebuilds.
        with gzip.GzipFile(out / f"{name}.csv.gz", "wb", mtime=0) as gz:
            gz.write(sink.getvalue())
        counts[name] = table.num_rows
    return counts


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for name, n in build(args.reference, args.out).items():
        print(f"{name}: {n} rows")


if __name__ == "__main__":
    main()
