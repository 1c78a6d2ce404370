"""A prediction task: target and outcome cohorts, time at risk, population rules and features.

The population settings carry the names (in snake case) and the defaults of
OHDSI PatientLevelPrediction's ``createStudyPopulationSettings`` (PLP 6.x,
``R/PopulationSettings.R``: ``binary = TRUE, includeAllOutcomes = TRUE,
firstExposureOnly = FALSE, washoutPeriod = 0, removeSubjectsWithPriorOutcome =
TRUE, priorOutcomeLookback = 99999, requireTimeAtRisk = TRUE, minTimeAtRisk =
364, riskWindowStart = 1, startAnchor = "cohort start", riskWindowEnd = 365,
endAnchor = "cohort start", restrictTarToCohortEnd = FALSE``); MedHaven's
labels are always binary. :mod:`medhaven.prediction.population` applies them
with PLP's semantics.

A cohort is named by a library name or a definition file path (resolved with
:func:`medhaven.analytics.cohorts.library.resolve`), or given inline as an
ATLAS/Circe expression object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medhaven.analytics.cohorts.library import parse_expression, resolve
from medhaven.analytics.cohorts.model import CohortExpression
from medhaven.errors import InvalidInput, NotFound

Anchor = Literal["cohort start", "cohort end"]
Domain = Literal["condition", "drug", "procedure", "measurement"]
DOMAINS: tuple[Domain, ...] = ("condition", "drug", "procedure", "measurement")
MAX_WINDOWS = 9


class FeatureSpec(BaseModel):
    """Which features to extract (:mod:`medhaven.prediction.features`).

    ``windows`` are look-back lengths in days: window ``w`` covers the days
    ``index - w .. index`` (the index day counts, as in FeatureExtraction's
    long-term window ``-365..0``). A window's position in the list is part of
    the feature ids, so every site of one study must use the same spec.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    windows: list[int] = Field(default_factory=lambda: [365, 180, 30])
    domains: list[Domain] = Field(default_factory=lambda: list(DOMAINS))
    demographics: bool = True
    counts: bool = True
    measurement_values: bool = True
    drug_level: Literal["ingredient", "as recorded"] = "ingredient"

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not 1 <= len(value) <= MAX_WINDOWS:
            raise ValueError(f"give 1 to {MAX_WINDOWS} windows")
        if any(w < 0 for w in value) or len(set(value)) != len(value):
            raise ValueError("windows must be distinct whole numbers of days, 0 or more")
        return value

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[Domain]) -> list[Domain]:
        if len(set(value)) != len(value):
            raise ValueError("a domain is listed twice")
        return value


class PredictionTask(BaseModel):
    """Target, outcome, time at risk (TAR) and population rules, with PLP's names and defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    target_cohort: str | dict[str, Any]
    outcome_cohort: str | dict[str, Any]
    risk_window_start: int = 1
    start_anchor: Anchor = "cohort start"
    risk_window_end: int = 365
    end_anchor: Anchor = "cohort start"
    washout_period: int = Field(default=0, ge=0)
    first_exposure_only: bool = False
    remove_subjects_with_prior_outcome: bool = True
    prior_outcome_lookback: int = Field(default=99999, ge=0)
    require_time_at_risk: bool = True
    min_time_at_risk: int = Field(default=364, ge=0)
    include_all_outcomes: bool = True
    restrict_tar_to_cohort_end: bool = False
    features: FeatureSpec = Field(default_factory=FeatureSpec)

    def target_expression(self) -> CohortExpression:
        """The target cohort's Circe expression."""
        return _expression(self.target_cohort, "target_cohort")

    def outcome_expression(self) -> CohortExpression:
        """The outcome cohort's Circe expression."""
        return _expression(self.outcome_cohort, "outcome_cohort")


def _expression(ref: str | dict[str, Any], field: str) -> CohortExpression:
    if isinstance(ref, dict):
        return parse_expression(ref, source=field)
    try:
        return resolve(ref).expression
    except (InvalidInput, NotFound) as exc:
        raise type(exc)(f"{field}: {exc.message}") from None


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_task(data: Any, *, source: str = "task") -> PredictionTask:
    """Validate a task object; the first problem is reported as ``source: field: reason``."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected a JSON object")
    try:
        return PredictionTask.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        # A union (str | dict) adds the member type to the location; drop it.
        if len(loc) >= 2 and loc[0] in ("target_cohort", "outcome_cohort"):
            loc = loc[:1]
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise InvalidInput(f"{source}: {_where(loc)}: {msg}") from None


def load_task(path: Path) -> PredictionTask:
    """Read a task JSON file and resolve both cohorts (errors name the file and the field)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such task file") from None
    except (OSError, UnicodeDecodeError):
        raise InvalidInput(f"{path}: cannot read the file as UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON (line {exc.lineno})") from None
    task = parse_task(data, source=str(path))
    for check in (task.target_expression, task.outcome_expression):
        try:
            check()
        except (InvalidInput, NotFound) as exc:
            raise type(exc)(f"{path}: {exc.message}") from None
    return task


__all__ = [
    "DOMAINS",
    "MAX_WINDOWS",
    "FeatureSpec",
    "PredictionTask",
    "load_task",
    "parse_task",
]
