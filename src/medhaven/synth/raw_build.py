"""Builders for the patient, Korean-companion, encounter and event tables of a raw extract."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medhaven.errors import InvalidInput
from medhaven.synth.identity import Identity, PersonKey
from medhaven.synth.raw_notes import VisitFrame
from medhaven.synth.raw_tables import (
    VISIT_CLASSES,
    ConceptIndex,
    as_str,
    column,
    const,
    first_present,
    fmt_ts,
    make_table,
    money,
    uuids,
)

KR_HEADER = [
    "Id",
    "name_hangul",
    "surname_hangul",
    "given_hangul",
    "first_roman",
    "last_roman",
    "rrn",
    "foreigner",
    "us_ssn",
    "phone_mobile",
    "phone_home",
    "email",
    "mrn",
    "insurance_no",
    "address_ko",
    "address_en",
    "postcode",
    "guardian_name_hangul",
    "guardian_name_roman",
    "guardian_relation",
    "guardian_phone",
]
PAYERS = (
    ("National Health Insurance Service", "국민건강보험공단", 0.93),
    ("Medical Aid", "의료급여", 0.05),
    ("NO_INSURANCE", "비보험", 0.02),
)


def person_keys(person: pa.Table, death: pa.Table | None) -> tuple[list[PersonKey], list[str]]:
    """Birth date and sex per person, and each person's death date ('' if alive)."""
    ids = column(person, "person_id").to_pylist()
    gender = column(person, "gender_concept_id").to_pylist()
    gsrc = column(person, "gender_source_value").to_pylist()
    bdt = first_present(person, "birth_datetime").to_pylist()
    y = column(person, "year_of_birth").to_pylist()
    m = column(person, "month_of_birth").to_pylist()
    d = column(person, "day_of_birth").to_pylist()
    keys = []
    for i, pid in enumerate(ids):
        if pid is None:
            raise InvalidInput(f"person row {i + 1}: person_id is empty")
        if isinstance(bdt[i], datetime | date):
            birth = bdt[i] if type(bdt[i]) is date else bdt[i].date()
        elif y[i] is not None:
            birth = date(int(y[i]), int(m[i] or 1), int(d[i] or 1))
        else:
            raise InvalidInput(f"person row {i + 1}: no year_of_birth or birth_datetime")
        g = gender[i]
        sex = "M" if g == 8507 else "F" if g == 8532 else str(gsrc[i] or "")[:1].upper()
        # Unknown sex: alternate, so RRNs can still be formed (documented in raw-extracts.md).
        sex = sex if sex in ("M", "F") else ("M" if int(pid) % 2 else "F")
        keys.append(PersonKey(int(pid), birth, sex))
    deaths = [""] * len(ids)
    if death is not None and death.num_rows:
        pos = {pid: i for i, pid in enumerate(ids)}
        for pid, dd in zip(
            column(death, "person_id").to_pylist(),
            fmt_ts(first_present(death, "death_date"), date_only=True).to_pylist(),
            strict=True,
        ):
            if pid in pos:
                deaths[pos[pid]] = dd
    return keys, deaths


