"""Model release checks: model weights are outputs too, and pass disclosure control first.

A node refuses to release a model trained on fewer persons than its policy's
minimum. For gradient-boosted trees it also refuses any leaf that holds
fewer training rows than the minimum cell count: a leaf's value is an
average over its rows, a small cell in all but name (:func:`~.models.fit`
with ``min_cell_count`` sets LightGBM's ``min_child_samples`` so honest
models pass). Linear and MLP weights get the person minimum only: the
weights of a linear model fitted to few patients can reveal them, and the
minimum is the control for that.

XGBoost trees carry no leaf counts, so they are counted exactly on the
training rows themselves (each row routed through each tree):
:func:`check_trees_release` for the trees a node adds in federated
XGBoost, ``rows`` of :func:`check_model_release` for a local model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medhaven.errors import Forbidden, InvalidInput
from medhaven.prediction import xgb
from medhaven.prediction.models import TrainedModel, booster_leaf_counts


@dataclass(frozen=True)
class ReleaseDecision:
    """Whether a model may leave the node, and why not (one line) when it may not."""

    released: bool
    reason: str
    smallest_leaf: int | None = None  # set only when every leaf passes


def leaf_counts(model: TrainedModel) -> list[int]:
    """Training rows per leaf, over every tree of every booster (LightGBM models only).

    A tree with a single leaf (no split) holds all of its booster's rows;
    for a bagged ensemble the booster's rows are its own site's, so that
    leaf is counted as the smallest site's row count (a lower bound).
    """
    if model.kind != "lightgbm":
        raise InvalidInput(f"leaf counts: a {model.kind} model has no leaves")
    site_rows = model.training.get("site_rows") or [model.n_train]
    default = int(min(site_rows))
    return [c for text in model.boosters for c in booster_leaf_counts(text, default)]


def check_model_release(
    model: TrainedModel, *, n_train: int, min_patients: int, min_cell_count: int,
    rows: Any = None,
) -> ReleaseDecision:  # fmt: skip
    """Decide whether ``model``, trained on ``n_train`` persons, may leave the node.

    ``rows``: the training rows (feature matrix) of an ``xgboost`` model,
    whose leaves are counted on them; without them it is refused.
    """
    if n_train < min_patients:
        return ReleaseDecision(False, f"model trained on fewer persons than the node's minimum "
                                      f"of {min_patients}")  # fmt: skip
    if model.kind == "xgboost":
        if rows is None:
            return ReleaseDecision(False, "the leaves of XGBoost trees are counted on their "
                                          "training rows, which were not given")  # fmt: skip
        counts = [c for text in model.boosters for c in xgb.leaf_counts(text, rows)]
        return _leaf_decision(counts, min_patients, min_cell_count)
    if model.kind != "lightgbm":
        return ReleaseDecision(True, f"trained on at least {min_patients} persons")
    return _leaf_decision(leaf_counts(model), min_patients, min_cell_count)


def check_trees_release(
    text: str, rows: Any, *, n_train: int, min_patients: int, min_cell_count: int
) -> ReleaseDecision:
    """Decide whether new XGBoost trees (JSON text), boosted on ``rows``, may leave the node."""
    if n_train < min_patients:
        return ReleaseDecision(False, f"model trained on fewer persons than the node's minimum "
                                      f"of {min_patients}")  # fmt: skip
    return _leaf_decision(xgb.leaf_counts(text, rows), min_patients, min_cell_count)


def _leaf_decision(counts: list[int], min_patients: int, min_cell_count: int) -> ReleaseDecision:
    if not counts:
        return ReleaseDecision(False, "the model holds no tree")
    smallest = min(counts)
    if smallest < min_cell_count:
        # the smallest count itself is a small cell: it stays out of the decision
        return ReleaseDecision(False, f"a tree leaf holds fewer than {min_cell_count} training "
                                      "rows (the node's minimum cell count)")  # fmt: skip
    return ReleaseDecision(True, f"trained on at least {min_patients} persons; every leaf "
                                 f"holds at least {min_cell_count} rows", smallest)  # fmt: skip


def require_model_release(
    model: TrainedModel, *, n_train: int, min_patients: int, min_cell_count: int,
    rows: Any = None,
) -> None:  # fmt: skip
    """Raise :class:`~medhaven.errors.Forbidden` with the one-line reason unless releasable."""
    decision = check_model_release(model, n_train=n_train, min_patients=min_patients,
                                   min_cell_count=min_cell_count, rows=rows)  # fmt: skip
    if not decision.released:
        raise Forbidden(f"model release refused: {decision.reason}")


__all__ = [
    "ReleaseDecision",
    "check_model_release",
    "check_trees_release",
    "leaf_counts",
    "require_model_release",
]
