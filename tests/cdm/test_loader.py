"""The CDM loader on real stores (DuckDB and PostgreSQL): Eunomia, file layouts, appends."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from load_helpers import MEAS_HEADER, PERSON_HEADER, good_source, seed_existing, write_csv

from medhaven.cdm import open_store
from medhaven.cdm.loader import load_cdm, source_tables
from medhaven.errors import LoadError


def _eunomia_counts(zip_path: Path) -> dict[str, int]:
    """Data rows per table file in the zip, counted with Python's csv module."""
    counts: dict[str, int] = {}
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.startswith("__MACOSX/") or not name.lower().endswith(".csv"):
                continue
            with zf.open(name) as raw:
                rows = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
            counts[Path(name).stem.lower()] = len(rows) - 1
    return counts


def test_eunomia_loads_with_source_row_counts(store_url: str, reference: Path) -> None:
    zip_path = reference / "eunomia" / "Synthea27Nj_5.4.zip"
    expected = _eunomia_counts(zip_path)
    assert expected["person"] == 28 and expected["measurement"] == 10040
    with open_store(store_url) as store:
        steps: list[str] = []
        report = load_cdm(store, zip_path, on_progress=lambda step, rows: steps.append(step))
        assert report.tables == expected
        for table, rows in expected.items():
            assert store.count(table) == rows, table
        # Spot values against the CSV text: PERSON.csv row 1 is person 1, born 1998-04-09.
        row = store.fetchall(
            "SELECT year_of_birth, birth_datetime, gender_source_value FROM person WHERE person_id = 1"
        )[0]
        assert row[0] == 1998 and str(row[1]).startswith("1998-04-09") and row[2] == "M"
    assert len(steps) == 2 * len(expected)
    assert sorted(source_tables(zip_path)) == sorted(expected)


