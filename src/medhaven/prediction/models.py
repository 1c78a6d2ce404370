"""Prediction models trained at one node, and their portable, hash-checked bundles.

Five kinds (:data:`ModelKind`): L1 and L2 logistic regression (scikit-learn:
liblinear for L1, newton-cg for L2, whose objective with ``C`` is federated
Newton's with ``l2 = 1/C``; the penalty ``C`` is picked by a small
cross-validated grid unless given, as OHDSI's PatientLevelPrediction does), gradient-boosted trees
(LightGBM, or XGBoost: :mod:`.xgb`) and a multilayer perceptron (scikit-learn's ``MLPClassifier``).

A :class:`TrainedModel` predicts with numpy alone for the linear model and
the MLP (its ``weights`` are the layers ``[W0, b0, W1, b1, ...]``; ReLU
hidden layers, logistic output; a linear model is an MLP with no hidden
layer), so the same object holds a model trained at one node, by Newton
steps or by FedAvg (:mod:`.federated`). LightGBM models hold one or more
booster strings (more than one: a bagged ensemble whose probabilities are
averaged). The booster's ``feature_infos`` line (each feature's minimum and
maximum in the training rows, which can be a patient's value) is blanked
before the model is kept. The linear model and the MLP train on columns
divided by a power-of-two scale (:func:`power_of_two_scale`), folded back
into the first layer's weights.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from medhaven import __version__
from medhaven.errors import InvalidInput
from medhaven.prediction.data import PredictionData
from medhaven.prediction.xgb import XGB_DEFAULTS

ModelKind = Literal["logistic_l1", "logistic_l2", "lightgbm", "mlp", "xgboost"]
KINDS: tuple[str, ...] = get_args(ModelKind)
BUNDLE_FORMAT = "medhaven.model/1"

Array = npt.NDArray[np.float64]

#: Defaults per kind; a spec may override any of these and nothing else.
DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_l1": {"C": None, "C_grid": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], "cv_folds": 3,
                    "max_iter": 2000},
    "logistic_l2": {"C": None, "C_grid": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], "cv_folds": 3,
                    "max_iter": 2000},
    "lightgbm": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31,
                 "min_child_samples": 20, "reg_lambda": 0.0, "colsample_bytree": 1.0,
                 "num_threads": 1},
    "mlp": {"hidden_layer_sizes": [32], "alpha": 2.0, "learning_rate_init": 3e-3,
            "max_iter": 40, "batch_size": 200},
    "xgboost": XGB_DEFAULTS,
}  # fmt: skip


class ModelSpec(BaseModel):
    """What to train: a model kind, hyperparameters (defaults in :data:`DEFAULTS`) and a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ModelKind
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    seed: int = 42

    def resolved(self) -> dict[str, Any]:
        """The kind's defaults overridden by this spec's hyperparameters; unknown names refused."""
        defaults = DEFAULTS[self.kind]
        unknown = sorted(set(self.hyperparameters) - set(defaults))
        if unknown:
            raise InvalidInput(
                f"model spec: {self.kind} has no hyperparameter {unknown[0]!r} "
                f"(known: {', '.join(sorted(defaults))})"
            )
        merged = {**defaults, **self.hyperparameters}
        for name, value in merged.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            zero_ok = name in ("reg_lambda", "alpha")
            numeric = isinstance(defaults[name], int | float) or name == "C"
            if numeric and not number and not (name == "C" and value is None):
                raise InvalidInput(f"model spec: hyperparameter {name} must be a number")
            if number and (not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok)):
                raise InvalidInput(f"model spec: hyperparameter {name} must be positive")
        if self.kind == "xgboost":
            from medhaven.prediction.xgb import check_hyperparameters

            check_hyperparameters(merged)
        return merged


