"""Prediction challenges scored at a node on a hidden test split (job kind ``challenge``).

A ``challenge`` job carries a task, a split (``seed``, ``test_fraction``,
``public_fraction``), ``score_digits`` and either a ``model`` (a
:class:`~medhaven.prediction.models.ModelSpec`, trained here on the node's
non-test persons) or ``predictions`` (person id -> probability; only at a node
whose policy says its data are synthetic teaching data).

The split is a function of ``(seed, person_id)`` alone: HMAC-SHA256 keyed by
the seed, the first 8 bytes read as a number in ``[0, 1)``; a person is in
the test part when it is below ``test_fraction`` and, within it, in the
public part when it is below ``test_fraction * public_fraction``. So every
submission of one challenge is scored on the same persons, and all rows of
one person fall in one part. Test labels never leave the node: the reply
holds only the AUROC of each part rounded to ``score_digits`` (at most 3) and
its disclosure-controlled counts; a part with fewer outcomes or non-outcomes
than the node's minimum cell count is not scored (the job is refused).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medhaven.errors import InvalidInput
from medhaven.prediction.models import ModelSpec
from medhaven.prediction.task import PredictionTask

if TYPE_CHECKING:
    from medhaven.analytics.policy import DisclosurePolicy
    from medhaven.federation.jobs import JobSpec
    from medhaven.federation.node import NodeConfig
    from medhaven.prediction.data import PredictionData

MAX_DIGITS = 3
MAX_PREDICTIONS = 1_000_000
NOT_SYNTHETIC = (
    "predictions are scored only at a node whose data are synthetic teaching data "
    "(synthetic_teaching = true in its node.toml)"
)
PARTS = ("public", "private")


class SplitParams(BaseModel):
    """The hidden split: HMAC-SHA256(seed, person_id) against the two fractions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(ge=0, le=2**63 - 1)
    test_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    public_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)


class ChallengeParams(BaseModel):
    """``challenge``: a task, the split, the score's digits, and a model or predictions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: PredictionTask
    split: SplitParams
    score_digits: int = Field(default=3, ge=1, le=MAX_DIGITS)
    model: ModelSpec | None = None
    predictions: dict[str, float] | None = None

    @field_validator("predictions")
    @classmethod
    def _probabilities(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is None:
            return None
        if len(value) > MAX_PREDICTIONS:
            raise ValueError(f"at most {MAX_PREDICTIONS} predictions")
        for key, p in value.items():
            if not key.isdigit() or len(key) > 19:
                raise ValueError("keys must be person ids (whole numbers)")
            if not math.isfinite(p) or not 0.0 <= p <= 1.0:
                raise ValueError(f"person {key}: a probability in [0, 1] is needed")
        return value

    @model_validator(mode="after")
    def _one(self) -> ChallengeParams:
        if (self.model is None) == (self.predictions is None):
            raise ValueError('give exactly one of "model" or "predictions"')
        return self


def check_parameters(parameters: dict[str, Any]) -> ChallengeParams:
    """The hub's (and the node's) strict parse; the first bad field in one line."""
    from pydantic import ValidationError

    try:
        p = ChallengeParams.model_validate(parameters)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise InvalidInput(f"challenge job: parameters.{where}: {err['msg']}") from None
    if p.model is not None:
        p.model.resolved()  # unknown hyperparameters refused before the job goes out
    return p


def split_values(person_ids: npt.NDArray[np.int64], seed: int) -> npt.NDArray[np.float64]:
    """Each person's number in ``[0, 1)``: HMAC-SHA256 keyed by the seed, first 8 bytes."""
    key = str(seed).encode("ascii")
    out = np.empty(person_ids.size, dtype=np.float64)
    for i, pid in enumerate(person_ids.tolist()):
        digest = hmac.new(key, str(int(pid)).encode("ascii"), hashlib.sha256).digest()
        out[i] = int.from_bytes(digest[:8], "big") / 2.0**64
    return out


def assign_parts(person_ids: npt.NDArray[np.int64], split: SplitParams) -> npt.NDArray[np.str_]:
    """``"train"``, ``"public"`` or ``"private"`` per row (deterministic per seed and person)."""
    u = split_values(person_ids, split.seed)
    public_cut = split.test_fraction * split.public_fraction
    parts = np.where(
        u < public_cut, "public", np.where(u < split.test_fraction, "private", "train")
    )
    return parts.astype(np.str_)


def _site_rows(config: NodeConfig, task: PredictionTask) -> tuple[PredictionData,
                                                                 npt.NDArray[np.int64]]:  # fmt: skip
    """The node's study population's features, and each row's person id (at the node only)."""
    from medhaven.cdm import opened
    from medhaven.prediction.features import extract_features
    from medhaven.prediction.population import study_population

    with opened(config.cdm) as store:
        population = study_population(store, task)
        data = extract_features(store, population, task.features, site=config.name)
    return data, population.person_id


