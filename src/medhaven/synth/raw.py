"""Raw hospital extracts with direct identifiers, in Synthea's CSV layout, plus notes.

``write_raw_extract`` turns one hospital's CDM tables into what that
hospital's systems would export *before* de-identification: Synthea-layout
CSVs with real (unshifted) dates and Korean identifiers in the columns where
they fit, ``patients_kr.csv`` for identifiers Synthea has no column for,
``notes.jsonl`` with their ground-truth PHI spans in ``notes_phi.jsonl``, and
``_linkage.csv`` (person_id -> patient Id), which is test ground truth only.
Everything is written into a temporary sibling folder and renamed into place
at the end, so a failure never leaves a half-written extract.
"""

from __future__ import annotations

import shutil
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medhaven.errors import InvalidInput, LoadError, MedHavenError
from medhaven.synth.identity import generate_doctors, generate_identities
from medhaven.synth.notes import Note, write_notes
from medhaven.synth.raw_build import (
    KR_HEADER,
    PAYERS,
    EventLinks,
    build_korean,
    build_patients,
    build_visits,
    event_columns,
    person_keys,
    write_csv,
)
from medhaven.synth.raw_notes import NoteSite, generate_notes
from medhaven.synth.raw_tables import (
    HEADERS,
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

LINKAGE_FILE = "_linkage.csv"
VITAL_LOINC = pa.array(
    ["8302-2", "29463-7", "39156-5", "8480-6", "8462-4", "8867-4", "9279-1", "8310-5"]
)


@dataclass(frozen=True)
class RawHospital:
    """The hospital a raw extract comes from, in Korean and English."""

    slug: str
    name_ko: str
    name_en: str
    city_ko: str
    city_en: str
    address_ko: str = "서울특별시 종로구 대학로 101"
    address_en: str = "101 Daehak-ro, Jongno-gu"
    postcode: str = "03080"
    phone: str = "02-2072-2114"
    lat: float = 37.5796
    lon: float = 126.9990
    notes_per_patient: int = 2
    n_doctors: int = 20


@dataclass(frozen=True)
class RawExtractSummary:
    """What was written: where, how many rows per file, how many notes and spans, how long."""

    out_dir: Path
    patients: int
    encounters: int
    rows: Mapping[str, int]
    notes: int
    phi_spans: int
    seconds: float


def _providers(
    cdm: Mapping[str, pa.Table],
    hospital: RawHospital,
    org: str,
    rng: np.random.Generator,
    seed: int,
) -> tuple[pa.Table, pa.Table, dict[int, int], list[str]]:
    prov = cdm.get("provider")
    ids = [p for p in column(prov, "provider_id").to_pylist() if p is not None] if prov else []
    n = len(ids) or hospital.n_doctors
    doctors = generate_doctors(n, seed=seed)
    pid = uuids(rng, n)
    spec = column(prov, "specialty_source_value").to_pylist() if prov and ids else [None] * n
    cols = {
        "Id": pid,
        "ORGANIZATION": const(org, n),
        "NAME": pa.array([d.name_en for d in doctors]),
        "GENDER": pa.array([d.sex for d in doctors]),
        "SPECIALITY": pa.array([s or "GENERAL PRACTICE" for s in spec[:n]], pa.string()),
        "ADDRESS": const(hospital.address_en, n),
        "CITY": const(hospital.city_en, n),
        "STATE": const(hospital.city_en, n),
        "ZIP": const(hospital.postcode, n),
        "LAT": const(f"{hospital.lat:.6f}", n),
        "LON": const(f"{hospital.lon:.6f}", n),
        "UTILIZATION": const("0", n),
    }
    kr = pa.table(
        {
            "Id": pid,
            "name_hangul": pa.array([d.name_ko for d in doctors]),
            "license_no": pa.array([f"{v:06d}" for v in rng.integers(10000, 999999, n)]),
        }
    )
    return (
        make_table("providers.csv", cols),
        kr,
        {int(p): i for i, p in enumerate(ids)},
        pid.to_pylist(),
    )


def _payers(rng: np.random.Generator) -> pa.Table:
    n = len(PAYERS)
    cols: dict[str, pa.Array] = {c: const("0", n) for c in HEADERS["payers.csv"]}
    cols |= {
        "Id": uuids(rng, n),
        "NAME": pa.array([p[0] for p in PAYERS]),
        "ADDRESS": pa.array(["32 Geongang-ro, Wonju-si", "32 Geongang-ro, Wonju-si", ""]),
        "CITY": pa.array(["Wonju-si", "Wonju-si", ""]),
        "STATE_HEADQUARTERED": pa.array(["Gangwon-do", "Gangwon-do", ""]),
        "ZIP": pa.array(["26464", "26464", ""]),
        "PHONE": pa.array(["1577-1000", "1577-1000", ""]),
        "QOLS_AVG": const("NaN", n),
    }
    return make_table("payers.csv", cols)


def _build(
    cdm: Mapping[str, pa.Table], *, seed: int, hospital: RawHospital
) -> tuple[dict[str, pa.Table], list[Note]]:
    """Every table of the extract, plus the notes; nothing is written here."""
    if "person" not in cdm:
        raise InvalidInput("cdm: the person table is missing")
    rng = np.random.default_rng([seed, zlib.crc32(hospital.slug.encode())])
    keys, deaths = person_keys(cdm["person"], cdm.get("death"))
    idents = generate_identities(keys, seed=seed * 7919 + zlib.crc32(hospital.slug.encode()))
    patient = uuids(rng, len(keys))
    person_ids = pa.array([k.person_id for k in keys], pa.int64())
    org = uuids(rng, 1)[0].as_py()
    providers, providers_kr, prov_map, prov_uuid = _providers(cdm, hospital, org, rng, seed)
    payers = _payers(rng)
    payer_of = pc.take(
        payers.column("Id"), pa.array(rng.choice(len(PAYERS), len(keys), p=[p[2] for p in PAYERS]))
    )
    tables: dict[str, pa.Table] = {"patients.csv": build_patients(idents, patient, deaths, rng)}
    visit = cdm.get("visit_occurrence") or pa.table(
        {"visit_occurrence_id": pa.array([], pa.int64()), "person_id": pa.array([], pa.int64())}
    )
    enc, frame = build_visits(visit, person_ids=person_ids, rng=rng)
    n_enc = enc.num_rows
    pidx = pa.array(frame.person_index, pa.int64())
    prov_idx = [
        prov_map.get(int(p)) if p is not None else None for p in frame.provider_ids.to_pylist()
    ]
    fallback = rng.integers(0, len(prov_uuid), n_enc)
    tables["encounters.csv"] = make_table(
        "encounters.csv",
        {c: enc.column(c) for c in enc.column_names}
        | {
            "Id": frame.encounter_ids,
            "PATIENT": pc.take(patient, pidx),
            "ORGANIZATION": const(org, n_enc),
            "PROVIDER": pa.array(
                [
                    prov_uuid[p if p is not None else int(f)]
                    for p, f in zip(prov_idx, fallback, strict=True)
                ],
                pa.string(),
            ),
            "PAYER": pc.take(payer_of, pidx),
        },
    )
    concepts = ConceptIndex(cdm.get("concept"))
    ev = EventLinks(frame=frame, person_ids=person_ids, patient_ids=patient, concepts=concepts)
    tables["conditions.csv"] = _conditions(cdm, ev)
    tables["medications.csv"] = _medications(cdm, ev, payer_of, rng)
    tables["observations.csv"] = _observations(cdm, ev)
    tables["procedures.csv"] = _procedures(cdm, ev, rng)
    tables["organizations.csv"] = make_table(
        "organizations.csv",
        {
            "Id": pa.array([org]),
            "NAME": pa.array([hospital.name_en]),
            "ADDRESS": pa.array([hospital.address_en]),
            "CITY": pa.array([hospital.city_en]),
            "STATE": pa.array([hospital.city_en]),
            "ZIP": pa.array([hospital.postcode]),
            "LAT": pa.array([f"{hospital.lat:.6f}"]),
            "LON": pa.array([f"{hospital.lon:.6f}"]),
            "PHONE": pa.array([hospital.phone]),
            "REVENUE": pa.array(["0.0"]),
            "UTILIZATION": pa.array([str(n_enc)]),
        },
    )
    tables["providers.csv"] = providers
    tables["payers.csv"] = payers
    tables["patients_kr.csv"] = build_korean(idents, patient)
    tables["providers_kr.csv"] = providers_kr
    tables[LINKAGE_FILE] = pa.table(
        {"person_id": person_ids, "patient_id": patient, "mrn": pa.array([i.mrn for i in idents])}
    )
    site = NoteSite(
        hospital.name_ko,
        hospital.name_en,
        hospital.slug,
        generate_doctors(len(prov_uuid), seed=seed),
        prov_map,
    )
    notes = generate_notes(
        cdm,
        frame=frame,
        identities=idents,
        patient_ids=patient.to_pylist(),
        concepts=concepts,
        site=site,
        per_patient=hospital.notes_per_patient,
        rng=rng,
    )
    return tables, notes


def _conditions(cdm: Mapping[str, pa.Table], ev: EventLinks) -> pa.Table:
    t = cdm.get("condition_occurrence")
    if t is None:
        return _empty("conditions.csv")
    t, common = event_columns(t, prefix="condition", links=ev)
    return make_table(
        "conditions.csv",
        common
        | {
            "START": fmt_ts(_col(t, "condition_start_date"), date_only=True),
            "STOP": fmt_ts(_col(t, "condition_end_date"), date_only=True),
        },
    )


def _medications(
    cdm: Mapping[str, pa.Table], ev: EventLinks, payer_of: pa.Array, rng: np.random.Generator
) -> pa.Table:
    t = cdm.get("drug_exposure")
    if t is None:
        return _empty("medications.csv")
    t, common = event_columns(t, prefix="drug", links=ev)
    n = t.num_rows
    pidx = pc.index_in(pc.cast(column(t, "person_id"), pa.int64()), value_set=ev.person_ids)
    refills = pc.fill_null(pc.cast(column(t, "refills"), pa.int64()), 0)
    return make_table(
        "medications.csv",
        common
        | {
            "START": fmt_ts(_col(t, "drug_exposure_start_datetime", "drug_exposure_start_date")),
            "STOP": fmt_ts(_col(t, "drug_exposure_end_datetime", "drug_exposure_end_date")),
            "PAYER": pc.take(payer_of, pidx),
            "BASE_COST": money(rng, n, low=1, high=300),
            "PAYER_COVERAGE": money(rng, n, low=0, high=1),
            "DISPENSES": as_str(pc.add(refills, 1)),
            "TOTALCOST": money(rng, n, low=1, high=3000),
            "REASONCODE": const("", n),
            "REASONDESCRIPTION": const("", n),
        },
    )


def _observations(cdm: Mapping[str, pa.Table], ev: EventLinks) -> pa.Table:
    parts = []
    m = cdm.get("measurement")
    if m is not None:
        m, common = event_columns(m, prefix="measurement", links=ev)
        num = column(m, "value_as_number")
        vital = pc.is_in(common["CODE"], value_set=VITAL_LOINC)
        parts.append(
            make_table(
                "observations.csv",
                common
                | {
                    "DATE": fmt_ts(_col(m, "measurement_datetime", "measurement_date")),
                    "CATEGORY": pc.if_else(vital, "vital-signs", "laboratory"),
                    "VALUE": pc.coalesce(
                        pc.cast(num, pa.string()), as_str(column(m, "value_source_value"))
                    ),
                    "UNITS": as_str(column(m, "unit_source_value")),
                    "TYPE": pc.if_else(pc.is_valid(num), "numeric", "text"),
                },
            )
        )
    o = cdm.get("observation")
    if o is not None:
        o, common = event_columns(o, prefix="observation", links=ev)
        num = column(o, "value_as_number")
        value = pc.coalesce(
            pc.cast(column(o, "value_as_string"), pa.string()),
            pc.cast(num, pa.string()),
            pc.cast(column(o, "value_source_value"), pa.string()),
        )
        parts.append(
            make_table(
                "observations.csv",
                common
                | {
                    "DATE": fmt_ts(_col(o, "observation_datetime", "observation_date")),
                    "CATEGORY": const("survey", o.num_rows),
                    "VALUE": pc.fill_null(value, ""),
                    "UNITS": as_str(column(o, "unit_source_value")),
                    "TYPE": pc.if_else(pc.is_valid(num), "numeric", "text"),
                },
            )
        )
    if not parts:
        return _empty("observations.csv")
    return pa.concat_tables([p.cast(parts[0].schema) for p in parts])


def _procedures(cdm: Mapping[str, pa.Table], ev: EventLinks, rng: np.random.Generator) -> pa.Table:
    t = cdm.get("procedure_occurrence")
    if t is None:
        return _empty("procedures.csv")
    t, common = event_columns(t, prefix="procedure", links=ev)
    n = t.num_rows
    return make_table(
        "procedures.csv",
        common
        | {
            "START": fmt_ts(_col(t, "procedure_datetime", "procedure_date")),
            "STOP": fmt_ts(
                _col(
                    t,
                    "procedure_end_datetime",
                    "procedure_end_date",
                    "procedure_datetime",
                    "procedure_date",
                )
            ),
            "BASE_COST": money(rng, n, low=50, high=2000),
            "REASONCODE": const("", n),
            "REASONDESCRIPTION": const("", n),
        },
    )


def _col(t: pa.Table, *names: str) -> pa.Array:
    return first_present(t, *names)


def _empty(name: str) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in HEADERS[name]})


