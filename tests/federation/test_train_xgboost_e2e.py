"""Federated XGBoost over real Flower processes: the cyclic turns of a ``train`` job give the
booster the same rounds give in one process, on the nodes' own rows."""

from __future__ import annotations

import numpy as np
import pytest

from medhaven.prediction import xgb
from medhaven.prediction.federated_xgb import fit_federated
from medhaven.prediction.models import ModelSpec, TrainedModel

from .test_train_e2e import MIN_CELL, SEED, TASK, Net, _train_parts, net  # noqa: F401

pytestmark = pytest.mark.slow

HP = {"n_estimators": 12, "max_depth": 2}


def test_cyclic_xgboost_over_flower_equals_the_same_turns_in_process(net: Net) -> None:  # noqa: F811
    names = sorted(net.configs)
    params = {"task": TASK, "model": {"kind": "xgboost", "hyperparameters": HP, "seed": 4},
              "local_epochs": 4, "min_patients": 20, "test_fraction": 0.25, "seed": SEED}  # fmt: skip
    doc = net.dispatcher(net.sign("train", params, names), min_nodes=3)
    assert doc["status"] == "completed", doc["reason"] or doc["nodes"]
    model = TrainedModel.from_bundle(doc["combined"]["model"])
    assert model.training["mode"] == "cyclic" and model.training["transport"] == "flower"
    assert xgb.n_trees(model.boosters[0]) == 12
    assert doc["combined"]["rounds"] == 1 + 3 + 1  # setup, a turn per node, evaluate
    parts = _train_parts(net, names)
    eligible = [p.feature_ids[np.diff(p.X.tocsc().indptr) >= MIN_CELL] for p in parts]
    ids = np.unique(np.concatenate(eligible)).astype(np.int64)
    np.testing.assert_array_equal(model.feature_ids, ids)
    aligned = [p.align(ids) for p in parts]
    here = fit_federated(ModelSpec(kind="xgboost", hyperparameters=HP, seed=4), aligned,
                         mode="cyclic", trees_per_turn=4, min_cell_count=MIN_CELL)  # fmt: skip
    for part in aligned:
        np.testing.assert_allclose(model.predict_proba(part.X), here.predict_proba(part.X),
                                   rtol=1e-6)  # fmt: skip
    for reply in doc["nodes"]:
        assert reply["result"]["evaluation"]["n"] is not None
