"""Federated training and external validation at a node, and the rounds that drive them.

Two job kinds (:mod:`medhaven.federation.jobs`):

* ``train`` (:class:`TrainParams`): one signed job authorises a whole
  training. The server (the ServerApp, or :func:`in_process_exchange` for a
  simulation) drives :func:`drive_training`, which sends each target node a
  sequence of *rounds*; every round carries the signed job, which the node
  verifies again (:func:`handle_round`), a stage name and the round's
  arrays. Stages:

  - ``setup``: the node builds its study population and features once (cached
    in its work dir under the job id; never sent anywhere), splits them into
    a training and a held-out part, refuses (audited) when the training part
    holds fewer persons than ``max(min_patients, the node's
    min_train_persons)``, and answers the ids of the features that at least
    ``min_cell_count`` of its persons have, with their sums of squares and
    its row count (for the shared power-of-two scale);
  - ``newton`` (logistic_l2): gradient, Hessian, log-likelihood and row
    count at the current coefficients (:func:`~.federated.newton_site`); the
    server sums them and takes a Newton step: the pooled penalised fit;
  - ``fedavg`` (mlp): local epochs from the global weights; the server
    averages (FedAvg, or FedProx with ``mu > 0``);
  - ``bag`` (lightgbm): a booster trained at the node, released only when it
    passes the node's model release check (persons, leaf sizes);
  - ``xgboost``: new trees boosted from the global booster, cyclic or
    bagging as Flower's XGBoost strategies (:mod:`.federated_xgb`), released
    only when every new leaf holds the node's minimum cell count (exact);
  - ``evaluate``: the final model's disclosure-controlled evaluation on the
    node's held-out part.

* ``evaluate`` (:class:`EvaluateParams`): a model bundle (its sha256 is
  checked) evaluated on the node's whole study population: external
  validation at a hospital the model never saw (:func:`run_evaluate`).

What leaves a node: feature ids (never a count below its minimum), sums,
Newton statistics, model weights, and released metrics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medhaven.errors import InvalidInput, MedHavenError
from medhaven.prediction.data import PredictionData
from medhaven.prediction.models import ModelSpec, TrainedModel, power_of_two_scale, unscale_weights
from medhaven.prediction.node_dp import BudgetRefused, DPParams, RoundsSpent
from medhaven.prediction.task import PredictionTask

if TYPE_CHECKING:
    from medhaven.federation.jobs import JobSpec
    from medhaven.federation.node import NodeConfig

log = logging.getLogger("medhaven.prediction.node_training")

Array = npt.NDArray[Any]
Arrays = dict[str, Array]
Stage = Literal["setup", "newton", "fedavg", "bag", "xgboost", "evaluate"]
STAGES: tuple[str, ...] = ("setup", "newton", "fedavg", "bag", "xgboost", "evaluate")
CACHE_VERSION = 1


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainParams(_Params):
    """``train``: task, features (inside ``task``), model, rounds and minimums.

    ``model.kind``: ``logistic_l2`` (Newton, ``l2`` penalty on the
    coefficients, not the intercept; stops when no coefficient moves by more
    than ``tol`` or after ``rounds``), ``mlp`` (``rounds`` of FedAvg, or FedProx
    with ``mu > 0``; ``local_epochs`` each), ``lightgbm`` (one round:
    bagged boosters) or ``xgboost`` (``xgb_mode`` cyclic: ``local_epochs``
    trees per node's turn, or bagging; ``n_estimators`` trees in all). ``test_fraction`` and ``seed`` give each node's
    held-out part. ``secure_aggregation`` (``logistic_l2``, ``mlp``): the
    server learns only the sum of the nodes' vectors (:mod:`.secagg`).
    ``dp`` (``mlp`` only): each node clips and noises its own
    update and charges its privacy budget (:mod:`.node_dp`).
    """

    task: PredictionTask
    model: ModelSpec
    rounds: int = Field(default=25, ge=1, le=500)
    min_patients: int = Field(default=100, ge=1)
    test_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    seed: int = 1
    l2: float = Field(default=1.0, ge=0.0)
    l1: float = Field(default=1.0, ge=0.0)  # logistic_l1: liblinear's C = 1/l1 (federated_l1.py)
    tol: float = Field(default=1e-8, gt=0.0)
    local_epochs: int = Field(default=1, ge=1, le=100)
    mu: float = Field(default=0.0, ge=0.0)
    xgb_mode: Literal["cyclic", "bagging"] = "cyclic"
    secure_aggregation: bool = False
    dp: DPParams | None = None


class EvaluateParams(_Params):
    """``evaluate``: a task and a model bundle (as :meth:`TrainedModel.to_bundle` wrote it)."""

    task: PredictionTask
    model: dict[str, Any]


def parse_params(model: type[_Params], spec: JobSpec) -> Any:
    """The job's parameters, strictly; the first bad field in one line."""
    try:
        return model.model_validate(spec.parameters)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInput(f"{spec.kind} job: parameters.{where}: {err['msg']}") from None


def check_train_params(p: TrainParams) -> None:
    """Refuse a model kind that has no federated path here."""
    if p.dp is not None and p.model.kind != "mlp":
        raise InvalidInput(
            f"train job: parameters.dp: differential privacy is for mlp (FedAvg) training only, "
            f"not {p.model.kind}"
        )
    if p.secure_aggregation and p.model.kind not in ("logistic_l2", "mlp"):
        raise InvalidInput(
            "train job: parameters.secure_aggregation: for logistic_l2 (Newton) and mlp "
            f"(FedAvg) only, not {p.model.kind} (its rounds are not sums)"
        )
    p.model.resolved()  # unknown hyperparameters refused before any round


def check_parameters(kind: str, parameters: dict[str, Any]) -> None:
    """The hub's check of a ``train``/``evaluate`` job's parameters before it signs the job."""
    try:
        if kind == "train":
            check_train_params(TrainParams.model_validate(parameters))
        else:
            p = EvaluateParams.model_validate(parameters)
            TrainedModel.from_bundle(p.model, source="parameters.model")
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise InvalidInput(f"{kind} job: parameters.{where}: {err['msg']}") from None


def released_training(doc: dict[str, Any] | Any, replies: list[dict[str, Any]]) -> dict[str, Any]:
    """What the hub keeps of a ``train`` result: the model bundle (hash checked) and each node's
    released evaluation."""
    combined = doc.get("combined") if isinstance(doc, dict) else None
    model = combined.get("model") if isinstance(combined, dict) else None
    reason = None
    if model is not None:
        try:
            TrainedModel.from_bundle(model, source="train result")
        except InvalidInput as exc:  # never keep a bundle that fails its own hash
            model, reason = None, exc.message
    return {"kind": "train",
            "nodes": {str(r.get("node")): r.get("result") for r in replies
                      if r.get("status") == "ok"},
            "combined": {"kind": "train", "model": model,
                         "rounds": combined.get("rounds") if isinstance(combined, dict) else None,
                         "reason": reason}}  # fmt: skip


# ---------------------------------------------------------------- node side


def _key(job_id: str) -> str:
    return hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32]


