"""Raw hospital extracts: Synthea layout, identifiers consistent with the CDM, atomic writes."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from medhaven.errors import InvalidInput, LoadError
from medhaven.synth import raw as raw_module
from medhaven.synth.raw import RawHospital, write_raw_extract

EUNOMIA = Path("/work/shared/reference/eunomia/Synthea27Nj_5.4.zip")
SYNTHEA = Path("/work/shared/reference/synthea-raw")
CDM_TABLES = {
    "person",
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "observation",
    "procedure_occurrence",
    "death",
    "provider",
    "care_site",
    "location",
    "concept",
}
SYNTHEA_FILES = (
    "patients.csv",
    "encounters.csv",
    "conditions.csv",
    "medications.csv",
    "observations.csv",
    "procedures.csv",
    "organizations.csv",
    "providers.csv",
    "payers.csv",
)
HOSPITAL = RawHospital(
    slug="h1",
    name_ko="한빛대학교병원",
    name_en="Hanbit University Hospital",
    city_ko="서울",
    city_en="Seoul",
)


def load_eunomia() -> dict[str, pa.Table]:
    """Eunomia's CDM tables, lower-case names, read with pyarrow.csv."""
    out = {}
    with zipfile.ZipFile(EUNOMIA) as z:
        for name in z.namelist():
            table = name.rsplit("/", 1)[-1][:-4].lower()
            if not name.startswith("__MACOSX") and table in CDM_TABLES:
                out[table] = pacsv.read_csv(io.BytesIO(z.read(name)))
    return out


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def tiny_cdm() -> dict[str, pa.Table]:
    """Three persons (one born 1890s, one 2000s, one dead), two visits, one condition."""
    return {
        "person": pa.table(
            {
                "person_id": [10, 20, 30],
                "gender_concept_id": [8507, 8532, 8532],
                "year_of_birth": [1895, 2003, 1950],
                "month_of_birth": [2, 12, 6],
                "day_of_birth": [28, 1, 15],
            }
        ),
        "visit_occurrence": pa.table(
            {
                "visit_occurrence_id": [1, 2],
                "person_id": [10, 20],
                "visit_concept_id": [9201, 9202],
                "visit_start_date": [date(1985, 3, 5), date(2024, 3, 5)],
                "visit_end_date": [date(1985, 3, 9), date(2024, 3, 5)],
            }
        ),
        "condition_occurrence": pa.table(
            {
                "condition_occurrence_id": [1],
                "person_id": [10],
                "condition_concept_id": [201826],
                "condition_start_date": [date(1985, 3, 5)],
                "visit_occurrence_id": [1],
            }
        ),
        "death": pa.table({"person_id": [30], "death_date": [date(2020, 1, 2)]}),
        "concept": pa.table(
            {
                "concept_id": [201826],
                "concept_name": ["Type 2 diabetes mellitus"],
                "vocabulary_id": ["SNOMED"],
                "concept_code": ["44054006"],
            }
        ),
    }


@pytest.fixture(scope="module")
def eunomia() -> dict[str, pa.Table]:
    return load_eunomia()


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory, eunomia: dict[str, pa.Table]) -> Path:
    out = tmp_path_factory.mktemp("raw") / "h1"
    write_raw_extract(eunomia, out, seed=7, hospital=HOSPITAL)
    return out


@pytest.mark.parametrize("name", SYNTHEA_FILES)
def test_headers_equal_synthea_reference(extract: Path, name: str) -> None:
    ref = (SYNTHEA / name).read_text(encoding="utf-8").splitlines()[0]
    ours = (extract / name).read_text(encoding="utf-8").splitlines()[0]
    assert ours == ref


def test_linkage_covers_every_person(extract: Path, eunomia: dict[str, pa.Table]) -> None:
    link = read_rows(extract / "_linkage.csv")
    patients = {r["Id"] for r in read_rows(extract / "patients.csv")}
    assert sorted(int(r["person_id"]) for r in link) == sorted(
        eunomia["person"]["person_id"].to_pylist()
    )
    assert {r["patient_id"] for r in link} == patients
    assert len(patients) == eunomia["person"].num_rows


