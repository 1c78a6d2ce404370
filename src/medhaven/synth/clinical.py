"""Clinical events of a synthetic cohort: conditions, drugs, measurements, procedures.

Events refer to visits by builder position and to persons by index; the
generator turns both into ids. All days lie inside the person's observation
period, so nothing happens before birth or after death.
"""

from __future__ import annotations

import numpy as np

from medhaven.synth import concepts as C
from medhaven.synth.cohort import Cohort
from medhaven.synth.encounters import ER_REASONS, VisitSet
from medhaven.synth.profiles import HospitalProfile
from medhaven.synth.timeline import BoolArray, EventBuilder, FloatArray, IntArray

NO_VISIT = -1

# (condition, drug, share of patients treated); the same guideline logic at every hospital.
TREATMENTS = (
    ("hypertension", "lisinopril", 0.5),
    ("hypertension", "losartan", 0.3),
    ("hypertension", "amlodipine", 0.25),
    ("hypertension", "hctz", 0.2),
    ("t2dm", "metformin", 0.9),
    ("hyperlipidaemia", "atorvastatin", 0.6),
    ("hyperlipidaemia", "simvastatin", 0.3),
    ("atrial_fibrillation", "warfarin", 0.7),
    ("atrial_fibrillation", "carvedilol", 0.5),
    ("heart_failure", "furosemide", 0.9),
    ("heart_failure", "carvedilol", 0.7),
    ("heart_failure", "spironolactone", 0.4),
    ("heart_failure", "sacubitril_valsartan", 0.3),
    ("cad", "aspirin", 0.8),
    ("cad", "clopidogrel", 0.3),
    ("copd", "fluticasone_salmeterol", 0.8),
    ("copd", "albuterol", 0.6),
    ("asthma", "albuterol", 0.9),
    ("depression", "sertraline", 0.6),
    ("depression", "fluoxetine", 0.3),
    ("breast_cancer", "tamoxifen", 0.5),
    ("breast_cancer", "letrozole", 0.4),
)


def hf_concept(p: HospitalProfile) -> int:
    """The heart-failure code this hospital uses."""
    return C.CONDITIONS["chf" if p.codes_specific_hf else "heart_failure"].concept_id


def conditions(
    c: Cohort,
    p: HospitalProfile,
    *,
    op: VisitSet,
    er: VisitSet,
    ip: VisitSet,
    ip_reasons: tuple[str, ...],
) -> EventBuilder:
    """Chronic diagnoses at onset, CKD progression, and the reasons for ER and inpatient visits."""
    eb = EventBuilder()
    seg = op.segments or {}
    for key, onset in c.onset.items():
        sel = np.flatnonzero(c.has[key])
        if key == "ckd":
            stage_ids = np.array([0, *C.CKD_EARLY_IDS], np.int64)
            concept: IntArray | int = stage_ids[c.ckd_stage[sel]]
        elif key == "heart_failure":
            concept = hf_concept(p)
        elif key == "asthma" and p.codes_childhood_asthma:
            child = (onset[sel] - c.birth[sel]) < 18 * 365
            concept = np.where(
                child,
                C.CONDITIONS["childhood_asthma"].concept_id,
                C.CONDITIONS["asthma"].concept_id,
            )
        else:
            concept = C.CONDITIONS[key].concept_id
        eb.add(person=sel, concept=concept, start=onset[sel], end=NO_VISIT, visit=seg[key])
    prog = np.flatnonzero(c.progression_day >= 0)
    late = np.where(
        c.progresses_to_esrd[prog], C.CONDITIONS["esrd"].concept_id, C.CONDITIONS["ckd4"].concept_id
    )
    eb.add(
        person=prog,
        concept=late,
        start=c.progression_day[prog],
        end=NO_VISIT,
        visit=seg["progression"],
    )
    er_ids = np.array([C.CONDITIONS[k].concept_id for k in ER_REASONS], np.int64)
    er_end = np.minimum(er.start + 10, c.obs_end[er.person])
    eb.add(person=er.person, concept=er_ids[er.reason], start=er.start, end=er_end, visit=er.pos)
    ip_ids = np.array(
        [hf_concept(p) if k == "heart_failure" else C.CONDITIONS[k].concept_id for k in ip_reasons],
        np.int64,
    )
    eb.add(person=ip.person, concept=ip_ids[ip.reason], start=ip.start, end=ip.end, visit=ip.pos)
    return eb


