"""Generated CDMs: learnable outcomes, outcome_summary, include-descendants, quality checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from medhaven.cdm import CdmStore, open_store
from medhaven.synth.generator import generate_hospital
from medhaven.synth.outcomes import outcome_summary
from medhaven.synth.profiles import hospital_profiles
from medhaven.synth.writer import write_cdm, write_hospitals


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    write_hospitals(d, hospitals=3, persons=4000, seed=7)
    return d


@pytest.fixture
def hanbit(out: Path) -> Iterator[CdmStore]:
    with open_store(out / "hanbit-university" / "cdm.duckdb", read_only=True) as s:
        yield s


def _auroc(score: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUROC with average ranks for ties."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Plain Newton-Raphson logistic regression with a small ridge; returns fitted risks."""
    x = np.column_stack([np.ones(len(x)), (x - x.mean(0)) / (x.std(0) + 1e-9)])
    w = np.zeros(x.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - y) + 1e-3 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 1e-3 * np.eye(x.shape[1])
        w -= np.linalg.solve(hess, grad)
    return np.asarray(1 / (1 + np.exp(-x @ w)))


# Baseline features and 1-year outcomes, written directly in SQL (not via outcome_summary).
FEATURES_SQL = """
WITH e AS (
    SELECT op.person_id, op.observation_period_start_date + 365 AS idx
    FROM observation_period op
    WHERE op.observation_period_start_date + 730 <= DATE '2024-12-31'
),
base AS (
    SELECT e.person_id, e.idx,
        MAX(CASE WHEN co.condition_concept_id IN (316139, 4229440) THEN 1 ELSE 0 END) AS hf,
        MAX(CASE WHEN co.condition_concept_id IN (443614, 443601, 443597) THEN 1 ELSE 0 END) AS ckd,
        MAX(CASE WHEN co.condition_concept_id = 4115276 THEN 1 ELSE 0 END) AS lung,
        MAX(CASE WHEN co.condition_concept_id = 261325 THEN 1 ELSE 0 END) AS copd
    FROM e LEFT JOIN condition_occurrence co
      ON co.person_id = e.person_id AND co.condition_start_date <= e.idx
    GROUP BY e.person_id, e.idx
)
SELECT (b.idx - DATE '1970-01-01') / 365.25 - p.year_of_birth + 1970 AS age, b.hf, b.ckd, b.lung, b.copd,
    CASE WHEN d.death_date > b.idx AND d.death_date <= b.idx + 365 THEN 1 ELSE 0 END AS died,
    CASE WHEN EXISTS (
        SELECT 1 FROM visit_occurrence v JOIN condition_occurrence c
          ON c.visit_occurrence_id = v.visit_occurrence_id
        WHERE v.person_id = b.person_id AND v.visit_concept_id = 9201
          AND c.condition_concept_id IN (316139, 4229440)
          AND v.visit_start_date > b.idx AND v.visit_start_date <= b.idx + 365) THEN 1 ELSE 0 END
        AS hf_adm
FROM base b JOIN person p ON p.person_id = b.person_id
LEFT JOIN death d ON d.person_id = b.person_id
ORDER BY b.person_id
"""


def test_outcomes_are_learnable_from_baseline_risk_factors(hanbit: CdmStore) -> None:
    rows = np.array(hanbit.fetchall(FEATURES_SQL), dtype=np.float64)
    x, died, hf_adm = rows[:, :5], rows[:, 5], rows[:, 6]
    assert died.sum() > 30 and hf_adm.sum() > 30
    assert _auroc(_logistic(x, died), died) > 0.75
    assert _auroc(_logistic(x, hf_adm), hf_adm) > 0.75