def _score(y: npt.NDArray[np.int8], p: npt.NDArray[np.float64], digits: int) -> float:
    from medhaven.prediction.metrics import auroc_delong

    return round(auroc_delong(y, p).estimate, digits)


def _released(count: int, policy: DisclosurePolicy) -> int | None:
    return None if policy.is_sensitive_count(count) else policy.round_count(count)


def score(p: ChallengeParams, data: PredictionData, person_ids: npt.NDArray[np.int64], *,
          policy: DisclosurePolicy, synthetic: bool, min_train: int) -> dict[str, Any]:  # fmt: skip
    """Score one submission on ``data`` (rows of one node); only released figures come back."""
    from medhaven.prediction.models import fit

    if p.predictions is not None and not synthetic:
        raise InvalidInput(NOT_SYNTHETIC)
    parts = assign_parts(person_ids, p.split)
    least = max(policy.min_cell_count, 2)
    for part in PARTS:
        y = data.y[parts == part]
        if int(y.sum()) < least or int(y.size - y.sum()) < least:
            raise InvalidInput(
                f"the {part} test part holds fewer than {least} persons with or without the "
                "outcome; it cannot be scored"
            )
    if p.model is not None:
        train = data.subset(parts == "train")
        if train.rows < min_train:
            raise InvalidInput(
                f"the training part is below the node's minimum of {min_train} persons"
            )
        model = fit(p.model, train, min_cell_count=policy.min_cell_count)
        probs = np.asarray(model.predict(data), dtype=np.float64)
    else:
        assert p.predictions is not None
        probs = np.full(data.rows, np.nan)
        for i, pid in enumerate(person_ids.tolist()):
            got = p.predictions.get(str(int(pid)))
            if got is not None:
                probs[i] = got
        missing = int(np.isnan(probs[parts != "train"]).sum())
        if missing:
            raise InvalidInput(f"predictions: {missing} test rows have no prediction")
    out: dict[str, Any] = {"kind": "challenge", "metric": "auroc", "score_digits": p.score_digits,
                           "mode": "model" if p.model is not None else "predictions"}  # fmt: skip
    for part in PARTS:
        rows = parts == part
        y = data.y[rows]
        out[part] = {
            "auroc": _score(y, probs[rows], p.score_digits),
            "persons": _released(int(np.unique(person_ids[rows]).size), policy),
            "outcomes": _released(int(y.sum()), policy),
        }
    return out


def run_challenge(spec: JobSpec, config: NodeConfig) -> dict[str, Any]:
    """A ``challenge`` job at a node: parse, refuse predictions at real data, build, score."""
    from medhaven.federation.kinds import policy_of

    p = check_parameters(spec.parameters)
    if p.predictions is not None and not config.synthetic_teaching:
        raise InvalidInput(NOT_SYNTHETIC)
    data, person_ids = _site_rows(config, p.task)
    policy = policy_of(config.min_cell_count, config.rounding)
    return score(p, data, person_ids, policy=policy, synthetic=config.synthetic_teaching,
                 min_train=config.min_train_persons)  # fmt: skip


def combine_challenge(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """Across nodes: the persons-weighted mean of each node's rounded score, rounded again.

    The weights are each node's released person count of the part; a node
    that was not scored (or whose count was withheld) does not count.
    """
    digits = MAX_DIGITS
    rows: list[dict[str, Any]] = []
    sums = {part: [0.0, 0] for part in PARTS}
    for reply in replies:
        result = reply.get("result") if reply.get("status") == "ok" else None
        row: dict[str, Any] = {"node": reply.get("node"), "status": reply.get("status")}
        if not isinstance(result, dict):
            row["reason"] = reply.get("reason")
            rows.append(row)
            continue
        digits = min(digits, int(result.get("score_digits", MAX_DIGITS)))
        for part in PARTS:
            got = result.get(part)
            cell: dict[str, Any] = got if isinstance(got, dict) else {}
            auc, persons = cell.get("auroc"), cell.get("persons")
            row[part] = {"auroc": auc, "persons": persons}
            if isinstance(auc, int | float) and isinstance(persons, int) and persons > 0:
                sums[part][0] += float(auc) * persons
                sums[part][1] += persons
        rows.append(row)
    out: dict[str, Any] = {"kind": "challenge", "nodes": rows, "score_digits": digits,
                           "weighting": "persons-weighted mean of the nodes' rounded scores"}  # fmt: skip
    for part in PARTS:
        total, n = sums[part]
        out[part] = round(total / int(n), digits) if n else None
        out[f"{part}_persons"] = int(n)
    return out


__all__ = [
    "NOT_SYNTHETIC",
    "ChallengeParams",
    "SplitParams",
    "assign_parts",
    "check_parameters",
    "combine_challenge",
    "run_challenge",
    "score",
    "split_values",
]