def test_rrn_and_birthdate_agree_with_cdm_person(
    extract: Path, eunomia: dict[str, pa.Table]
) -> None:
    person = {r["person_id"]: r for r in eunomia["person"].to_pylist()}
    link = {r["patient_id"]: int(r["person_id"]) for r in read_rows(extract / "_linkage.csv")}
    for row in read_rows(extract / "patients.csv"):
        p = person[link[row["Id"]]]
        born = date(p["year_of_birth"], p["month_of_birth"], p["day_of_birth"])
        assert row["BIRTHDATE"] == born.isoformat()
        assert row["SSN"][:6] == born.strftime("%y%m%d")
        sex_digit = int(row["SSN"][7])
        assert (sex_digit % 2 == 1) == (p["gender_concept_id"] == 8507)
        assert row["GENDER"] == ("M" if p["gender_concept_id"] == 8507 else "F")
        expected_century = {1: 1900, 2: 1900, 5: 1900, 6: 1900, 3: 2000, 4: 2000, 7: 2000, 8: 2000}
        assert expected_century[sex_digit] == born.year // 100 * 100


def test_death_dates_come_from_cdm(extract: Path, eunomia: dict[str, pa.Table]) -> None:
    link = {r["patient_id"]: int(r["person_id"]) for r in read_rows(extract / "_linkage.csv")}
    deaths = {r["person_id"]: r["death_date"].isoformat() for r in eunomia["death"].to_pylist()}
    for row in read_rows(extract / "patients.csv"):
        assert row["DEATHDATE"] == deaths.get(link[row["Id"]], "")


