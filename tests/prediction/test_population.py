"""Study population rules (PatientLevelPrediction semantics) on a hand-built CDM, both backends.

Day 0 is 2020-01-01. The target is every exposure to drug 20 (the cohort ends
on the exposure's end day); the outcome is condition 10. Expected labels and
times at risk are worked out by hand below from PLP's rules, never read from
the code under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from medhaven.cdm import CdmStore
from medhaven.prediction.population import (
    OUTCOME_COHORT_ID,
    TARGET_COHORT_ID,
    Population,
    study_population,
)
from medhaven.prediction.task import PredictionTask
from prediction.tinycdm import TinyCdm, day, definition

DRUG, COND = 20, 10


def build(store: CdmStore) -> None:
    cdm = TinyCdm(store)
    cdm.concept(DRUG, domain="Drug")
    cdm.concept(COND)
    for pid in range(1, 12):
        if pid in (7, 8):
            cdm.person(pid, op=(0, 700))
        elif pid == 9:
            cdm.person(pid, op=(300, 1000))
        else:
            cdm.person(pid)
    for pid in (1, 2, 3, 4, 5, 6, 7, 8, 9):
        cdm.drug(pid, DRUG, 400)
    cdm.condition(1, COND, 500)  # d = 100: in TAR
    cdm.condition(3, COND, 380)  # d = -20: prior outcome
    cdm.condition(4, COND, 400)  # d = 0: before the TAR start (day 1), so prior
    cdm.condition(5, COND, 765)  # d = 365: the TAR's last day
    cdm.condition(6, COND, 766)  # d = 366: after the TAR
    cdm.condition(8, COND, 450)  # d = 50, observation ends at d = 300
    cdm.drug(10, DRUG, 200)  # two entries, no outcome
    cdm.drug(10, DRUG, 500)
    cdm.drug(11, DRUG, 400, 430)  # cohort ends at d = 30
    cdm.condition(11, COND, 415)  # d = 15: during the exposure


def task(**kw: Any) -> PredictionTask:
    return PredictionTask(
        name="t",
        target_cohort=definition("DrugExposure", DRUG, end_offset=0),
        outcome_cohort=definition("ConditionOccurrence", COND),
        **kw,
    )


def table(pop: Population) -> dict[tuple[int, int], tuple[int, int]]:
    """{(person, index day): (label, time at risk)}."""
    days = (pop.index_date - np.datetime64(day(0), "D")).astype(np.int64)
    return {
        (int(p), int(d)): (int(y), int(t))
        for p, d, y, t in zip(pop.person_id, days, pop.label, pop.time_at_risk, strict=True)
    }


def test_plp_defaults_label_prior_outcome_and_min_time_at_risk(store: CdmStore) -> None:
    build(store)
    pop = study_population(store, task())
    # TAR 1..365 from the cohort start, capped at observation end; prior outcomes
    # (3 at d = -20, 4 on the index day) removed; 11's outcome (d = 15) is in the TAR; 7 has 300 days at risk, < 1 + 364, and no outcome: removed;
    # 8 has the outcome, so it stays with its short TAR (include_all_outcomes).
    assert table(pop) == {
        (1, 400): (1, 365),
        (2, 400): (0, 365),
        (5, 400): (1, 365),
        (6, 400): (0, 365),
        (8, 400): (1, 300),
        (9, 400): (0, 365),
        (10, 200): (0, 365),
        (10, 500): (0, 365),
        (11, 400): (1, 365),
    }
    # Outcomes in the TAR at the start: 1, 5, 8 and 11.
    assert [(a["step"], a["entries"], a["persons"], a["outcomes"]) for a in pop.attrition] == [
        ("target cohort entries in an observation period", 12, 11, 4),
        ("no prior outcome", 10, 9, 4),
        ("at least 364 days at risk, or the outcome", 9, 8, 4),
    ]
    assert pop.row_id.tolist() == sorted(pop.row_id.tolist())


def test_washout_first_exposure_and_lookback(store: CdmStore) -> None:
    build(store)
    pop = study_population(
        store, task(washout_period=365, first_exposure_only=True, prior_outcome_lookback=10)
    )
    # First exposure drops 10's day-500 entry; washout drops 9 (100 days observed)
    # and 10 (its first entry has 200); lookback 10 keeps 3 (outcome 20 days
    # before) but not 4 (outcome on the index day, before the TAR start).
    got = table(pop)
    assert got == {
        (1, 400): (1, 365),
        (2, 400): (0, 365),
        (3, 400): (0, 365),
        (5, 400): (1, 365),
        (6, 400): (0, 365),
        (8, 400): (1, 300),
        (11, 400): (1, 365),
    }
    assert [a["step"] for a in pop.attrition] == [
        "target cohort entries in an observation period",
        "first exposure only",
        "at least 365 days of observation before the index",
        "no prior outcome",
        "at least 364 days at risk, or the outcome",
    ]
    assert [a["entries"] for a in pop.attrition] == [12, 11, 9, 8, 7]


def test_min_time_at_risk_without_include_all_outcomes_drops_short_cases(
    store: CdmStore,
) -> None:
    build(store)
    pop = study_population(store, task(include_all_outcomes=False))
    assert (8, 400) not in table(pop)
    pop = study_population(store, task(require_time_at_risk=False))
    # Only "some time at risk": 7 stays with 300 days.
    assert table(pop)[(7, 400)] == (0, 300)


def test_cohort_end_anchors(store: CdmStore) -> None:
    build(store)
    start = study_population(store, task(remove_subjects_with_prior_outcome=False))
    # Anchored on the cohort start, 11's outcome (d = 15) is inside 1..365.
    assert table(start)[(11, 400)] == (1, 365)
    end = study_population(
        store,
        task(
            remove_subjects_with_prior_outcome=False,
            start_anchor="cohort end",
            risk_window_start=0,
            end_anchor="cohort end",
            risk_window_end=30,
            min_time_at_risk=0,
        ),
    )
    # Cohort end is d = 30 for 11, so its TAR is 30..60 (31 days): no outcome in it.
    # Person 1 (cohort end = index) has TAR 0..30: its outcome at d = 100 is outside.
    got = table(end)
    assert got[(11, 400)] == (0, 31)
    assert got[(1, 400)] == (0, 31)
    assert got[(8, 400)] == (0, 31)


def test_same_cohort_ids_refused(store: CdmStore) -> None:
    from medhaven.errors import InvalidInput

    build(store)
    with pytest.raises(InvalidInput, match="different cohort ids"):
        study_population(store, task(), target_id=5, outcome_id=5)


def test_a_population_without_ids_leaves_other_cohorts_alone_and_nothing_behind(
    store: CdmStore,
) -> None:
    build(store)
    ids = {"target_id": TARGET_COHORT_ID, "outcome_id": OUTCOME_COHORT_ID}
    kept = study_population(store, task(), **ids)  # its rows stay under the named ids
    before = store.fetchall(
        "SELECT cohort_definition_id, subject_id, cohort_start_date FROM cohort ORDER BY 1, 2, 3"
    )
    assert {row[0] for row in before} == set(ids.values())
    # another job's population at the same time must neither read nor replace those rows
    swapped = PredictionTask(name="u", target_cohort=definition("ConditionOccurrence", COND),
                             outcome_cohort=definition("DrugExposure", DRUG, end_offset=0))  # fmt: skip
    other = study_population(store, swapped)
    after = store.fetchall(
        "SELECT cohort_definition_id, subject_id, cohort_start_date FROM cohort ORDER BY 1, 2, 3"
    )
    assert after == before
    assert set(other.person_id.tolist()) <= {1, 3, 4, 5, 6, 8, 11}  # its own target cohort
    assert set(other.person_id.tolist()) != set(kept.person_id.tolist())
