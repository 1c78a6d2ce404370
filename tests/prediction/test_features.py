"""Feature extraction on hand-built CDMs (both backends): ids, windows, values, subgroups.

Day 0 is 2020-01-01. Every expected feature below is worked out by hand from
the analysis-id table in medhaven.prediction.features (covariate id =
concept id * 1000 + analysis id; windows 365, 180, 30 are j = 1, 2, 3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medhaven.cdm import CdmStore
from medhaven.errors import InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.features import extract_features
from medhaven.prediction.population import Population
from medhaven.prediction.task import FeatureSpec
from prediction.tinycdm import TinyCdm, day

SPEC = FeatureSpec()


def population(index: dict[int, int], labels: dict[int, int] | None = None) -> Population:
    """A population of persons -> index day, built directly (no cohorts)."""
    pids = sorted(index)
    return Population(
        row_id=np.arange(1, len(pids) + 1, dtype=np.int64),
        person_id=np.array(pids, dtype=np.int64),
        index_date=np.array([day(index[p]) for p in pids], dtype="datetime64[D]"),
        cohort_end_date=np.array([day(index[p]) for p in pids], dtype="datetime64[D]"),
        label=np.array([(labels or {}).get(p, 0) for p in pids], dtype=np.int8),
        time_at_risk=np.full(len(pids), 365, dtype=np.int64),
        attrition=[{"step": "test", "persons": len(pids)}],
    )


def cells(data: PredictionData) -> dict[tuple[int, int], float]:
    coo = data.X.tocoo()
    return {
        (int(r), int(data.feature_ids[c])): float(v)
        for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)
    }


def build(store: CdmStore) -> TinyCdm:
    cdm = TinyCdm(store)
    for c in (10, 12, 13, 11):
        cdm.concept(c, name=f"condition {c}")
    cdm.concept(30, domain="Drug", cls="Clinical Drug")
    cdm.concept(31, domain="Drug", cls="Ingredient", name="ingredient 31")
    cdm.concept(32, domain="Drug", cls="Clinical Drug")
    cdm.ancestor(31, 30)
    cdm.ancestor(31, 31)
    cdm.concept(8570, domain="Gender", name="Ambiguous")
    cdm.person(1, yob=1960, gender=8507)
    cdm.person(2, yob=1990, gender=8532)
    cdm.person(3, yob=2000, gender=None)
    cdm.person(4, yob=1985, gender=8570)
    # Person 1, index day 400.
    cdm.condition(1, 10, 400)  # the index day counts
    cdm.condition(1, 10, 100)  # 300 days before: 365 window only
    cdm.condition(1, 11, 401)  # after the index: never
    cdm.condition(1, 12, 35)  # exactly 365 days before: in the 365 window
    cdm.condition(1, 13, 34)  # 366 days before: in no window
    cdm.condition(1, 0, 399)  # unmapped: skipped
    cdm.drug(1, 30, 390)  # ingredient 31, 10 days before
    cdm.drug(1, 32, 250)  # no ingredient, 150 days before
    cdm.procedure(1, 40, 380)  # 20 days before
    cdm.measurement(1, 50, 100, 7.0)  # 300 days before
    cdm.measurement(1, 50, 360, 5.0)  # 40 days before
    cdm.measurement(1, 50, 395, 9.0)  # 5 days before: the latest
    cdm.measurement(1, 50, 402, 1000.0)  # after the index
    cdm.measurement(1, 51, 399, None)  # no value: occurrence and count only
    return cdm


def expected_person_1(ingredient: int = 31) -> dict[int, float]:
    e: dict[int, float] = {8507 * 1000 + 1: 1, 12 * 1000 + 3: 1}  # male; 2021 - 1960 = 61 -> 60-64
    e |= {10101: 1, 10102: 1, 10103: 1, 10111: 2, 10112: 1, 10113: 1}
    e |= {12101: 1, 12111: 1}
    i = ingredient * 1000
    e |= {i + 401: 1, i + 402: 1, i + 403: 1, i + 411: 1, i + 412: 1, i + 413: 1}
    e |= {32401: 1, 32402: 1, 32411: 1, 32412: 1}
    e |= {40701: 1, 40702: 1, 40703: 1, 40711: 1, 40712: 1, 40713: 1}
    e |= {50801: 1, 50802: 1, 50803: 1, 50811: 3, 50812: 2, 50813: 1}
    e |= {50821: 9, 50822: 9, 50823: 9, 50831: 5, 50832: 5, 50833: 9, 50841: 9, 50842: 9,
          50843: 9}  # fmt: skip
    e |= {51801: 1, 51802: 1, 51803: 1, 51811: 1, 51812: 1, 51813: 1}
    return e


def test_features_by_hand(store: CdmStore) -> None:
    build(store)
    data = extract_features(store, population({1: 400, 2: 200, 3: 300, 4: 50}, {2: 1}), SPEC,
                            site="here")  # fmt: skip
    got = cells(data)
    assert {f: v for (r, f), v in got.items() if r == 0} == expected_person_1()
    # 2: female, 2020 - 1990 = 30 -> 30-34; 3: unknown sex (concept 0), age 20;
    # 4: gender 8570, 2020 - 1985 = 35 -> 35-39.
    assert {f: v for (r, f), v in got.items() if r == 1} == {8532001: 1, 6003: 1}
    assert {f: v for (r, f), v in got.items() if r == 2} == {1: 1, 4003: 1}
    assert {f: v for (r, f), v in got.items() if r == 3} == {8570001: 1, 7003: 1}
    assert data.y.tolist() == [0, 1, 0, 0]
    assert data.subgroups["sex"].tolist() == ["male", "female", "unknown", "ambiguous"]
    assert data.subgroups["age_group"].tolist() == ["60-69", "30-39", "20-29", "30-39"]
    names = dict(zip(data.feature_ids.tolist(), data.feature_names, strict=True))
    assert names[10111] == "condition count [-365..0]: condition 10"
    assert names[31403] == "drug occurrence [-30..0]: ingredient 31"
    # Concept 50 is not in the concept table: named by its id.
    assert names[50821] == "measurement latest value [-365..0]: concept 50"
    assert names[1] == "sex: unknown" and names[12003] == "age group: 60-64"
    assert data.site == "here"


def test_drug_as_recorded_and_fewer_features(store: CdmStore) -> None:
    build(store)
    spec = FeatureSpec(drug_level="as recorded")
    got = cells(extract_features(store, population({1: 400}), spec))
    assert {f for (_, f) in got} == set(expected_person_1(ingredient=30))
    spec = FeatureSpec(windows=[30], domains=["measurement"], counts=False,
                       measurement_values=False, demographics=False)  # fmt: skip
    got = cells(extract_features(store, population({1: 400}), spec))
    # Window 30 is j = 1 now: 50 (5 days before) and 51 (1 day before).
    assert got == {(0, 50801): 1, (0, 51801): 1}


def test_person_missing_from_person_table_is_refused(store: CdmStore) -> None:
    build(store)
    with pytest.raises(InvalidInput, match="missing from the person table"):
        extract_features(store, population({1: 400, 99: 10}), SPEC)


def test_empty_population_gives_an_empty_matrix(store: CdmStore) -> None:
    build(store)
    data = extract_features(store, population({}), SPEC)
    assert data.X.shape == (0, 0) and data.rows == 0 and data.feature_names == []


def test_generated_hospitals_share_feature_ids(tmp_path: Path) -> None:
    from medhaven.cdm import open_store
    from medhaven.prediction.population import study_population
    from medhaven.prediction.task import PredictionTask
    from medhaven.synth.writer import write_hospitals

    manifest = write_hospitals(tmp_path, hospitals=2, persons=600, seed=11)
    task = PredictionTask(name="hf", target_cohort="essential_hypertension",
                          outcome_cohort="heart_failure_admission")  # fmt: skip
    sites = []
    for entry in manifest.hospitals:
        with open_store(tmp_path / entry.cdm) as store:
            pop = study_population(store, task)
            sites.append(extract_features(store, pop, task.features, site=entry.slug))
            assert sites[-1].y.tolist() == pop.label.tolist() and sites[-1].rows == pop.rows
    a, b = sites
    assert a.rows > 50 and b.rows > 20
    shared = np.intersect1d(a.feature_ids, b.feature_ids)
    assert shared.size > 50
    names_a = dict(zip(a.feature_ids.tolist(), a.feature_names, strict=True))
    names_b = dict(zip(b.feature_ids.tolist(), b.feature_names, strict=True))
    assert all(names_a[i] == names_b[i] for i in shared.tolist())
    # Every id decodes to an analysis of the documented table.
    analyses = set((a.feature_ids % 1000).tolist()) | set((b.feature_ids % 1000).tolist())
    allowed = {1, 3} | {base + k * 10 + j for base in (100, 400, 700) for k in (0, 1)
                        for j in (1, 2, 3)} | {800 + k * 10 + j for k in range(5)
                                               for j in (1, 2, 3)}  # fmt: skip
    assert analyses <= allowed and {1, 3, 101, 801, 821} <= analyses
    aligned = b.align(a.feature_ids)
    assert aligned.X.shape == (b.rows, a.feature_ids.size)