@dataclass
class TrainedModel:
    """A fitted model: what it predicts from (feature ids), how it was trained, its weights."""

    kind: ModelKind
    feature_ids: npt.NDArray[np.int64]
    feature_names: list[str]
    hyperparameters: dict[str, Any]
    seed: int
    n_train: int
    weights: list[Array] = field(default_factory=list)
    boosters: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return int(self.feature_ids.size)

    def predict_proba(self, X: sparse.spmatrix | Array) -> Array:
        """Predicted probability of the outcome for each row of ``X`` (columns = feature ids)."""
        if X.shape[1] != self.n_features:
            raise InvalidInput(
                f"predict: {X.shape[1]} feature columns but the model has {self.n_features}"
            )
        if self.kind == "lightgbm":
            import lightgbm as lgb

            # LightGBM reads CSR rows directly
            preds = [np.asarray(lgb.Booster(model_str=s).predict(X), dtype=np.float64)
                     for s in self.boosters]  # fmt: skip
            return np.asarray(np.mean(preds, axis=0), dtype=np.float64)
        if self.kind == "xgboost":
            from medhaven.prediction import xgb

            return xgb.predict(self.boosters, X)
        return forward(self.weights, X)

    def predict(self, data: PredictionData) -> Array:
        """Predicted probabilities for a site's data, aligned into this model's feature space."""
        return self.predict_proba(data.align(self.feature_ids).X)

    def to_bundle(self) -> dict[str, Any]:
        """A portable JSON document: version, kind, features, hyperparameters, weights, sha256."""
        payload: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "medhaven_version": __version__,
            "kind": self.kind,
            "feature_ids": self.feature_ids.tolist(),
            "feature_names": list(self.feature_names),
            "hyperparameters": self.hyperparameters,
            "seed": self.seed,
            "n_train": self.n_train,
            "weights": [
                {"shape": list(w.shape), "values": w.ravel().tolist()} for w in self.weights
            ],
            "boosters": list(self.boosters),
            "training": self.training,
            "metadata": self.metadata,
        }
        return {**payload, "sha256": _digest(payload)}

    @classmethod
    def from_bundle(cls, bundle: Any, *, source: str = "model bundle") -> TrainedModel:
        """Load a bundle made by :meth:`to_bundle`; a tampered or malformed one is refused."""
        if not isinstance(bundle, dict) or "sha256" not in bundle:
            raise InvalidInput(f"{source}: not a MedHaven model bundle (no sha256)")
        payload = {k: v for k, v in bundle.items() if k != "sha256"}
        if _digest(payload) != bundle["sha256"]:
            raise InvalidInput(f"{source}: sha256 does not match the content (tampered or corrupt)")
        if payload.get("format") != BUNDLE_FORMAT:
            raise InvalidInput(f"{source}: format is not {BUNDLE_FORMAT}")
        kind = payload.get("kind")
        if kind not in KINDS:
            raise InvalidInput(f"{source}: unknown model kind {kind!r}")
        try:
            weights = [np.asarray(w["values"], dtype=np.float64).reshape(w["shape"])
                       for w in payload["weights"]]  # fmt: skip
            model = cls(kind=kind, feature_ids=np.asarray(payload["feature_ids"], dtype=np.int64),
                        feature_names=[str(n) for n in payload["feature_names"]],
                        hyperparameters=dict(payload["hyperparameters"]),
                        seed=int(payload["seed"]), n_train=int(payload["n_train"]),
                        weights=weights, boosters=[str(s) for s in payload["boosters"]],
                        training=dict(payload["training"]),
                        metadata=dict(payload["metadata"]))  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{source}: malformed field ({type(exc).__name__})") from None
        if kind in ("lightgbm", "xgboost") and not model.boosters:  # trees: boosters, no weights
            raise InvalidInput(f"{source}: a {kind} model without a booster")
        trees = kind in ("lightgbm", "xgboost")
        if not trees and (not weights or weights[0].shape[0] != model.n_features):
            raise InvalidInput(f"{source}: weights do not match {model.n_features} features")
        return model

    def save(self, path: Path) -> None:
        """Write the bundle as JSON to ``path``."""
        path.write_text(json.dumps(self.to_bundle()), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> TrainedModel:
        """Read and verify a bundle written by :meth:`save`."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"{path.name}: not a readable JSON model bundle ({exc.__class__.__name__})") from None  # fmt: skip
        return cls.from_bundle(doc, source=path.name)


def _digest(payload: dict[str, Any]) -> str:
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput("model bundle: content is not plain JSON (or holds NaN)") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sigmoid(z: Array) -> Array:
    """The logistic function, stable for large ``|z|``."""
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


def forward(weights: list[Array], X: sparse.spmatrix | Array) -> Array:
    """Probabilities from layers ``[W0, b0, ...]``: ReLU hidden layers, logistic output."""
    h: Any = X
    n_layers = len(weights) // 2
    for i in range(n_layers):
        z = np.asarray(h @ weights[2 * i], dtype=np.float64) + weights[2 * i + 1]
        h = np.maximum(z, 0.0) if i < n_layers - 1 else z
    return sigmoid(np.asarray(h, dtype=np.float64).ravel())


def column_sum_squares(X: sparse.spmatrix) -> Array:
    """Per-feature sum of squared values (an aggregate a site can send for a shared scale)."""
    return np.asarray(sparse.csr_matrix(X).power(2).sum(axis=0), dtype=np.float64).ravel()


def power_of_two_scale(sum_squares: Array, n: int) -> Array:
    """Per-feature divisor: the smallest power of two at or above the root mean square, at least 1.

    Binary indicators keep scale 1; counts and measurement values are brought
    near unit size, which the penalties, liblinear, Adam and the MLP need. A
    power of two divides exactly and tells little about the values: only
    their order of magnitude (and it is folded into the weights, see
    :func:`unscale_weights`).
    """
    rms = np.sqrt(np.asarray(sum_squares, dtype=np.float64) / max(int(n), 1))
    return np.asarray(np.exp2(np.ceil(np.log2(np.maximum(rms, 1.0)))), dtype=np.float64)


def scale_columns(X: sparse.spmatrix, scale: Array) -> sparse.csr_matrix:
    """``X`` with each column divided by its scale (sparsity kept)."""
    return sparse.csr_matrix(sparse.csr_matrix(X) @ sparse.diags(1.0 / scale))


def unscale_weights(weights: list[Array], scale: Array) -> list[Array]:
    """Layers trained on scaled columns, rewritten to take the original columns."""
    return [weights[0] / scale[:, None], *weights[1:]]


def check_trainable(data: PredictionData, *, what: str = "train") -> None:
    """Refuse data a model cannot be trained on (no rows, or one class only)."""
    site = f" at {data.site}" if data.site else ""
    if data.rows == 0:
        raise InvalidInput(f"{what}: no rows in the training data{site}")
    if data.outcomes in (0, data.rows):
        raise InvalidInput(f"{what}: the training data{site} hold only one class")


def fit(
    spec: ModelSpec, data: PredictionData, *, min_cell_count: int | None = None
) -> TrainedModel:
    """Train ``spec`` on one site's data.

    ``min_cell_count`` (the node's policy) raises LightGBM's
    ``min_child_samples`` to at least that many rows per leaf, and retrains
    XGBoost with a larger ``min_child_weight`` until every leaf holds that many
    rows, so that a model trained at a node passes
    :func:`~.release.check_model_release`.
    """
    check_trainable(data)
    hp = spec.resolved()
    if spec.kind == "lightgbm":
        boosters = [_fit_lightgbm_at_node(hp, data, spec.seed, min_cell_count)]
        weights: list[Array] = []
    elif spec.kind == "xgboost":
        from medhaven.prediction import xgb

        boosters = [xgb.fit_trees(hp, data.X, data.y.astype(np.float64), seed=spec.seed,
                                  trees=int(hp["n_estimators"]), min_cell_count=min_cell_count,
                                  where=data.site or "this site")]  # fmt: skip
        weights = []
    else:
        # counts and measurement values are trained on a power-of-two scale, folded back after
        scale = power_of_two_scale(column_sum_squares(data.X), data.rows)
        scaled = replace(data, X=scale_columns(data.X, scale))
        if spec.kind == "mlp":
            weights = _fit_mlp(hp, scaled, spec.seed)
        else:
            weights = _fit_logistic(spec.kind, hp, scaled, spec.seed)
        weights = unscale_weights(weights, scale)
        boosters = []
    return TrainedModel(kind=spec.kind, feature_ids=data.feature_ids.copy(),
                        feature_names=list(data.feature_names), hyperparameters=hp,
                        seed=spec.seed, n_train=data.rows, weights=weights, boosters=boosters,
                        training={"mode": "local", "sites": 1})  # fmt: skip


LIBLINEAR_INTERCEPT_SCALING = 10.0
"""liblinear's synthetic intercept column: the intercept ``b`` is penalised as ``|b|/10``."""


def _fit_logistic(kind: str, hp: dict[str, Any], data: PredictionData, seed: int) -> list[Array]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    l1_ratio = 1.0 if kind == "logistic_l1" else 0.0
    y = data.y.astype(np.int64)

    def model(C: float) -> Any:
        if kind == "logistic_l2":
            # newton-cg leaves the intercept unpenalised: the objective of federated Newton, l2 = 1/C
            return LogisticRegression(C=C, l1_ratio=0.0, solver="newton-cg", tol=1e-8,
                                      max_iter=int(hp["max_iter"]))  # fmt: skip
        # liblinear penalises the intercept as a column of value LIBLINEAR_INTERCEPT_SCALING:
        # (1/C)·|b|/scaling; federated L1 applies the same penalty (federated_l1.l1_penalty)
        return LogisticRegression(C=C, l1_ratio=l1_ratio, solver="liblinear",
                                  intercept_scaling=LIBLINEAR_INTERCEPT_SCALING,
                                  max_iter=int(hp["max_iter"]),
                                  random_state=seed)  # fmt: skip

    if hp["C"] is None:
        folds = int(hp["cv_folds"])
        minority = min(data.outcomes, data.rows - data.outcomes)
        if minority < folds:
            hp["C"], hp["C_selected_by"] = 1.0, "default (too few outcomes for cross-validation)"
        else:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            scores = [float(np.mean(cross_val_score(model(float(c)), data.X, y, cv=cv,
                                                    scoring="roc_auc")))
                      for c in hp["C_grid"]]  # fmt: skip
            hp["C"] = float(hp["C_grid"][int(np.argmax(scores))])
            hp["C_selected_by"] = f"{folds}-fold cross-validated AUROC"
    fitted = model(float(hp["C"])).fit(data.X, y)
    W = np.asarray(fitted.coef_, dtype=np.float64).reshape(-1, 1)
    b = np.asarray(fitted.intercept_, dtype=np.float64).reshape(1)
    return [W, b]


def _fit_mlp(hp: dict[str, Any], data: PredictionData, seed: int) -> list[Array]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(int(h) for h in hp["hidden_layer_sizes"]),
                        activation="relu", alpha=float(hp["alpha"]),
                        learning_rate_init=float(hp["learning_rate_init"]),
                        max_iter=int(hp["max_iter"]),
                        batch_size=min(int(hp["batch_size"]), data.rows), random_state=seed)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data.X, data.y.astype(np.int64))
    weights: list[Array] = []
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        weights += [np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)]
    return weights


