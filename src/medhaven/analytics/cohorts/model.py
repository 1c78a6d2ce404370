"""Typed models of an OHDSI ATLAS / Circe cohort definition, for MedHaven's supported subset.

Field names and their case are Circe's, exactly as ATLAS exports them
(``PrimaryCriteria``, ``CriteriaList``, ``CodesetId``, ``includeDescendants``
...). Every model forbids fields it does not know, so an element outside the
subset is refused with its path rather than silently ignored. Fields that ATLAS
writes with an "unset" value (``null``, ``false``, ``[]``, ``{}``) mean the
same as absent in Circe and are dropped before validation; descriptive fields
(names, concept captions, ``cdmVersionRange``) are accepted and carry no
semantics.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DOMAINS = (
    "ConditionOccurrence",
    "DrugExposure",
    "ProcedureOccurrence",
    "Measurement",
    "Observation",
    "VisitOccurrence",
    "Death",
)


def _drop_unset(data: Any, declared: set[str]) -> Any:
    """Drop undeclared keys whose value means "not set" in Circe (null, false, empty)."""
    if not isinstance(data, dict):
        return data
    return {
        k: v
        for k, v in data.items()
        if k in declared or not (v is None or v is False or v == [] or v == {})
    }


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _unset_fields(cls, data: Any) -> Any:
        declared = {f.alias or name for name, f in cls.model_fields.items()}
        return _drop_unset(data, declared)


class Concept(_Model):
    """A concept as ATLAS writes it (only ``CONCEPT_ID`` has meaning here)."""

    CONCEPT_ID: int
    CONCEPT_NAME: str | None = None
    STANDARD_CONCEPT: str | None = None
    STANDARD_CONCEPT_CAPTION: str | None = None
    INVALID_REASON: str | None = None
    INVALID_REASON_CAPTION: str | None = None
    CONCEPT_CODE: str | None = None
    DOMAIN_ID: str | None = None
    VOCABULARY_ID: str | None = None
    CONCEPT_CLASS_ID: str | None = None
    VALID_START_DATE: Any = None
    VALID_END_DATE: Any = None


class ConceptSetItem(_Model):
    """One concept of a concept set, with its descendant / mapped / excluded flags."""

    concept: Concept
    isExcluded: bool = False
    includeDescendants: bool = False
    includeMapped: bool = False


class ConceptSetExpression(_Model):
    """The items of a concept set."""

    items: tuple[ConceptSetItem, ...] = ()


class ConceptSet(_Model):
    """A numbered concept set that criteria refer to by ``CodesetId``."""

    id: int
    name: str | None = None
    expression: ConceptSetExpression = ConceptSetExpression()


class NumericRange(_Model):
    """A comparison: ``Op`` one of lt, lte, eq, !eq, gt, gte, bt, !bt (``Extent`` for bt)."""

    Value: float
    Op: Literal["lt", "lte", "eq", "!eq", "gt", "gte", "bt", "!bt"]
    Extent: float | None = None

    @model_validator(mode="after")
    def _extent_for_between(self) -> NumericRange:
        if self.Op in ("bt", "!bt") and self.Extent is None:
            raise ValueError("a 'bt' range needs an Extent")
        return self


class Criterion(_Model):
    """Attributes shared by every supported domain criterion."""

    CodesetId: int | None = None
    First: bool = False


class ConditionOccurrenceCriterion(Criterion):
    """Condition occurrence criterion."""


class DrugExposureCriterion(Criterion):
    """Drug exposure criterion."""


class ProcedureOccurrenceCriterion(Criterion):
    """Procedure occurrence criterion."""


class ObservationCriterion(Criterion):
    """Observation criterion."""


class VisitOccurrenceCriterion(Criterion):
    """Visit occurrence criterion."""


class MeasurementCriterion(Criterion):
    """Measurement criterion, optionally with a value range and units."""

    ValueAsNumber: NumericRange | None = None
    Unit: tuple[Concept, ...] = ()


class DeathCriterion(_Model):
    """Death criterion (``CodesetId`` filters the cause of death)."""

    CodesetId: int | None = None


DomainCriterion = (
    ConditionOccurrenceCriterion
    | DrugExposureCriterion
    | ProcedureOccurrenceCriterion
    | MeasurementCriterion
    | ObservationCriterion
    | VisitOccurrenceCriterion
    | DeathCriterion
)


class DomainCriteria(_Model):
    """A one-key wrapper naming the domain, as Circe serialises a criterion."""

    @model_validator(mode="before")
    @classmethod
    def _unset_fields(cls, data: Any) -> Any:
        # Every key here names a domain, even with empty attributes: none is "unset".
        return data

    ConditionOccurrence: ConditionOccurrenceCriterion | None = None
    DrugExposure: DrugExposureCriterion | None = None
    ProcedureOccurrence: ProcedureOccurrenceCriterion | None = None
    Measurement: MeasurementCriterion | None = None
    Observation: ObservationCriterion | None = None
    VisitOccurrence: VisitOccurrenceCriterion | None = None
    Death: DeathCriterion | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DomainCriteria:
        if len(self.present()) != 1:
            raise ValueError("a criterion must name exactly one domain")
        return self

    def present(self) -> list[tuple[str, DomainCriterion]]:
        """The (domain, criterion) pairs that are set (exactly one after validation)."""
        out: list[tuple[str, DomainCriterion]] = []
        for name in DOMAINS:
            value = getattr(self, name)
            if value is not None:
                out.append((name, value))
        return out

    @property
    def domain(self) -> str:
        """The domain name, e.g. ``ConditionOccurrence``."""
        return self.present()[0][0]

    @property
    def criterion(self) -> DomainCriterion:
        """The domain criterion itself."""
        return self.present()[0][1]


class WindowBound(_Model):
    """One end of a window: ``Days`` (null = unbounded, i.e. the observation period) times ``Coeff``."""

    Days: int | None = None
    Coeff: Literal[-1, 1] = 1


class Window(_Model):
    """A window around the index date for a criterion's start (or end) date."""

    Start: WindowBound
    End: WindowBound
    UseIndexEnd: bool | None = None
    UseEventEnd: bool | None = None