def test_readmission_depends_on_heart_failure(hanbit: CdmStore) -> None:
    rows = hanbit.fetchall(
        """
        SELECT EXISTS (SELECT 1 FROM condition_occurrence c WHERE c.person_id = v.person_id
                         AND c.condition_concept_id IN (316139, 4229440)) AS hf,
               EXISTS (SELECT 1 FROM visit_occurrence r WHERE r.person_id = v.person_id
                         AND r.visit_concept_id = 9201 AND r.visit_start_date > v.visit_end_date
                         AND r.visit_start_date <= v.visit_end_date + 30) AS readmitted
        FROM visit_occurrence v WHERE v.visit_concept_id = 9201
        """
    )
    arr = np.array(rows, dtype=np.float64)
    with_hf = arr[arr[:, 0] == 1, 1].mean()
    without = arr[arr[:, 0] == 0, 1].mean()
    assert with_hf > without + 0.08


def test_outcome_summary_matches_an_independent_count(hanbit: CdmStore) -> None:
    rows = np.array(hanbit.fetchall(FEATURES_SQL), dtype=np.float64)
    summary = outcome_summary(hanbit)
    assert set(summary) == {
        "readmission_30d",
        "hf_hospitalisation_1y",
        "mortality_1y",
        "ckd_progression",
    }
    assert summary["mortality_1y"] == pytest.approx(rows[:, 5].mean(), abs=1e-4)
    assert summary["hf_hospitalisation_1y"] == pytest.approx(rows[:, 6].mean(), abs=1e-4)
    assert 0 < summary["ckd_progression"] < 1 and 0 < summary["readmission_30d"] < 1


def test_outcome_prevalence_differs_between_hospitals(out: Path) -> None:
    summaries = {}
    for slug in ("hanbit-university", "pureun-community"):
        with open_store(out / slug / "cdm.duckdb", read_only=True) as s:
            summaries[slug] = outcome_summary(s)
    for k in ("mortality_1y", "hf_hospitalisation_1y", "readmission_30d"):
        assert summaries["hanbit-university"][k] > 2 * summaries["pureun-community"][k], k


def test_include_descendants_finds_specific_codes(out: Path) -> None:
    sql = """
        SELECT COUNT(*) FROM {table} t JOIN concept_ancestor ca
          ON ca.descendant_concept_id = t.{col} WHERE ca.ancestor_concept_id = ? AND t.{col} = ?
    """
    with open_store(out / "hanbit-university" / "cdm.duckdb", read_only=True) as s:
        # Childhood asthma (coded by this hospital for children) is found from Asthma.
        n = s.scalar(
            sql.format(table="condition_occurrence", col="condition_concept_id"), [317009, 4051466]
        )
        assert n > 0
        # The clinical drug lisinopril 10 MG is found from the ingredient lisinopril.
        n = s.scalar(sql.format(table="drug_exposure", col="drug_concept_id"), [1308216, 19080128])
        assert n > 0
    with open_store(out / "saemmul-general" / "cdm.duckdb", read_only=True) as s:
        # The ingredient itself is found too (level-0 self row).
        n = s.scalar(sql.format(table="drug_exposure", col="drug_concept_id"), [1308216, 1308216])
        assert n > 0
        # Essential hypertension descends from "Disorder of cardiovascular system".
        n = s.scalar(
            sql.format(table="condition_occurrence", col="condition_concept_id"), [134057, 320128]
        )
        assert n > 0


def test_outcome_summary_runs_on_both_backends(store: CdmStore) -> None:
    tables = generate_hospital(hospital_profiles(1)[0], persons=300, seed=3)
    store.create_schema()
    from medhaven.cdm.vocabulary import load_vocabulary

    load_vocabulary(store)
    with store.transaction():
        for name, t in tables.items():
            if name != "concept":
                store.append_arrow(name, t)
    died = tables["death"].num_rows
    summary = outcome_summary(store)
    assert 0 <= summary["mortality_1y"] <= 1
    assert (summary["mortality_1y"] > 0) == (died > 0)


def test_generated_hospital_written_by_write_cdm_passes_quality_checks(tmp_path: Path) -> None:
    from medhaven.cdm.checks import run_checks

    tables = generate_hospital(hospital_profiles(2)[1], persons=500, seed=2)
    write_cdm(tmp_path / "cdm.duckdb", tables)
    with open_store(tmp_path / "cdm.duckdb", read_only=True) as s:
        report = run_checks(s)
    assert report.ok, [(r.check, r.target, r.percent) for r in report.problems()]