def _fit_lightgbm_at_node(
    hp: dict[str, Any], data: PredictionData, seed: int, min_cell_count: int | None
) -> str:
    """Train; under a minimum cell count, retrain with larger leaves until every leaf holds it.

    LightGBM checks ``min_child_samples`` against counts it estimates from
    sums of hessians, so rows with a high predicted risk can leave a leaf
    with fewer real rows; the dump's ``leaf_count`` is exact, and decides.
    """
    if min_cell_count is None:
        return _fit_lightgbm(hp, data, seed)
    hp["min_child_samples"] = max(int(hp["min_child_samples"]), int(min_cell_count))
    for _ in range(12):
        text = _fit_lightgbm(hp, data, seed)
        smallest = min(booster_leaf_counts(text, data.rows))
        if smallest >= min_cell_count:
            return text
        if hp["min_child_samples"] >= data.rows:
            break
        grow = max(1.5, min_cell_count / max(smallest, 1))
        hp["min_child_samples"] = min(data.rows, math.ceil(hp["min_child_samples"] * grow))
    raise InvalidInput(
        f"train: no LightGBM model with every leaf at or above {min_cell_count} rows "
        f"at {data.site or 'this site'}"
    )


def booster_leaf_counts(model_string: str, rows: int) -> list[int]:
    """Training rows of every leaf of every tree of one booster (a one-leaf tree holds ``rows``)."""
    import lightgbm as lgb

    def leaves(node: dict[str, Any]) -> list[int]:
        if "left_child" not in node:
            return [int(node.get("leaf_count", rows))]
        return leaves(node["left_child"]) + leaves(node["right_child"])

    dump = lgb.Booster(model_str=model_string).dump_model()
    return [c for tree in dump["tree_info"] for c in leaves(tree["tree_structure"])]


