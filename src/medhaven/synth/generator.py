"""Generate one synthetic hospital as OMOP CDM v5.4 tables (pyarrow), deterministically for a seed."""

from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from medhaven.cdm.vocabulary import vocabulary_table
from medhaven.errors import InvalidInput
from medhaven.synth import clinical
from medhaven.synth import concepts as C
from medhaven.synth.cohort import Cohort, draw_cohort
from medhaven.synth.encounters import emergency, inpatient, outpatient
from medhaven.synth.profiles import HospitalProfile
from medhaven.synth.timeline import (
    DATA_END,
    EventBuilder,
    IntArray,
    VisitBuilder,
    date_array,
    datetime_array,
)

N_PROVIDERS = 24
# The "None" vocabulary version of the dbt-synthea seeds the compact subset comes from.
VOCABULARY_VERSION = "v5.0 29-FEB-24"
SPECIALTIES = ("INTERNAL MEDICINE", "CARDIOLOGY", "NEPHROLOGY", "PULMONOLOGY", "FAMILY MEDICINE")


def _ids(n: int) -> pa.Array:
    return pa.array(np.arange(1, n + 1, dtype=np.int64))


def _const(value: int | str, n: int) -> pa.Array:
    return pa.array(np.full(n, value))


def _as_text(values: npt.NDArray[np.generic] | pa.Array) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, np.int64)), pa.string())


def _nullable_ids(ids: IntArray, pos: IntArray) -> pa.Array:
    """Visit ids for event positions; position -1 (no visit) becomes null."""
    mask = pos < 0
    return pa.array(np.where(mask, 0, ids[np.maximum(pos, 0)]), pa.int64(), mask=mask)


def _person(c: Cohort, slug: str) -> pa.Table:
    b = np.asarray(c.birth, "datetime64[D]")
    year = b.astype("datetime64[Y]").astype(np.int64) + 1970
    month = b.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (b - b.astype("datetime64[M]")).astype(np.int64) + 1
    gender = np.where(c.female, C.FEMALE, C.MALE)
    return pa.table(
        {
            "person_id": _ids(c.n),
            "gender_concept_id": pa.array(gender),
            "year_of_birth": pa.array(year),
            "month_of_birth": pa.array(month),
            "day_of_birth": pa.array(day),
            "birth_datetime": datetime_array(c.birth, np.zeros(c.n, np.int64)),
            "race_concept_id": _const(C.RACE_ASIAN, c.n),
            "ethnicity_concept_id": _const(C.NOT_HISPANIC, c.n),
            "care_site_id": _const(1, c.n),
            "person_source_value": pa.array([f"{slug}-{i:07d}" for i in range(1, c.n + 1)]),
            "gender_source_value": pa.array(np.where(c.female, "F", "M")),
        }
    )


def _events(
    name: str, eb: EventBuilder, visit_ids: IntArray, *, date_col: str = "day"
) -> dict[str, npt.NDArray[np.generic] | pa.Array]:
    cols = eb.concat()
    n = cols["person"].shape[0]
    order = np.lexsort((cols["concept"], cols[date_col], cols["person"]))
    out: dict[str, npt.NDArray[np.generic] | pa.Array] = {k: v[order] for k, v in cols.items()}
    out["id"] = _ids(n)
    out["visit_id"] = _nullable_ids(visit_ids, np.asarray(out["visit"], np.int64))
    out["person_id"] = np.asarray(out["person"], np.int64) + 1
    del name
    return out


