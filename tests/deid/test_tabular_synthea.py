"""End to end on Synthea-layout extracts: no identifier left, intervals kept, CDM passes checks."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import hmac
import json
import re
import unicodedata
from collections import defaultdict
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from medhaven.cdm import open_store
from medhaven.cdm.checks import run_checks
from medhaven.deid.keys import SiteKey
from medhaven.deid.tabular import deidentify_extract, synthea_profile
from medhaven.synth.writer import write_hospitals

KEY = SiteKey(bytes(range(32)))
OTHER_KEY = SiteKey(bytes(range(1, 33)))
REFERENCE_DAY = dt.date(2026, 1, 1)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated raw extract (30 patients, Korean identifiers, notes)."""
    out = tmp_path_factory.mktemp("synth")
    write_hospitals(out, hospitals=1, persons=30, seed=7, raw=True)
    (extract,) = out.glob("*/raw")
    return extract


def _run(src: Path, base: Path, profile: str, *, key: SiteKey = KEY, **kw: object) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    deidentify_extract(
        source=src,
        output=base / "out",
        key=key,
        profile=synthea_profile(profile, reference_date=REFERENCE_DAY, **kw),  # type: ignore[arg-type]
        report_path=base / "report.json",
        cdm=str(base / "cdm.duckdb"),
    )
    return base


