"""The job kinds a node can run, each released under the node's own disclosure policy.

Parameters are validated strictly (unknown keys refused). A cohort
definition in a job is either an ATLAS JSON object or the name of a
definition in the shipped library; a string is never read as a file path,
so a job cannot make the node open its own files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medhaven.analytics.cohorts import (
    Definition,
    generate_cohort,
    library_definition,
    parse_expression,
    released_attrition,
)
from medhaven.analytics.policy import DisclosurePolicy
from medhaven.cdm import CdmStore, opened
from medhaven.errors import InvalidInput
from medhaven.federation.jobs import JobSpec

if TYPE_CHECKING:
    from medhaven.federation.node import NodeConfig

CohortDef = dict[str, Any] | str


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortCountParams(_Params):
    """``cohort_count``: one definition, generated under ``cohort_id`` at the node."""

    definition: CohortDef
    cohort_id: int = Field(default=1, ge=1)


class CharacterizeParams(_Params):
    """``characterize``: the whole dataset, or the Table 1 of one cohort."""

    scope: Literal["dataset"] | None = None
    cohort: CohortDef | None = None
    cohort_id: int = Field(default=1, ge=1)
    top: int = Field(default=20, ge=1, le=100)

    @model_validator(mode="after")
    def _one(self) -> CharacterizeParams:
        if (self.scope is None) == (self.cohort is None):
            raise ValueError('give exactly one of "scope": "dataset" or "cohort"')
        return self


class IncidenceParams(_Params):
    """``incidence``: outcome within target, time at risk ``tar_days`` (default: target end)."""

    target: CohortDef
    outcome: CohortDef
    tar_days: int | None = Field(default=None, ge=0)
    target_id: int = Field(default=1, ge=1)
    outcome_id: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _distinct(self) -> IncidenceParams:
        if self.target_id == self.outcome_id:
            raise ValueError("target_id and outcome_id must differ")
        return self


def _params(model: type[_Params], spec: JobSpec) -> Any:
    try:
        return model.model_validate(spec.parameters)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        where = f"parameters.{where}" if where else "parameters"
        raise InvalidInput(f"{spec.kind} job: {where}: {err['msg']}") from None


def definition_of(value: CohortDef, *, field: str) -> Definition:
    """A cohort definition from a job: an ATLAS object, or a library name (never a path)."""
    if isinstance(value, str):
        return library_definition(value)
    expression = parse_expression(value, source=f"parameters.{field}")
    name = str(value.get("name") or field)
    return Definition(name=name, description="", expression=expression)


def _generate(store: CdmStore, value: CohortDef, *, field: str, cohort_id: int) -> Any:
    defn = definition_of(value, field=field)
    return defn, generate_cohort(store, defn.expression, cohort_definition_id=cohort_id)


def policy_of(min_cell_count: int, rounding: int | None) -> DisclosurePolicy:
    """The node's disclosure policy (never the hub's)."""
    return DisclosurePolicy(min_cell_count=min_cell_count, rounding_base=rounding)


def run_kind(spec: JobSpec, config: NodeConfig) -> dict[str, Any]:
    """Run a verified job on the node's CDM; return only disclosure-controlled figures."""
    policy = policy_of(config.min_cell_count, config.rounding)
    if spec.kind == "cohort_count":
        p = _params(CohortCountParams, spec)
        definition_of(p.definition, field="definition")  # bad input before the store opens
        with opened(config.cdm) as store:
            defn, run = _generate(store, p.definition, field="definition", cohort_id=p.cohort_id)
        doc = released_attrition(run, policy)
        return {
            "kind": spec.kind,
            "cohort": defn.name,
            "rounding_base": policy.rounding_base,
            **doc,
        }
    if spec.kind == "characterize":
        return _characterize(_params(CharacterizeParams, spec), config.cdm, policy)
    if spec.kind == "incidence":
        return _incidence(_params(IncidenceParams, spec), config.cdm, policy)
    if spec.kind == "evaluate":
        from medhaven.prediction.node_training import run_evaluate

        return run_evaluate(spec, config)
    if spec.kind == "challenge":
        from medhaven.prediction.challenge import run_challenge

        return run_challenge(spec, config)
    if spec.kind == "train":  # rounds, not one message: see medhaven.prediction.node_training
        raise InvalidInput("a train job runs in rounds through the network session")
    raise InvalidInput(f"unknown job kind {spec.kind}")  # unreachable: JobSpec's Literal


def _characterize(p: CharacterizeParams, cdm: str, policy: DisclosurePolicy) -> dict[str, Any]:
    from medhaven.analytics.characterize import (
        characterize_cohort,
        characterize_dataset,
        release_cohort,
        release_dataset,
    )

    if p.scope == "dataset":
        with opened(cdm, read_only=True) as store:
            doc = release_dataset(characterize_dataset(store, top=p.top), policy)
        return doc
    assert p.cohort is not None
    definition_of(p.cohort, field="cohort")
    with opened(cdm) as store:
        defn, _run = _generate(store, p.cohort, field="cohort", cohort_id=p.cohort_id)
        sections = characterize_cohort(store, p.cohort_id, top=p.top)
        doc = release_cohort(sections, p.cohort_id, policy)
    return {"cohort": defn.name, **doc}


def _incidence(p: IncidenceParams, cdm: str, policy: DisclosurePolicy) -> dict[str, Any]:
    from medhaven.analytics.characterize import incidence

    definition_of(p.target, field="target")
    definition_of(p.outcome, field="outcome")
    with opened(cdm) as store:
        target, _t = _generate(store, p.target, field="target", cohort_id=p.target_id)
        outcome, _o = _generate(store, p.outcome, field="outcome", cohort_id=p.outcome_id)
        doc = incidence(store, target_id=p.target_id, outcome_id=p.outcome_id,
                        tar_days=p.tar_days, policy=policy)  # fmt: skip
    return {"kind": "incidence", "target": target.name, "outcome": outcome.name, **doc}


__all__ = [
    "CharacterizeParams",
    "CohortCountParams",
    "IncidenceParams",
    "definition_of",
    "policy_of",
    "run_kind",
]
