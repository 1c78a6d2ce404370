"""Derive MedHaven's compact OMOP CDM v5.4 schema from the official specification.

Run from the project root::

    python tools/gen_cdm_schema.py ../shared/reference/omop src/medhaven/cdm/cdm_v54_schema.json

The input is OHDSI's machine-readable specification (CommonDataModel
repository, ``inst/csv/``, Apache-2.0). The output keeps only what the
store, loader and checks need: per table its schema group, required flag,
person-completeness threshold and, per field, type, required flag, primary
and foreign keys and the foreign-key domain.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path


def _flag(value: str) -> bool:
    return value.strip().lower() == "yes"


def _na(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "NA") else value


def main(spec_dir: Path, out: Path) -> None:
    field_csv = spec_dir / "OMOP_CDMv5.4_Field_Level.csv"
    table_csv = spec_dir / "OMOP_CDMv5.4_Table_Level.csv"
    tables: dict[str, dict[str, object]] = {}
    with table_csv.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            threshold = _na(row["measurePersonCompletenessThreshold"])
            tables[row["cdmTableName"].lower()] = {
                "schema": row["schema"],
                "required": _flag(row["isRequired"]),
                "measure_person_completeness": _flag(row["measurePersonCompleteness"]),
                "person_completeness_threshold": float(threshold) if threshold else None,
                "fields": [],
            }
    with field_csv.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            table = tables[row["cdmTableName"].lower()]
            fields = table["fields"]
            assert isinstance(fields, list)
            fk_table = _na(row["fkTableName"])
            fk_field = _na(row["fkFieldName"])
            fields.append(
                {
                    "name": row["cdmFieldName"].lower(),
                    "type": row["cdmDatatype"].strip().lower(),
                    "required": _flag(row["isRequired"]),
                    "primary_key": _flag(row["isPrimaryKey"]),
                    "foreign_key": _flag(row["isForeignKey"]),
                    "fk_table": fk_table.lower() if fk_table else None,
                    "fk_field": fk_field.lower() if fk_field else None,
                    "fk_domain": _na(row["fkDomain"]),
                    "fk_class": _na(row["fkClass"]),
                }
            )
    digest = hashlib.sha256(field_csv.read_bytes() + table_csv.read_bytes()).hexdigest()
    doc = {
        "cdm_version": "5.4",
        "provenance": (
            "Derived by tools/gen_cdm_schema.py from OMOP_CDMv5.4_Field_Level.csv and "
            "OMOP_CDMv5.4_Table_Level.csv (OHDSI CommonDataModel, inst/csv, Apache-2.0)."
        ),
        "source_sha256": digest,
        "tables": tables,
    }
    out.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