def build_patients(
    ids: list[Identity], pat: pa.Array, deaths: list[str], rng: np.random.Generator
) -> pa.Table:
    n = len(ids)
    cols = {
        "Id": pat,
        "BIRTHDATE": pa.array([i.birth.isoformat() for i in ids]),
        "DEATHDATE": pa.array(deaths, pa.string()),
        "SSN": pa.array([i.rrn for i in ids]),
        "DRIVERS": pa.array([i.drivers if rng.random() < 0.7 else "" for i in ids]),
        "PASSPORT": pa.array([i.passport if rng.random() < 0.5 else "" for i in ids]),
        "PREFIX": pa.array(
            [("Mr." if i.sex == "M" else "Ms.") if i.birth.year < 2008 else "" for i in ids]
        ),
        "FIRST": pa.array([i.first_en for i in ids]),
        "LAST": pa.array([i.last_en for i in ids]),
        "SUFFIX": const("", n),
        "MAIDEN": const("", n),
        "MARITAL": pa.array(["M" if rng.random() < 0.6 else "S" for _ in ids], pa.string()),
        "RACE": pa.array(["other" if i.foreigner else "asian" for i in ids]),
        "ETHNICITY": const("nonhispanic", n),
        "GENDER": pa.array([i.sex for i in ids]),
        "BIRTHPLACE": pa.array([f"{i.sigungu_en}  {i.sido_en}  KR" for i in ids]),
        "ADDRESS": pa.array([i.address_en.split(", ")[0] for i in ids]),
        "CITY": pa.array([i.sigungu_en for i in ids]),
        "STATE": pa.array([i.sido_en for i in ids]),
        "COUNTY": pa.array([i.sigungu_en for i in ids]),
        "ZIP": pa.array([i.postcode for i in ids]),
        "LAT": pa.array([f"{i.lat:.6f}" for i in ids]),
        "LON": pa.array([f"{i.lon:.6f}" for i in ids]),
        "HEALTHCARE_EXPENSES": money(rng, n, low=1000, high=900000),
        "HEALTHCARE_COVERAGE": money(rng, n, low=0, high=50000),
    }
    return make_table("patients.csv", cols)


def build_korean(ids: list[Identity], pat: pa.Array) -> pa.Table:
    rows = [
        [
            i.name_ko, i.surname_ko, i.given_ko, i.first_en, i.last_en, i.rrn,
            "1" if i.foreigner else "0", i.us_ssn, i.phone_mobile, i.phone_home, i.email,
            i.mrn, i.insurance_no, i.address_ko, i.address_en, i.postcode,
            i.guardian_name_ko, i.guardian_name_en, i.guardian_relation_ko, i.guardian_phone,
        ]
        for i in ids
    ]  # fmt: skip
    cols = {"Id": pat} | {
        name: pa.array([r[k] for r in rows], pa.string()) for k, name in enumerate(KR_HEADER[1:])
    }
    return pa.table(cols)


def build_visits(
    visit: pa.Table, *, person_ids: pa.Array, rng: np.random.Generator
) -> tuple[pa.Table, VisitFrame]:
    """Visits of known persons with Synthea-style start/stop times and fresh encounter ids."""
    pidx = pc.index_in(pc.cast(column(visit, "person_id"), pa.int64()), value_set=person_ids)
    visit = visit.filter(pc.is_valid(pidx))
    pidx = pc.drop_null(pidx)
    n = visit.num_rows
    start = pc.cast(
        _ts(first_present(visit, "visit_start_datetime", "visit_start_date")), pa.int64()
    )
    end = pc.cast(_ts(first_present(visit, "visit_end_datetime", "visit_end_date")), pa.int64())
    s = start.to_numpy(zero_copy_only=False).astype(np.int64)
    e = pc.fill_null(end, start).to_numpy(zero_copy_only=False).astype(np.int64)
    # CDM datetimes are often midnight; a raw system records a time of day.
    tod = rng.integers(8 * 3600, 18 * 3600, n)
    s = np.where(s % 86400 == 0, s + tod, s)
    e = np.where(e % 86400 == 0, e + (s % 86400) + rng.integers(900, 3600, n), e)
    e = np.maximum(e, s + 900)
    concept = column(visit, "visit_concept_id").to_pylist()
    klass = [
        VISIT_CLASSES.get(
            int(c or 0), ("ambulatory", "185349003", "Encounter for check up (procedure)")
        )
        for c in concept
    ]
    frame = VisitFrame(
        visit_ids=pc.cast(column(visit, "visit_occurrence_id"), pa.int64()),
        encounter_ids=uuids(rng, n),
        person_index=pidx.to_numpy(zero_copy_only=False).astype(np.int64),
        start_s=s,
        end_s=e,
        klass=[k[0] for k in klass],
        provider_ids=pc.cast(column(visit, "provider_id"), pa.int64()),
    )
    cols = {
        "START": fmt_ts(pa.array(s, pa.timestamp("s"))),
        "STOP": fmt_ts(pa.array(e, pa.timestamp("s"))),
        "ENCOUNTERCLASS": pa.array([k[0] for k in klass], pa.string()),
        "CODE": pa.array([k[1] for k in klass], pa.string()),
        "DESCRIPTION": pa.array([k[2] for k in klass], pa.string()),
        "BASE_ENCOUNTER_COST": money(rng, n, low=50, high=200),
        "TOTAL_CLAIM_COST": money(rng, n, low=100, high=5000),
        "PAYER_COVERAGE": money(rng, n, low=0, high=100),
        "REASONCODE": const("", n),
        "REASONDESCRIPTION": const("", n),
    }
    return pa.table(cols), frame


