"""Bad sources: a one-line error naming file, row and field, and the store left exactly as it was.

Each case starts from a valid two-table source (persons 10-12, measurements
100-103) and breaks one thing; the expected row numbers are read off the
hand-written rows here. Every case runs on DuckDB and PostgreSQL, against an
empty store and against one that already holds data.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from load_helpers import (
    MEAS_HEADER,
    MEAS_ROWS,
    PERSON_HEADER,
    PERSON_ROWS,
    good_source,
    seed_existing,
    snapshot,
    write_csv,
)

from medhaven.cdm import open_store
from medhaven.cdm.loader import load_cdm
from medhaven.errors import LoadError

Break = Callable[[Path], Path]


def _meas_row(index: int, value: str, *, column: int) -> Break:
    """Replace one cell of measurement data row ``index`` (1-based)."""

    def apply(src: Path) -> Path:
        rows = list(MEAS_ROWS)
        cells = rows[index - 1].split(",")
        cells[column] = value
        rows[index - 1] = ",".join(cells)
        write_csv(src / "MEASUREMENT.csv", MEAS_HEADER, rows)
        return src

    return apply


def _person_rows(rows: list[str], header: str = PERSON_HEADER) -> Break:
    def apply(src: Path) -> Path:
        write_csv(src / "PERSON.csv", header, rows)
        return src

    return apply


def _extra_file(name: str, content: bytes) -> Break:
    def apply(src: Path) -> Path:
        (src / name).write_bytes(content)
        return src

    return apply


def _truncated_zip(src: Path) -> Path:
    archive = src.parent / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, f.name)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    return archive


def _corrupt_zip_member(src: Path) -> Path:
    """A zip whose central directory is intact but whose stored member bytes are altered."""
    archive = src.parent / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(src.iterdir()):
            zf.write(f, f.name)
    data = bytearray(archive.read_bytes())
    at = data.index(b"8507,1980")
    data[at : at + 4] = b"9999"
    archive.write_bytes(bytes(data))
    return archive


CASES: dict[str, tuple[Break, list[str]]] = {
    "missing required column": (
        _person_rows(
            [r.replace(",1980", "").replace(",1975", "").replace(",2001", "") for r in PERSON_ROWS],
            header=PERSON_HEADER.replace(",year_of_birth", ""),
        ),
        ["PERSON.csv header (line 1)", "required column 'year_of_birth' is missing"],
    ),
    "non-integer id": (
        _meas_row(2, "101x", column=0),
        ["MEASUREMENT.csv data row 2, field measurement_id: not an integer"],
    ),
    "fractional id": (
        _meas_row(3, "102.5", column=0),
        ["MEASUREMENT.csv data row 3, field measurement_id: not an integer"],
    ),
    "bad date": (
        _meas_row(4, "2021-13-45", column=3),
        ["MEASUREMENT.csv data row 4, field measurement_date: not a date"],
    ),
    "duplicate primary key in file": (
        _person_rows([*PERSON_ROWS, "11,8507,1999,8527,38003564,M"]),
        ["PERSON.csv data row 4, field person_id: duplicate primary key (same as data row 2)"],
    ),
    "duplicate primary key in store": (
        _meas_row(3, "1", column=0),
        ["MEASUREMENT.csv data row 3, field measurement_id: duplicate primary key"],
    ),
    "unknown person": (
        _meas_row(2, "99", column=1),
        ["MEASUREMENT.csv data row 2, field person_id: no such person"],
    ),
    "missing required value": (
        _meas_row(3, "", column=2),
        ["MEASUREMENT.csv data row 3, field measurement_concept_id: a required value is missing"],
    ),
    "varchar too long": (
        _meas_row(1, "k" * 51, column=6),
        [
            "MEASUREMENT.csv data row 1, field unit_source_value: longer than the spec's maximum of 50"
        ],
    ),
    "wrong field count": (
        _person_rows([PERSON_ROWS[0], PERSON_ROWS[1] + ",extra", PERSON_ROWS[2]]),
        ["PERSON.csv data row 2: 7 fields, the header has 6"],
    ),
    "unknown column": (
        _person_rows([r + ",x" for r in PERSON_ROWS], header=PERSON_HEADER + ",shoe_size"),
        ["PERSON.csv header (line 1), column 'shoe_size': not a field of table person"],
    ),
    "unknown table": (
        _extra_file("PERSONS.csv", b"person_id\n1\n"),
        ["PERSONS.csv: unknown table 'persons'"],
    ),
    "empty file": (
        _extra_file("DEATH.csv", b""),
        ["DEATH.csv: the file is empty (0 bytes"],
    ),
    "repeated column": (
        _person_rows(
            [r + ",M" for r in PERSON_ROWS], header=PERSON_HEADER + ",GENDER_SOURCE_VALUE"
        ),
        ["PERSON.csv header (line 1), column 'gender_source_value': the column appears twice"],
    ),
    "two files for one table": (
        _extra_file("person.csv", (PERSON_HEADER + "\n").encode()),
        ["a second file for table person"],
    ),
    "bad utf-8": (
        _extra_file(
            "CONCEPT.csv",
            b"concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,concept_code,"
            b"valid_start_date,valid_end_date\n"
            b'1,"ok, fine",Condition,SNOMED,Clinical Finding,11,2000-01-01,2099-12-31\n'
            b"2,caf\xe9,Condition,SNOMED,Clinical Finding,12,2000-01-01,2099-12-31\n",
        ),
        ["CONCEPT.csv data row 2, field concept_name: not UTF-8 text"],
    ),
    "truncated zip": (_truncated_zip, ["export.zip: not a readable zip archive"]),
    "corrupt zip member": (_corrupt_zip_member, ["export.zip: not a readable zip archive"]),
}

#: Cell values used above that must never appear in a message.
SECRETS = ["101x", "102.5", "2021-13-45", "kkkkk", "extra", "99"]


@pytest.mark.parametrize("existing", [False, True], ids=["empty store", "store with data"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_source_is_rejected_and_store_unchanged(
    store_url: str, tmp_path: Path, case: str, existing: bool
) -> None:
    if case == "duplicate primary key in store" and not existing:
        pytest.skip("needs rows already in the store")
    breaker, expected = CASES[case]
    source = breaker(good_source(tmp_path / "src"))
    with open_store(store_url) as store:
        if existing:
            seed_existing(store)
        before = snapshot(store)
        with pytest.raises(LoadError) as info:
            load_cdm(store, source)
        after = snapshot(store)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message
    for secret in SECRETS:
        assert secret not in message
    assert after == before


def test_first_bad_row_in_a_large_file_is_found(tmp_path: Path) -> None:
    """Row numbers follow the file's order even where DuckDB reads it in parallel."""
    src = tmp_path / "src"
    src.mkdir()
    rows = [f"{i},8507,1980,8527,38003564,M" for i in range(1, 60_001)]
    rows[45_677 - 1] = "45677,8507,19x0,8527,38003564,M"
    rows[50_000 - 1] = "50000,8507,abc,8527,38003564,M"
    write_csv(src / "person.csv", PERSON_HEADER, rows)
    with open_store(tmp_path / "cdm.duckdb") as store, pytest.raises(LoadError) as info:
        load_cdm(store, src)
    assert str(info.value) == "person.csv data row 45677, field year_of_birth: not an integer"


def test_data_row_counts_records_not_lines(tmp_path: Path) -> None:
    """A quoted value spanning lines is one data row; the row number counts records."""
    src = tmp_path / "src"
    src.mkdir()
    write_csv(
        src / "person.csv",
        PERSON_HEADER,
        [
            '1,8507,1980,8527,38003564,"two\nlines"',
            "2,8507,1980,8527,38003564,M",
            "3,8507,1980,x,38003564,M",
        ],
    )
    with open_store(tmp_path / "cdm.duckdb") as store, pytest.raises(LoadError) as info:
        load_cdm(store, src)
    assert str(info.value) == "person.csv data row 3, field race_concept_id: not an integer"


def test_missing_source(tmp_path: Path) -> None:
    with (
        open_store(tmp_path / "cdm.duckdb") as store,
        pytest.raises(LoadError, match="no such folder"),
    ):
        load_cdm(store, tmp_path / "nope")
