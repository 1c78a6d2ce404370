"""Federated XGBoost as Flower's XGBoost strategies do it: cyclic or bagging.

The global booster travels as XGBoost's JSON model in a ``uint8`` array (as
in Flower's XGBoost examples); a node boosts new trees from it on its own
training part and answers with the new trees only, released when every new
leaf holds at least the node's minimum cell count of training rows
(counted exactly, :func:`~.release.check_trees_release`).

* ``cyclic`` (Flower's ``FedXgbCyclic``): the nodes take turns; at its turn a
  node adds ``local_epochs`` trees (Flower's ``num_local_round``; 5 unless
  the job says) to the
  global booster; turns go round the nodes until the model holds
  ``n_estimators`` trees. With one node this is local XGBoost.
* ``bagging`` (Flower's ``FedXgbBagging``): each round every node boosts one
  tree from the same global booster, and the server appends them all with
  Flower's ``aggregate_bagging``; rounds go on until ``n_estimators`` trees.

The model's hyperparameters are the pooled model's: the same
``n_estimators``, ``learning_rate``, ``max_depth`` and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from medhaven.errors import InvalidInput
from medhaven.prediction import xgb
from medhaven.prediction.data import PredictionData

if TYPE_CHECKING:
    from medhaven.prediction.node_training import Arrays, Exchange, RoundReply, TrainParams


#: Trees a node adds at its cyclic turn unless the job sets ``local_epochs``.
TREES_PER_TURN = 5


def trees_per_turn(p: TrainParams) -> int:
    """``local_epochs`` when the job sets it, else :data:`TREES_PER_TURN`."""
    return p.local_epochs if "local_epochs" in p.model_fields_set else TREES_PER_TURN


def site_trees(p: TrainParams, data: PredictionData, arrays: Arrays, meta: dict[str, Any], *,
               min_cell_count: int, min_patients: int) -> tuple[str, dict[str, Any]]:  # fmt: skip
    """Node side: new trees boosted from the global booster on the node's training part.

    Raises :class:`~medhaven.errors.InvalidInput` on a malformed round and
    :class:`~medhaven.errors.Forbidden` when the trees may not leave.
    """
    from medhaven.errors import Forbidden
    from medhaven.prediction.release import check_trees_release

    hp = p.model.resolved()
    trees = int(meta.get("trees", 0))
    if not 1 <= trees <= int(hp["n_estimators"]):
        raise InvalidInput(f"train: an xgboost round asks for {trees} trees")
    start = xgb.text_of(arrays["model"]) if arrays.get("model") is not None else ""
    if start and xgb.load(start).num_features() != data.X.shape[1]:
        raise InvalidInput("train: the global booster does not match the shared features")
    y = data.y.astype(np.float64)
    new = xgb.fit_trees(hp, data.X, y, seed=int(meta.get("seed", p.model.seed)), trees=trees,
                        start=start or None, min_cell_count=min_cell_count,
                        where="this node")  # fmt: skip
    decision = check_trees_release(new, data.X, n_train=data.rows, min_patients=min_patients,
                                   min_cell_count=min_cell_count)  # fmt: skip
    if not decision.released:
        raise Forbidden(f"model release refused: {decision.reason}")
    return new, {"min_child_weight": float(hp["min_child_weight"])}


def drive(p: TrainParams, active: list[str], base: Arrays, exchange: Exchange,
          record: Callable[[dict[str, RoundReply]], list[str]], *,
          min_nodes: int) -> tuple[str | None, list[str], int, dict[str, Any]]:  # fmt: skip
    """Server side: the rounds of one federated XGBoost training.

    ``record`` stores the replies and answers the nodes still taking part.
    Returns the booster's JSON text (``None`` when fewer than ``min_nodes``
    nodes are left), the nodes left, the round trips made and what the
    model card records of the training (``failed_at`` on failure).
    """
    hp = p.model.resolved()
    total = int(hp["n_estimators"])
    model = ""
    trips = 0
    mode = p.xgb_mode
    if mode == "cyclic":
        per_turn = trees_per_turn(p)
        turn = 0
        while not model or xgb.n_trees(model) < total:  # a refused turn adds nothing: go on
            node = active[turn % len(active)]
            trees = min(per_turn, total - xgb.n_trees(model) if model else total)
            ask = {node: ({**base, "model": xgb.array_of(model)},
                          {"trees": trees, "seed": p.model.seed + turn})}  # fmt: skip
            trips += 1
            turn += 1
            replies = exchange("xgboost", ask)
            active = record(replies)
            if len(active) < min_nodes:
                return None, active, trips, {"failed_at": f"cyclic turn {turn}"}
            if replies[node].status == "ok":
                model = xgb.append_trees(model, xgb.text_of(replies[node].arrays["trees"]))
        info = {"mode": "cyclic", "rounds": trips, "trees_per_turn": per_turn}
    else:
        rounds = 0
        while not model or xgb.n_trees(model) < total:
            asks = {n: ({**base, "model": xgb.array_of(model)},
                        {"trees": 1, "seed": p.model.seed + 1000 * rounds + i})
                    for i, n in enumerate(active)}  # fmt: skip
            trips += 1
            rounds += 1
            replies = exchange("xgboost", asks)
            active = record(replies)
            if len(active) < min_nodes:
                return None, active, trips, {"failed_at": f"bagging round {rounds}"}
            for n in active:  # in the targets' order: the same model whatever the reply order
                model = xgb.bagging_aggregate(model, xgb.text_of(replies[n].arrays["trees"]))
        info = {"mode": "bagging", "rounds": rounds, "trees_per_turn": 1}
    info["trees"] = xgb.n_trees(model)
    return model, active, trips, info


def fit_federated(spec: Any, sites: list[PredictionData], *, mode: str = "cyclic",
                  trees_per_turn: int = 1, min_cell_count: int | None = None) -> Any:  # fmt: skip
    """A simulation in this process: the sites' rows (same feature columns), no transport.

    The same rounds as :func:`drive` (cyclic turns or bagging rounds), for
    benchmarks and tests; a real training runs :func:`drive` over Flower.
    """
    from medhaven.prediction.models import TrainedModel

    hp = spec.resolved()
    total = int(hp["n_estimators"])
    model = ""
    turn = 0
    while not model or xgb.n_trees(model) < total:
        have = xgb.n_trees(model) if model else 0
        if mode == "cyclic":
            site = sites[turn % len(sites)]
            new = xgb.fit_trees(dict(hp), site.X, site.y.astype(np.float64),
                                seed=spec.seed + turn, trees=min(trees_per_turn, total - have),
                                start=model or None, min_cell_count=min_cell_count)  # fmt: skip
            model = xgb.append_trees(model, new)
        else:
            news = [xgb.fit_trees(dict(hp), s.X, s.y.astype(np.float64),
                                  seed=spec.seed + 1000 * turn + i, trees=1, start=model or None,
                                  min_cell_count=min_cell_count)
                    for i, s in enumerate(sites)]  # fmt: skip
            for new in news:
                model = xgb.bagging_aggregate(model, new)
        turn += 1
    first = sites[0]
    return TrainedModel(kind="xgboost", feature_ids=first.feature_ids.copy(),
                        feature_names=list(first.feature_names),
                        hyperparameters={**hp, "xgb_mode": mode}, seed=spec.seed,
                        n_train=sum(s.rows for s in sites), boosters=[model],
                        training={"mode": mode, "rounds": turn, "trees_per_turn": trees_per_turn,
                                  "sites": len(sites), "site_rows": [s.rows for s in sites],
                                  "transport": "none"})  # fmt: skip


__all__ = ["TREES_PER_TURN", "drive", "fit_federated", "site_trees", "trees_per_turn"]
