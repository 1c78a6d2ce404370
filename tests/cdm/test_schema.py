"""The CDM schema is derived from the official specification, not typed by hand."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from medhaven.cdm import schema
from medhaven.errors import SchemaError

ROOT = Path(__file__).resolve().parents[2]


def test_every_spec_field_is_in_the_schema(reference: Path) -> None:
    spec = reference / "omop" / "OMOP_CDMv5.4_Field_Level.csv"
    with spec.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        field = schema.table(row["cdmTableName"]).field(row["cdmFieldName"].lower())
        assert field.required == (row["isRequired"] == "Yes")
        assert field.primary_key == (row["isPrimaryKey"] == "Yes")
    assert sum(len(t.fields) for t in schema.tables().values()) == len(rows)


def test_shipped_schema_matches_generator_output(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "gen_cdm_schema.py"),
            str(reference / "omop"),
            str(out),
        ],
        check=True,
    )
    shipped = ROOT / "src" / "medhaven" / "cdm" / "cdm_v54_schema.json"
    assert out.read_text() == shipped.read_text()


def test_person_table_shape() -> None:
    person = schema.table("PERSON")
    assert person.primary_key is not None and person.primary_key.name == "person_id"
    assert person.field("gender_concept_id").fk_domain == "Gender"
    assert person.field("year_of_birth").sql_type("postgresql") == "BIGINT"
    assert schema.table("concept").field("concept_name").sql_type("postgresql") == "VARCHAR(255)"


def test_unknown_table_is_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="unknown table 'patients'"):
        schema.table("patients")