def cache_path(config: NodeConfig, job_id: str) -> Path:
    """Where a node keeps one training job's data between rounds (its own work dir)."""
    return config.base_dir / f"{config.name}-prediction-cache" / f"{_key(job_id)}.pkl"


def build_site_data(config: NodeConfig, task: PredictionTask) -> PredictionData:
    """The node's study population and features (run at the node, on its CDM)."""
    from medhaven.cdm import opened
    from medhaven.prediction.features import extract_features
    from medhaven.prediction.population import study_population

    with opened(config.cdm) as store:
        population = study_population(store, task)
        return extract_features(store, population, task.features, site=config.name)


def site_split(
    config: NodeConfig, job_id: str, p: TrainParams
) -> tuple[PredictionData, PredictionData]:
    """The node's training and held-out parts, built once per job and cached in its work dir."""
    from medhaven.prediction.study import split

    path = cache_path(config, job_id)
    if path.is_file():
        with path.open("rb") as fh:
            doc = pickle.load(fh)  # noqa: S301 - the node's own file, in its own work dir
        if doc.get("version") == CACHE_VERSION:
            return doc["train"], doc["test"]
    data = build_site_data(config, p.task)
    mask = split(data, fraction=p.test_fraction, seed=p.seed)
    train, test = data.subset(~mask), data.subset(mask)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump({"version": CACHE_VERSION, "train": train, "test": test}, fh)
    os.replace(tmp, path)
    return train, test