def _ts(a: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(a.type):
        return pc.cast(a, pa.timestamp("s"))
    if pa.types.is_string(a.type):
        a = pc.cast(a, pa.date32())
    return pc.cast(a, pa.timestamp("s"))


@dataclass(frozen=True)
class EventLinks:
    """What event rows are joined to: encounters, persons and their patient ids, concepts."""

    frame: VisitFrame
    person_ids: pa.Array
    patient_ids: pa.Array
    concepts: ConceptIndex


def event_columns(
    table: pa.Table, *, prefix: str, links: EventLinks
) -> tuple[pa.Table, dict[str, pa.Array]]:
    """Common columns of an event table: rows of known persons, patient, encounter, code."""
    frame, person_ids, patient_ids, concepts = (
        links.frame,
        links.person_ids,
        links.patient_ids,
        links.concepts,
    )
    pidx = pc.index_in(pc.cast(column(table, "person_id"), pa.int64()), value_set=person_ids)
    table = table.filter(pc.is_valid(pidx))
    vidx = pc.index_in(
        pc.cast(column(table, "visit_occurrence_id"), pa.int64()), value_set=frame.visit_ids
    )
    code, name = concepts.code_and_name(
        table,
        concept=f"{prefix}_concept_id",
        source_concept=f"{prefix}_source_concept_id",
        source_value=f"{prefix}_source_value",
    )
    common = {
        "PATIENT": pc.take(patient_ids, pc.drop_null(pidx)),
        "ENCOUNTER": pc.fill_null(pc.take(frame.encounter_ids, vidx), ""),
        "CODE": code,
        "DESCRIPTION": name,
    }
    return table, common


def _quote(a: pa.Array) -> pa.Array:
    """RFC 4180 quoting, only for values that need it (as Synthea writes its CSVs)."""
    a = as_str(a)
    # A byte scan of the whole value buffer (memchr) rules out most columns without a regex.
    data = a.buffers()[2]
    raw = data.to_pybytes() if data is not None else b""
    if not any(ch in raw for ch in (b",", b'"', b"\n", b"\r")):
        return a
    needs = pc.match_substring_regex(a, r'[,"\r\n]')
    if not pc.any(needs).as_py():
        return a
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(a, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, a)


def write_csv(
    path: Path, table: pa.Table, header: Sequence[str], *, chunk_rows: int = 500_000
) -> None:
    """Write ``table`` as CSV with an unquoted header and values quoted only where needed."""
    with path.open("wb") as f:
        f.write((",".join(header) + "\n").encode())
        for start in range(0, table.num_rows, chunk_rows):
            part = table.slice(start, chunk_rows)
            cols = [_quote(part.column(c).combine_chunks()) for c in header]
            lines = pc.binary_join_element_wise(*cols, ",") if len(cols) > 1 else cols[0]
            lines = pc.cast(lines, pa.large_binary())
            # Join all lines in one Arrow kernel call and write its buffer: no per-row Python work
            # and no round trip through a Python str.
            offsets = pa.array([0, len(lines)], pa.int64())
            joined = pc.binary_join(
                pa.LargeListArray.from_arrays(offsets, lines), pa.scalar(b"\n", pa.large_binary())
            )
            f.write(joined[0].as_buffer())
            f.write(b"\n")


__all__ = [
    "KR_HEADER",
    "PAYERS",
    "EventLinks",
    "build_korean",
    "build_patients",
    "build_visits",
    "event_columns",
    "person_keys",
    "write_csv",
]