def drugs(
    c: Cohort,
    p: HospitalProfile,
    *,
    er: VisitSet,
    ip: VisitSet,
    ip_reasons: tuple[str, ...],
    rng: np.random.Generator,
) -> tuple[EventBuilder, dict[str, BoolArray]]:
    """90-day prescriptions for treated chronic conditions, plus acute drugs; and who is treated."""
    eb = EventBuilder()
    treated: dict[str, BoolArray] = {}
    plans = [*TREATMENTS, ("t2dm", "insulin", -1.0)]
    for cond, drug, share in plans:
        gets = c.has[cond] & (rng.random(c.n) < share)
        if drug == "insulin":
            gets = c.has[cond] & (c.hba1c_offset > 1.0)
        treated[drug] = treated.get(drug, np.zeros(c.n, bool)) | gets
        sel = np.flatnonzero(gets)
        first = c.onset[cond][sel]
        fills = np.minimum((c.obs_end[sel] - first) // 90 + 1, 24)
        rep = np.repeat(sel, fills)
        k = np.arange(rep.shape[0]) - np.repeat(np.cumsum(fills) - fills, fills)
        start = np.repeat(first, fills) + 90 * k
        end = np.minimum(start + 89, c.obs_end[rep])
        key = "lisinopril_ingredient" if drug == "lisinopril" and p.codes_ingredient else drug
        eb.add(
            person=rep,
            concept=C.DRUGS[key].concept_id,
            start=start,
            end=end,
            days=end - start + 1,
            qty=float(90),
            visit=NO_VISIT,
        )
    reason = np.array(ip_reasons)[ip.reason]
    for mask, drug, share in (
        (reason == "pneumonia", "amoxicillin", 0.8),
        (reason == "heart_failure", "furosemide", 0.95),
    ):
        sel = np.flatnonzero(mask & (rng.random(mask.shape[0]) < share))
        eb.add(
            person=ip.person[sel],
            concept=C.DRUGS[drug].concept_id,
            start=ip.start[sel],
            end=ip.end[sel],
            days=ip.end[sel] - ip.start[sel] + 1,
            qty=float(10),
            visit=ip.pos[sel],
        )
    er_reason = np.array(ER_REASONS)[er.reason]
    for names, drug in (
        (("bronchitis",), "amoxicillin"),
        (("ankle_sprain", "hip_fracture"), "acetaminophen"),
    ):
        sel = np.flatnonzero(np.isin(er_reason, names) & (rng.random(er_reason.shape[0]) < 0.6))
        end = np.minimum(er.start[sel] + 6, c.obs_end[er.person[sel]])
        eb.add(
            person=er.person[sel],
            concept=C.DRUGS[drug].concept_id,
            start=er.start[sel],
            end=end,
            days=end - er.start[sel] + 1,
            qty=float(20),
            visit=er.pos[sel],
        )
    return eb, treated


def _repeat(
    sel: IntArray, first: IntArray, *, every: int, most: int, last: IntArray
) -> tuple[IntArray, IntArray]:
    n = np.clip((last - first) // every + 1, 0, most)
    rep = np.repeat(sel, n)
    k = np.arange(rep.shape[0]) - np.repeat(np.cumsum(n) - n, n)
    return rep, np.repeat(first, n) + every * k


def procedures(
    c: Cohort,
    *,
    op: VisitSet,
    ip: VisitSet,
    ip_reasons: tuple[str, ...],
    er: VisitSet,
    rng: np.random.Generator,
) -> EventBuilder:
    """Procedures that follow from the diagnoses and admissions."""
    eb = EventBuilder()
    P = C.PROCEDURES
    cardiac = c.has["atrial_fibrillation"] | c.has["cad"] | c.has["heart_failure"]
    sel = np.flatnonzero(cardiac[op.person] & (rng.random(op.person.shape[0]) < 0.15))
    eb.add(person=op.person[sel], concept=P["ecg"].concept_id, day=op.start[sel], visit=op.pos[sel])
    reason = np.array(ip_reasons)[ip.reason]
    for name, proc, share in (
        ("heart_failure", "echo", 0.8),
        ("heart_failure", "ecg", 0.9),
        ("mi", "ecg", 1.0),
        ("mi", "pci", 0.6),
        ("pneumonia", "chest_xray", 0.9),
    ):
        s = np.flatnonzero((reason == name) & (rng.random(reason.shape[0]) < share))
        eb.add(person=ip.person[s], concept=P[proc].concept_id, day=ip.start[s], visit=ip.pos[s])
    eb.add(person=ip.person, concept=P["med_reconciliation"].concept_id, day=ip.end, visit=ip.pos)
    s = np.flatnonzero(er.reason == 0)
    eb.add(
        person=er.person[s], concept=P["chest_xray"].concept_id, day=er.start[s], visit=er.pos[s]
    )
    seg = op.segments or {}
    s = np.flatnonzero(c.has["colon_cancer"])
    eb.add(
        person=s,
        concept=P["colonoscopy"].concept_id,
        day=c.onset["colon_cancer"][s],
        visit=seg["colon_cancer"],
    )
    for key in ("lung_cancer", "colon_cancer", "breast_cancer"):
        s = np.flatnonzero(c.has[key])
        rep, day = _repeat(s, c.onset[key][s] + 14, every=21, most=6, last=c.obs_end[s])
        eb.add(person=rep, concept=P["chemotherapy"].concept_id, day=day, visit=NO_VISIT)
    s = np.flatnonzero(c.progresses_to_esrd)
    rep, day = _repeat(s, c.progression_day[s] + 7, every=30, most=12, last=c.obs_end[s])
    eb.add(person=rep, concept=P["hemodialysis"].concept_id, day=day, visit=NO_VISIT)
    return eb


def _noise(rng: np.random.Generator, n: int, sd: float) -> FloatArray:
    return rng.normal(0.0, sd, n)


def measurements(
    c: Cohort,
    p: HospitalProfile,
    *,
    visits: VisitSet,
    treated: dict[str, BoolArray],
    rng: np.random.Generator,
) -> EventBuilder:
    """Vitals and labs at visits; values follow the person's conditions and treatment."""
    eb = EventBuilder()
    who, day = visits.person, visits.start
    n = who.shape[0]
    ms = p.measurement_share
    h = {k: v[who] for k, v in c.has.items()}
    late = (c.progression_day[who] >= 0) & (day >= c.progression_day[who])
    stage = np.where(late, np.where(c.progresses_to_esrd[who], 5, 4), c.ckd_stage[who])
    age = (day - c.birth[who]) / 365.25
    female = c.female[who]
    bmi = c.bmi[who] + _noise(rng, n, 0.5)
    sbp = (
        116
        + 18 * h["hypertension"]
        + 0.3 * np.maximum(age - 40, 0)
        - 9 * treated["lisinopril"][who]
        + _noise(rng, n, 11)
    )
    hba1c = 5.4 + h["t2dm"] * (1.8 + 0.9 * c.hba1c_offset[who]) + _noise(rng, n, 0.3)
    creat_factor = np.array([1.0, 1.05, 1.3, 1.9, 3.4, 6.5])[stage]
    creat = np.where(female, 0.75, 0.95) * creat_factor * np.exp(_noise(rng, n, 0.1))
    statin = treated["atorvastatin"][who] | treated["simvastatin"][who]
    vital = np.where(h["hypertension"] | h["heart_failure"], 0.7, 0.35) * ms
    values: dict[str, tuple[FloatArray, FloatArray]] = {
        "sbp": (vital, sbp),
        "dbp": (vital, 0.55 * sbp + 8 + _noise(rng, n, 6)),
        "weight": (vital * 0.8, bmi * (c.height_cm[who] / 100) ** 2),
        "bmi": (vital * 0.6, bmi),
        "heart_rate": (vital * 0.8, 72 + 10 * h["atrial_fibrillation"] + _noise(rng, n, 8)),
        "hba1c": (ms * np.where(h["t2dm"], 0.6, 0.08), hba1c),
        "glucose": (ms * np.where(h["t2dm"], 0.5, 0.2), 28.7 * hba1c - 46.7 + _noise(rng, n, 12)),
        "creatinine": (ms * np.where(h["ckd"] | h["t2dm"] | h["hypertension"], 0.5, 0.12), creat),
        "ldl": (
            ms * np.where(h["hyperlipidaemia"], 0.45, 0.1),
            105 + 40 * h["hyperlipidaemia"] - 45 * statin + _noise(rng, n, 18),
        ),
        "hemoglobin": (
            np.full(n, ms * 0.2),
            np.where(female, 13.0, 14.6) - 0.6 * stage + _noise(rng, n, 1.0),
        ),
        "potassium": (ms * np.where(h["ckd"], 0.4, 0.1), 4.1 + 0.15 * stage + _noise(rng, n, 0.3)),
        "nt_probnp": (
            ms * np.where(h["heart_failure"], 0.5, 0.01),
            np.exp(np.where(h["heart_failure"], 7.8, 4.3) + _noise(rng, n, 0.7)),
        ),
    }
    adult = age >= 18
    first = np.zeros(n, bool)
    if visits.segments and n:
        first[visits.segments["first"] - visits.pos[0]] = True
    for lab_index, (key, (prob, value)) in enumerate(values.items()):
        lab = C.LABS[key]
        take = rng.random(n) < prob
        if key == "weight":
            take |= first  # every hospital weighs a patient at the first visit
        if key not in ("weight", "heart_rate"):
            take &= adult  # paediatric labs and BP are rare in these extracts
        s = np.flatnonzero(take)
        digits = 2 if lab.high < 50 else 0
        v = np.round(np.clip(value[s], lab.low, lab.high), digits)
        eb.add(
            person=who[s],
            concept=lab.concept_id,
            day=day[s],
            visit=visits.pos[s],
            value=v,
            unit=lab.unit_concept_id,
            key=lab_index,
        )
    return eb


__all__ = ["TREATMENTS", "conditions", "drugs", "hf_concept", "measurements", "procedures"]
