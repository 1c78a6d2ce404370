"""Column rules on small hand-written extracts: generalisation, sensitive rows, CSV mappings."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from medhaven.cdm import open_store
from medhaven.cdm.checks import run_checks
from medhaven.deid.keys import SiteKey
from medhaven.deid.tabular import deidentify_extract, read_mapping, synthea_profile
from medhaven.deid.tabular.sensitive import read_sensitive_list

KEY = SiteKey(b"\x07" * 32)
REF = dt.date(2025, 6, 30)

PATIENTS = [
    "Id,BIRTHDATE,DEATHDATE,SSN,FIRST,LAST,GENDER,RACE,ETHNICITY,STATE,ZIP,LAT,LON,ADDRESS",
    "p-1,1930-01-15,,999-11-2222,Ann,Older,F,white,nonhispanic,Massachusetts,03601,42.1,-71.2,1 Elm St",
    "p-2,1980-07-01,2024-02-10,999-33-4444,Bob,Middle,M,asian,nonhispanic,Seoul,06236,37.5,127.0,2 Oak Rd",
    "p-3,2001-12-31,,999-55-6666,Cy,Young,M,black,hispanic,Massachusetts,02139,42.3,-71.1,3 Pine Av",
]
ENCOUNTERS = [
    "Id,START,STOP,PATIENT,ENCOUNTERCLASS,CODE,DESCRIPTION,REASONCODE,REASONDESCRIPTION",
    "e-1,2020-03-01T10:00:00Z,2020-03-04T09:30:00Z,p-1,inpatient,1,Admission,86406008,HIV infection",
    "e-2,2021-05-05T08:00:00Z,2021-05-05T08:20:00Z,p-2,ambulatory,2,Check up,,",
    "e-3,2022-01-01T00:10:00Z,2022-01-01T01:00:00Z,p-3,emergency,3,ER,,",
]
CONDITIONS = [
    "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION",
    "2020-03-01,,p-1,e-1,86406008,HIV infection",
    "2020-03-01,2020-03-20,p-1,e-1,195662009,Acute viral pharyngitis",
    "2021-05-05,,p-2,e-2,370143000,Major depressive disorder",
    "2022-01-01,2022-01-09,p-3,e-3,444814009,Viral sinusitis",
]


def _write(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    src = tmp_path / "raw"
    _write(src, "patients.csv", PATIENTS)
    _write(src, "encounters.csv", ENCOUNTERS)
    _write(src, "conditions.csv", CONDITIONS)
    return src


def _run(src: Path, tmp: Path, profile: str, **kw: object) -> tuple[Path, dict[str, object]]:
    out = tmp / "out"
    rep = deidentify_extract(
        source=src,
        output=out,
        key=KEY,
        profile=synthea_profile(profile, reference_date=REF, **kw),  # type: ignore[arg-type]
        report_path=tmp / "r.json",
    )
    return out, rep


def test_safe_harbor_generalises_zip_years_and_ages_over_89(extract: Path, tmp_path: Path) -> None:
    out, _ = _run(extract, tmp_path, "safe-harbor")
    pats = _rows(out / "patients.csv")
    # 036 is one of HHS's small-population ZIP3 prefixes; 062 (Korean 06236) and 021 are not.
    assert [p["ZIP"] for p in pats] == ["000", "062", "021"]
    # Born 1930: 95 at the reference date, so pooled into 1935 ("90 or older").
    assert [p["BIRTHDATE"] for p in pats] == ["1935", "1980", "2001"]
    assert [p["DEATHDATE"] for p in pats] == ["", "2024", ""]
    assert "SSN" not in pats[0] and "LAT" not in pats[0] and "ADDRESS" not in pats[0]
    encs = _rows(out / "encounters.csv")
    # p-1 is 90+: the year of its 2020 encounter would reveal the age, so it pools into the
    # reference year (age 90 at every event); the others keep their years.
    assert [e["START"] for e in encs] == ["2025", "2021", "2022"]


def test_withhold_removes_sensitive_rows_and_blanks_reason_codes(
    extract: Path, tmp_path: Path
) -> None:
    out, rep = _run(extract, tmp_path, "kr-pseudonym")
    conds = _rows(out / "conditions.csv")
    assert sorted(c["CODE"] for c in conds) == ["195662009", "444814009"]
    encs = _rows(out / "encounters.csv")
    assert len(encs) == 3
    assert encs[0]["REASONCODE"] == "" and encs[0]["REASONDESCRIPTION"] == ""
    sens = rep["sensitive"]
    assert isinstance(sens, dict)
    assert sens["withheld"] == 2 and sens["by_category"] == {"hiv": 1, "mental": 1}
    assert sens["reason_codes_blanked"] == 1


def test_flag_keeps_rows_and_names_the_category(extract: Path, tmp_path: Path) -> None:
    out, _ = _run(extract, tmp_path, "kr-pseudonym", sensitive_mode="flag")
    conds = _rows(out / "conditions.csv")
    assert [c["SENSITIVE_CATEGORY"] for c in conds] == ["hiv", "", "mental", ""]


def test_custom_sensitive_list_with_prefix(extract: Path, tmp_path: Path) -> None:
    listing = tmp_path / "codes.csv"
    listing.write_text("code,category\n4448*,custom\n", encoding="utf-8")
    codes = read_sensitive_list(listing)
    out, _ = _run(extract, tmp_path, "kr-pseudonym", sensitive=codes)
    conds = _rows(out / "conditions.csv")
    assert sorted(c["CODE"] for c in conds) == ["195662009", "370143000", "86406008"]


def test_kr_pseudonym_shifts_every_date_of_a_patient_by_one_offset(
    extract: Path, tmp_path: Path
) -> None:
    out, _ = _run(extract, tmp_path, "kr-pseudonym", sensitive_mode="off")
    pats, encs = _rows(out / "patients.csv"), _rows(out / "encounters.csv")
    conds = _rows(out / "conditions.csv")
    birth_shift = (dt.date.fromisoformat(pats[0]["BIRTHDATE"]) - dt.date(1930, 1, 15)).days
    assert birth_shift != 0
    start = dt.datetime.fromisoformat(encs[0]["START"].replace("Z", "+00:00"))
    assert start - dt.datetime(2020, 3, 1, 10, tzinfo=dt.UTC) == dt.timedelta(days=birth_shift)
    assert encs[0]["STOP"].endswith("T09:30:00Z")
    cond_end = dt.date.fromisoformat(conds[1]["STOP"]) - dt.date.fromisoformat(conds[1]["START"])
    assert cond_end.days == 19
    assert pats[0]["ZIP"] == "036"  # kr-pseudonym: postcode prefix, no US small-area rule


def test_cdm_from_hand_written_extract(extract: Path, tmp_path: Path) -> None:
    cdm = tmp_path / "cdm.duckdb"
    deidentify_extract(
        source=extract,
        output=tmp_path / "out",
        key=KEY,
        profile=synthea_profile("kr-pseudonym", reference_date=REF, sensitive_mode="off"),
        report_path=tmp_path / "r.json",
        cdm=str(cdm),
    )
    with open_store(cdm, read_only=True) as store:
        visits = store.fetchall(
            "SELECT visit_concept_id, visit_end_date - visit_start_date FROM visit_occurrence "
            "ORDER BY visit_source_value"
        )
        # ambulatory -> outpatient 9202, emergency -> ER 9203, inpatient -> 9201; 3-day stay kept
        assert [(int(a), int(b)) for a, b in visits] == [(9202, 0), (9203, 0), (9201, 3)]
        genders = store.fetchall("SELECT gender_concept_id FROM person ORDER BY year_of_birth")
        assert [g[0] for g in genders] == [8532, 8507, 8507]
        conds = store.fetchall(
            "SELECT condition_source_value, condition_concept_id FROM condition_occurrence "
            "ORDER BY condition_source_value"
        )
        by_code = dict(conds)
        assert by_code["195662009"] != 0  # in the shipped vocabulary
        assert by_code["86406008"] == 0  # not in it: concept 0, source value kept
        assert store.count("death") == 1


MAPPING = """
reference_date: 2025-01-01
text_dates: shift
files:
  visits.csv:
    patient: pid
    quasi: [age, sex]
    columns:
      pid: pseudonymize
      mrn: {action: pseudonymize, namespace: mrn}
      name: drop
      age: {action: generalize, method: age_band}
      sex: keep
      visit: date_shift
      zip: {action: generalize, method: zip3}
      seen: {action: generalize, method: year}
      note: text
