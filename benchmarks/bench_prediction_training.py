"""Federated against pooled training, per model: AUROC and wall-time ratios on non-IID hospitals.

At scale 1.0 the generator writes 3 hospitals of 20,000 persons (seed 7,
non-IID by design). The task is the demo one: target
``essential_hypertension``, outcome ``heart_failure_admission``, PLP
defaults, default features. Each hospital's rows are split 75/25 (seeded);
models are trained on the training rows and scored on all test rows together.

* logistic regression (L2): pooled = scikit-learn on the concatenated rows
  (C = 0.01); federated = Newton steps on summed site statistics with
  l2 = 1/C = 100 (the same objective).
* MLP (one hidden layer of 32): pooled = scikit-learn's ``MLPClassifier``;
  federated = FedProx (mu 0.01), 20 rounds of one local epoch.
* LightGBM: pooled = one booster on the concatenated rows; federated =
  bagging of per-site boosters, each under a minimum cell count of 10.
* XGBoost (the kind's defaults): pooled = one booster on the concatenated
  rows; federated = cyclic (Flower's ``FedXgbCyclic``: the sites take turns,
  5 trees each), both under a minimum cell count of 10 on every leaf.

Federated training runs its sites one after another in one process (no
transport), so its wall time is the sum of the sites' work plus the
aggregation: an upper bound on what parallel nodes would take, without
network time.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.metrics import roc_auc_score

from benchmarks.result import Result
from medhaven.cdm.store import open_store
from medhaven.prediction.data import PredictionData
from medhaven.prediction.features import extract_features
from medhaven.prediction.federated import LocalConfig, fit_bagged, fit_fedavg, fit_newton
from medhaven.prediction.federated_xgb import TREES_PER_TURN, fit_federated
from medhaven.prediction.models import ModelSpec, TrainedModel, fit
from medhaven.prediction.population import study_population
from medhaven.prediction.task import parse_task
from medhaven.synth.writer import write_hospitals

PERSONS_AT_SCALE_1 = 20_000


def _sites(out: Path, persons: int) -> list[PredictionData]:
    write_hospitals(out, hospitals=3, persons=persons, seed=7)
    task = parse_task({"name": "hf", "target_cohort": "essential_hypertension",
                       "outcome_cohort": "heart_failure_admission"})  # fmt: skip
    sites = []
    for cdm in sorted(out.glob("*/cdm.duckdb")):
        store = open_store(cdm)
        sites.append(extract_features(store, study_population(store, task), task.features,
                                      site=cdm.parent.name))  # fmt: skip
    ids = np.unique(np.concatenate([s.feature_ids for s in sites]))
    return [s.align(ids) for s in sites]


def _stack(parts: list[PredictionData]) -> PredictionData:
    return PredictionData(X=sparse.vstack([p.X for p in parts]).tocsr(),
                          y=np.concatenate([p.y for p in parts]),
                          feature_ids=parts[0].feature_ids,
                          feature_names=parts[0].feature_names)  # fmt: skip


def _timed(fn: Callable[[], TrainedModel]) -> tuple[TrainedModel, float]:
    start = time.perf_counter()
    model = fn()
    return model, time.perf_counter() - start


def run(scale: float) -> list[Result]:
    """Train each model pooled and federated; AUROC and wall-time rows."""
    persons = max(2000, int(PERSONS_AT_SCALE_1 * scale))
    tmp = Path(tempfile.mkdtemp(prefix="mh-bench-train-"))
    try:
        sites = _sites(tmp, persons)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(0)
    train, test = [], []
    for s in sites:
        mask = rng.random(s.rows) < 0.75
        train.append(s.subset(mask))
        test.append(s.subset(~mask))
    pooled, held_out = _stack(train), _stack(test)
    mlp = {"hidden_layer_sizes": [32]}
    trees = {"n_estimators": 200}
    pairs: dict[str, tuple[Callable[[], TrainedModel], Callable[[], TrainedModel], str]] = {
        "logistic L2": (
            lambda: fit(ModelSpec(kind="logistic_l2", hyperparameters={"C": 0.01}), pooled),
            lambda: fit_newton(train, l2=100.0), "Newton",
        ),
        "MLP": (
            lambda: fit(ModelSpec(kind="mlp", hyperparameters=mlp), pooled),
            lambda: fit_fedavg(train, hidden=(32,), rounds=20,
                               local=LocalConfig(learning_rate=0.003, mu=0.01)), "FedProx",
        ),
        "LightGBM": (
            lambda: fit(ModelSpec(kind="lightgbm", hyperparameters=trees), pooled,
                        min_cell_count=10),
            lambda: fit_bagged(ModelSpec(kind="lightgbm", hyperparameters=trees), train,
                               min_cell_count=10), "bagging",
        ),
        "XGBoost": (
            lambda: fit(ModelSpec(kind="xgboost"), pooled, min_cell_count=10),
            lambda: fit_federated(ModelSpec(kind="xgboost"), train, mode="cyclic",
                                  trees_per_turn=TREES_PER_TURN, min_cell_count=10), "cyclic",
        ),
    }  # fmt: skip
    note = (f"3 hospitals x {persons} persons; {pooled.rows} training rows, "
            f"{held_out.rows} test rows ({held_out.outcomes} outcomes)")  # fmt: skip
    results: list[Result] = []
    for name, (pooled_fit, federated_fit, how) in pairs.items():
        base, base_s = _timed(pooled_fit)
        fed, fed_s = _timed(federated_fit)
        base_auc = float(roc_auc_score(held_out.y, base.predict(held_out)))
        fed_auc = float(roc_auc_score(held_out.y, fed.predict(held_out)))
        results.append(Result(f"prediction: AUROC, {name} federated ({how})", fed_auc, "AUROC",
                              f"pooled {name}", base_auc, "ratio >= 0.99", note))  # fmt: skip
        results.append(Result(f"prediction: training wall time, {name} ({how})", fed_s, "s",
                              f"pooled {name}", base_s, "-",
                              "sites in sequence, one process, no transport"))  # fmt: skip
    return results