@pytest.fixture(scope="module")
def kr(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kr-pseudonym with sensitive rows flagged (so every input row has its output row)."""
    return _run(raw, tmp_path_factory.mktemp("kr"), "kr-pseudonym", sensitive_mode="flag")


@pytest.fixture(scope="module")
def sh(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """safe-harbor on the generated extract."""
    return _run(raw, tmp_path_factory.mktemp("sh"), "safe-harbor")


def _identifiers(src: Path) -> set[str]:
    """Every direct identifier and record id of the input (values of 5+ characters, or Hangul names)."""
    found: set[str] = set()
    wanted = {
        "patients.csv": ["Id", "SSN", "DRIVERS", "PASSPORT", "FIRST", "LAST", "ADDRESS", "LAT"],
        "patients_kr.csv": [
            "Id",
            "name_hangul",
            "first_roman",
            "rrn",
            "us_ssn",
            "phone_mobile",
            "phone_home",
            "email",
            "mrn",
            "insurance_no",
            "address_ko",
            "address_en",
            "guardian_name_hangul",
            "guardian_name_roman",
            "guardian_phone",
        ],
        "providers.csv": ["Id", "NAME"],
        "providers_kr.csv": ["name_hangul", "license_no"],
        "encounters.csv": ["Id"],
        "organizations.csv": ["Id", "ADDRESS", "PHONE"],
        "payer_transitions.csv": ["MEMBERID", "OWNERNAME"],
        "claims.csv": ["Id"],
        "imaging_studies.csv": ["SERIES_UID", "INSTANCE_UID"],
        "devices.csv": ["UDI"],
    }
    for name, cols in wanted.items():
        path = src / name
        if not path.exists():
            continue
        for row in _rows(path):
            for c in cols:
                v = (row.get(c) or "").strip()
                hangul = any("가" <= ch <= "힣" for ch in v)
                if len(v) >= 5 or (hangul and len(v) >= 3):
                    found.add(v)
    return found


def _cdm_text(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        parts = []
        for (table,) in con.execute("SHOW TABLES").fetchall():
            if table.startswith("concept") or table in ("vocabulary", "domain", "relationship"):
                continue
            for row in con.execute(f"SELECT * FROM {table}").fetchall():
                parts.append("|".join("" if v is None else str(v) for v in row))
        return "\n".join(parts)
    finally:
        con.close()


def _leaked(idents: set[str], text: str) -> list[str]:
    """Identifiers found in ``text`` as a whole token ("Haeun" inside "Haeundae-gu" is no leak)."""
    return [
        v
        for v in idents
        if v in text and re.search(rf"(?<!\w){re.escape(v)}(?!\w)", text) is not None
    ]


def _all_output_text(base: Path) -> str:
    texts = [p.read_text(encoding="utf-8") for p in sorted((base / "out").iterdir())]
    texts.append((base / "report.json").read_text(encoding="utf-8"))
    texts.append(_cdm_text(base / "cdm.duckdb"))
    return "\n".join(texts)


@pytest.mark.parametrize("which", ["kr", "sh"])
def test_no_input_identifier_appears_in_output_report_or_cdm(
    which: str, raw: Path, request: pytest.FixtureRequest
) -> None:
    base = request.getfixturevalue(which)
    idents = _identifiers(raw)
    assert len(idents) > 300  # names, RRNs, phones, MRNs, UUIDs, ...
    text = _all_output_text(base)
    leaked = _leaked(idents, text)
    assert leaked == [], f"{len(leaked)} input identifiers found in the output"


@pytest.mark.slow
def test_reference_extract_leaves_no_identifier(reference: Path, tmp_path: Path) -> None:
    src = reference / "synthea-raw"
    base = _run(src, tmp_path, "safe-harbor")
    idents = _identifiers(src)
    assert len(idents) > 100
    text = _all_output_text(base)
    assert _leaked(idents, text) == []
    assert not (base / "out" / "LICENSE").exists()


def _days(a: str, b: str) -> int:
    return (dt.date.fromisoformat(b[:10]) - dt.date.fromisoformat(a[:10])).days


def _time_part(v: str) -> str:
    return v[10:]


def test_one_offset_per_patient_in_every_table_and_intervals_kept(raw: Path, kr: Path) -> None:
    tables = {
        "patients.csv": ("Id", ["BIRTHDATE", "DEATHDATE"]),
        "encounters.csv": ("PATIENT", ["START", "STOP"]),
        "conditions.csv": ("PATIENT", ["START", "STOP"]),
        "medications.csv": ("PATIENT", ["START", "STOP"]),
        "observations.csv": ("PATIENT", ["DATE"]),
        "procedures.csv": ("PATIENT", ["START", "STOP"]),
    }
    offsets: dict[str, set[int]] = defaultdict(set)
    compared = 0
    for name, (pcol, dcols) in tables.items():
        before, after = _rows(raw / name), _rows(kr / "out" / name)
        assert len(before) == len(after), name
        for b, a in zip(before, after, strict=True):
            for c in dcols:
                if not b[c]:
                    assert not a[c]
                    continue
                offsets[b[pcol]].add(_days(b[c], a[c]))
                assert _time_part(a[c]) == _time_part(b[c])  # time of day and zone untouched
                compared += 1
    assert compared > 5000
    assert all(len(v) == 1 for v in offsets.values()), "a patient got two different offsets"
    shifts = [next(iter(v)) for v in offsets.values()]
    assert all(s != 0 and abs(s) <= 365 for s in shifts)
    assert len(set(shifts)) > len(shifts) // 2  # offsets differ between patients


def test_within_patient_intervals_equal_to_the_second(raw: Path, kr: Path) -> None:
    def ts(v: str) -> dt.datetime:
        return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))

    before, after = _rows(raw / "encounters.csv"), _rows(kr / "out" / "encounters.csv")
    by_patient: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = defaultdict(list)
    for b, a in zip(before, after, strict=True):
        by_patient[b["PATIENT"]].append((b, a))
    checked = 0
    for pairs in by_patient.values():
        first_b, first_a = pairs[0]
        for b, a in pairs[1:]:
            assert ts(b["START"]) - ts(first_b["START"]) == ts(a["START"]) - ts(first_a["START"])
            assert ts(b["STOP"]) - ts(b["START"]) == ts(a["STOP"]) - ts(a["START"])
            checked += 1
    assert checked > 100


def test_notes_dates_move_by_the_patients_table_offset(raw: Path, kr: Path) -> None:
    offset = {
        b["Id"]: _days(b["BIRTHDATE"], a["BIRTHDATE"])
        for b, a in zip(
            _rows(raw / "patients.csv"), _rows(kr / "out" / "patients.csv"), strict=True
        )
    }
    notes_in = [json.loads(x) for x in (raw / "notes.jsonl").read_text("utf-8").splitlines()]
    notes_out = [
        json.loads(x) for x in (kr / "out" / "notes.jsonl").read_text("utf-8").splitlines()
    ]
    assert len(notes_in) == len(notes_out) > 0
    iso = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
    checked = 0
    for n_in, n_out in zip(notes_in, notes_out, strict=True):
        assert n_out["patient"] == _expected_pseudonym(n_in["patient"], "person")
        assert n_out["encounter"] == _expected_pseudonym(n_in["encounter"], "encounter")
        days = offset[n_in["patient"]]
        for m in iso.finditer(n_in["text"]):
            moved = dt.date.fromisoformat(m.group(0)) + dt.timedelta(days=days)
            assert moved.isoformat() in n_out["text"]
            assert m.group(0) not in n_out["text"] or days % 365 == 0
            checked += 1
    assert checked > 20


def _expected_pseudonym(value: str, namespace: str) -> str:
    """The documented pseudonym, recomputed here from HKDF + HMAC (not with MedHaven's code)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    sub = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"medhaven/deid/pseudonym/v1"
    ).derive(bytes(range(32)))
    norm = unicodedata.normalize("NFKC", value).strip().casefold()
    msg = namespace.encode() + b"\x00" + norm.encode()
    return hmac.new(sub, msg, hashlib.sha256).hexdigest()[:24]


def test_pseudonyms_are_keyed_hmacs_and_join_across_files(raw: Path, kr: Path) -> None:
    pats_in, pats_out = _rows(raw / "patients.csv"), _rows(kr / "out" / "patients.csv")
    for b, a in zip(pats_in, pats_out, strict=True):
        assert a["Id"] == _expected_pseudonym(b["Id"], "person")
    enc_in, enc_out = _rows(raw / "encounters.csv"), _rows(kr / "out" / "encounters.csv")
    for b, a in zip(enc_in, enc_out, strict=True):
        assert a["PATIENT"] == _expected_pseudonym(b["PATIENT"], "person")
        assert a["Id"] == _expected_pseudonym(b["Id"], "encounter")
    kr_in = _rows(raw / "patients_kr.csv")
    kr_out = _rows(kr / "out" / "patients_kr.csv")
    for b, a in zip(kr_in, kr_out, strict=True):
        assert a["mrn"] == _expected_pseudonym(b["mrn"], "mrn")
        assert "rrn" not in a and "name_hangul" not in a
        assert len(a["postcode"]) == 3 and b["postcode"].startswith(a["postcode"])


def test_same_key_same_output_other_key_other_pseudonyms(
    raw: Path, kr: Path, tmp_path: Path
) -> None:
    again = _run(raw, tmp_path / "again", "kr-pseudonym", sensitive_mode="flag")
    other = _run(raw, tmp_path / "other", "kr-pseudonym", key=OTHER_KEY, sensitive_mode="flag")
    for name in ("patients.csv", "encounters.csv", "notes.jsonl"):
        assert (again / "out" / name).read_bytes() == (kr / "out" / name).read_bytes()
    ids = {r["Id"] for r in _rows(kr / "out" / "patients.csv")}
    ids_other = {r["Id"] for r in _rows(other / "out" / "patients.csv")}
    assert ids.isdisjoint(ids_other)


def test_safe_harbor_keeps_years_only_and_drops_direct_identifiers(raw: Path, sh: Path) -> None:
    full_date = re.compile(r"\d{4}-\d{2}-\d{2}")
    for path in (sh / "out").glob("*.csv"):
        assert not full_date.search(path.read_text("utf-8")), path.name
    pats = _rows(sh / "out" / "patients.csv")
    assert set(pats[0]) == {
        "Id",
        "BIRTHDATE",
        "DEATHDATE",
        "MARITAL",
        "RACE",
        "ETHNICITY",
        "GENDER",
        "STATE",
        "ZIP",
        "HEALTHCARE_EXPENSES",
        "HEALTHCARE_COVERAGE",
    }
    births = [int(b["BIRTHDATE"][:4]) for b in _rows(raw / "patients.csv")]
    old = sum(1 for y in births if REFERENCE_DAY.year - y > 90)
    assert old > 0
    pooled = [p for p in pats if p["BIRTHDATE"] == str(REFERENCE_DAY.year - 90)]
    assert len(pooled) >= old
    assert all(int(p["BIRTHDATE"]) >= REFERENCE_DAY.year - 90 for p in pats)
    kr_rows = _rows(sh / "out" / "patients_kr.csv")
    assert set(kr_rows[0]) == {"Id", "foreigner", "postcode"}


def test_safe_harbor_notes_have_no_date(sh: Path) -> None:
    notes = [json.loads(x) for x in (sh / "out" / "notes.jsonl").read_text("utf-8").splitlines()]
    iso = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
    assert notes and not any(iso.search(n["text"]) for n in notes)
    assert all("[DATE]" in n["text"] for n in notes if "Admitted" in n["text"])


def _vocab_codes(vocabulary: str) -> set[str]:
    path = resources.files("medhaven.cdm") / "vocab" / "concept.csv.gz"
    with resources.as_file(path) as local, gzip.open(local, "rt", encoding="utf-8") as fh:
        return {r["concept_code"] for r in csv.DictReader(fh) if r["vocabulary_id"] == vocabulary}


@pytest.mark.parametrize("profile", ["safe-harbor", "kr-pseudonym"])
def test_reference_extract_cdm_passes_checks(reference: Path, tmp_path: Path, profile: str) -> None:
    src = reference / "synthea-raw"
    base = _run(src, tmp_path, profile, sensitive_mode="off")
    with open_store(base / "cdm.duckdb") as store:
        report = run_checks(store)
        failed = [(r.check, r.table, r.field) for r in report.results if r.status != "pass"]
        assert failed == []
        assert store.count("person") == len(_rows(src / "patients.csv"))
        assert store.count("visit_occurrence") == len(_rows(src / "encounters.csv"))
        conditions = _rows(src / "conditions.csv")
        snomed = _vocab_codes("SNOMED")
        mapped = sum(1 for r in conditions if r["CODE"] in snomed)
        got = store.scalar(
            "SELECT count(*) FROM condition_occurrence WHERE condition_concept_id <> 0"
        )
        assert got == mapped
        zero = store.fetchall(
            "SELECT count(*), count(condition_source_value) FROM condition_occurrence "
            "WHERE condition_concept_id = 0"
        )[0]
        assert zero[0] == len(conditions) - mapped > 0 and zero[1] == zero[0]
        assert store.count("concept") > 0
    rep = json.loads((base / "report.json").read_text("utf-8"))
    assert rep["cdm"]["mapping"]["conditions.csv"]["unmapped"] == len(conditions) - mapped


@pytest.mark.parametrize("which", ["kr", "sh"])
def test_generated_extract_cdm_passes_checks(which: str, request: pytest.FixtureRequest) -> None:
    base = request.getfixturevalue(which)
    with open_store(base / "cdm.duckdb", read_only=True) as store:
        report = run_checks(store)
        assert [(r.check, r.table, r.field) for r in report.results if r.status != "pass"] == []
        assert store.count("measurement") > 0 and store.count("drug_exposure") > 0


def test_cdm_keeps_within_patient_intervals(raw: Path, kr: Path) -> None:
    enc = _rows(raw / "encounters.csv")
    lengths_in = sorted(_days(r["START"], r["STOP"]) for r in enc)
    with open_store(kr / "cdm.duckdb", read_only=True) as store:
        rows = store.fetchall(
            "SELECT visit_end_date - visit_start_date FROM visit_occurrence ORDER BY 1"
        )
        births = store.fetchall(
            "SELECT p.person_source_value, min(v.visit_start_date) - make_date("
            "p.year_of_birth, p.month_of_birth, p.day_of_birth) FROM person p "
            "JOIN visit_occurrence v USING (person_id) "
            "GROUP BY p.person_source_value, p.year_of_birth, p.month_of_birth, p.day_of_birth"
        )
    assert [int(r[0]) for r in rows] == lengths_in
    first_visit: dict[str, dt.date] = {}
    for r in enc:
        d = dt.date.fromisoformat(r["START"][:10])
        first_visit[r["PATIENT"]] = min(d, first_visit.get(r["PATIENT"], d))
    ages_in = sorted(
        (first_visit[p["Id"]] - dt.date.fromisoformat(p["BIRTHDATE"])).days
        for p in _rows(raw / "patients.csv")
        if p["Id"] in first_visit
    )
    assert sorted(int(b[1]) for b in births) == ages_in


def test_report_counts_actions_and_holds_no_value(raw: Path, kr: Path) -> None:
    rep = json.loads((kr / "report.json").read_text("utf-8"))
    assert rep["profile"] == "kr-pseudonym" and re.fullmatch(r"[0-9a-f]{64}", rep["config_hash"])
    assert rep["tool_version"]
    pats = _rows(raw / "patients.csv")
    cols = rep["tables"]["patients.csv"]["columns"]
    assert cols["SSN"] == {"action": "drop", "values": sum(1 for p in pats if p["SSN"])}
    assert cols["Id"]["action"] == "pseudonymize" and cols["Id"]["values"] == len(pats)
    assert cols["BIRTHDATE"] == {"action": "date_shift", "values": len(pats)}
    assert rep["tables"]["encounters.csv"]["rows_in"] == len(_rows(raw / "encounters.csv"))
    assert rep["distinct_keyed_values"]["person"] == len(pats)
    risk = rep["risk"]["patients.csv"]
    assert risk["records"] == len(pats) and risk["k"] >= 1 and "prosecutor" in risk
    assert rep["ground_truth_skipped"] == ["_linkage.csv", "notes_phi.jsonl"]
    assert rep["sensitive"]["mode"] == "flag" and rep["sensitive"]["flagged"] > 0
    flagged = [r for r in _rows(kr / "out" / "conditions.csv") if r["SENSITIVE_CATEGORY"]]
    assert {r["SENSITIVE_CATEGORY"] for r in flagged} == {"mental"}
    assert {r["CODE"] for r in flagged} == {"370143000"}


SYNTHEA_DATES = ("BIRTHDATE", "DEATHDATE", "START", "STOP", "DATE")
CDM_DATES = {
    "visit_occurrence": ("visit_start_date", "visit_end_date"),
    "condition_occurrence": ("condition_start_date", "condition_end_date"),
    "drug_exposure": ("drug_exposure_start_date", "drug_exposure_end_date"),
    "procedure_occurrence": ("procedure_date", "procedure_end_date"),
    "measurement": ("measurement_date",),
    "observation": ("observation_date",),
    "device_exposure": ("device_exposure_start_date", "device_exposure_end_date"),
    "death": ("death_date",),
    "observation_period": ("observation_period_start_date", "observation_period_end_date"),
}


def _ninety_plus(src: Path) -> set[str]:
    """Raw ids of patients whose birth year is 90+ years before the reference or a later record."""
    latest: dict[str, dt.date] = defaultdict(lambda: REFERENCE_DAY)
    for name in ("encounters.csv", "conditions.csv", "medications.csv", "observations.csv"):
        for r in _rows(src / name):
            for c in ("START", "STOP", "DATE"):
                if r.get(c):
                    d = dt.date.fromisoformat(r[c][:10])
                    latest[r["PATIENT"]] = max(latest[r["PATIENT"]], d)
    return {
        p["Id"]
        for p in _rows(src / "patients.csv")
        if latest[p["Id"]].year - int(p["BIRTHDATE"][:4]) >= 90
    }


def test_safe_harbor_no_date_of_a_90_plus_patient_reveals_the_age(raw: Path, sh: Path) -> None:
    old_raw = _ninety_plus(raw)
    assert old_raw, "the generated extract should hold a patient of 90 or more"
    old = {_expected_pseudonym(p, "person") for p in old_raw}
    birth = {p["Id"]: int(p["BIRTHDATE"]) for p in _rows(sh / "out" / "patients.csv")}
    assert {birth[p] for p in old} == {REFERENCE_DAY.year - 90}
    checked = 0
    for path in sorted((sh / "out").glob("*.csv")):
        for row in _rows(path):
            pid = row.get("PATIENT") or (
                row.get("Id") if path.name.startswith("patients") else None
            )
            if not pid:
                continue
            for c in SYNTHEA_DATES:
                if not row.get(c) or c == "BIRTHDATE":
                    continue
                year = int(row[c])
                if pid in old:  # one category: every date reads as the reference year
                    assert year == REFERENCE_DAY.year, (path.name, c)
                else:
                    assert year - birth[pid] <= 89, (path.name, c)
                checked += 1
    assert checked > 3000
    notes = [json.loads(x) for x in (sh / "out" / "notes.jsonl").read_text("utf-8").splitlines()]
    old_notes = [n["text"] for n in notes if n["patient"] in old]
    assert old_notes
    year_or_old_age = re.compile(
        r"\b(19|20)\d{2}\b|\b(Age:?|aged)\s*(9\d|1\d\d)\b|\b(9\d|1\d\d)[- ]year", re.IGNORECASE
    )
    assert not any(year_or_old_age.search(t) for t in old_notes)
    with open_store(sh / "cdm.duckdb", read_only=True) as store:
        for table, cols in CDM_DATES.items():
            for c in cols:
                rows = store.fetchall(
                    f"SELECT p.person_source_value, p.year_of_birth, year(t.{c}) FROM {table} t "
                    f"JOIN person p USING (person_id) WHERE t.{c} IS NOT NULL"
                )
                for pid, born, year in rows:
                    if pid in old:
                        assert (born, year) == (REFERENCE_DAY.year - 90, REFERENCE_DAY.year)
                    else:
                        assert year - born <= 89, (table, c)


@pytest.mark.parametrize("which", ["kr", "sh"])
def test_generated_cdm_gives_every_person_one_observation_period(
    which: str, request: pytest.FixtureRequest
) -> None:
    base = request.getfixturevalue(which)
    with open_store(base / "cdm.duckdb", read_only=True) as store:
        rows = store.fetchall(
            "SELECT count(o.person_id) FROM person p LEFT JOIN observation_period o "
            "USING (person_id) GROUP BY p.person_id"
        )
        assert len(rows) == store.count("person") > 0
        bad = store.scalar(
            "SELECT count(*) FROM observation_period "
            "WHERE observation_period_end_date < observation_period_start_date"
        )
    assert [r[0] for r in rows] == [1] * len(rows) and bad == 0


REFERENCE_DATES = (
    *SYNTHEA_DATES,
    "START_YEAR",
    "END_YEAR",
    "CURRENTILLNESSDATE",
    "SERVICEDATE",
    "LASTBILLEDDATE1",
    "LASTBILLEDDATE2",
    "LASTBILLEDDATEP",
    "FROMDATE",
    "TODATE",
)


@pytest.mark.slow
def test_reference_extract_pools_every_file_of_90_plus_patients(
    reference: Path, tmp_path: Path
) -> None:
    # Counted to 2045, the patients born in 1955 or earlier are 90+.
    src = reference / "synthea-raw"
    day = dt.date(2045, 6, 30)
    tmp_path.mkdir(exist_ok=True)
    deidentify_extract(
        source=src,
        output=tmp_path / "out",
        key=KEY,
        profile=synthea_profile("safe-harbor", reference_date=day),
        report_path=tmp_path / "report.json",
        cdm=str(tmp_path / "cdm.duckdb"),
    )
    old_raw = {p["Id"] for p in _rows(src / "patients.csv") if int(p["BIRTHDATE"][:4]) <= 1955}
    assert len(old_raw) >= 2
    old = {_expected_pseudonym(p, "person") for p in old_raw}
    per_file: dict[str, int] = defaultdict(int)
    for path in sorted((tmp_path / "out").glob("*.csv")):
        for row in _rows(path):
            pid = row.get("PATIENT") or row.get("PATIENTID")
            if path.name == "patients.csv":
                pid = row["Id"]
            if pid not in old:
                continue
            for c in REFERENCE_DATES:
                if row.get(c) and c != "BIRTHDATE":
                    assert row[c] == "2045", (path.name, c)
                    per_file[path.name] += 1
    assert {"encounters.csv", "claims.csv", "claims_transactions.csv", "immunizations.csv"} <= set(
        per_file
    )
    rep = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert rep["ages_90_or_over"]["patients"] == len(old_raw)
    assert rep["ages_90_or_over"]["event_years_pooled"] == sum(per_file.values())
    with open_store(tmp_path / "cdm.duckdb", read_only=True) as store:
        failed = [
            (r.check, r.table, r.field) for r in run_checks(store).results if r.status != "pass"
        ]
        years = store.fetchall(
            "SELECT DISTINCT p.year_of_birth, year(v.visit_start_date) FROM person p "
            "JOIN visit_occurrence v USING (person_id) WHERE p.person_source_value IN "
            f"({', '.join(repr(p) for p in sorted(old))})"
        )
    assert failed == []
    assert [tuple(r) for r in years] == [(1955, 2045)]