def minimum_patients(config: NodeConfig, p: TrainParams) -> int:
    """The node's minimum: the job's, raised to the node's policy floor."""
    return max(p.min_patients, config.min_train_persons)


class RoundRefused(Exception):
    """The node will not take part (one-line public reason)."""


@dataclass
class RoundReply:
    """One node's answer to one round."""

    status: str
    reason: str | None = None
    arrays: Arrays = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _setup(config: NodeConfig, spec: JobSpec, p: TrainParams) -> RoundReply:
    from medhaven.prediction.node_dp import charge_training, plan

    train, _test = site_split(config, spec.job_id, p)
    least = minimum_patients(config, p)
    if train.rows < least:
        raise RoundRefused(
            f"the training population is below the node's minimum of {least} persons"
        )
    dp: dict[str, Any] = {}
    if p.dp is not None:  # the whole training's ε, charged before any update leaves
        dp_plan = plan(p.dp, p.rounds)
        dp = {"dp": {**dp_plan.public(), "budget": charge_training(config, spec, dp_plan)}}
    persons = np.diff(train.X.tocsc().indptr)
    keep = persons >= config.min_cell_count
    ids = train.feature_ids[keep]
    sumsq = np.asarray(train.X.tocsc()[:, np.flatnonzero(keep)].power(2).sum(axis=0)).ravel()
    names = [n for n, k in zip(train.feature_names, keep.tolist(), strict=True) if k]
    return RoundReply("ok", arrays={"feature_ids": ids.astype(np.int64),
                                    "sum_squares": sumsq.astype(np.float64),
                                    "n": np.array([float(train.rows)])},
                      meta={"feature_names": names, **dp})  # fmt: skip


def _aligned(config: NodeConfig, job_id: str, p: TrainParams, arrays: Arrays) -> PredictionData:
    train, _test = site_split(config, job_id, p)
    if train.rows < minimum_patients(config, p):  # a cache from before a policy change
        raise RoundRefused("the training population is below the node's minimum")
    return train.align(np.asarray(arrays["feature_ids"], dtype=np.int64))


def _round(config: NodeConfig, spec: JobSpec, p: TrainParams, stage: str, arrays: Arrays,
           meta: dict[str, Any]) -> RoundReply:  # fmt: skip
    from medhaven.federation.kinds import policy_of
    from medhaven.prediction import federated as fed

    if stage == "setup":
        return _setup(config, spec, p)
    if stage == "newton":
        if p.model.kind not in ("logistic_l2", "logistic_l1"):
            raise InvalidInput(f"train: stage newton is not for a {p.model.kind} model")
        data = _aligned(config, spec.job_id, p, arrays)
        stats = fed.newton_site(data, np.asarray(arrays["beta"], dtype=np.float64),
                                scale=np.asarray(arrays["scale"], dtype=np.float64))  # fmt: skip
        return RoundReply("ok", arrays=stats.to_arrays())
    if stage == "fedavg":
        if p.model.kind != "mlp":
            raise InvalidInput(f"train: stage fedavg is not for a {p.model.kind} model")
        data = _aligned(config, spec.job_id, p, arrays)
        params = [np.asarray(arrays[f"p{i}"], dtype=np.float64) for i in range(_layers(arrays))]
        if p.dp is not None:
            return RoundReply("ok", arrays=_private_fedavg(config, spec, p, data, params,
                                                           arrays, meta))  # fmt: skip
        update = fed.fedavg_site(params, data, local_config(p), seed=int(meta.get("seed", 0)),
                                 scale=np.asarray(arrays["scale"], dtype=np.float64))  # fmt: skip
        out = {f"p{i}": w for i, w in enumerate(update.params)}
        return RoundReply("ok", arrays={**out, "n": np.array([float(update.n)])})
    if stage == "bag":
        return _bag(config, spec, p, arrays)
    if stage == "xgboost":
        return _xgboost(config, spec, p, arrays, meta)
    if stage.startswith("sa_") and p.secure_aggregation:
        from medhaven.prediction.secagg import SECURE_STAGES, node_stage

        if stage in SECURE_STAGES:
            return node_stage(config, spec.job_id, stage, meta)
    if stage == "evaluate":
        from medhaven.prediction.evaluate import evaluate

        _train, test = site_split(config, spec.job_id, p)
        model = TrainedModel.from_bundle(json.loads(str(meta["bundle"])), source="train job model")
        policy = policy_of(config.min_cell_count, config.rounding)
        doc = evaluate(test.y, model.predict(test), groups=test.subgroups, policy=policy)
        cache_path(config, spec.job_id).unlink(missing_ok=True)  # the last round: rows go
        if p.secure_aggregation:
            from medhaven.prediction.secagg import state_path

            state_path(config, spec.job_id).unlink(missing_ok=True)
        return RoundReply("ok", meta={"evaluation": doc})
    raise InvalidInput(f"train: unknown stage {stage[:40]!r}")


