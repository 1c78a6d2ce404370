"""One suite for both CDM stores: create schema, append, query, transactions."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from medhaven.cdm import CdmStore, schema


def _persons(n: int, start: int = 1) -> pa.Table:
    return pa.table(
        {
            "person_id": pa.array(range(start, start + n), pa.int64()),
            "gender_concept_id": pa.array([8507 if i % 2 else 8532 for i in range(n)], pa.int64()),
            "year_of_birth": pa.array([1950 + i % 50 for i in range(n)], pa.int64()),
            "race_concept_id": pa.array([0] * n, pa.int64()),
            "ethnicity_concept_id": pa.array([0] * n, pa.int64()),
            "birth_datetime": pa.array([dt.datetime(1950, 1, 1)] * n, pa.timestamp("us")),
            "person_source_value": pa.array([f"p{i}" for i in range(n)], pa.string()),
        }
    )


def test_create_schema_makes_every_table(store: CdmStore) -> None:
    store.create_schema()
    assert set(schema.tables()) <= store.table_names()


def test_append_and_query(store: CdmStore) -> None:
    store.create_schema(["person"])
    assert store.append_arrow("person", _persons(10)) == 10
    assert store.count("person") == 10
    rows = store.fetchall(
        "SELECT person_id FROM person WHERE year_of_birth >= ? ORDER BY 1", [1955]
    )
    assert [r[0] for r in rows] == [6, 7, 8, 9, 10]
    table = store.fetch_arrow("SELECT person_id, person_source_value FROM person ORDER BY 1")
    assert table.column("person_source_value").to_pylist()[0] == "p0"


def test_failed_transaction_leaves_nothing(store: CdmStore) -> None:
    store.create_schema(["person"])
    store.append_arrow("person", _persons(3))
    with pytest.raises(RuntimeError), store.transaction():
        store.append_arrow("person", _persons(5, start=100))
        assert store.count("person") == 8
        raise RuntimeError("boom")
    assert store.count("person") == 3


def test_required_field_is_not_null(store: CdmStore) -> None:
    store.create_schema(["person"])
    with pytest.raises(Exception):
        store.execute("INSERT INTO person (person_id) VALUES (?)", [1])
