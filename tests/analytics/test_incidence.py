"""Incidence: hand-worked cases, and an independent computation on generated and Eunomia data."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest
from test_characterize_data import add_cohort, age_group, fill_eunomia, fill_hospital, rows, sex

from medhaven.analytics import DisclosurePolicy, incidence
from medhaven.cdm import CdmStore
from medhaven.errors import InvalidInput, NotFound

D = date


def _people(store: CdmStore, spec: list[tuple[int, int, int, D, D]]) -> None:
    """(person_id, gender, year_of_birth, observation start, observation end) rows."""
    store.create_schema()
    store.append_arrow("person", pa.table({
        "person_id": [p[0] for p in spec], "gender_concept_id": [p[1] for p in spec],
        "year_of_birth": [p[2] for p in spec], "race_concept_id": [0] * len(spec),
        "ethnicity_concept_id": [0] * len(spec)}))  # fmt: skip
    store.append_arrow("observation_period", pa.table({
        "observation_period_id": [p[0] for p in spec], "person_id": [p[0] for p in spec],
        "observation_period_start_date": pa.array([p[3] for p in spec], pa.date32()),
        "observation_period_end_date": pa.array([p[4] for p in spec], pa.date32()),
        "period_type_concept_id": [32817] * len(spec)}))  # fmt: skip


def _hand_made(store: CdmStore) -> None:
    obs = (D(2019, 1, 1), D(2021, 12, 31))
    _people(store, [(1, 8532, 1960, *obs), (2, 8507, 1970, *obs),
                    (3, 8507, 1980, D(2019, 1, 1), D(2020, 6, 30)), (4, 8532, 1990, *obs),
                    (5, 8532, 1990, D(2021, 1, 1), D(2021, 12, 31)), (6, 8507, 2000, *obs)])  # fmt: skip
    year = (D(2020, 1, 1), D(2020, 12, 31))
    # person 5's target entry lies outside any observation period: not at risk.
    add_cohort(store, 1, [(1, *year), (2, *year), (3, *year), (4, *year), (5, *year), (6, *year),
                          (1, D(2021, 2, 1), D(2021, 3, 1))])  # fmt: skip
    add_cohort(store, 2, [(1, D(2020, 3, 1), D(2020, 3, 1)),   # case on day 61
                          (1, D(2020, 5, 1), D(2020, 5, 1)),   # a second outcome: ignored
                          (2, D(2019, 6, 1), D(2019, 6, 1)),   # before TAR: excluded
                          (4, D(2021, 6, 1), D(2021, 6, 1)),   # after TAR: not a case
                          (6, D(2020, 1, 1), D(2020, 1, 1))])  # on the first day: a case  # fmt: skip


def _overall(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["strata"][0]["rows"][0])


def test_hand_worked_incidence_follows_cohort_incidence_rules(store: CdmStore) -> None:
    _hand_made(store)
    doc = incidence(store, target_id=1, outcome_id=2, raw=True)
    got = _overall(doc)
    # at risk: 1 (Jan 1 - Mar 1 2020 = 61 days, case), 3 (capped at Jun 30: 182 days),
    # 4 (all of leap year 2020: 366 days), 6 (outcome on the first day: 1 day, case);
    # 2 excluded, 5 outside observation.
    days = 61 + 182 + 366 + 1
    assert (got["persons"], got["outcomes"]) == (4, 2)
    assert got["person_years"] == pytest.approx(round(days / 365.25, 2))
    assert got["rate_per_1000py"] == pytest.approx(round(2000 / (days / 365.25), 3))
    assert got["proportion_pct"] == pytest.approx(50.0)
    by_sex = {r["label"]: r for r in doc["strata"][2]["rows"]}
    assert (by_sex["female"]["persons"], by_sex["female"]["outcomes"]) == (2, 1)
    assert (by_sex["male"]["persons"], by_sex["male"]["outcomes"]) == (2, 1)
    by_age = {r["label"]: r["persons"] for r in doc["strata"][1]["rows"]}
    assert (by_age["50-64"], by_age["35-49"], by_age["18-34"]) == (1, 1, 2)


def test_tar_days_ends_time_at_risk_early(store: CdmStore) -> None:
    _hand_made(store)
    got = _overall(incidence(store, target_id=1, outcome_id=2, tar_days=30, raw=True))
    # Jan 1 + 30 days = Jan 31: person 1's outcome on Mar 1 falls outside; 31 days each,
    # and 1 day for person 6 (outcome on the first day).
    assert (got["persons"], got["outcomes"]) == (4, 1)
    assert got["person_years"] == pytest.approx(round((3 * 31 + 1) / 365.25, 2))


def test_small_incidence_releases_nothing_identifying(store: CdmStore) -> None:
    _hand_made(store)
    doc = incidence(store, target_id=1, outcome_id=2)
    for strat in doc["strata"]:
        for r in strat["rows"]:
            # empty strata may show 0; nothing else is shown
            assert r["persons"] in (None, 0) and r["proportion_pct"] is None
            assert r["outcomes"] in (None, 0) and r["rate_per_1000py"] is None
    # four persons' time at risk is a sum of fewer than 5 contributions: hidden
    assert _overall(doc)["person_years"] is None


def test_unknown_outcome_and_negative_tar_are_refused(store: CdmStore) -> None:
    _hand_made(store)
    with pytest.raises(NotFound, match="--outcome-id: cohort 7"):
        incidence(store, target_id=1, outcome_id=7)
    with pytest.raises(InvalidInput, match="--tar-days"):
        incidence(store, target_id=1, outcome_id=2, tar_days=-1)


def _independent(store: CdmStore, tar_days: int | None) -> dict[str, dict[str, list[float]]]:
    """Per stratum: [persons, outcomes, person-days], computed from the tables by hand."""
    cohort = rows(store, "cohort", ["cohort_definition_id", "subject_id",
                  "cohort_start_date", "cohort_end_date"])  # fmt: skip
    first: dict[int, tuple[D, D]] = {}
    outcomes: dict[int, list[D]] = defaultdict(list)
    for c in cohort:
        if c["cohort_definition_id"] == 1:
            key = (c["cohort_start_date"], c["cohort_end_date"])
            first[c["subject_id"]] = min(key, first.get(c["subject_id"], key))
        elif c["cohort_definition_id"] == 2:
            outcomes[c["subject_id"]].append(c["cohort_start_date"])
    periods = defaultdict(list)
    for op in rows(store, "observation_period", ["person_id", "observation_period_start_date",
                   "observation_period_end_date"]):  # fmt: skip
        periods[op["person_id"]].append(
            (op["observation_period_start_date"], op["observation_period_end_date"])
        )
    people = {p["person_id"]: p for p in rows(store, "person",
              ["person_id", "year_of_birth", "gender_concept_id"])}  # fmt: skip
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))
    for pid, (start, end) in first.items():
        for op_start, op_end in periods[pid]:
            if not op_start <= start <= op_end or pid not in people:
                continue
            stop = min(end if tar_days is None else start + timedelta(days=tar_days), op_end)
            if start > stop or any(o < start for o in outcomes[pid]):
                continue
            hits = [o for o in outcomes[pid] if start <= o <= stop]
            days = ((min(hits) if hits else stop) - start).days + 1
            p = people[pid]
            for strat, label in [("overall", "all"),
                                 ("age_group", age_group(start.year - p["year_of_birth"])),
                                 ("sex", sex(p["gender_concept_id"])),
                                 ("calendar_year", str(start.year))]:  # fmt: skip
                cell = out[strat][label]
                cell[0] += 1
                cell[1] += 1 if hits else 0
                cell[2] += days
    return out


def _make_cohorts(store: CdmStore) -> None:
    """Target: a year after the start of each observation period (ending with it); outcome:
    every record of the most common condition, so some persons have it before the TAR."""
    ops = rows(store, "observation_period", ["person_id", "observation_period_start_date",
               "observation_period_end_date"])  # fmt: skip
    add_cohort(store, 1, [(o["person_id"],
                           o["observation_period_start_date"] + timedelta(days=365),
                           o["observation_period_end_date"])
                          for o in ops if (o["observation_period_end_date"]
                                           - o["observation_period_start_date"]).days > 365])  # fmt: skip
    conds = rows(store, "condition_occurrence",
                 ["person_id", "condition_concept_id", "condition_start_date"])  # fmt: skip
    common = Counter(c["condition_concept_id"] for c in conds).most_common(1)[0][0]
    add_cohort(store, 2, [(c["person_id"], c["condition_start_date"], c["condition_start_date"])
                          for c in conds if c["condition_concept_id"] == common])  # fmt: skip


def _check(store: CdmStore) -> int:
    """Compare every stratum with the independent computation; return the target persons."""
    _make_cohorts(store)
    for tar_days in (None, 180):
        exp = _independent(store, tar_days)
        persons, cases, _days = exp["overall"]["all"]
        assert persons >= 5 and cases >= 1  # the data exercise the computation
        target_persons = persons
        raw = incidence(store, target_id=1, outcome_id=2, tar_days=tar_days, raw=True)
        policy = DisclosurePolicy()
        released = incidence(store, target_id=1, outcome_id=2, tar_days=tar_days, policy=policy)
        for strat, rel in zip(raw["strata"], released["strata"], strict=True):
            want = exp[strat["name"]]
            got = {r["label"]: r for r in strat["rows"] if not r["total"]}
            assert {k for k, v in got.items() if v["persons"]} == set(want), strat["name"]
            for label, (persons, cases, days) in want.items():
                r = got[label]
                assert (r["persons"], r["outcomes"]) == (persons, cases), (strat["name"], label)
                assert r["person_years"] == pytest.approx(round(days / 365.25, 2))
                assert r["rate_per_1000py"] == pytest.approx(
                    round(1000 * cases / (days / 365.25), 3)
                )
                assert r["proportion_pct"] == pytest.approx(round(100 * cases / persons, 3))
            shown = {r["label"]: r for r in rel["rows"] if not r["total"]}
            for label, (persons, cases, _days) in want.items():
                r = shown[label]
                assert r["persons"] in (None, persons) and r["outcomes"] in (None, cases)
                if persons < 5:
                    assert r["persons"] is None and r["proportion_pct"] is None
                if 1 <= cases < 5:
                    assert r["outcomes"] is None and r["rate_per_1000py"] is None
                if r["rate_per_1000py"] is not None:
                    assert r["outcomes"] is not None and r["person_years"] is not None
    return int(target_persons)


def test_incidence_matches_independent_computation_on_generated_hospital(
    store: CdmStore,
) -> None:
    fill_hospital(store)
    assert _check(store) >= 5  # a real cohort was compared, not an empty one


@pytest.mark.slow
def test_incidence_matches_independent_computation_on_eunomia(
    store: CdmStore, reference: object
) -> None:
    fill_eunomia(store)
    assert _check(store) >= 5  # a real cohort was compared, not an empty one
