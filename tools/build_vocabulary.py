"""Rebuild the compact vocabulary shipped in ``src/medhaven/cdm/vocab`` from the reference data.

Sources (OHDSI, Apache-2.0): ``CONCEPT.csv`` inside
``eunomia/Synthea27Nj_5.4.zip`` and the dbt-synthea ``vocabulary/*_seed.csv``
slices under ``/work/shared/reference``.

The subset is referentially complete: every concept id, domain, vocabulary,
concept class and relationship that any shipped row refers to is shipped too.

* ``concept``: every concept the generator emits (``medhaven.synth.concepts``),
  every reference ancestor of those that has a row in Eunomia's ``CONCEPT.csv``,
  the six standard metadata concepts in ``HAND_ADDED``, and the *metadata
  concepts* of every domain, vocabulary, concept class and relationship
  shipped. A metadata concept's id and name are the ``*_concept_id`` and
  ``*_name`` of its row in the reference ``*_seed.csv``; its other attributes
  follow the Athena convention (domain ``Metadata``, vocabulary and class
  ``Domain`` / ``Vocabulary`` / ``Concept Class`` / ``Relationship``, code
  ``OMOP generated``, not standard).
* ``concept_ancestor``: the reference rows whose ancestor and descendant are
  both shipped concepts, plus a level-0 self row for each shipped standard or
  classification concept the reference slice left without one (Athena has
  one for every such concept).
* ``concept_relationship``: the reference rows between shipped concepts.
* ``domain``, ``vocabulary``, ``concept_class``: the reference rows that
  shipped concepts use; ``relationship``: those that shipped relationships use,
  with their reverse relationships.

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

# The four metadata tables: (table, key column, name column, concept id column, and the
# vocabulary_id = concept_class_id that Athena gives the table's metadata concepts).
METADATA = (
    ("domain", "domain_id", "domain_name", "domain_concept_id", "Domain"),
    ("vocabulary", "vocabulary_id", "vocabulary_name", "vocabulary_concept_id", "Vocabulary"),
    (
        "concept_class",
        "concept_class_id",
        "concept_class_name",
        "concept_class_concept_id",
        "Concept Class",
    ),
    (
        "relationship",
        "relationship_id",
        "relationship_name",
        "relationship_concept_id",
        "Relationship",
    ),
)
# Which concept column (or concept_relationship column) refers to each metadata table.
_USED_BY = {
    "domain": "SELECT DISTINCT domain_id FROM concept",
    "vocabulary": "SELECT DISTINCT vocabulary_id FROM concept",
    "concept_class": "SELECT DISTINCT concept_class_id FROM concept",
}


def _read_reference(con: duckdb.DuckDBPyConnection, reference: Path, out: Path) -> None:
    with zipfile.ZipFile(reference / "eunomia" / "Synthea27Nj_5.4.zip") as z:
        raw = z.read("CONCEPT.csv")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "_concept_src.csv"
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
    for name, *_ in METADATA:
        con.execute(
            f"CREATE TABLE seed_{name} AS SELECT * FROM read_csv(?, header=true, all_varchar=true)",
            [str(voc / f"{name}_seed.csv")],
        )


def _ids(con: duckdb.DuckDBPyConnection, sql: str) -> set[str]:
    return {str(r[0]) for r in con.execute(sql).fetchall() if r[0] is not None}


def _relationships_used(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Relationship ids of the kept concept_relationship rows, closed under their reverses."""
    used = _ids(con, "SELECT DISTINCT relationship_id FROM rel")
    reverse = dict(
        con.execute(
            "SELECT relationship_id, reverse_relationship_id FROM seed_relationship"
        ).fetchall()
    )
    todo = list(used)
    while todo:
        rid = reverse.get(todo.pop())
        if rid is not None and rid not in used:
            used.add(rid)
            todo.append(rid)
    return used