def _private_fedavg(config: NodeConfig, spec: JobSpec, p: TrainParams, data: PredictionData,
                    params: list[Array], arrays: Arrays, meta: dict[str, Any]) -> Arrays:  # fmt: skip
    """A DP FedAvg round: the clipped update plus the node's own Gaussian noise (stored)."""
    from medhaven.prediction import federated as fed
    from medhaven.prediction.node_dp import answer_private_round, charge_training, noise_rng, plan

    assert p.dp is not None
    dp_plan = plan(p.dp, p.rounds)
    charge_training(config, spec, dp_plan)  # charged at setup; a server skipping setup pays too
    config_dp = fed.DPConfig(clip=dp_plan.clip, noise_multiplier=dp_plan.noise_multiplier,
                             delta=dp_plan.delta)  # fmt: skip

    def compute() -> Arrays:
        update = fed.fedavg_site(params, data, local_config(p), seed=int(meta.get("seed", 0)),
                                 scale=np.asarray(arrays["scale"], dtype=np.float64),
                                 dp=config_dp, rng=noise_rng())  # fmt: skip
        out = {f"p{i}": w for i, w in enumerate(update.params)}
        return {**out, "n": np.array([float(update.n)])}

    return answer_private_round(cache_path(config, spec.job_id), dp_plan, arrays, meta, compute)


def _layers(arrays: Arrays) -> int:
    return sum(1 for k in arrays if k.startswith("p") and k[1:].isdigit())


def local_config(p: TrainParams) -> Any:
    """Local training settings of an ``mlp`` job (FedAvg/FedProx).

    The model's ``alpha`` is scikit-learn's: each mini-batch's mean log loss
    plus ``alpha/(2·batch)·‖W‖²``, so the local ``l2`` is ``alpha/batch_size``
    (the pooled fit's penalty per step, whenever a batch is full).
    """
    from medhaven.prediction.federated import LocalConfig

    hp = p.model.resolved()
    batch = int(hp["batch_size"])
    return LocalConfig(epochs=p.local_epochs, learning_rate=float(hp["learning_rate_init"]),
                       batch_size=batch, l2=float(hp["alpha"]) / batch, mu=p.mu)  # fmt: skip


def _bag(config: NodeConfig, spec: JobSpec, p: TrainParams, arrays: Arrays) -> RoundReply:
    from medhaven.prediction.models import fit
    from medhaven.prediction.release import check_model_release

    if p.model.kind != "lightgbm":
        raise InvalidInput(f"train: stage bag is not for a {p.model.kind} model")
    data = _aligned(config, spec.job_id, p, arrays)
    if not 0 < data.outcomes < data.rows:
        return RoundReply("ok", meta={"skipped": "the training part holds one class only"})
    model = fit(p.model, data, min_cell_count=config.min_cell_count)
    decision = check_model_release(model, n_train=data.rows,
                                   min_patients=minimum_patients(config, p),
                                   min_cell_count=config.min_cell_count)  # fmt: skip
    if not decision.released:
        raise RoundRefused(f"model release refused: {decision.reason}")
    return RoundReply("ok", meta={"bundle": json.dumps(model.to_bundle())})


def _xgboost(config: NodeConfig, spec: JobSpec, p: TrainParams, arrays: Arrays,
             meta: dict[str, Any]) -> RoundReply:  # fmt: skip
    from medhaven.errors import Forbidden
    from medhaven.prediction import xgb
    from medhaven.prediction.federated_xgb import site_trees

    if p.model.kind != "xgboost":
        raise InvalidInput(f"train: stage xgboost is not for a {p.model.kind} model")
    data = _aligned(config, spec.job_id, p, arrays)
    try:
        new, info = site_trees(p, data, arrays, meta, min_cell_count=config.min_cell_count,
                               min_patients=minimum_patients(config, p))  # fmt: skip
    except Forbidden as exc:
        raise RoundRefused(exc.message) from None
    return RoundReply("ok", arrays={"trees": xgb.array_of(new)}, meta=info)


