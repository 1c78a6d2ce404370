"""CDM quality checks in the manner of OHDSI's DataQualityDashboard.

Owns the table-, field- and concept-level checks (conformance, completeness,
plausibility), the thresholds they use and the report they produce.
:func:`run_checks` is the entry point; ``report.ok`` says whether every check
passed.
"""

from __future__ import annotations

from medhaven.cdm.checks.model import CheckReport, CheckResult, CheckSpec, Level, Status
from medhaven.cdm.checks.plausible import (
    MEASUREMENT_RANGES,
    PERSON_COMPLETENESS_THRESHOLDS,
    THRESHOLDS,
    MeasurementRange,
)
from medhaven.cdm.checks.runner import default_tables, run_checks

__all__ = [
    "MEASUREMENT_RANGES",
    "PERSON_COMPLETENESS_THRESHOLDS",
    "THRESHOLDS",
    "CheckReport",
    "CheckResult",
    "CheckSpec",
    "Level",
    "MeasurementRange",
    "Status",
    "default_tables",
    "run_checks",
]
