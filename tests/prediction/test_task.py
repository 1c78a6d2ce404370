"""Prediction tasks: PLP defaults, cohort resolution and one-line errors naming file and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medhaven.errors import InvalidInput, NotFound
from medhaven.prediction.task import FeatureSpec, PredictionTask, load_task


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "task.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


BASE = {"name": "hf", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission"}  # fmt: skip


def test_defaults_are_plp_create_study_population_settings(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, BASE))
    # createStudyPopulationSettings(): riskWindowStart = 1, riskWindowEnd = 365 (both
    # "cohort start"), washoutPeriod = 0, removeSubjectsWithPriorOutcome = TRUE,
    # priorOutcomeLookback = 99999, requireTimeAtRisk = TRUE, minTimeAtRisk = 364,
    # includeAllOutcomes = TRUE, firstExposureOnly = FALSE.
    assert (task.risk_window_start, task.start_anchor, task.risk_window_end, task.end_anchor) == (
        1, "cohort start", 365, "cohort start")  # fmt: skip
    assert (task.washout_period, task.remove_subjects_with_prior_outcome,
            task.prior_outcome_lookback) == (0, True, 99999)  # fmt: skip
    assert (task.require_time_at_risk, task.min_time_at_risk, task.include_all_outcomes,
            task.first_exposure_only) == (True, 364, True, False)  # fmt: skip
    assert task.features.windows == [365, 180, 30]
    assert task.target_expression().PrimaryCriteria is not None


def test_unknown_field_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, {**BASE, "riskWindowStart": 1})
    with pytest.raises(InvalidInput, match=r"task\.json: riskWindowStart: unknown field$"):
        load_task(path)


def test_bad_anchor_and_nested_feature_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"task\.json: start_anchor: "):
        load_task(write(tmp_path, {**BASE, "start_anchor": "index"}))
    with pytest.raises(InvalidInput, match=r"task\.json: features\.windows: .*distinct"):
        load_task(write(tmp_path, {**BASE, "features": {"windows": [30, 30]}}))


def test_unknown_library_cohort_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"task\.json: outcome_cohort: no library cohort"):
        load_task(write(tmp_path, {**BASE, "outcome_cohort": "no_such_cohort"}))


def test_inline_definition_with_unsupported_element(tmp_path: Path) -> None:
    bad = {"PrimaryCriteria": {"CriteriaList": []}, "Bogus": 1}
    with pytest.raises(InvalidInput, match=r"task\.json: target_cohort: Bogus"):
        load_task(write(tmp_path, {**BASE, "target_cohort": bad}))


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such task file"):
        load_task(tmp_path / "none.json")
    path = tmp_path / "task.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"task\.json: not valid JSON \(line 1\)"):
        load_task(path)


def test_feature_spec_limits() -> None:
    with pytest.raises(ValueError, match="windows"):
        FeatureSpec(windows=list(range(1, 11)))
    assert PredictionTask(name="x", target_cohort="a", outcome_cohort="b").features.counts