def handle_round(signed_json: str, config: NodeConfig, stage: str, arrays: Arrays,
                 meta: dict[str, Any]) -> RoundReply:  # fmt: skip
    """One round of a ``train`` job at the node: verify the signed job again, then answer.

    A refusal or an error is audited; so is the first round (``setup``) and
    the last (``evaluate``) of each job that the node answers.
    """
    from medhaven.federation.audit import NodeAuditLog
    from medhaven.federation.node import Refused, verify_job

    audit = NodeAuditLog(config.audit_path)
    try:
        spec = verify_job(signed_json, config)
        if spec.kind != "train":
            raise Refused(f"a {spec.kind} job has no training rounds")
        if config.holds("train"):  # require_release_approval = true: rounds cannot wait
            raise Refused("this node holds every result for release approval; "
                          "train answers round by round and cannot be held")  # fmt: skip
    except Refused as exc:
        from medhaven.federation.node import _claimed

        audit.append({**_claimed(signed_json), "outcome": "refused",
                      "reason": f"train round: {exc}"})  # fmt: skip
        return RoundReply("refused", str(exc))
    ids = {"job_id": spec.job_id, "kind": spec.kind, "project": spec.project,
           "grant_id": spec.grant_id}  # fmt: skip
    try:
        p = parse_params(TrainParams, spec)
        check_train_params(p)
        reply = _round(config, spec, p, stage, arrays, meta)
        if p.secure_aggregation and stage in ("newton", "fedavg") and reply.status == "ok":
            from medhaven.prediction.secagg import mask_reply

            reply = mask_reply(config, spec.job_id, stage, reply, meta)
    except (RoundRefused, BudgetRefused, RoundsSpent) as exc:
        audit.append({**ids, "outcome": "refused", "reason": f"{stage}: {exc}"})
        return RoundReply("refused", str(exc))
    except MedHavenError as exc:
        audit.append({**ids, "outcome": "error", "reason": f"{stage}: {exc.message}"})
        return RoundReply("error", exc.message)
    except Exception:
        log.exception("train job %s, stage %s, failed at node %s", spec.job_id, stage, config.name)
        reason = "internal error at the node (see the node's log)"
        audit.append({**ids, "outcome": "error", "reason": f"{stage}: {reason}"})
        return RoundReply("error", reason)
    if stage in ("setup", "evaluate", "bag", "xgboost"):
        audit.append({**ids, "outcome": "ok", "reason": f"train round: {stage}"})
    return reply


def run_evaluate(spec: JobSpec, config: NodeConfig) -> dict[str, Any]:
    """An ``evaluate`` job: the bundle's hash checked, the node's population evaluated, released."""
    from medhaven.federation.kinds import policy_of
    from medhaven.prediction.evaluate import evaluate

    p = parse_params(EvaluateParams, spec)
    model = TrainedModel.from_bundle(p.model, source="evaluate job: parameters.model")
    data = build_site_data(config, p.task)
    policy = policy_of(config.min_cell_count, config.rounding)
    doc = evaluate(data.y, model.predict(data), groups=data.subgroups, policy=policy)
    return {"kind": "evaluate", "model_sha256": p.model.get("sha256"), "evaluation": doc}


# ---------------------------------------------------------------- server side

#: ``exchange(stage, {node: (arrays, meta)}) -> {node: RoundReply}``: one round trip.
Exchange = Callable[[str, dict[str, tuple[Arrays, dict[str, Any]]]], dict[str, RoundReply]]


@dataclass
class TrainingOutcome:
    """What a training run produced: the model (or none), each node's state, the round count."""

    model: TrainedModel | None
    nodes: dict[str, RoundReply]
    rounds: int
    reason: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)


def _drop(state: dict[str, RoundReply], replies: dict[str, RoundReply]) -> list[str]:
    """Record the replies; the nodes still ``ok`` (a node that fails a round leaves the training)."""
    for node, reply in replies.items():
        state[node] = reply
    return [n for n, r in state.items() if r.status == "ok"]