class OccurrenceSpec(_Model):
    """How many matching events: ``Type`` 0 exactly, 1 at most, 2 at least ``Count``."""

    Type: Literal[0, 1, 2]
    Count: int = Field(ge=0)
    IsDistinct: Literal[False] = False
    # Only matters for distinct counts, which are refused; ATLAS may still write it.
    CountColumn: str | None = None


class CorelatedCriteria(_Model):
    """A criterion with its window(s) and occurrence count (Circe's spelling: ``Corelated``)."""

    Criteria: DomainCriteria
    StartWindow: Window
    EndWindow: Window | None = None
    Occurrence: OccurrenceSpec
    RestrictVisit: Literal[False] = False
    IgnoreObservationPeriod: bool = False


class DemographicCriteria(_Model):
    """Age at the index date (``YEAR(index) - year_of_birth``) and gender."""

    Age: NumericRange | None = None
    Gender: tuple[Concept, ...] = ()


class CriteriaGroup(_Model):
    """ALL / ANY / AT_LEAST / AT_MOST of criteria, demographic criteria and nested groups."""

    Type: Literal["ALL", "ANY", "AT_LEAST", "AT_MOST"] = "ALL"
    Count: int | None = None
    CriteriaList: tuple[CorelatedCriteria, ...] = ()
    DemographicCriteriaList: tuple[DemographicCriteria, ...] = ()
    Groups: tuple[CriteriaGroup, ...] = ()

    @field_validator("Type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _count_for_at(self) -> CriteriaGroup:
        if self.Type.startswith("AT_") and (self.Count is None or self.Count < 0):
            raise ValueError(f"a {self.Type} group needs a Count of 0 or more")
        return self

    def size(self) -> int:
        """How many members (criteria, demographic criteria, groups) the group has."""
        return len(self.CriteriaList) + len(self.DemographicCriteriaList) + len(self.Groups)


class ObservationWindowSpec(_Model):
    """Days of observation required before and after the primary event."""

    PriorDays: int = Field(default=0, ge=0)
    PostDays: int = Field(default=0, ge=0)


class ResultLimit(_Model):
    """Which events per person to keep: All, First (earliest) or Last (latest)."""

    Type: Literal["All", "First", "Last"] = "All"

    @field_validator("Type", mode="before")
    @classmethod
    def _title(cls, value: Any) -> Any:
        return value.capitalize() if isinstance(value, str) else value


class PrimaryCriteriaSpec(_Model):
    """The index events: criteria, observation window and per-person limit."""

    CriteriaList: tuple[DomainCriteria, ...] = Field(min_length=1)
    ObservationWindow: ObservationWindowSpec = ObservationWindowSpec()
    PrimaryCriteriaLimit: ResultLimit = ResultLimit()


class InclusionRule(_Model):
    """A named inclusion rule: a criteria group every kept event must satisfy."""

    name: str | None = None
    description: str | None = None
    expression: CriteriaGroup = CriteriaGroup()


class DateOffsetSpec(_Model):
    """End ``Offset`` days after the event's start or end date, capped at the observation end."""

    DateField: Literal["StartDate", "EndDate"] = "StartDate"
    Offset: int = 0


class EndStrategySpec(_Model):
    """The cohort exit rule; absent means the end of the observation period."""

    DateOffset: DateOffsetSpec


class CollapseSettingsSpec(_Model):
    """Cohort periods closer than ``EraPad`` days are merged into one era."""

    CollapseType: Literal["ERA"] = "ERA"
    EraPad: int = Field(default=0, ge=0)


class CensorWindowSpec(_Model):
    """Accepted only empty: a calendar censor window is outside MedHaven's subset."""


class CohortExpression(_Model):
    """A whole ATLAS cohort definition (the ``expression`` ATLAS exports)."""

    ConceptSets: tuple[ConceptSet, ...] = ()
    PrimaryCriteria: PrimaryCriteriaSpec
    AdditionalCriteria: CriteriaGroup | None = None
    QualifiedLimit: ResultLimit = ResultLimit()
    ExpressionLimit: ResultLimit = ResultLimit()
    InclusionRules: tuple[InclusionRule, ...] = ()
    EndStrategy: EndStrategySpec | None = None
    CensoringCriteria: tuple[DomainCriteria, ...] = ()
    CollapseSettings: CollapseSettingsSpec = CollapseSettingsSpec()
    CensorWindow: CensorWindowSpec | None = None
    cdmVersionRange: str | None = None
    Title: str | None = None

    @model_validator(mode="after")
    def _codesets_exist(self) -> CohortExpression:
        ids = [c.id for c in self.ConceptSets]
        if len(ids) != len(set(ids)):
            raise ValueError("ConceptSets: two concept sets share an id")
        return self


__all__ = [
    "DOMAINS",
    "CensorWindowSpec",
    "CohortExpression",
    "CollapseSettingsSpec",
    "Concept",
    "ConceptSet",
    "ConceptSetExpression",
    "ConceptSetItem",
    "CorelatedCriteria",
    "CriteriaGroup",
    "DateOffsetSpec",
    "DeathCriterion",
    "DemographicCriteria",
    "DomainCriteria",
    "DomainCriterion",
    "EndStrategySpec",
    "InclusionRule",
    "MeasurementCriterion",
    "NumericRange",
    "ObservationWindowSpec",
    "OccurrenceSpec",
    "PrimaryCriteriaSpec",
    "ResultLimit",
    "Window",
    "WindowBound",
]