def test_condition_codes_match_hand_written_sql(
    extract: Path, eunomia: dict[str, pa.Table]
) -> None:
    con = duckdb.connect()
    con.register("co", eunomia["condition_occurrence"])
    con.register("concept", eunomia["concept"])
    expected = con.execute(
        "SELECT coalesce(c.concept_code, co.condition_source_value::VARCHAR) AS code, count(*) "
        "FROM co LEFT JOIN concept c ON c.concept_id = co.condition_source_concept_id "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    got = con.execute(
        f"SELECT CODE::VARCHAR, count(*) FROM read_csv('{extract / 'conditions.csv'}', all_varchar=true) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert got == expected


def test_row_counts_follow_the_cdm(extract: Path, eunomia: dict[str, pa.Table]) -> None:
    assert len(read_rows(extract / "encounters.csv")) == eunomia["visit_occurrence"].num_rows
    assert len(read_rows(extract / "medications.csv")) == eunomia["drug_exposure"].num_rows
    assert len(read_rows(extract / "procedures.csv")) == eunomia["procedure_occurrence"].num_rows
    obs = eunomia["measurement"].num_rows + eunomia["observation"].num_rows
    assert len(read_rows(extract / "observations.csv")) == obs


def test_encounter_dates_are_real_cdm_dates(extract: Path, eunomia: dict[str, pa.Table]) -> None:
    cdm_dates = sorted(
        d.isoformat() for d in eunomia["visit_occurrence"]["visit_start_date"].to_pylist()
    )
    raw_dates = sorted(r["START"][:10] for r in read_rows(extract / "encounters.csv"))
    assert raw_dates == cdm_dates


def test_korean_companion_file_carries_identifiers(extract: Path) -> None:
    kr = read_rows(extract / "patients_kr.csv")
    pats = {r["Id"]: r for r in read_rows(extract / "patients.csv")}
    for r in kr:
        assert re.fullmatch(r"[가-힣]{2,8}", r["name_hangul"])
        assert r["rrn"] == pats[r["Id"]]["SSN"]
        assert r["postcode"] == pats[r["Id"]]["ZIP"]
        assert re.fullmatch(r"010-\d{4}-\d{4}", r["phone_mobile"])
        assert r["address_ko"].split()[0].endswith(("시", "도"))


def test_same_seed_same_bytes(tmp_path: Path, eunomia: dict[str, pa.Table], extract: Path) -> None:
    again = tmp_path / "again"
    write_raw_extract(eunomia, again, seed=7, hospital=HOSPITAL)
    for f in sorted(p.name for p in extract.iterdir()):
        assert (again / f).read_bytes() == (extract / f).read_bytes(), f
    other = tmp_path / "other"
    write_raw_extract(eunomia, other, seed=8, hospital=HOSPITAL)
    assert (other / "patients.csv").read_bytes() != (extract / "patients.csv").read_bytes()


def test_tiny_cdm_extract(tmp_path: Path) -> None:
    summary = write_raw_extract(tiny_cdm(), tmp_path / "t", seed=1, hospital=HOSPITAL)
    assert summary.patients == 3 and summary.encounters == 2
    pats = read_rows(tmp_path / "t" / "patients.csv")
    assert [p["BIRTHDATE"] for p in pats] == ["1895-02-28", "2003-12-01", "1950-06-15"]
    # 1800s man: 9 (no foreigner numbers before 1900); 2000s woman: 4 (8 if foreign); 1900s woman: 2 (6).
    assert pats[0]["SSN"][7] == "9"
    assert pats[1]["SSN"][7] in ("4", "8")
    assert pats[2]["SSN"][7] in ("2", "6")
    assert [p["DEATHDATE"] for p in pats] == ["", "", "2020-01-02"]
    cond = read_rows(tmp_path / "t" / "conditions.csv")
    assert [(c["CODE"], c["DESCRIPTION"], c["START"]) for c in cond] == [
        ("44054006", "Type 2 diabetes mellitus", "1985-03-05")
    ]
    enc = {e["Id"]: e for e in read_rows(tmp_path / "t" / "encounters.csv")}
    assert enc[cond[0]["ENCOUNTER"]]["ENCOUNTERCLASS"] == "inpatient"
    assert cond[0]["PATIENT"] == pats[0]["Id"]


def test_failure_leaves_previous_extract_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x"
    write_raw_extract(tiny_cdm(), out, seed=1, hospital=HOSPITAL)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*args: object, **kwargs: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(raw_module, "write_notes", boom)
    with pytest.raises(LoadError, match="could not write"):
        write_raw_extract(tiny_cdm(), out, seed=2, hospital=HOSPITAL)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_failure_on_fresh_folder_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(raw_module, "write_notes", boom)
    with pytest.raises(LoadError):
        write_raw_extract(tiny_cdm(), tmp_path / "y", seed=2, hospital=HOSPITAL)
    assert list(tmp_path.iterdir()) == []


def test_missing_person_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="person table is missing"):
        write_raw_extract({}, tmp_path / "z", seed=1, hospital=HOSPITAL)


def test_person_without_birth_year_names_the_row(tmp_path: Path) -> None:
    cdm = tiny_cdm()
    cdm["person"] = pa.table(
        {"person_id": [10, 20], "gender_concept_id": [8507, 8532], "year_of_birth": [1950, None]}
    )
    with pytest.raises(InvalidInput, match=r"^person row 2: no year_of_birth") as err:
        write_raw_extract(cdm, tmp_path / "p", seed=1, hospital=HOSPITAL)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "p").exists()


def test_timezone_aware_datetimes_and_string_dates(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    cdm = tiny_cdm()
    cdm["person"] = cdm["person"].append_column(
        "birth_datetime",
        pa.array([datetime(1895, 2, 28, tzinfo=UTC), None, None], pa.timestamp("us", tz="UTC")),
    )
    cdm["drug_exposure"] = pa.table(
        {"person_id": [20], "drug_concept_id": [0], "drug_exposure_start_date": ["2024-03-05"]}
    )
    write_raw_extract(cdm, tmp_path / "tz", seed=1, hospital=HOSPITAL)
    assert read_rows(tmp_path / "tz" / "patients.csv")[0]["BIRTHDATE"] == "1895-02-28"
    assert read_rows(tmp_path / "tz" / "medications.csv")[0]["START"] == "2024-03-05T00:00:00Z"