def _collect(p: TrainParams, exchange: Exchange, stage: str,
             asks: dict[str, tuple[Arrays, dict[str, Any]]], state: dict[str, RoundReply],
             round_id: str) -> tuple[list[str], Arrays | None, str | None, int]:  # fmt: skip
    """One aggregation round: the nodes still ok, the secure sum (or none when plain), the
    reason a secure round failed, and the round trips it took."""
    if not p.secure_aggregation:
        return _drop(state, exchange(stage, asks)), None, None, 1
    from medhaven.prediction.secagg import secure_sum

    got = secure_sum(exchange, stage, asks, round_id=round_id)
    return _drop(state, got.replies), got.arrays, got.reason, got.exchanges


def drive_training(p: TrainParams, targets: list[str], exchange: Exchange, *,
                   min_nodes: int, transport: str) -> TrainingOutcome:  # fmt: skip
    """Run a ``train`` job's rounds through ``exchange`` and release the model and evaluations."""
    from medhaven.prediction import federated as fed

    check_train_params(p)
    state: dict[str, RoundReply] = {t: RoundReply("failed", "no reply") for t in targets}
    rounds, extra = 1, 0  # extra: the secure rounds' additional round trips
    active = _drop(state, exchange("setup", {t: ({}, {}) for t in targets}))

    def short(what: str) -> TrainingOutcome:
        return TrainingOutcome(None, state, rounds, f"{len(active)} of {len(targets)} nodes "
                               f"took part {what}; at least {min_nodes} needed")  # fmt: skip

    if len(active) < min_nodes:
        return short("in setup")
    setup = {n: state[n] for n in active}
    ids = np.unique(np.concatenate([r.arrays["feature_ids"] for r in setup.values()]))
    ids = ids.astype(np.int64)
    sums = np.zeros(ids.size)
    names: dict[int, str] = {}
    for got in setup.values():
        pos = np.searchsorted(ids, got.arrays["feature_ids"])
        sums[pos] += got.arrays["sum_squares"]
        names.update(
            zip(got.arrays["feature_ids"].tolist(), got.meta["feature_names"], strict=True)
        )
    site_rows = {n: int(r.arrays["n"][0]) for n, r in setup.items()}
    scale = power_of_two_scale(sums, sum(site_rows.values()))
    base = {"feature_ids": ids, "scale": scale}
    training: dict[str, Any] = {"transport": transport, "sites": active, "site_rows": site_rows}
    kind = p.model.kind
    weights: list[Array] = []
    boosters: list[str] = []
    hp: dict[str, Any]
    if kind in ("logistic_l2", "logistic_l1"):
        from medhaven.prediction.federated_l1 import l1_penalty, prox_newton_step

        beta = np.zeros(ids.size + 1)
        history: list[float] = []
        converged = False
        for _ in range(p.rounds):
            rounds += 1
            active, summed, why, trips = _collect(
                p, exchange, "newton", {n: ({**base, "beta": beta}, {}) for n in active},
                state, f"newton-{rounds - 1}")  # fmt: skip
            extra += trips - 1
            if why:
                return TrainingOutcome(None, state, rounds + extra, why)
            if len(active) < min_nodes:
                return short(f"in Newton round {rounds - 1}")
            stats = ([fed.NewtonStats.from_arrays(summed)] if summed is not None
                     else [fed.NewtonStats.from_arrays(state[n].arrays) for n in active])  # fmt: skip
            if kind == "logistic_l1":  # proximal Newton: the pooled lasso fit
                new, loglik = prox_newton_step(stats, beta, penalty=l1_penalty(p.l1, ids.size))
            else:
                new, loglik = fed.newton_aggregate(stats, beta, l2=p.l2)
            history.append(loglik)
            step = float(np.max(np.abs(new - beta)))
            tol = p.tol
            if summed is not None:  # rounded sums: steps below the rounding's reach are noise
                from medhaven.prediction.secagg import newton_noise

                tol = max(tol, newton_noise(stats[0].hessian, beta, p.l2, len(targets)))
            beta = new
            if not np.all(np.isfinite(beta)):
                raise InvalidInput("newton: coefficients diverged (separation?); set l2 > 0")
            if step < tol:
                converged = True
                break
        weights = unscale_weights([beta[1:].reshape(-1, 1), beta[:1].copy()], scale)
        hp = {"l2": p.l2, "max_rounds": p.rounds, "tol": p.tol}
        mode = "newton"
        if kind == "logistic_l1":
            hp, mode = {"l1": p.l1, "max_rounds": p.rounds, "tol": p.tol}, "proximal_newton"
        training.update(mode=mode, rounds=rounds - 1, converged=converged, loglik=history)
    elif kind == "mlp":
        resolved = p.model.resolved()
        hidden = tuple(int(h) for h in resolved["hidden_layer_sizes"])
        params = fed.init_params(ids.size, hidden, seed=p.model.seed)
        for r in range(p.rounds):
            rounds += 1
            asks = {n: ({**base, **{f"p{i}": w for i, w in enumerate(params)}},
                        {"seed": p.model.seed + 1000 * r + i})
                    for i, n in enumerate(active)}  # fmt: skip
            active, summed, why, trips = _collect(p, exchange, "fedavg", asks, state,
                                                  f"fedavg-{r + 1}")  # fmt: skip
            extra += trips - 1
            if why:
                return TrainingOutcome(None, state, rounds + extra, why)
            if len(active) < min_nodes:
                return short(f"in FedAvg round {r + 1}")
            if summed is not None:  # the weighted sum and the row total: the weighted mean
                total = float(summed["n"][0])
                mean = [summed[f"p{i}"] / total for i in range(len(params))]
                dp = getattr(p, "dp", None) is not None  # DP updates are deltas
                params = [g + m for g, m in zip(params, mean, strict=True)] if dp else mean
                continue
            updates = [fed.SiteUpdate(params=[state[n].arrays[f"p{i}"]
                                              for i in range(len(params))],
                                      n=int(state[n].arrays["n"][0])) for n in active]  # fmt: skip
            params = fed.fedavg_aggregate(params, updates, dp=p.dp is not None)
        weights = unscale_weights(params, scale)
        cfg = local_config(p)
        hp = {"hidden_layer_sizes": list(hidden), "learning_rate": cfg.learning_rate,
              "batch_size": cfg.batch_size, "l2": cfg.l2}  # fmt: skip
        training.update(mode="fedprox" if p.mu > 0 else "fedavg", rounds=p.rounds,
                        local_epochs=p.local_epochs, mu=p.mu)  # fmt: skip
        if p.dp is not None:  # what each node applied and charged (its own setup reply)
            training["dp"] = {n: setup[n].meta.get("dp") for n in active}
    elif kind == "xgboost":
        from medhaven.prediction.federated_xgb import drive

        text, active, trips, info = drive(p, active, base, exchange,
                                          lambda replies: _drop(state, replies),
                                          min_nodes=min_nodes)  # fmt: skip
        rounds += trips
        if text is None:
            return short(f"in {info['failed_at']}")
        boosters, hp = [text], {**p.model.resolved(), "xgb_mode": p.xgb_mode}
        training.update(info)
    else:  # lightgbm
        rounds += 1
        active = _drop(state, exchange("bag", {n: (dict(base), {}) for n in active}))
        if len(active) < min_nodes:
            return short("in the booster round")
        bundles = [state[n].meta.get("bundle") for n in active]
        models = [TrainedModel.from_bundle(json.loads(str(b)), source="a node's booster")
                  for b in bundles if b]  # fmt: skip
        if not models:
            return TrainingOutcome(None, state, rounds, "no node holds both classes")
        bagged = fed.bag_lightgbm(models)
        boosters, hp = bagged.boosters, bagged.hyperparameters
        training.update(mode="bagging", rounds=1,
                        skipped_sites=[n for n in active if not state[n].meta.get("bundle")])  # fmt: skip
    if p.secure_aggregation:
        from medhaven.prediction.secagg import error_bound

        training["secure_aggregation"] = {"protocol": "SecAgg+ (complete graph)",
                                          "error_bound": error_bound(len(targets)),
                                          "round_trips_per_round": 4}  # fmt: skip
    n_train = sum(site_rows[n] for n in active)
    training["sites"], training["site_rows"] = active, [site_rows[n] for n in active]
    model = TrainedModel(kind=kind, feature_ids=ids, feature_names=[names[int(i)] for i in ids],
                         hyperparameters=hp, seed=p.model.seed, n_train=n_train,
                         weights=[np.asarray(w, dtype=np.float64) for w in weights],
                         boosters=boosters, training=training,
                         metadata={"task": p.task.name})  # fmt: skip
    bundle = json.dumps(model.to_bundle())
    rounds += 1
    finals = exchange("evaluate", {n: ({}, {"bundle": bundle}) for n in active})
    evaluation = {n: f.meta.get("evaluation") for n, f in finals.items() if f.status == "ok"}
    for n, f in finals.items():
        if f.status != "ok":
            state[n] = f
    return TrainingOutcome(model, state, rounds + extra, None, evaluation)