"""
VISITS = [
    "pid,mrn,name,age,sex,visit,zip,seen,note,extra",
    "A1,M-100,Jane Roe,93,F,2024-03-05,02139,2024-03-05,Seen on 2024-03-05 by Dr. Smith,x",
    "A1,M-100,Jane Roe,93,F,2024-03-15,02139,2024-03-15,Call 010-1234-5678,y",
    "B2,M-200,Joe Bloggs,41,M,2023-11-30T13:45:00,05901,2023-11-30,fine,z",
]


def _mapping_run(tmp_path: Path, mapping: str, lines: list[str]) -> tuple[Path, dict[str, object]]:
    src = tmp_path / "raw"
    _write(src, "visits.csv", lines)
    m = tmp_path / "m.yaml"
    m.write_text(mapping, encoding="utf-8")
    rep = deidentify_extract(
        source=src,
        output=tmp_path / "out",
        key=KEY,
        profile=read_mapping(m),
        report_path=tmp_path / "r.json",
        fmt="csv",
        strict_columns=True,
    )
    return tmp_path / "out", rep


def test_csv_mapping_applies_every_action(tmp_path: Path) -> None:
    out, rep = _mapping_run(tmp_path, MAPPING, VISITS)
    rows = _rows(out / "visits.csv")
    assert list(rows[0]) == ["pid", "mrn", "age", "sex", "visit", "zip", "seen", "note"]
    assert rows[0]["pid"] == rows[1]["pid"] != rows[2]["pid"]
    assert rows[0]["mrn"] != rows[0]["pid"]  # namespaces keep equal strings apart
    assert [r["age"] for r in rows] == ["90+", "90+", "40-44"]
    assert [r["zip"] for r in rows] == ["021", "021", "000"]
    assert [r["seen"] for r in rows] == ["2024", "2024", "2023"]
    d0, d1 = (dt.date.fromisoformat(r["visit"]) for r in rows[:2])
    assert (d1 - d0).days == 10 and d0 != dt.date(2024, 3, 5)
    assert rows[2]["visit"].endswith("T13:45:00")
    assert "Smith" not in rows[0]["note"] and d0.isoformat() in rows[0]["note"]
    assert "010-1234-5678" not in rows[1]["note"]
    tables = rep["tables"]
    assert isinstance(tables, dict)
    assert tables["visits.csv"]["unknown_columns"] == ["extra"]
    assert tables["visits.csv"]["columns"]["name"] == {"action": "drop", "values": 3}
    risk = rep["risk"]
    assert isinstance(risk, dict) and risk["visits.csv"]["k"] == 1


def test_mapping_naming_a_missing_column_is_a_one_line_error(tmp_path: Path) -> None:
    from medhaven.errors import InvalidInput

    broken = MAPPING.replace("      sex: keep\n", "      sex: keep\n      ward: drop\n")
    with pytest.raises(InvalidInput) as err:
        _mapping_run(tmp_path, broken, VISITS)
    assert str(err.value) == "visits.csv: the mapping names column ward, which the file lacks"
    assert not (tmp_path / "out").exists() and not (tmp_path / "r.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_mapping_naming_a_missing_file_is_an_error(tmp_path: Path) -> None:
    from medhaven.errors import InvalidInput

    extra = MAPPING + "  wards.csv:\n    columns: {ward: keep}\n"
    with pytest.raises(InvalidInput) as err:
        _mapping_run(tmp_path, extra, VISITS)
    assert str(err.value) == "the mapping names file wards.csv, which --input lacks"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("files: {v.csv: {columns: {a: shred}}}", "m.yaml: file v.csv: column a: unknown column"),
        ("files: {v.csv: {columns: {a: {action: generalize, method: zip9}}}}", "generalization"),
        ("files: {v.csv: {columns: {d: date_shift}}}", "date_shift needs a patient column"),
        ("nope: 1", "unknown key nope"),
        ("files: [1, 2]", "'files' must map"),
    ],
)
def test_bad_mapping_files(tmp_path: Path, yaml_text: str, message: str) -> None:
    from medhaven.errors import InvalidInput

    m = tmp_path / "m.yaml"
    m.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        read_mapping(m)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_report_json_on_disk_matches_and_has_no_input_value(extract: Path, tmp_path: Path) -> None:
    _, rep = _run(extract, tmp_path, "safe-harbor")
    text = (tmp_path / "r.json").read_text("utf-8")
    assert json.loads(text)["config_hash"] == rep["config_hash"]
    for value in ("p-1", "999-11-2222", "Older", "1 Elm St", "e-1", "1930-01-15", "42.1"):
        assert value not in text


# Hardening: 90+ pooling of every date, notes of sensitive encounters, flags in the CDM,
# observation periods for persons without records. ---------------------------------------

NOTES = [
    {"id": "n-1", "patient": "p-1", "encounter": "e-1", "text": "Admitted 2020-03-01, Age: 95."},
    {"id": "n-2", "patient": "p-2", "encounter": "e-2", "text": "Seen 2021-05-05 for low mood."},
    {"id": "n-3", "patient": "p-3", "encounter": "e-3", "text": "Seen 2022-01-01, sinusitis."},
]


def _notes(folder: Path) -> None:
    lines = [json.dumps(n) for n in NOTES]
    _write(folder, "notes.jsonl", lines)


def _notes_out(out: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in (out / "notes.jsonl").read_text("utf-8").splitlines()]


def _cdm_run(src: Path, tmp: Path, profile: str, **kw: object) -> tuple[Path, dict[str, object]]:
    rep = deidentify_extract(
        source=src,
        output=tmp / "out",
        key=KEY,
        profile=synthea_profile(profile, reference_date=REF, **kw),  # type: ignore[arg-type]
        report_path=tmp / "r.json",
        cdm=str(tmp / "cdm.duckdb"),
    )
    return tmp / "cdm.duckdb", rep


def _checks_pass(cdm: Path) -> None:
    with open_store(cdm, read_only=True) as store:
        failed = [
            (r.check, r.table, r.field) for r in run_checks(store).results if r.status != "pass"
        ]
    assert failed == []


def test_safe_harbor_pools_every_date_of_a_90_plus_patient(extract: Path, tmp_path: Path) -> None:
    # p-4 is 89 at the reference date (2025-06-30) but 91 at a visit recorded in 2027.
    with (extract / "patients.csv").open("a", encoding="utf-8") as fh:
        fh.write(
            "p-4,1936-01-01,2027-03-01,999-77-8888,Di,Late,F,white,nonhispanic,Ohio,44101,1,2,x\n"
        )
    with (extract / "encounters.csv").open("a", encoding="utf-8") as fh:
        fh.write("e-4,2027-02-01T10:00:00Z,2027-02-02T10:00:00Z,p-4,inpatient,4,Stay,,\n")
    with (extract / "conditions.csv").open("a", encoding="utf-8") as fh:
        fh.write("2027-02-01,2027-02-20,p-4,e-4,195662009,Acute viral pharyngitis\n")
    _notes(extract)
    cdm, rep = _cdm_run(extract, tmp_path, "safe-harbor")
    out = tmp_path / "out"
    pats = _rows(out / "patients.csv")
    assert [(p["BIRTHDATE"], p["DEATHDATE"]) for p in pats] == [
        ("1935", ""),
        ("1980", "2024"),
        ("2001", ""),
        ("1935", "2025"),
    ]
    old = {pats[0]["Id"], pats[3]["Id"]}
    encs = _rows(out / "encounters.csv")
    assert [(e["START"], e["STOP"]) for e in encs] == [
        ("2025", "2025"),
        ("2021", "2021"),
        ("2022", "2022"),
        ("2025", "2025"),
    ]
    conds = _rows(out / "conditions.csv")
    assert {(c["START"], c["STOP"]) for c in conds if c["PATIENT"] in old} == {
        ("2025", ""),
        ("2025", "2025"),
    }
    assert [(c["START"], c["STOP"]) for c in conds if c["PATIENT"] not in old] == [
        ("2021", ""),
        ("2022", "2022"),
    ]
    notes = _notes_out(out)
    assert "2020" not in notes[0]["text"] and "95" not in notes[0]["text"]
    # p-1: 2 encounter + 3 condition dates; p-4: death + 2 encounter + 2 condition dates.
    pooled = rep["ages_90_or_over"]
    assert pooled == {"patients": 2, "birth_years_pooled": 2, "event_years_pooled": 10}
    _checks_pass(cdm)
    with open_store(cdm, read_only=True) as store:
        rows = store.fetchall(
            "SELECT p.person_source_value, p.year_of_birth, d.year FROM person p JOIN ("
            " SELECT person_id, year(visit_start_date) AS year FROM visit_occurrence"
            " UNION ALL SELECT person_id, year(visit_end_date) FROM visit_occurrence"
            " UNION ALL SELECT person_id, year(condition_start_date) FROM condition_occurrence"
            " UNION ALL SELECT person_id, year(death_date) FROM death"
            " UNION ALL SELECT person_id, year(observation_period_start_date)"
            "   FROM observation_period"
            " UNION ALL SELECT person_id, year(observation_period_end_date)"
            "   FROM observation_period) d USING (person_id)"
        )
    assert {(y, d) for p, y, d in rows if p in old} == {(1935, 2025)}
    assert all(d - y <= 89 for p, y, d in rows if p not in old)


def test_withheld_encounters_withhold_their_notes(extract: Path, tmp_path: Path) -> None:
    _notes(extract)
    out, rep = _run(extract, tmp_path, "kr-pseudonym")
    notes = _notes_out(out)
    pats = _rows(out / "patients.csv")
    # e-1 (HIV reason code and condition) and e-2 (depression) are sensitive; e-3 is not.
    assert [n["patient"] for n in notes] == [pats[2]["Id"]]
    assert "sinusitis" in notes[0]["text"] and "sensitive_category" not in notes[0]
    sens = rep["sensitive"]
    assert isinstance(sens, dict)
    assert sens["notes_withheld"] == 2 and sens["notes_flagged"] == 0
    assert rep["notes"] == {**rep["notes"], "rows_in": 3, "rows_out": 1}  # type: ignore[dict-item]
    assert rep["notes"]["by_category"] == {"hiv": 1, "mental": 1}  # type: ignore[index]


def test_flagged_encounters_flag_their_notes(extract: Path, tmp_path: Path) -> None:
    _notes(extract)
    out, rep = _run(extract, tmp_path, "kr-pseudonym", sensitive_mode="flag")
    notes = _notes_out(out)
    assert [n.get("sensitive_category") for n in notes] == ["hiv", "mental", None]
    sens = rep["sensitive"]
    assert isinstance(sens, dict) and sens["notes_flagged"] == 2 and sens["notes_withheld"] == 0


def test_flagged_rows_carry_their_category_into_the_cdm(extract: Path, tmp_path: Path) -> None:
    cdm, rep = _cdm_run(extract, tmp_path, "kr-pseudonym", sensitive_mode="flag")
    _checks_pass(cdm)
    with open_store(cdm, read_only=True) as store:
        conds = store.fetchall(
            "SELECT c.condition_source_value, o.value_as_string, o.person_id = c.person_id,"
            " o.observation_date = c.condition_start_date, o.observation_concept_id"
            " FROM observation o JOIN condition_occurrence c"
            " ON c.condition_occurrence_id = o.observation_event_id"
            " WHERE o.observation_source_value = 'SENSITIVE_CATEGORY'"
            " AND o.qualifier_source_value = 'condition_occurrence' ORDER BY 1"
        )
        visits = store.fetchall(
            "SELECT v.visit_source_value, o.value_as_string, o.visit_occurrence_id"
            " = v.visit_occurrence_id FROM observation o JOIN visit_occurrence v"
            " ON v.visit_occurrence_id = o.observation_event_id"
            " WHERE o.observation_source_value = 'SENSITIVE_CATEGORY'"
            " AND o.qualifier_source_value = 'visit_occurrence'"
        )
        flags = store.scalar(
            "SELECT count(*) FROM observation WHERE observation_source_value = 'SENSITIVE_CATEGORY'"
        )
        ids = store.scalar("SELECT count(DISTINCT observation_id) = count(*) FROM observation")
    assert [tuple(r) for r in conds] == [
        ("370143000", "mental", True, True, 0),
        ("86406008", "hiv", True, True, 0),
    ]
    assert [tuple(r) for r in visits] == [("inpatient", "hiv", True)]
    assert flags == 3 and ids
    cdm_rep = rep["cdm"]
    assert isinstance(cdm_rep, dict)
    assert cdm_rep["sensitive_flags"] == {"condition_occurrence": 2, "visit_occurrence": 1}


def test_withhold_leaves_no_flag_and_no_sensitive_row_in_the_cdm(
    extract: Path, tmp_path: Path
) -> None:
    cdm, _ = _cdm_run(extract, tmp_path, "kr-pseudonym")
    _checks_pass(cdm)
    with open_store(cdm, read_only=True) as store:
        codes = store.fetchall("SELECT condition_source_value FROM condition_occurrence ORDER BY 1")
        flags = store.scalar(
            "SELECT count(*) FROM observation WHERE observation_source_value = 'SENSITIVE_CATEGORY'"
        )
    assert [r[0] for r in codes] == ["195662009", "444814009"] and flags == 0


@pytest.mark.parametrize("profile", ["safe-harbor", "kr-pseudonym"])
def test_every_person_gets_an_observation_period(
    extract: Path, tmp_path: Path, profile: str
) -> None:
    # p-5 has no record at all; p-6 has only a death.
    with (extract / "patients.csv").open("a", encoding="utf-8") as fh:
        fh.write("p-5,1990-05-05,,1,E,F,F,white,nonhispanic,Ohio,44101,1,2,x\n")
        fh.write("p-6,1950-08-08,2019-09-09,2,G,H,M,white,nonhispanic,Ohio,44101,1,2,x\n")
    cdm, rep = _cdm_run(extract, tmp_path, profile, sensitive_mode="off")
    _checks_pass(cdm)
    pats = {p["Id"]: p for p in _rows(tmp_path / "out" / "patients.csv")}
    with open_store(cdm, read_only=True) as store:
        missing = store.scalar(
            "SELECT count(*) FROM person p WHERE NOT EXISTS ("
            " SELECT 1 FROM observation_period o WHERE o.person_id = p.person_id)"
        )
        periods = {
            r[0]: (r[1], r[2])
            for r in store.fetchall(
                "SELECT p.person_source_value, o.observation_period_start_date,"
                " o.observation_period_end_date FROM person p JOIN observation_period o"
                " USING (person_id)"
            )
        }
        assert store.count("person") == store.count("observation_period") == 5
    assert missing == 0
    p5, p6 = list(pats)[3], list(pats)[4]

    def day(v: str) -> dt.date:
        return dt.date(int(v), 1, 1) if len(v) == 4 else dt.date.fromisoformat(v)

    end = dt.date(REF.year, 1, 1) if profile == "safe-harbor" else REF
    assert periods[p5] == (day(pats[p5]["BIRTHDATE"]), end)
    assert periods[p6] == (day(pats[p6]["BIRTHDATE"]), day(pats[p6]["DEATHDATE"]))
    cdm_rep = rep["cdm"]
    assert isinstance(cdm_rep, dict)
    assert cdm_rep["observation_periods"] == {"from_records": 3, "birth_to_death_or_reference": 2}


POOL_MAPPING = """
reference_date: 2025-01-01
files:
  people.csv:
    patient: pid
    columns: {pid: pseudonymize, born: {action: generalize, method: birth_year}}
  visits.csv:
    patient: pid
    columns: {pid: pseudonymize, seen: {action: generalize, method: year}, visit: date_shift}
