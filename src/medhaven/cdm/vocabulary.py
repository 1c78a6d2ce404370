"""The compact OMOP vocabulary that ships with MedHaven, and loading it into a CDM store.

The files in ``medhaven/cdm/vocab`` are a subset of the OHDSI standardized
vocabularies (Apache-2.0; see ``vocab/README.md``) holding every concept the
synthetic-hospital generator emits, with those of their ancestors that the
reference names, so that concept sets with "include descendants" work in
every generated CDM. The subset is referentially complete (every concept,
domain, vocabulary, concept class and relationship a shipped row refers to
is shipped). They are rebuilt by ``tools/build_vocabulary.py``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pyarrow as pa
import pyarrow.csv as pacsv

from medhaven.cdm import schema
from medhaven.cdm.store import CdmStore
from medhaven.errors import LoadError

VOCABULARY_TABLES = (
    "concept",
    "concept_ancestor",
    "concept_relationship",
    "domain",
    "vocabulary",
    "concept_class",
    "relationship",
)

_ARROW_TYPES = {
    "integer": pa.int64(),
    "float": pa.float64(),
    "varchar": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
}


@cache
def vocabulary_table(name: str) -> pa.Table:
    """One shipped vocabulary table as Arrow, typed by the CDM v5.4 schema."""
    if name not in VOCABULARY_TABLES:
        raise LoadError(f"vocabulary: {name} is not a shipped vocabulary table")
    fields = schema.table(name).fields
    types = {f.name: _ARROW_TYPES[f.kind] for f in fields}
    path = resources.files("medhaven.cdm") / "vocab" / f"{name}.csv.gz"
    try:
        with resources.as_file(path) as local:
            table = pacsv.read_csv(
                local,
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
                ),
            )
    except (OSError, pa.ArrowInvalid) as exc:
        raise LoadError(f"vocabulary: {name}.csv.gz could not be read", detail=str(exc)) from exc
    return table.select([f.name for f in fields if f.name in table.column_names])


def load_vocabulary(store: CdmStore) -> dict[str, int]:
    """Create the vocabulary tables (where missing) and append the shipped rows; return counts."""
    store.create_schema(names=[n for n in VOCABULARY_TABLES if n not in store.table_names()])
    counts: dict[str, int] = {}
    with store.transaction():
        for name in VOCABULARY_TABLES:
            counts[name] = store.append_arrow(name, vocabulary_table(name))
    return counts


__all__ = ["VOCABULARY_TABLES", "load_vocabulary", "vocabulary_table"]