def training_document(spec: JobSpec, outcome: TrainingOutcome, *, min_nodes: int,
                      started: dt.datetime, seconds: float) -> dict[str, Any]:  # fmt: skip
    """The job result document (the same shape as the other kinds' documents)."""
    targets = list(dict.fromkeys(spec.targets))
    nodes: list[dict[str, Any]] = []
    for name in targets:
        r = outcome.nodes.get(name, RoundReply("failed", outcome.reason or "no reply"))
        result = None
        if r.status == "ok" and outcome.model is not None:
            result = {"evaluation": outcome.evaluation.get(name)}
            dp = (outcome.model.training.get("dp") or {}).get(name)
            if dp:
                result["dp"] = dp
        nodes.append({"node": name, "job_id": spec.job_id, "status": r.status,
                      "reason": r.reason, "result": result})  # fmt: skip
    ok = sum(1 for n in nodes if n["status"] == "ok")
    status = "completed" if ok == len(targets) else "partial"
    if outcome.model is None:
        status = "failed"
    combined = None
    if outcome.model is not None:
        combined = {"kind": "train", "model": outcome.model.to_bundle(),
                    "rounds": outcome.rounds, "evaluation": outcome.evaluation}  # fmt: skip
    return {"job_id": spec.job_id, "kind": spec.kind, "status": status,
            "reason": outcome.reason if status == "failed" else None,
            "partial": status != "completed", "min_nodes": min_nodes, "nodes": nodes,
            "combined": combined, "started_at": started.isoformat(),
            "seconds": round(seconds, 3)}  # fmt: skip


