"""The quality-check report: one :class:`CheckResult` per check, gathered in a :class:`CheckReport`.

Names, levels and the pass rule follow OHDSI's DataQualityDashboard (DQD): a
check *fails* when the percentage of violating rows is above its threshold
(a percentage, 0 to 100). A check whose query could not run is an *error*,
never a failure. Nothing here holds a patient value: results carry counts,
table and field names, concept ids from the vocabulary, and messages built
from exception class names only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "error"]
Level = Literal["TABLE", "FIELD", "CONCEPT"]
STATUSES: tuple[Status, ...] = ("pass", "fail", "error")


@dataclass(frozen=True)
class CheckSpec:
    """What one check measures: its DQD name, level, target and threshold (percent)."""

    check: str
    level: Level
    table: str
    field: str | None = None
    concept_id: int | None = None
    unit_concept_id: int | None = None
    threshold: float = 0.0


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one table, field or concept."""

    check: str
    level: Level
    table: str
    field: str | None
    concept_id: int | None
    unit_concept_id: int | None
    status: Status
    violated: int | None
    denominator: int | None
    percent: float | None
    threshold: float
    message: str | None = None

    @classmethod
    def measured(cls, spec: CheckSpec, *, violated: int, denominator: int) -> CheckResult:
        """A result from counts: percent violating compared with the spec's threshold."""
        percent = 100.0 * violated / denominator if denominator else 0.0
        status: Status = "fail" if percent > spec.threshold else "pass"
        return cls(
            check=spec.check,
            level=spec.level,
            table=spec.table,
            field=spec.field,
            concept_id=spec.concept_id,
            unit_concept_id=spec.unit_concept_id,
            status=status,
            violated=violated,
            denominator=denominator,
            percent=percent,
            threshold=spec.threshold,
        )

    @classmethod
    def errored(cls, spec: CheckSpec, exc: BaseException) -> CheckResult:
        """A result for a check whose query failed.

        Only the exception's class name is kept: database messages can quote
        the offending cell value, which must not leave the node.
        """
        return cls(
            check=spec.check,
            level=spec.level,
            table=spec.table,
            field=spec.field,
            concept_id=spec.concept_id,
            unit_concept_id=spec.unit_concept_id,
            status="error",
            violated=None,
            denominator=None,
            percent=None,
            threshold=spec.threshold,
            message=f"query failed ({type(exc).__name__})",
        )

    @property
    def target(self) -> str:
        """``table``, ``table.field`` or ``table.field[concept]`` for display."""
        out = self.table if self.field is None else f"{self.table}.{self.field}"
        if self.concept_id is not None:
            out += f"[{self.concept_id}" + (
                f"/{self.unit_concept_id}]" if self.unit_concept_id is not None else "]"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready mapping."""
        return asdict(self)


@dataclass
class CheckReport:
    """All results of one run of the checks over a CDM store."""

    location: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        """Number of results with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def passed(self) -> int:
        """Number of checks that passed."""
        return self.count("pass")

    @property
    def failed(self) -> int:
        """Number of checks that failed."""
        return self.count("fail")

    @property
    def errors(self) -> int:
        """Number of checks whose query could not run."""
        return self.count("error")

    @property
    def ok(self) -> bool:
        """True when no check failed or errored."""
        return self.failed == 0 and self.errors == 0

    def problems(self) -> list[CheckResult]:
        """The failed and errored results, errors first."""
        return sorted(
            (r for r in self.results if r.status != "pass"),
            key=lambda r: (r.status != "error", r.check, r.target),
        )

    def find(
        self, check: str, *, table: str, field: str | None = None, concept_id: int | None = None
    ) -> CheckResult:
        """The one result for a check on a table/field/concept; raise ``KeyError`` if absent."""
        for r in self.results:
            if (r.check, r.table, r.field) == (check, table, field) and (
                concept_id is None or r.concept_id == concept_id
            ):
                return r
        raise KeyError(f"no {check} result for {table}.{field}")

    def summary(self) -> dict[str, Any]:
        """Totals per status, and per check name per status."""
        per_check: dict[str, Counter[str]] = {}
        for r in self.results:
            per_check.setdefault(r.check, Counter())[r.status] += 1
        return {
            "total": len(self.results),
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "ok": self.ok,
            "by_check": {
                name: {s: counts.get(s, 0) for s in STATUSES}
                for name, counts in sorted(per_check.items())
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole report as a JSON-ready mapping."""
        return {
            "cdm": self.location,
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
            "results": [r.to_dict() for r in self.results],
        }


__all__ = ["STATUSES", "CheckReport", "CheckResult", "CheckSpec", "Level", "Status"]
