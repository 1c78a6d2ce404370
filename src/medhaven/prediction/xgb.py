"""XGBoost trees: local training, prediction, exact leaf counts and appending trees.

A booster travels as XGBoost's JSON model (``Booster.save_raw("json")``),
the format Flower's XGBoost strategies exchange. It holds the trees (split
features and thresholds, leaf values, hessian sums) and the base score,
which is fixed (``base_score``, 0.5 by default) so that it never carries a
site's outcome rate. The rows enter as a sparse matrix with its zeros
dropped: XGBoost reads an absent entry as *missing*, and a stored zero as
the value zero, so the same rows must look the same at training and
prediction.

Leaf sizes are counted exactly: every training row is routed through each
new tree (``pred_leaf``) and the rows per leaf are counted. A leaf holds at
least ``4 * min_child_weight`` rows whatever the data (a row's hessian is
``p(1-p) <= 1/4``), which bounds the retraining in :func:`fit_trees`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from medhaven.errors import Forbidden, InvalidInput

Array = npt.NDArray[np.float64]

#: Defaults of the ``xgboost`` kind (a spec may override any of these). Shallow and few trees:
#: on the generated hospitals (tens of outcomes) 200 trees of depth 3 overfit (pooled AUROC
#: 0.68-0.82 against 0.83 with these).
XGB_DEFAULTS: dict[str, Any] = {"n_estimators": 50, "learning_rate": 0.1, "max_depth": 2,
                                "min_child_weight": 2.0, "reg_lambda": 1.0, "subsample": 1.0,
                                "colsample_bytree": 1.0, "max_bin": 256, "base_score": 0.5,
                                "num_threads": 1}  # fmt: skip
_UNIT = ("subsample", "colsample_bytree")


def check_hyperparameters(hp: dict[str, Any]) -> None:
    """Refuse values XGBoost would reject or misread (ranges beyond "positive")."""
    for name in _UNIT:
        if float(hp[name]) > 1.0:
            raise InvalidInput(f"model spec: hyperparameter {name} must be in (0, 1]")
    if not 0.0 < float(hp["base_score"]) < 1.0:
        raise InvalidInput("model spec: hyperparameter base_score must be in (0, 1)")
    for name in ("n_estimators", "max_depth", "max_bin", "num_threads"):
        if float(hp[name]) != int(hp[name]):
            raise InvalidInput(f"model spec: hyperparameter {name} must be a whole number")
    if int(hp["max_bin"]) < 2:
        raise InvalidInput("model spec: hyperparameter max_bin must be at least 2")


def params(hp: dict[str, Any], seed: int) -> dict[str, Any]:
    """XGBoost's training parameters for resolved hyperparameters."""
    return {"objective": "binary:logistic", "eta": float(hp["learning_rate"]),
            "max_depth": int(hp["max_depth"]), "min_child_weight": float(hp["min_child_weight"]),
            "lambda": float(hp["reg_lambda"]), "subsample": float(hp["subsample"]),
            "colsample_bytree": float(hp["colsample_bytree"]), "max_bin": int(hp["max_bin"]),
            "base_score": float(hp["base_score"]), "tree_method": "hist",
            "nthread": int(hp["num_threads"]), "seed": int(seed), "verbosity": 0}  # fmt: skip


def matrix(X: sparse.spmatrix | Array, y: Array | None = None) -> Any:
    """An XGBoost ``DMatrix`` of ``X`` (CSR, zeros dropped: absent = missing, always)."""
    import xgboost as xgb

    csr = sparse.csr_matrix(X, dtype=np.float64, copy=True)
    csr.eliminate_zeros()
    return xgb.DMatrix(csr, label=y, nthread=1)


def load(text: str) -> Any:
    """A ``Booster`` from its JSON text; a malformed one refused in one line."""
    import xgboost as xgb

    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(text.encode("utf-8")))
    except xgb.core.XGBoostError:
        raise InvalidInput("xgboost model: not a readable XGBoost JSON model") from None
    return booster


def dump(booster: Any) -> str:
    """The booster's JSON text."""
    return bytes(booster.save_raw(raw_format="json")).decode("utf-8")


def n_trees(text: str) -> int:
    """Trees in a booster's JSON text."""
    return int(json.loads(text)["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"])  # fmt: skip


def predict(texts: list[str], X: sparse.spmatrix | Array) -> Array:
    """Probabilities: the mean over the boosters (one booster unless bagged)."""
    dm = matrix(X)
    preds = [np.asarray(load(t).predict(dm), dtype=np.float64) for t in texts]
    return np.asarray(np.mean(preds, axis=0), dtype=np.float64)


def boost(hp: dict[str, Any], X: sparse.spmatrix | Array, y: Array, *, seed: int, trees: int,
          start: str | None = None) -> str:  # fmt: skip
    """``trees`` new trees boosted on ``(X, y)``, from the booster ``start`` when given.

    Returns only the new trees (a booster of ``trees`` trees, base score
    kept), as Flower's XGBoost clients return them.
    """
    import xgboost as xgb

    base = load(start) if start else None
    dm = matrix(X, y)
    booster = xgb.train(params(hp, seed), dm, num_boost_round=int(trees), xgb_model=base)
    done = booster.num_boosted_rounds()
    return dump(booster[done - int(trees) : done])