def write_raw_extract(
    cdm: Mapping[str, pa.Table], out_dir: Path, *, seed: int, hospital: RawHospital
) -> RawExtractSummary:
    """Write one hospital's raw extract with identifiers and notes into ``out_dir``, atomically."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    tables, notes = _build(cdm, seed=seed, hospital=hospital)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        for name, table in tables.items():
            header = HEADERS.get(name) or (
                KR_HEADER if name == "patients_kr.csv" else table.column_names
            )
            write_csv(tmp / name, table, header)
        with (
            (tmp / "notes.jsonl").open("w", encoding="utf-8") as f_notes,
            (tmp / "notes_phi.jsonl").open("w", encoding="utf-8") as f_phi,
        ):
            n_notes = write_notes(notes, notes_io=f_notes, phi_io=f_phi)
        old = out_dir.parent / f".{out_dir.name}.old"
        if out_dir.exists():
            out_dir.rename(old)
        tmp.rename(out_dir)
        if old.exists():
            shutil.rmtree(old)
    except MedHavenError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (OSError, pa.ArrowException) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # The exception text may quote a cell value: keep it in the private detail only.
        raise LoadError(
            f"raw extract for {hospital.slug}: could not write {out_dir} ({type(exc).__name__})",
            detail=str(exc),
        ) from exc
    return RawExtractSummary(
        out_dir=out_dir,
        patients=tables["patients.csv"].num_rows,
        encounters=tables["encounters.csv"].num_rows,
        rows={name: t.num_rows for name, t in tables.items()},
        notes=n_notes,
        phi_spans=sum(len(n.spans) for n in notes),
        seconds=time.perf_counter() - t0,
    )


__all__ = ["LINKAGE_FILE", "RawExtractSummary", "RawHospital", "write_raw_extract"]
