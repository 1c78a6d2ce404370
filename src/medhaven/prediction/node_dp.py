"""Differential privacy of a ``train`` job at the node: the plan, the budget charge, the replay.

The ``dp`` block of a ``train`` job (:class:`DPParams`) asks each node to
clip its FedAvg update to L2 norm ``clip`` and add Gaussian noise of
standard deviation ``noise_multiplier * clip`` (or the noise that gives a
target ``epsilon`` over the job's ``rounds``). The node trusts the server
for none of it:

* it reads the ``dp`` block from the *signed* job, never from a round's
  message, and draws the noise from its own operating-system entropy (the
  server's round seed drives local training only);
* :func:`charge_training` charges the ε of the whole training (all
  ``rounds``, :func:`plan`) to its privacy ledger for the job's project
  before it answers ``setup``; a refusal is one line; the ledger row is
  labelled by the job id, so a resent ``setup`` never charges twice;
* :func:`answer_private_round` answers at most ``rounds`` distinct FedAvg
  rounds of one job and sends a resent round its stored (same-noise)
  reply, so a resend or a server asking for more rounds cannot spend more
  than was charged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from medhaven.federation.jobs import JobSpec
    from medhaven.federation.node import NodeConfig

Arrays = dict[str, npt.NDArray[Any]]

#: The δ of a project's budget at a node (``privacy_budget`` in node.toml is its ε).
BUDGET_DELTA = 1e-5
MECHANISM = "gaussian (dp-fedavg train job)"


class DPParams(BaseModel):
    """A ``train`` job's ``dp`` block: ``clip`` and ``delta``, and ``noise_multiplier`` or a
    target ``epsilon`` (exactly one) for the whole training."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clip: float = Field(gt=0.0, le=1e6)
    noise_multiplier: float | None = Field(default=None, gt=0.0, le=1e6)
    epsilon: float | None = Field(default=None, gt=0.0, le=1e6)
    delta: float = Field(default=1e-5, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_noise(self) -> DPParams:
        if (self.noise_multiplier is None) == (self.epsilon is None):
            raise ValueError("give exactly one of noise_multiplier and epsilon")
        return self


@dataclass(frozen=True)
class DPPlan:
    """The noise a node applies and what the whole training spends (ρ-zCDP and (ε, δ))."""

    clip: float
    noise_multiplier: float
    delta: float
    rounds: int
    rho: float
    epsilon: float

    def public(self) -> dict[str, Any]:
        """The figures a node reports with its setup reply and the model card shows."""
        return {"epsilon": self.epsilon, "delta": self.delta, "clip": self.clip,
                "noise_multiplier": self.noise_multiplier, "rounds": self.rounds,
                "accounting": "zCDP, no amplification by sampling"}  # fmt: skip


def plan(dp: DPParams, rounds: int) -> DPPlan:
    """The noise multiplier (given, or derived from the target ε) and the ε of ``rounds`` rounds.

    One round releases the clipped update (sensitivity ``2·clip``) with noise
    ``σ·clip``: ``2/σ²``-zCDP; ``rounds`` rounds compose to ``ρ = 2·rounds/σ²``,
    which is ``(ρ + 2·sqrt(ρ·ln(1/δ)), δ)``-DP (see
    :func:`medhaven.prediction.federated.dp_epsilon`).
    """
    from medhaven.analytics.noise import rho_from_epsilon_delta
    from medhaven.prediction.federated import dp_epsilon

    if dp.noise_multiplier is not None:
        sigma = dp.noise_multiplier
    else:
        assert dp.epsilon is not None
        sigma = math.sqrt(2.0 * rounds / rho_from_epsilon_delta(epsilon=dp.epsilon,
                                                               delta=dp.delta))  # fmt: skip
    rho = 2.0 * rounds / sigma**2
    eps = dp_epsilon(noise_multiplier=sigma, rounds=rounds, delta=dp.delta)
    return DPPlan(clip=dp.clip, noise_multiplier=sigma, delta=dp.delta, rounds=rounds, rho=rho,
                  epsilon=eps)  # fmt: skip


def noise_rng() -> np.random.Generator:
    """The node's own noise source: fresh operating-system entropy, never a server seed."""
    return np.random.default_rng()


def ledger_path(config: NodeConfig) -> Path:
    """The node's privacy ledger (SQLite, next to its config)."""
    return config.base_dir / f"{config.name}-privacy-ledger.sqlite"


class BudgetRefused(Exception):
    """The training would pass the project's privacy budget at this node (one-line reason)."""


def charge_training(config: NodeConfig, spec: JobSpec, dp_plan: DPPlan) -> str:
    """Charge the whole training's ρ to the project's budget once per job id; say what happened.

    A node with no ``privacy_budget`` sets no ceiling and charges nothing
    (``"no budget set"``). The project's budget is created at its first DP
    job from ``privacy_budget`` (ε) and :data:`BUDGET_DELTA` under zCDP
    composition, and never changed afterwards.
    """
    from medhaven.analytics.budget import BudgetExhausted, Cost, PrivacyLedger
    from medhaven.errors import ConfigError, NotFound

    if config.privacy_budget is None:
        return "no budget set"
    ledger = PrivacyLedger(ledger_path(config))
    try:
        try:
            ledger.state(spec.project)
        except NotFound:
            with contextlib.suppress(ConfigError):  # another process may create it first
                ledger.set_budget(spec.project, epsilon=config.privacy_budget,
                                  delta=BUDGET_DELTA, composition="zcdp")  # fmt: skip
        cost = Cost(MECHANISM, dp_plan.epsilon, dp_plan.delta, dp_plan.rho)
        try:
            with ledger.charge(spec.project, cost, label=f"train job {spec.job_id}",
                               once=True):  # fmt: skip
                pass
        except BudgetExhausted:
            raise BudgetRefused(
                f"the training's epsilon {dp_plan.epsilon:.4g} (delta {dp_plan.delta:g}) "
                f"would pass project {spec.project}'s privacy budget at this node"
            ) from None
        left = ledger.state(spec.project).remaining_epsilon
    finally:
        ledger.close()
    return f"charged once for this job; epsilon {left:.4g} left (delta {BUDGET_DELTA:g})"


def _digest(arrays: Arrays, meta: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode("utf-8"))
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def replay_path(cache: Path) -> Path:
    """The job's answered DP rounds (kept after the training ends: only released arrays)."""
    return cache.with_name(f"{cache.stem}.dp-rounds.pkl")


class RoundsSpent(Exception):
    """Every DP round the job was charged for is answered (one-line reason)."""


def answer_private_round(cache: Path, dp_plan: DPPlan, arrays: Arrays, meta: dict[str, Any],
                         compute: Callable[[], Arrays]) -> Arrays:  # fmt: skip
    """The reply to one DP FedAvg round: stored for a resend, refused past ``rounds`` rounds."""
    path = replay_path(cache)
    answered: dict[str, Arrays] = {}
    if path.is_file():
        with path.open("rb") as fh:
            answered = pickle.load(fh)  # noqa: S301 - the node's own file, in its own work dir
    key = _digest(arrays, meta)
    if key in answered:
        return answered[key]
    if len(answered) >= dp_plan.rounds:
        raise RoundsSpent(f"all {dp_plan.rounds} differentially private rounds of this job are "
                          "answered; another would spend more than was charged")  # fmt: skip
    reply = compute()
    answered[key] = reply
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(answered, fh)
    os.replace(tmp, path)
    return reply


__all__ = [
    "BUDGET_DELTA",
    "BudgetRefused",
    "DPParams",
    "DPPlan",
    "RoundsSpent",
    "answer_private_round",
    "charge_training",
    "ledger_path",
    "noise_rng",
    "plan",
    "replay_path",
]