def leaf_counts(text: str, X: sparse.spmatrix | Array, *, start: str | None = None) -> list[int]:
    """Rows of ``X`` in every leaf of every tree of ``text`` (exact, by routing each row).

    ``start`` (the booster the trees were boosted from) is ignored for the
    routing (a tree routes rows alone) and only kept for symmetry with
    :func:`boost`. A leaf no row reaches counts 0.
    """
    del start
    doc = json.loads(text)
    trees = doc["learner"]["gradient_booster"]["model"]["trees"]
    if not trees:
        return []
    leaves = np.asarray(load(text).predict(matrix(X), pred_leaf=True), dtype=np.int64)
    leaves = leaves.reshape(leaves.shape[0], -1)
    out: list[int] = []
    for t, tree in enumerate(trees):
        left = tree["left_children"]
        counts = np.bincount(leaves[:, t], minlength=len(left))
        out += [int(counts[i]) for i, child in enumerate(left) if child == -1]
    return out


def fit_trees(hp: dict[str, Any], X: sparse.spmatrix | Array, y: Array, *, seed: int, trees: int,
              start: str | None = None, min_cell_count: int | None = None,
              where: str = "this site") -> str:  # fmt: skip
    """:func:`boost`; under a minimum cell count, retrain with a larger ``min_child_weight``.

    Every new leaf must hold at least ``min_cell_count`` training rows,
    counted exactly (:func:`leaf_counts`). ``min_child_weight`` grows until
    it does; at ``min_cell_count / 4`` it must (a row's hessian is at most
    1/4), so the loop ends; a site whose rows cannot give one leaf that
    many is refused (:class:`~medhaven.errors.Forbidden`). ``hp["min_child_weight"]`` ends at the value used.
    """
    if min_cell_count is None:
        return boost(hp, X, y, seed=seed, trees=trees, start=start)
    if X.shape[0] < min_cell_count:
        raise Forbidden(f"model release refused: fewer than {min_cell_count} training rows "
                        f"at {where}")  # fmt: skip
    bound = min_cell_count / 4.0
    for _ in range(16):
        text = boost(hp, X, y, seed=seed, trees=trees, start=start)
        counts = leaf_counts(text, X)
        smallest = min(counts) if counts else min_cell_count
        if smallest >= min_cell_count:
            return text
        if float(hp["min_child_weight"]) >= bound:
            break
        grow = max(2.0, min_cell_count / max(smallest, 1))
        hp["min_child_weight"] = min(bound, float(hp["min_child_weight"]) * grow)
    raise Forbidden(f"model release refused: no XGBoost trees with every leaf at or above "
                    f"{min_cell_count} rows at {where}")  # fmt: skip


def append_trees(base: str, new: str) -> str:
    """``base`` with every tree of ``new`` appended (Flower's ``aggregate_bagging``, all trees).

    Flower's own function (``flwr.serverapp.strategy.strategy_utils``) adds
    ``num_parallel_tree`` trees of the new model; this adds all of them, so
    a node's turn may bring several rounds' trees (cyclic training).
    """
    if not base:
        return new
    prev = json.loads(base)
    curr = json.loads(new)
    model = prev["learner"]["gradient_booster"]["model"]
    param = model["gbtree_model_param"]
    added = curr["learner"]["gradient_booster"]["model"]["trees"]
    have = int(param["num_trees"])
    parallel = max(int(param.get("num_parallel_tree", "1")), 1)
    for i, tree in enumerate(added):
        tree["id"] = have + i
        model["trees"].append(tree)
        model["tree_info"].append(0)
        if i % parallel == parallel - 1:
            model["iteration_indptr"].append(model["iteration_indptr"][-1] + parallel)
    param["num_trees"] = str(have + len(added))
    return json.dumps(prev)


def bagging_aggregate(base: str, new: str) -> str:
    """Flower's ``aggregate_bagging`` (one parallel tree of ``new`` appended to ``base``)."""
    from flwr.serverapp.strategy.strategy_utils import aggregate_bagging

    return bytes(aggregate_bagging(base.encode("utf-8"), new.encode("utf-8"))).decode("utf-8")


def text_of(arr: npt.NDArray[Any]) -> str:
    """A booster's JSON text from the ``uint8`` array it travelled in."""
    return np.asarray(arr, dtype=np.uint8).tobytes().decode("utf-8")


def array_of(text: str) -> npt.NDArray[np.uint8]:
    """A booster's JSON text as a ``uint8`` array (how Flower's XGBoost examples send it)."""
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy()


def rounds_for(total: int, per_turn: int) -> int:
    """Turns needed to add ``total`` trees ``per_turn`` at a time."""
    return max(1, math.ceil(total / max(per_turn, 1)))


__all__ = [
    "XGB_DEFAULTS",
    "append_trees",
    "array_of",
    "bagging_aggregate",
    "boost",
    "check_hyperparameters",
    "dump",
    "fit_trees",
    "leaf_counts",
    "load",
    "matrix",
    "n_trees",
    "params",
    "predict",
    "rounds_for",
    "text_of",
]