def _fit_lightgbm(hp: dict[str, Any], data: PredictionData, seed: int) -> str:
    import lightgbm as lgb

    params = {"objective": "binary", "learning_rate": float(hp["learning_rate"]),
              "num_leaves": int(hp["num_leaves"]),
              "min_child_samples": int(hp["min_child_samples"]),
              "reg_lambda": float(hp["reg_lambda"]),
              "colsample_bytree": float(hp["colsample_bytree"]),
              "num_threads": int(hp["num_threads"]), "seed": seed, "deterministic": True,
              "force_col_wise": True, "verbose": -1}  # fmt: skip
    train = lgb.Dataset(data.X.astype(np.float64), label=data.y.astype(np.float64),
                        params={"verbose": -1})  # fmt: skip
    booster = lgb.train(params, train, num_boost_round=int(hp["n_estimators"]))
    return blank_feature_infos(str(booster.model_to_string()))


def blank_feature_infos(model_string: str) -> str:
    """The booster string with each feature's training min/max replaced by ``none``."""
    lines = model_string.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("feature_infos="):
            count = len(line.split("=", 1)[1].split())
            lines[i] = "feature_infos=" + " ".join(["none"] * count) + "\n"
    return "".join(lines)


__all__ = [
    "DEFAULTS",
    "KINDS",
    "LIBLINEAR_INTERCEPT_SCALING",
    "ModelKind",
    "ModelSpec",
    "TrainedModel",
    "blank_feature_infos",
    "booster_leaf_counts",
    "check_trainable",
    "column_sum_squares",
    "fit",
    "forward",
    "power_of_two_scale",
    "scale_columns",
    "sigmoid",
    "unscale_weights",
]
