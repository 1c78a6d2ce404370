"""The synthetic-hospital generator: determinism, valid timelines, real concepts, non-IID hospitals."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import medhaven.cdm
from medhaven.synth.generator import generate_hospital
from medhaven.synth.profiles import hospital_profiles

PERSONS = 3000
SEED = 11
EVENT_DATES = {
    "visit_occurrence": ("visit_start_date", "visit_end_date"),
    "condition_occurrence": ("condition_start_date", "condition_end_date"),
    "drug_exposure": ("drug_exposure_start_date", "drug_exposure_end_date"),
    "measurement": ("measurement_date", None),
    "procedure_occurrence": ("procedure_date", None),
    "observation": ("observation_date", None),
}
CONCEPT_FIELDS = {
    ("person", "gender_concept_id"): "Gender",
    ("person", "race_concept_id"): "Race",
    ("person", "ethnicity_concept_id"): "Ethnicity",
    ("visit_occurrence", "visit_concept_id"): "Visit",
    ("visit_occurrence", "visit_type_concept_id"): "Type Concept",
    ("condition_occurrence", "condition_concept_id"): "Condition",
    ("condition_occurrence", "condition_type_concept_id"): "Type Concept",
    ("drug_exposure", "drug_concept_id"): "Drug",
    ("measurement", "measurement_concept_id"): "Measurement",
    ("measurement", "unit_concept_id"): "Unit",
    ("procedure_occurrence", "procedure_concept_id"): "Procedure",
    ("observation", "observation_concept_id"): "Observation",
    ("death", "death_type_concept_id"): "Type Concept",
}


@pytest.fixture(scope="module")
def hospitals() -> dict[str, dict[str, pa.Table]]:
    return {p.slug: generate_hospital(p, persons=PERSONS, seed=SEED) for p in hospital_profiles(3)}


def _days(table: pa.Table, col: str) -> np.ndarray:
    arr = table.column(col).combine_chunks()
    return np.asarray(arr.cast(pa.int32()).to_numpy(zero_copy_only=False), dtype=np.float64)


def test_same_seed_gives_identical_tables() -> None:
    p = hospital_profiles(2)[1]
    a = generate_hospital(p, persons=400, seed=5)
    b = generate_hospital(p, persons=400, seed=5)
    c = generate_hospital(p, persons=400, seed=6)
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].equals(b[name]), name
    assert not a["visit_occurrence"].equals(c["visit_occurrence"])


def test_every_emitted_concept_is_in_the_shipped_vocabulary(
    hospitals: dict[str, dict[str, pa.Table]],
) -> None:
    path = Path(medhaven.cdm.__file__).parent / "vocab" / "concept.csv.gz"
    with gzip.open(path, "rt") as f:
        vocab = {int(r["concept_id"]): r for r in csv.DictReader(f)}
    for tables in hospitals.values():
        for (table, col), domain in CONCEPT_FIELDS.items():
            for cid in set(tables[table].column(col).to_pylist()):
                assert cid in vocab, (table, col, cid)
                assert vocab[cid]["domain_id"] == domain, (table, col, cid)
                assert vocab[cid]["standard_concept"] == "S", (table, col, cid)
        shipped = {r for r in tables["concept"].column("concept_id").to_pylist()}
        assert 201826 in shipped


def test_timelines_are_consistent(hospitals: dict[str, dict[str, pa.Table]]) -> None:
    for tables in hospitals.values():
        person = tables["person"]
        pid = np.asarray(person.column("person_id").to_numpy())
        birth = np.floor(
            np.asarray(person.column("birth_datetime").cast(pa.int64()).to_numpy()) / 86_400e6
        )
        op = tables["observation_period"]
        assert np.array_equal(np.asarray(op.column("person_id").to_numpy()), pid)
        start, end = (
            _days(op, "observation_period_start_date"),
            _days(op, "observation_period_end_date"),
        )
        assert (start >= birth).all() and (end >= start).all()
        for name, (s_col, e_col) in EVENT_DATES.items():
            t = tables[name]
            idx = np.asarray(t.column("person_id").to_numpy()) - 1
            s = _days(t, s_col)
            assert (s >= start[idx]).all(), name
            assert (s <= end[idx]).all(), name
            if e_col:
                e = _days(t, e_col)
                ok = np.isnan(e) | ((e >= s) & (e <= end[idx]))
                assert ok.all(), name
        death = tables["death"]
        didx = np.asarray(death.column("person_id").to_numpy()) - 1
        # The observation period ends on the day of death: nothing can come after it.
        assert np.array_equal(_days(death, "death_date"), end[didx])
        assert len(set(didx.tolist())) == len(didx)


def _proportion_z(a: float, b: float, n: int) -> float:
    p = (a + b) / 2
    return abs(a - b) / math.sqrt(2 * p * (1 - p) / n)


def test_hospitals_are_not_identically_distributed(
    hospitals: dict[str, dict[str, pa.Table]],
) -> None:
    ages: dict[str, np.ndarray] = {}
    htn: dict[str, float] = {}
    for slug, tables in hospitals.items():
        ages[slug] = 2024 - np.asarray(tables["person"].column("year_of_birth").to_numpy())
        cond = tables["condition_occurrence"]
        mask = np.asarray(cond.column("condition_concept_id").to_numpy()) == 320128
        people = set(np.asarray(cond.column("person_id").to_numpy())[mask].tolist())
        htn[slug] = len(people) / PERSONS
    slugs = list(hospitals)
    for i, a in enumerate(slugs):
        for b in slugs[i + 1 :]:
            se = math.sqrt(ages[a].var() / PERSONS + ages[b].var() / PERSONS)
            assert abs(ages[a].mean() - ages[b].mean()) > 5 * se, (a, b)
            assert _proportion_z(htn[a], htn[b], PERSONS) > 5, (a, b)
    assert ages["hanbit-university"].mean() > ages["pureun-community"].mean() + 15


def test_coding_habits_differ(hospitals: dict[str, dict[str, pa.Table]]) -> None:
    def codes(slug: str, table: str, col: str) -> set[int]:
        return set(hospitals[slug][table].column(col).to_pylist())

    # The university hospital codes the more specific heart-failure concept.
    assert 4229440 in codes("hanbit-university", "condition_occurrence", "condition_concept_id")
    assert 316139 not in codes("hanbit-university", "condition_occurrence", "condition_concept_id")
    assert 316139 in codes("saemmul-general", "condition_occurrence", "condition_concept_id")
    # The general hospital records lisinopril as the ingredient, the others as the clinical drug.
    assert 1308216 in codes("saemmul-general", "drug_exposure", "drug_concept_id")
    assert 19080128 not in codes("saemmul-general", "drug_exposure", "drug_concept_id")
    assert 19080128 in codes("hanbit-university", "drug_exposure", "drug_concept_id")
    # The community hospital records fewer measurements per visit.
    per_visit = {
        s: hospitals[s]["measurement"].num_rows / hospitals[s]["visit_occurrence"].num_rows
        for s in hospitals
    }
    assert per_visit["pureun-community"] < 0.7 * per_visit["hanbit-university"]


def test_measurement_values_are_plausible(hospitals: dict[str, dict[str, pa.Table]]) -> None:
    m = hospitals["hanbit-university"]["measurement"]
    concept = np.asarray(m.column("measurement_concept_id").to_numpy())
    value = np.asarray(m.column("value_as_number").to_numpy())
    hba1c = value[concept == 3004410]
    sbp = value[concept == 3004249]
    assert 5.0 < np.median(hba1c) < 8.5 and hba1c.min() >= 3.5
    assert 110 < np.median(sbp) < 150
    assert set(m.column("unit_concept_id").to_pylist()) <= {
        8876,
        9529,
        9531,
        8541,
        8554,
        8840,
        8713,
        8753,
        8845,
    }


def test_more_hospitals_get_distinct_fictional_names() -> None:
    profiles = hospital_profiles(12)
    assert len({p.slug for p in profiles}) == 12
    assert len({p.name_en for p in profiles}) == 12
    assert all(p.name_ko and p.name_en for p in profiles)