def generate_hospital(profile: HospitalProfile, *, persons: int, seed: int) -> dict[str, pa.Table]:
    """All CDM tables of one synthetic hospital, keyed by OMOP table name (``concept`` included)."""
    if persons < 1:
        raise InvalidInput("--persons: must be at least 1")
    rng = np.random.default_rng([seed, zlib.crc32(profile.slug.encode())])
    c = draw_cohort(profile, n=persons, rng=rng)
    vb = VisitBuilder()
    op = outpatient(c, profile, vb, rng)
    er = emergency(c, vb, rng)
    ip, reasons = inpatient(c, profile, vb, rng)
    cond_eb = clinical.conditions(c, profile, op=op, er=er, ip=ip, ip_reasons=reasons)
    drug_eb, treated = clinical.drugs(c, profile, er=er, ip=ip, ip_reasons=reasons, rng=rng)
    proc_eb = clinical.procedures(c, op=op, ip=ip, ip_reasons=reasons, er=er, rng=rng)
    meas_op = clinical.measurements(c, profile, visits=op, treated=treated, rng=rng)
    meas_ip = clinical.measurements(c, profile, visits=ip, treated=treated, rng=rng)
    v_person, v_start, v_end, v_concept, visit_ids = vb.columns()
    nv = v_person.shape[0]
    hour = np.where(v_concept == C.OUTPATIENT, rng.integers(9, 17, nv), rng.integers(0, 24, nv))
    tables: dict[str, pa.Table] = {"person": _person(c, profile.slug)}
    tables["observation_period"] = pa.table(
        {
            "observation_period_id": _ids(c.n),
            "person_id": _ids(c.n),
            "observation_period_start_date": date_array(c.obs_start),
            "observation_period_end_date": date_array(c.obs_end),
            "period_type_concept_id": _const(C.EHR, c.n),
        }
    )
    tables["visit_occurrence"] = pa.table(
        {
            "visit_occurrence_id": _ids(nv),
            "person_id": pa.array(v_person + 1),
            "visit_concept_id": pa.array(v_concept),
            "visit_start_date": date_array(v_start),
            "visit_start_datetime": datetime_array(v_start, hour * 3600),
            "visit_end_date": date_array(v_end),
            "visit_end_datetime": datetime_array(
                v_end, np.where(v_end > v_start, 11 * 3600, hour * 3600 + 1800)
            ),
            "visit_type_concept_id": _const(C.EHR, nv),
            "provider_id": pa.array(rng.integers(1, N_PROVIDERS + 1, nv)),
            "care_site_id": _const(1, nv),
            "visit_source_value": pa.array(
                np.select([v_concept == C.INPATIENT, v_concept == C.EMERGENCY], ["IP", "ER"], "OP")
            ),
        }
    )
    e = _events("condition", cond_eb, visit_ids, date_col="start")
    n = len(e["id"])
    end = np.asarray(e["end"], np.int64)
    tables["condition_occurrence"] = pa.table(
        {
            "condition_occurrence_id": e["id"],
            "person_id": pa.array(e["person_id"]),
            "condition_concept_id": pa.array(e["concept"]),
            "condition_start_date": date_array(np.asarray(e["start"], np.int64)),
            "condition_end_date": pa.array(end.astype(np.int32), pa.date32(), mask=end < 0),
            "condition_type_concept_id": _const(C.EHR, n),
            "visit_occurrence_id": e["visit_id"],
            "condition_source_value": _as_text(e["concept"]),
            "condition_source_concept_id": pa.array(e["concept"]),
        }
    )
    e = _events("drug", drug_eb, visit_ids, date_col="start")
    n = len(e["id"])
    tables["drug_exposure"] = pa.table(
        {
            "drug_exposure_id": e["id"],
            "person_id": pa.array(e["person_id"]),
            "drug_concept_id": pa.array(e["concept"]),
            "drug_exposure_start_date": date_array(np.asarray(e["start"], np.int64)),
            "drug_exposure_end_date": date_array(np.asarray(e["end"], np.int64)),
            "drug_type_concept_id": _const(C.EHR, n),
            "refills": _const(0, n),
            "quantity": pa.array(e["qty"]),
            "days_supply": pa.array(e["days"]),
            "visit_occurrence_id": e["visit_id"],
            "drug_source_value": _as_text(e["concept"]),
            "drug_source_concept_id": pa.array(e["concept"]),
        }
    )
    merged = EventBuilder()
    for part in (meas_op, meas_ip):
        if part.columns:
            merged.add(**part.concat())
    e = _events("measurement", merged, visit_ids)
    n = len(e["id"])
    concept_arr = np.asarray(e["concept"], np.int64)
    lab_idx = pa.array(np.asarray(e["key"], np.int64))
    tables["measurement"] = pa.table(
        {
            "measurement_id": e["id"],
            "person_id": pa.array(e["person_id"]),
            "measurement_concept_id": pa.array(concept_arr),
            "measurement_date": date_array(np.asarray(e["day"], np.int64)),
            "measurement_datetime": datetime_array(
                np.asarray(e["day"], np.int64), rng.integers(8 * 3600, 18 * 3600, n)
            ),
            "measurement_type_concept_id": _const(C.EHR, n),
            "value_as_number": pa.array(np.asarray(e["value"], np.float64)),
            "unit_concept_id": pa.array(e["unit"]),
            "visit_occurrence_id": e["visit_id"],
            "measurement_source_value": pc.take(pa.array(list(C.LABS)), lab_idx),
            "measurement_source_concept_id": pa.array(concept_arr),
            "unit_source_value": pc.take(pa.array([lab.unit for lab in C.LABS.values()]), lab_idx),
        }
    )
    e = _events("procedure", proc_eb, visit_ids)
    n = len(e["id"])
    tables["procedure_occurrence"] = pa.table(
        {
            "procedure_occurrence_id": e["id"],
            "person_id": pa.array(e["person_id"]),
            "procedure_concept_id": pa.array(e["concept"]),
            "procedure_date": date_array(np.asarray(e["day"], np.int64)),
            "procedure_type_concept_id": _const(C.EHR, n),
            "visit_occurrence_id": e["visit_id"],
            "procedure_source_value": _as_text(e["concept"]),
            "procedure_source_concept_id": pa.array(e["concept"]),
        }
    )
    smokers = np.flatnonzero(c.smoker)
    ns = smokers.shape[0]
    tables["observation"] = pa.table(
        {
            "observation_id": _ids(ns),
            "person_id": pa.array(smokers + 1),
            "observation_concept_id": _const(C.SMOKES_DAILY, ns),
            "observation_date": date_array(c.obs_start[smokers]),
            "observation_type_concept_id": _const(C.EHR, ns),
            "observation_source_value": _const("smoker", ns),
        }
    )
    dead = np.flatnonzero(c.death_day >= 0)
    tables["death"] = pa.table(
        {
            "person_id": pa.array(dead + 1),
            "death_date": date_array(c.death_day[dead]),
            "death_type_concept_id": _const(C.EHR, dead.shape[0]),
            "cause_concept_id": _const(0, dead.shape[0]),
        }
    )
    tables |= _site_tables(profile, rng)
    used = set()
    for name, col in _CONCEPT_COLUMNS:
        used |= set(pc.unique(tables[name].column(col)).to_pylist())
    concept = vocabulary_table("concept")
    tables["concept"] = concept.filter(
        pc.is_in(concept.column("concept_id"), pa.array(sorted(used), pa.int64()))
    )
    return tables


