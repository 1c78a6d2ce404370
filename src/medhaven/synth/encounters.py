"""Visits of a synthetic cohort: outpatient, emergency and inpatient, with 30-day readmissions.

Each function returns the visit positions it added (see ``VisitBuilder``) with
the person index and day of each, so events can be attached to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medhaven.synth import concepts as C
from medhaven.synth.cohort import Cohort
from medhaven.synth.profiles import HospitalProfile
from medhaven.synth.timeline import FloatArray, IntArray, VisitBuilder, sigmoid, uniform_days

# Background admission reasons and their weights; MI needs CAD, hip fracture age >= 65.
_ADMIT_REASONS = ("pneumonia", "sepsis", "mi", "stroke", "hip_fracture")


@dataclass
class VisitSet:
    """Visits of one kind: builder positions, person index, start and end day, reason key."""

    pos: IntArray
    person: IntArray
    start: IntArray
    end: IntArray
    reason: IntArray  # index into the reason tuple of the kind (or -1)
    segments: dict[str, IntArray] | None = None  # outpatient: positions of onset visits by key


def _repeat_people(rng: np.random.Generator, rate: FloatArray, cap: int) -> IntArray:
    counts = np.minimum(rng.poisson(rate), cap)
    return np.repeat(np.arange(rate.shape[0], dtype=np.int64), counts)


def outpatient(
    c: Cohort, p: HospitalProfile, vb: VisitBuilder, rng: np.random.Generator
) -> VisitSet:
    """Routine outpatient visits, a first visit for everyone, and one per onset / progression."""
    years = (c.obs_end - c.obs_start + 1) / 365.25
    rate = p.visit_rate * (0.4 + 0.35 * c.chronic_count()) * years
    who = _repeat_people(rng, rate, 80)
    day = uniform_days(rng, low=c.obs_start[who], high=c.obs_end[who])
    # Everyone has a first (registration) visit on the day observation starts.
    everyone = np.arange(c.n, dtype=np.int64)
    people = [who, everyone]
    days = [day, c.obs_start]
    for key, onset in c.onset.items():
        sel = np.flatnonzero(c.has[key])
        people.append(sel)
        days.append(onset[sel])
    prog = np.flatnonzero(c.progression_day >= 0)
    people.append(prog)
    days.append(c.progression_day[prog])
    person = np.concatenate(people)
    start = np.concatenate(days)
    pos = vb.add(person=person, start=start, end=start, concept=C.OUTPATIENT)
    bounds = np.cumsum([0, *(x.shape[0] for x in people)])
    keys = ["routine", "first", *c.onset, "progression"]
    segments = {k: pos[bounds[i] : bounds[i + 1]] for i, k in enumerate(keys)}
    return VisitSet(pos, person, start, start, np.full(person.shape[0], -1, np.int64), segments)


ER_REASONS = ("bronchitis", "pharyngitis", "ankle_sprain", "hip_fracture")


def emergency(c: Cohort, vb: VisitBuilder, rng: np.random.Generator) -> VisitSet:
    """Emergency-room visits with an acute reason."""
    years = (c.obs_end - c.obs_start + 1) / 365.25
    who = _repeat_people(rng, 0.12 * (1.0 + 0.3 * c.chronic_count()) * years, 20)
    day = uniform_days(rng, low=c.obs_start[who], high=c.obs_end[who])
    old = c.age[who] >= 65
    reason: npt.NDArray[np.int64] = np.asarray(
        rng.choice(3, who.shape[0], p=[0.45, 0.4, 0.15]), dtype=np.int64
    )
    reason = np.where(old & (rng.random(who.shape[0]) < 0.2), 3, reason)
    pos = vb.add(person=who, start=day, end=day, concept=C.EMERGENCY)
    return VisitSet(pos, who, day, day, reason.astype(np.int64))


def inpatient(
    c: Cohort, p: HospitalProfile, vb: VisitBuilder, rng: np.random.Generator
) -> tuple[VisitSet, tuple[str, ...]]:
    """Background admissions, heart-failure admissions and 30-day readmissions."""
    reasons = (*_ADMIT_REASONS, "heart_failure")
    hf_reason = len(reasons) - 1
    years = (c.obs_end - c.obs_start + 1) / 365.25
    rate = p.inpatient_rate * (0.5 + 0.5 * c.chronic_count() + 0.4 * np.maximum(c.zage, 0)) * years
    who = _repeat_people(rng, rate, 15)
    los = np.minimum(rng.geometric(0.22, who.shape[0]), 30).astype(np.int64)
    start = uniform_days(rng, low=c.obs_start[who], high=c.obs_end[who] - los)
    keep = start + los <= c.obs_end[who]
    who, los, start = who[keep], los[keep], start[keep]
    reason = rng.choice(5, who.shape[0], p=[0.4, 0.15, 0.15, 0.15, 0.15])
    reason = np.where((reason == 2) & ~c.has["cad"][who], 0, reason)
    reason = np.where((reason == 4) & (c.age[who] < 65), 1, reason)
    hf = np.flatnonzero(c.hf_admission_day >= 0)
    hf_los = np.minimum(rng.geometric(0.15, hf.shape[0]), 14).astype(np.int64)
    person = np.concatenate([who, hf])
    start = np.concatenate([start, c.hf_admission_day[hf]])
    los = np.concatenate([los, hf_los])
    reason = np.concatenate([reason, np.full(hf.shape[0], hf_reason)]).astype(np.int64)
    # Readmission risk: the same factors everywhere, plus the hospital's outcome shift.
    logit = (
        -2.5
        + 1.0 * c.has["heart_failure"][person]
        + 0.6 * c.has["ckd"][person]
        + 0.5 * c.has["copd"][person]
        + 0.4 * c.zage[person]
        + 0.3 * np.log(los)
        + p.outcome_shift
    )
    readmit = rng.random(person.shape[0]) < sigmoid(logit)
    r_start = start + los + rng.integers(1, 31, person.shape[0])
    r_los = np.minimum(rng.geometric(0.2, person.shape[0]), 20).astype(np.int64)
    readmit &= r_start + r_los <= c.obs_end[person]
    r = np.flatnonzero(readmit)
    person = np.concatenate([person, person[r]])
    end = np.concatenate([start + los, r_start[r] + r_los[r]])
    start = np.concatenate([start, r_start[r]])
    reason = np.concatenate([reason, reason[r]])
    pos = vb.add(person=person, start=start, end=end, concept=C.INPATIENT)
    return VisitSet(pos, person, start, end, reason), reasons


__all__ = ["ER_REASONS", "VisitSet", "emergency", "inpatient", "outpatient"]