"""


def test_csv_mapping_pools_years_of_90_plus_patients(tmp_path: Path) -> None:
    src = tmp_path / "raw"
    _write(src, "people.csv", ["pid,born", "A1,1930-05-05", "B2,1980-01-01"])
    _write(src, "visits.csv", ["pid,seen,visit", "A1,2019-03-03,2019-03-03", "B2,2020-01-01,"])
    m = tmp_path / "m.yaml"
    m.write_text(POOL_MAPPING, encoding="utf-8")
    rep = deidentify_extract(
        source=src,
        output=tmp_path / "out",
        key=KEY,
        profile=read_mapping(m),
        report_path=tmp_path / "r.json",
        fmt="csv",
        strict_columns=True,
    )
    people = _rows(tmp_path / "out" / "people.csv")
    visits = _rows(tmp_path / "out" / "visits.csv")
    assert [p["born"] for p in people] == ["1935", "1980"]
    assert [v["seen"] for v in visits] == ["2025", "2020"]
    shifted = dt.date.fromisoformat(visits[0]["visit"])  # date_shift is never pooled
    assert 0 < abs((shifted - dt.date(2019, 3, 3)).days) <= 365
    assert rep["ages_90_or_over"] == {
        "patients": 1,
        "birth_years_pooled": 1,
        "event_years_pooled": 1,
    }
