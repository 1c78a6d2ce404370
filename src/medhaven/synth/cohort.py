"""Persons, risk factors, baseline conditions and planted outcomes of one synthetic hospital.

Everything is drawn per person with numpy (no per-person Python loops).
Each person has an index date one year after the start of observation:
chronic conditions are recorded in the baseline year before it, and the
outcomes (1-year mortality, heart-failure hospitalisation, CKD progression)
happen in the year after it, driven by the same risk factors at every
hospital plus a hospital-specific shift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from medhaven.synth.profiles import HospitalProfile
from medhaven.synth.timeline import DATA_END, BoolArray, FloatArray, IntArray, sigmoid, uniform_days

CHRONIC = (
    "hypertension",
    "t2dm",
    "hyperlipidaemia",
    "ckd",
    "atrial_fibrillation",
    "cad",
    "heart_failure",
    "copd",
    "asthma",
    "depression",
    "breast_cancer",
    "colon_cancer",
    "lung_cancer",
    "prostate_cancer",
    "stroke",
)


@dataclass
class Cohort:
    """Per-person arrays for one hospital; index ``i`` is person ``i + 1``."""

    n: int
    age: FloatArray  # age in years at the index date
    female: BoolArray
    height_cm: FloatArray
    bmi: FloatArray
    smoker: BoolArray
    birth: IntArray  # days since 1970-01-01
    obs_start: IntArray
    obs_end: IntArray
    index: IntArray
    eligible: BoolArray  # a full baseline year and an index date inside the data
    has: dict[str, BoolArray]
    onset: dict[str, IntArray]
    ckd_stage: IntArray  # 0 none, 1..3 at baseline
    progression_day: IntArray  # -1 when CKD does not progress
    progresses_to_esrd: BoolArray
    hf_admission_day: IntArray  # -1 when no heart-failure admission in the outcome year
    death_day: IntArray  # -1 when alive at the end of data
    hba1c_offset: FloatArray

    @property
    def zage(self) -> FloatArray:
        """Age standardised around 55 years."""
        return (self.age - 55.0) / 15.0

    def chronic_count(self) -> IntArray:
        """Number of chronic conditions per person."""
        return np.asarray(sum(self.has[k].astype(np.int64) for k in CHRONIC), dtype=np.int64)


def _bern(rng: np.random.Generator, logit: npt.NDArray[np.floating[Any]]) -> BoolArray:
    p = sigmoid(np.asarray(logit, dtype=np.float64))
    return np.asarray(rng.random(logit.shape[0]) < p, dtype=np.bool_)


def draw_cohort(profile: HospitalProfile, *, n: int, rng: np.random.Generator) -> Cohort:
    """Draw persons, their baseline conditions and their planted outcomes."""
    p = profile
    s = p.prevalence_shift
    age_end = np.clip(rng.normal(p.age_mean, p.age_sd, n), 0.3, 99.0)
    female = rng.random(n) < p.female_share
    birth = DATA_END - (age_end * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    birth = np.minimum(birth, DATA_END - 30)
    span = (rng.uniform(1.3, 9.0, n) * 365.25).astype(np.int64)
    obs_start = np.maximum(birth, DATA_END - span)
    index = obs_start + 365
    age = (index - birth) / 365.25
    z = (age - 55.0) / 15.0
    adult = age >= 18
    male = ~female
    height = np.where(female, rng.normal(159.0, 6.0, n), rng.normal(172.0, 6.5, n))
    # Children are shorter; a simple growth curve is enough for plausible vitals.
    height = height * np.clip(0.42 + 0.58 * age / 17.0, 0.42, 1.0)
    bmi = rng.normal(p.bmi_mean + 0.02 * (age - 50.0), 3.4, n) - np.where(adult, 0.0, 5.0)
    bmi = np.clip(bmi, 13.0, 48.0)
    smoker = adult & (rng.random(n) < p.smoker_share * np.where(female, 0.35, 1.65))
    b = bmi - 24.0
    has: dict[str, BoolArray] = {}
    has["hypertension"] = adult & _bern(rng, -1.3 + 1.5 * z + 0.15 * b + s)
    has["t2dm"] = adult & _bern(rng, -2.5 + 1.0 * z + 0.22 * b + 0.5 * has["hypertension"] + s)
    has["hyperlipidaemia"] = adult & _bern(
        rng, -1.6 + 0.9 * z + 0.5 * has["t2dm"] + 0.3 * has["hypertension"] + s
    )
    has["ckd"] = adult & _bern(
        rng, -3.4 + 1.2 * z + 0.9 * has["t2dm"] + 0.8 * has["hypertension"] + s
    )
    has["atrial_fibrillation"] = adult & _bern(rng, -4.2 + 1.6 * z + 0.4 * has["hypertension"] + s)
    has["cad"] = adult & _bern(
        rng,
        -3.8
        + 1.3 * z
        + 0.6 * male
        + 0.5 * smoker
        + 0.4 * has["t2dm"]
        + 0.4 * has["hyperlipidaemia"]
        + s,
    )
    has["heart_failure"] = adult & _bern(
        rng,
        -4.4
        + 1.3 * z
        + 0.8 * has["hypertension"]
        + 0.8 * has["atrial_fibrillation"]
        + 0.9 * has["cad"]
        + 0.6 * has["ckd"]
        + s,
    )
    has["copd"] = (age >= 40) & _bern(rng, -4.6 + 1.0 * z + 2.2 * smoker + s)
    has["asthma"] = _bern(rng, -3.0 - 0.25 * z + 0.3 * s)
    has["depression"] = (age >= 12) & _bern(rng, -2.7 + 0.35 * female + 0.3 * s)
    has["breast_cancer"] = female & (age >= 30) & _bern(rng, -4.7 + 0.5 * z + s)
    has["colon_cancer"] = (age >= 30) & _bern(rng, -5.3 + 1.0 * z + s)
    has["lung_cancer"] = (age >= 35) & _bern(rng, -5.8 + 1.0 * z + 1.6 * smoker + s)
    has["prostate_cancer"] = male & (age >= 45) & _bern(rng, -5.0 + 1.5 * z + s)
    has["stroke"] = adult & _bern(
        rng, -4.8 + 1.3 * z + 0.6 * has["atrial_fibrillation"] + 0.5 * has["hypertension"] + s
    )
    obs_end_alive = np.full(n, DATA_END, np.int64)
    baseline_end = np.minimum(index - 1, obs_end_alive)
    onset = {k: uniform_days(rng, low=obs_start, high=baseline_end) for k in CHRONIC}
    stage = np.where(has["ckd"], rng.choice([1, 2, 3], n, p=[0.15, 0.35, 0.5]), 0)
    eligible = index + 365 <= DATA_END
    sh = p.outcome_shift
    cancer = has["lung_cancer"] | has["colon_cancer"] | has["breast_cancer"]
    # 1-year mortality
    dies = eligible & _bern(
        rng,
        -5.6
        + 1.5 * z
        + 1.0 * has["heart_failure"]
        + 0.6 * has["ckd"]
        + 1.6 * has["lung_cancer"]
        + 0.8 * cancer
        + 0.6 * has["copd"]
        + 0.3 * male
        + sh,
    )
    death_day = np.where(dies, index + rng.integers(1, 366, n), -1)
    obs_end = np.where(dies, death_day, obs_end_alive)
    # Heart-failure hospitalisation in the outcome year (before death, with room for the stay).
    hf_adm = eligible & _bern(
        rng,
        -4.8
        + 0.9 * z
        + 2.4 * has["heart_failure"]
        + 0.6 * has["ckd"]
        + 0.6 * has["atrial_fibrillation"]
        + 0.4 * has["t2dm"]
        + sh,
    )
    hf_day = index + rng.integers(1, 366, n)
    hf_adm &= hf_day + 14 <= obs_end
    # CKD progression to stage 4 / end-stage renal disease.
    prog = (
        eligible
        & has["ckd"]
        & _bern(
            rng,
            -2.6
            + 0.9 * has["t2dm"]
            + 0.6 * has["hypertension"]
            + 0.9 * (stage == 3)
            + 0.4 * z
            + sh,
        )
    )
    prog_day = index + rng.integers(30, 366, n)
    prog &= prog_day <= obs_end
    return Cohort(
        n=n,
        age=age,
        female=female,
        height_cm=height,
        bmi=bmi,
        smoker=smoker,
        birth=birth,
        obs_start=obs_start,
        obs_end=obs_end,
        index=index,
        eligible=eligible,
        has=has,
        onset=onset,
        ckd_stage=stage,
        progression_day=np.where(prog, prog_day, -1),
        progresses_to_esrd=prog & (rng.random(n) < 0.25),
        hf_admission_day=np.where(hf_adm, hf_day, -1),
        death_day=death_day,
        hba1c_offset=rng.normal(0.0, 1.0, n),
    )


__all__ = ["CHRONIC", "Cohort", "draw_cohort"]
