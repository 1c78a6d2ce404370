"""Model release checks: model weights are outputs too, and pass disclosure control first.

A node refuses to release a model trained on fewer persons than its policy's
minimum. For gradient-boosted trees it also refuses any leaf that holds
fewer training rows than the minimum cell count: a leaf's value is an
average over its rows, a small cell in all but name (:func:`~.models.fit`
with ``min_cell_count`` sets LightGBM's ``min_child_samples`` so honest
models pass). Linear and MLP weights get the person minimum only: the
weights of a linear model fitted to few patients can reveal them, and the
minimum is the control for that.
"""

from __future__ import annotations

from dataclasses import dataclass

from medhaven.errors import Forbidden, InvalidInput
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
    model: TrainedModel, *, n_train: int, min_patients: int, min_cell_count: int
) -> ReleaseDecision:
    """Decide whether ``model``, trained on ``n_train`` persons, may leave the node."""
    if n_train < min_patients:
        return ReleaseDecision(False, f"model trained on fewer persons than the node's minimum "
                                      f"of {min_patients}")  # fmt: skip
    if model.kind != "lightgbm":
        return ReleaseDecision(True, f"trained on at least {min_patients} persons")
    smallest = min(leaf_counts(model))
    if smallest < min_cell_count:
        # the smallest count itself is a small cell: it stays out of the decision
        return ReleaseDecision(False, f"a tree leaf holds fewer than {min_cell_count} training "
                                      "rows (the node's minimum cell count)")  # fmt: skip
    return ReleaseDecision(True, f"trained on at least {min_patients} persons; every leaf "
                                 f"holds at least {min_cell_count} rows", smallest)  # fmt: skip


def require_model_release(
    model: TrainedModel, *, n_train: int, min_patients: int, min_cell_count: int
) -> None:
    """Raise :class:`~medhaven.errors.Forbidden` with the one-line reason unless releasable."""
    decision = check_model_release(model, n_train=n_train, min_patients=min_patients,
                                   min_cell_count=min_cell_count)  # fmt: skip
    if not decision.released:
        raise Forbidden(f"model release refused: {decision.reason}")


__all__ = ["ReleaseDecision", "check_model_release", "leaf_counts", "require_model_release"]
