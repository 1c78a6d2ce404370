"""Clinical notes and their ground-truth PHI spans, checked against the identities inserted."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from test_raw import HOSPITAL, load_eunomia, tiny_cdm

from medhaven.synth.notes import NoteBuilder, format_date
from medhaven.synth.notes_templates import REFERRAL_CLINICS
from medhaven.synth.raw import write_raw_extract

LABELS = {
    "NAME", "RRN", "PHONE", "EMAIL", "URL", "IP", "MRN", "INSURANCE", "SSN",
    "DATE", "AGE", "ADDRESS", "POSTCODE", "HOSPITAL",
}  # fmt: skip
DATE_PATTERNS = (
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "%Y-%m-%d"),
    (re.compile(r"\d{4}\.\d{1,2}\.\d{1,2}"), "%Y.%m.%d"),
    (re.compile(r"\d{4}년 \d{1,2}월 \d{1,2}일"), "%Y년 %m월 %d일"),
    (re.compile(r"\d{2}/\d{2}/\d{4}"), "%m/%d/%Y"),
    (re.compile(r"(January|February|March|April|May|June|July|August|September|October|November|December) \d{1,2}, \d{4}"), "%B %d, %Y"),
)  # fmt: skip


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def parse_date(s: str) -> date | None:
    for rx, fmt in DATE_PATTERNS:
        if rx.fullmatch(s):
            return datetime.strptime(s, fmt).date()
    return None


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("notes") / "h1"
    write_raw_extract(load_eunomia(), out, seed=11, hospital=HOSPITAL)
    return out


@pytest.fixture(scope="module")
def notes(extract: Path) -> list[tuple[dict[str, object], list[dict[str, object]]]]:
    texts = read_jsonl(extract / "notes.jsonl")
    phi = {r["id"]: r["spans"] for r in read_jsonl(extract / "notes_phi.jsonl")}
    assert len(phi) == len(texts)
    return [(t, phi[t["id"]]) for t in texts]  # type: ignore[misc]


def test_builder_records_offsets_as_it_appends() -> None:
    b = NoteBuilder(lang="ko", rng=np.random.default_rng(0))
    b.text("환자 ").phi("홍길동", "NAME").text(" 님, 연락처 ").phi("010-1234-5678", "PHONE")
    text, spans = b.build()
    assert text == "환자 홍길동 님, 연락처 010-1234-5678"
    assert [(text[s.start : s.end], s.label) for s in spans] == [
        ("홍길동", "NAME"),
        ("010-1234-5678", "PHONE"),
    ]


def test_only_ages_over_89_are_phi() -> None:
    b = NoteBuilder(lang="en", rng=np.random.default_rng(0))
    text, spans = b.age(89).text(" ").age(90).build()
    assert text == "89 90" and [(s.start, s.end, s.label) for s in spans] == [(3, 5, "AGE")]


def test_date_formats() -> None:
    d = date(2024, 3, 5)
    assert [format_date(d, s) for s in ("iso", "dot", "ko", "us", "long")] == [
        "2024-03-05",
        "2024.3.5",
        "2024년 3월 5일",
        "03/05/2024",
        "March 5, 2024",
    ]


def test_spans_are_in_bounds_sorted_and_disjoint(notes: list) -> None:
    for note, spans in notes:
        text = note["text"]
        prev_end = 0
        for s in spans:
            assert s["label"] in LABELS
            assert prev_end <= s["start"] < s["end"] <= len(text)
            prev_end = s["end"]


def test_every_span_text_is_a_value_the_generator_inserted(extract: Path, notes: list) -> None:
    kr = {r["Id"]: r for r in read_csv(extract / "patients_kr.csv")}
    doctors = {r["NAME"] for r in read_csv(extract / "providers.csv")}
    doctors |= {r["name_hangul"] for r in read_csv(extract / "providers_kr.csv")}
    hospitals = {HOSPITAL.name_ko, HOSPITAL.name_en} | {
        n for pair in REFERRAL_CLINICS for n in pair
    }
    visit_days: dict[str, set[date]] = defaultdict(set)
    for e in read_csv(extract / "encounters.csv"):
        visit_days[e["PATIENT"]] |= {
            date.fromisoformat(e["START"][:10]),
            date.fromisoformat(e["STOP"][:10]),
        }
    seen = Counter()
    for note, spans in notes:
        p = kr[note["patient"]]
        allowed = {
            "NAME": {p["name_hangul"], f"{p['first_roman']} {p['last_roman']}", p["last_roman"],
                     p["guardian_name_hangul"], p["guardian_name_roman"]} | doctors,
            "RRN": {p["rrn"]},
            "PHONE": {p["phone_mobile"], p["phone_home"], p["guardian_phone"]},
            "EMAIL": {p["email"]},
            "MRN": {p["mrn"]},
            "INSURANCE": {p["insurance_no"]},
            "SSN": {p["us_ssn"]},
            "ADDRESS": {p["address_ko"], p["address_en"]},
            "POSTCODE": {p["postcode"]},
            "HOSPITAL": hospitals,
        }  # fmt: skip
        for s in spans:
            value = note["text"][s["start"] : s["end"]]
            label = s["label"]
            seen[label] += 1
            if label in allowed:
                assert value in allowed[label], (note["id"], label)
            elif label == "DATE":
                d = parse_date(value)
                assert d is not None, (note["id"], "unparsed date")
                assert (
                    d == date.fromisoformat(read_birth(extract, note["patient"]))
                    or d in visit_days[note["patient"]]
                )
            elif label == "AGE":
                assert int(value) > 89
            elif label == "URL":
                assert value.startswith("https://") and value.endswith(p["mrn"])
            elif label == "IP":
                assert re.fullmatch(r"10\.\d{1,3}\.\d{1,3}\.\d{1,3}", value)
    for label in (
        "NAME",
        "RRN",
        "PHONE",
        "EMAIL",
        "MRN",
        "INSURANCE",
        "DATE",
        "ADDRESS",
        "POSTCODE",
        "HOSPITAL",
        "AGE",
    ):
        assert seen[label] > 0, label


_BIRTHS: dict[str, str] = {}


def read_birth(extract: Path, patient: str) -> str:
    if not _BIRTHS:
        _BIRTHS.update({r["Id"]: r["BIRTHDATE"] for r in read_csv(extract / "patients.csv")})
    return _BIRTHS[patient]


def covered(spans: list, start: int, end: int) -> bool:
    return any(s["start"] <= start and end <= s["end"] for s in spans)


def test_no_identifier_or_date_left_unlabelled(extract: Path, notes: list) -> None:
    """Search the text independently: every occurrence of a patient identifier or date is in a span."""
    kr = {r["Id"]: r for r in read_csv(extract / "patients_kr.csv")}
    for note, spans in notes:
        text, p = note["text"], kr[note["patient"]]
        values = [p[k] for k in ("name_hangul", "rrn", "phone_mobile", "phone_home", "email", "mrn",
                                 "insurance_no", "address_ko", "address_en", "guardian_phone")]  # fmt: skip
        for v in values:
            for m in re.finditer(re.escape(v), text):
                assert covered(spans, m.start(), m.end()), (note["id"], "unlabelled identifier")
        for rx, _ in DATE_PATTERNS:
            for m in rx.finditer(text):
                assert covered(spans, m.start(), m.end()), (note["id"], "unlabelled date")


def test_both_languages_and_all_kinds(notes: list) -> None:
    assert {n["lang"] for n, _ in notes} == {"ko", "en"}
    assert {n["kind"] for n, _ in notes} == {
        "discharge_summary",
        "progress_note",
        "radiology_report",
    }
    ko = [n["text"] for n, _ in notes if n["lang"] == "ko"]
    assert all(re.search(r"[가-힣]", t) for t in ko)
    assert any(re.search(r"(환자|님|씨)", t) for t in ko)
    assert any("보호자" in t for t in ko)


def test_notes_mention_the_encounter_timeline(extract: Path, notes: list) -> None:
    """Diagnoses named in a note are conditions recorded for that encounter."""
    by_enc: dict[str, set[str]] = defaultdict(set)
    for c in read_csv(extract / "conditions.csv"):
        by_enc[c["ENCOUNTER"]].add(c["DESCRIPTION"])
    mentioned = 0
    for note, _ in notes:
        for desc in by_enc.get(note["encounter"], ()):
            mentioned += desc in note["text"]
    assert mentioned > 0


def test_each_patient_gets_notes_for_own_encounters(extract: Path, notes: list) -> None:
    enc_patient = {e["Id"]: e["PATIENT"] for e in read_csv(extract / "encounters.csv")}
    for note, _ in notes:
        assert enc_patient[note["encounter"]] == note["patient"]
    assert len({n["patient"] for n, _ in notes}) == len(read_csv(extract / "patients.csv"))


def test_tiny_cdm_notes_mention_the_over_89_age_and_diagnosis(tmp_path: Path) -> None:
    cdm: dict[str, pa.Table] = tiny_cdm()
    write_raw_extract(cdm, tmp_path / "t", seed=3, hospital=HOSPITAL)
    texts = read_jsonl(tmp_path / "t" / "notes.jsonl")
    # Person 10 (born 1895-02-28) was admitted 1985-03-05, aged 90: an AGE span, not a plain number.
    admission = [t for t in texts if t["kind"] == "discharge_summary"]
    assert len(admission) == 1 and "Type 2 diabetes mellitus" in admission[0]["text"]
    phi = {r["id"]: r["spans"] for r in read_jsonl(tmp_path / "t" / "notes_phi.jsonl")}
    ages = [
        admission[0]["text"][s["start"] : s["end"]]
        for s in phi[admission[0]["id"]]
        if s["label"] == "AGE"
    ]
    assert "90" in ages