_CONCEPT_COLUMNS = (
    ("person", "gender_concept_id"),
    ("person", "race_concept_id"),
    ("person", "ethnicity_concept_id"),
    ("visit_occurrence", "visit_concept_id"),
    ("visit_occurrence", "visit_type_concept_id"),
    ("condition_occurrence", "condition_concept_id"),
    ("drug_exposure", "drug_concept_id"),
    ("measurement", "measurement_concept_id"),
    ("measurement", "unit_concept_id"),
    ("procedure_occurrence", "procedure_concept_id"),
    ("observation", "observation_concept_id"),
    ("cdm_source", "cdm_version_concept_id"),
)


def _site_tables(p: HospitalProfile, rng: np.random.Generator) -> dict[str, pa.Table]:
    spec = [SPECIALTIES[i % len(SPECIALTIES)] for i in range(N_PROVIDERS)]
    release = date.fromordinal(date(1970, 1, 1).toordinal() + DATA_END + 1)
    return {
        "care_site": pa.table(
            {
                "care_site_id": pa.array([1], pa.int64()),
                "care_site_name": pa.array([p.name_en]),
                "place_of_service_concept_id": pa.array([0], pa.int64()),
                "care_site_source_value": pa.array([p.slug]),
            }
        ),
        "provider": pa.table(
            {
                "provider_id": _ids(N_PROVIDERS),
                "care_site_id": _const(1, N_PROVIDERS),
                "year_of_birth": pa.array(rng.integers(1955, 1992, N_PROVIDERS)),
                "provider_source_value": pa.array(
                    [f"{p.slug}-dr{i:03d}" for i in range(1, N_PROVIDERS + 1)]
                ),
                "specialty_source_value": pa.array(spec),
            }
        ),
        "cdm_source": pa.table(
            {
                "cdm_source_name": pa.array([f"{p.name_en} (synthetic)"]),
                "cdm_source_abbreviation": pa.array([p.slug[:25]]),
                "cdm_holder": pa.array([p.name_en]),
                "source_description": pa.array([f"MedHaven synthetic hospital: {p.kind}"]),
                "source_release_date": pa.array([release]),
                "cdm_release_date": pa.array([release]),
                "cdm_version": pa.array(["v5.4"]),
                "cdm_version_concept_id": pa.array([756265], pa.int64()),
                "vocabulary_version": pa.array([VOCABULARY_VERSION]),
            }
        ),
    }


__all__ = ["generate_hospital"]