def test_file_name_case_parquet_junk_and_header_only(store_url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    write_csv(src / "person.CSV", PERSON_HEADER, ["5,8507,1990,8527,38003564,M"])
    pq.write_table(
        pa.table(
            {
                "measurement_id": pa.array([7, 8], pa.int64()),
                "person_id": pa.array([5, 5], pa.int32()),
                "measurement_concept_id": [3025315, 3025315],
                "measurement_date": ["2020-01-01", "2020-01-02"],
                "measurement_type_concept_id": [32817, 32817],
                "value_as_number": [1.25, None],
            }
        ),
        src / "Measurement.parquet",
    )
    write_csv(src / "DEATH.csv", "person_id,death_date,death_type_concept_id", [])
    (src / "._PERSON.csv").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    (src / "__MACOSX").mkdir()
    (src / "__MACOSX" / "._MEASUREMENT.csv").write_bytes(b"\x00junk")
    (src / "README").write_text("not data", encoding="utf-8")
    with open_store(store_url) as store:
        report = load_cdm(store, src)
        assert report.tables == {"person": 1, "measurement": 2, "death": 0}
        assert store.fetchall(
            "SELECT measurement_id, value_as_number, measurement_date FROM measurement "
            "ORDER BY measurement_id"
        ) == [(7, 1.25, date(2020, 1, 1)), (8, None, date(2020, 1, 2))]
        # Every CDM table exists afterwards, even those the source did not have.
        assert {"concept", "visit_occurrence", "death"} <= store.table_names()


def test_append_to_store_that_already_holds_data(store_url: str, tmp_path: Path) -> None:
    with open_store(store_url) as store:
        seed_existing(store)
        # Measurements of person 1 (already in the store) and 10 (in this load).
        src = tmp_path / "more"
        src.mkdir()
        write_csv(src / "person.csv", PERSON_HEADER, ["10,8507,1980,8527,38003564,M"])
        write_csv(
            src / "measurement.csv",
            MEAS_HEADER,
            ["50,1,3025315,2020-01-02,32817,1.5,kg", "51,10,3025315,2020-01-03,32817,2.5,kg"],
        )
        report = load_cdm(store, src)
        assert report.tables == {"person": 1, "measurement": 2}
        assert store.fetchall("SELECT person_id FROM person ORDER BY 1") == [(1,), (2,), (10,)]
        assert store.fetchall("SELECT measurement_id FROM measurement ORDER BY 1") == [
            (1,),
            (50,),
            (51,),
        ]


def test_quoted_fields_multiline_and_reserved_word_column(store_url: str, tmp_path: Path) -> None:
    src = good_source(tmp_path / "src")
    write_csv(
        src / "NOTE_NLP.csv",
        "note_nlp_id,note_id,snippet,offset,lexical_variant,nlp_date",
        ['1,9,"a, b ""quoted""\nsecond line",17,fever,2020-01-01', "2,9,,,cough,2020-01-02"],
    )
    with open_store(store_url) as store:
        load_cdm(store, src)
        rows = store.fetchall('SELECT snippet, "offset" FROM note_nlp ORDER BY note_nlp_id')
        assert rows == [('a, b "quoted"\nsecond line', "17"), (None, None)]
        assert store.count("measurement") == 4


@pytest.mark.parametrize("layout", ["zip", "nested zip folder"])
def test_zip_sources(tmp_path: Path, layout: str) -> None:
    src = good_source(tmp_path / "src")
    archive = tmp_path / "export.zip"
    prefix = "export/" if layout == "nested zip folder" else ""
    with zipfile.ZipFile(archive, "w") as zf:
        for f in src.iterdir():
            zf.write(f, prefix + f.name)
        zf.writestr("__MACOSX/._PERSON.csv", b"\x00junk")
    with open_store(tmp_path / "cdm.duckdb") as store:
        assert load_cdm(store, archive).tables == {"person": 3, "measurement": 4}


ATHENA_HEADER = (
    "concept_id\tconcept_name\tdomain_id\tvocabulary_id\tconcept_class_id\t"
    "standard_concept\tconcept_code\tvalid_start_date\tvalid_end_date\tinvalid_reason"
)


def test_athena_tab_separated_vocabulary(store_url: str, tmp_path: Path) -> None:
    """Athena exports: tabs, unquoted text with literal quotes, YYYYMMDD dates."""
    src = tmp_path / "athena"
    src.mkdir()
    write_csv(
        src / "CONCEPT.csv",
        ATHENA_HEADER,
        [
            '320128\tEssential "primary" hypertension\tCondition\tSNOMED\tClinical Finding'
            "\tS\t59621000\t20020131\t20991231\t",
            "8507\tMALE\tGender\tGender\tGender\tS\tM\t19700101\t20991231\t",
        ],
    )
    with open_store(store_url) as store:
        assert load_cdm(store, src).tables == {"concept": 2}
        assert store.fetchall(
            "SELECT concept_name, valid_start_date FROM concept WHERE concept_id = 320128"
        ) == [('Essential "primary" hypertension', date(2002, 1, 31))]


def test_athena_bad_date_names_row(tmp_path: Path) -> None:
    src = tmp_path / "athena"
    src.mkdir()
    write_csv(
        src / "concept.csv",
        ATHENA_HEADER,
        [
            "1\ta\tCondition\tSNOMED\tClinical Finding\tS\t1\t20020131\t20991231\t",
            "2\tb\tCondition\tSNOMED\tClinical Finding\tS\t2\t20021331\t20991231\t",
        ],
    )
    with open_store(tmp_path / "cdm.duckdb") as store, pytest.raises(LoadError) as info:
        load_cdm(store, src)
    assert str(info.value) == (
        "concept.csv data row 2, field valid_start_date: "
        "not a date (expected YYYYMMDD, as in the file's first row)"
    )


def test_parquet_float_ids(tmp_path: Path) -> None:
    """Whole-number floats load as integers; a fraction is an error naming the row."""
    src = tmp_path / "pq"
    src.mkdir()
    person = {
        "person_id": [1.0, 2.0, 3.0],
        "gender_concept_id": [8507, 8507, 8532],
        "year_of_birth": [1990.0, 1980.0, 1970.0],
        "race_concept_id": [0, 0, 0],
        "ethnicity_concept_id": [0, 0, 0],
    }
    pq.write_table(pa.table(person), src / "person.parquet")
    with open_store(tmp_path / "ok.duckdb") as store:
        load_cdm(store, src)
        assert store.fetchall("SELECT person_id, year_of_birth FROM person ORDER BY 1") == [
            (1, 1990),
            (2, 1980),
            (3, 1970),
        ]
    person["person_id"] = [1.0, 2.0, 2.5]
    pq.write_table(pa.table(person), src / "person.parquet")
    with open_store(tmp_path / "bad.duckdb") as store, pytest.raises(LoadError) as info:
        load_cdm(store, src)
    assert str(info.value) == "person.parquet data row 3, field person_id: not an integer"