def _close_metadata(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Add metadata concepts until every referenced domain/vocabulary/class/relationship has one.

    Returns the keys of each metadata table that the shipped rows use.
    """
    while True:
        con.execute("DROP TABLE IF EXISTS rel")
        con.execute(
            """
            CREATE TABLE rel AS SELECT * FROM cr
            WHERE concept_id_1::BIGINT IN (SELECT concept_id::BIGINT FROM concept)
              AND concept_id_2::BIGINT IN (SELECT concept_id::BIGINT FROM concept)
            """
        )
        needed = {name: _ids(con, sql) for name, sql in _USED_BY.items()}
        needed["relationship"] = _relationships_used(con)
        shipped = _ids(con, "SELECT concept_id FROM concept")
        added = 0
        for name, key, label, concept_col, kind in METADATA:
            rows = con.execute(
                f"SELECT {key}, {label}, {concept_col} FROM seed_{name} ORDER BY 1"
            ).fetchall()
            known = {str(r[0]): r for r in rows}
            missing = sorted(needed[name] - set(known))
            if missing:
                raise SystemExit(f"{name}: not in the reference {name}_seed.csv: {missing}")
            for k in sorted(needed[name]):
                _, concept_name, concept_id = known[k]
                if str(concept_id) in shipped:
                    continue
                con.execute(
                    "INSERT INTO concept VALUES (?, ?, 'Metadata', ?, ?, NULL, 'OMOP generated', "
                    "'1970-01-01', '2099-12-31', NULL)",
                    [str(concept_id), concept_name, kind, kind],
                )
                shipped.add(str(concept_id))
                added += 1
        if added == 0:
            return needed


def build(reference: Path, out: Path) -> dict[str, int]:
    """Write the vocabulary subset as gzip CSV files into ``out``; return row counts."""
    con = duckdb.connect()
    _read_reference(con, reference, out)
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
    # The generator's concepts and those of their reference ancestors that have a concept row.
    con.execute(
        """
        CREATE TABLE keep AS
        SELECT id FROM used
        UNION SELECT ancestor_concept_id::BIGINT FROM ca
        WHERE descendant_concept_id IN (SELECT id FROM used)
          AND ancestor_concept_id::BIGINT IN (SELECT concept_id::BIGINT FROM src)
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
    needed = _close_metadata(con)
    con.execute(
        """
        CREATE TABLE anc AS
        SELECT DISTINCT ancestor_concept_id::BIGINT AS ancestor_concept_id,
               descendant_concept_id::BIGINT AS descendant_concept_id,
               min_levels_of_separation::INT AS min_levels_of_separation,
               max_levels_of_separation::INT AS max_levels_of_separation
        FROM ca
        WHERE ancestor_concept_id::BIGINT IN (SELECT concept_id::BIGINT FROM concept)
          AND descendant_concept_id::BIGINT IN (SELECT concept_id::BIGINT FROM concept)
        """
    )
    con.execute(
        """
        INSERT INTO anc SELECT concept_id::BIGINT, concept_id::BIGINT, 0, 0 FROM concept
        WHERE standard_concept IN ('S', 'C')
          AND concept_id::BIGINT NOT IN (
              SELECT descendant_concept_id FROM anc
              WHERE ancestor_concept_id = descendant_concept_id)
        """
    )
    queries = {
        "concept": "SELECT * FROM concept ORDER BY concept_id::BIGINT",
        "concept_ancestor": "SELECT * FROM anc ORDER BY 1, 2",
        "concept_relationship": "SELECT * FROM rel ORDER BY 1, 2, 3",
    }
    counts: dict[str, int] = {}
    for name, key, *_ in METADATA:
        con.execute(
            f"CREATE TABLE keys_{name} AS SELECT unnest(?::VARCHAR[]) AS k", [sorted(needed[name])]
        )
        queries[name] = (
            f"SELECT * FROM seed_{name} WHERE {key} IN (SELECT k FROM keys_{name}) ORDER BY 1"
        )
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