def run_training(signed_json: str, exchange: Exchange, *, min_nodes: int,
                 transport: str) -> dict[str, Any]:  # fmt: skip
    """Parse the signed ``train`` job (the server side does not verify: the nodes do), run it."""
    from medhaven.federation.jobs import SignedJob

    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    spec = SignedJob.from_json(signed_json).spec
    try:
        p = parse_params(TrainParams, spec)
        outcome = drive_training(p, list(dict.fromkeys(spec.targets)), exchange,
                                 min_nodes=min_nodes, transport=transport)  # fmt: skip
    except MedHavenError as exc:
        outcome = TrainingOutcome(None, {}, 0, exc.message)
    return training_document(spec, outcome, min_nodes=min_nodes, started=started,
                             seconds=time.monotonic() - t0)  # fmt: skip


def in_process_exchange(signed_json: str, configs: dict[str, NodeConfig]) -> Exchange:
    """An exchange that calls each node's :func:`handle_round` in this process (simulation)."""

    def exchange(
        stage: str, asks: dict[str, tuple[Arrays, dict[str, Any]]]
    ) -> dict[str, RoundReply]:
        out: dict[str, RoundReply] = {}
        for node, (arrays, meta) in asks.items():
            if node not in configs:
                out[node] = RoundReply("failed", f"node {node} is not connected")
                continue
            # a round trip copies: nothing is shared between server and node
            sent = {k: np.array(v, copy=True) for k, v in arrays.items()}
            r = handle_round(signed_json, configs[node], stage, sent, json.loads(json.dumps(meta)))
            out[node] = r
        return out

    return exchange


__all__ = [
    "STAGES",
    "EvaluateParams",
    "Exchange",
    "RoundReply",
    "TrainParams",
    "TrainingOutcome",
    "build_site_data",
    "cache_path",
    "check_parameters",
    "drive_training",
    "handle_round",
    "in_process_exchange",
    "released_training",
    "run_evaluate",
    "run_training",
    "site_split",
    "training_document",
]
