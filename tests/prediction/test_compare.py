"""``medhaven study compare --json``: one JSON object, local / federated / pooled on a common test
set (the federated path here in process; the same rounds over Flower are in
tests/federation/test_train_e2e.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from medhaven.cli.main import app
from medhaven.errors import InvalidInput

pytestmark = pytest.mark.slow


def test_compare_json_has_the_three_trainings_and_the_auroc_ratio() -> None:
    result = CliRunner().invoke(app, ["study", "compare", "--hospitals", "3", "--persons", "2000",
                                      "--seed", "7", "--transport", "in_process", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for key in ("local", "federated", "pooled"):
        for metric in ("auroc", "auprc", "brier", "calibration_slope", "wall_seconds"):
            assert isinstance(doc[key][metric], float), (key, metric)
        assert 0.5 < doc[key]["auroc"] <= 1.0
    assert doc["federated"]["transport"] == "in_process"
    assert doc["federated"]["mode"] == "newton"
    assert set(doc["local"]["sites"]) == set(doc["federated"]["sites"])
    assert doc["federated"]["train_persons"] == doc["pooled"]["train_persons"]
    ratio = doc["federated"]["auroc"] / doc["pooled"]["auroc"]
    assert doc["federated_pooled_auroc_ratio"] == pytest.approx(ratio, abs=1e-5)
    assert ratio >= 0.95  # the generator's hospitals at 2,000 persons each: few outcomes


def test_compare_mlp_federated_uses_the_pooled_models_penalty_and_epochs() -> None:
    result = CliRunner().invoke(app, ["study", "compare", "--hospitals", "3", "--persons", "2000",
                                      "--seed", "7", "--model", "mlp", "--transport", "in_process",
                                      "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    pooled, federated = doc["pooled"]["hyperparameters"], doc["federated"]["hyperparameters"]
    assert (pooled["alpha"], pooled["max_iter"], pooled["batch_size"]) == (2.0, 40, 200)
    assert federated["l2"] == pytest.approx(0.01)  # scikit-learn's alpha / batch size: 2 / 200
    assert federated["learning_rate"] == pooled["learning_rate_init"] == 0.003
    assert doc["federated"]["mode"] == "fedavg" and doc["federated"]["rounds"] == 20  # 40 epochs
    for key in ("local", "federated", "pooled"):
        assert 0.5 < doc[key]["auroc"] <= 1.0, key


def test_compare_trains_logistic_l1_with_the_same_penalty_three_ways() -> None:
    result = CliRunner().invoke(app, ["study", "compare", "--hospitals", "3", "--persons", "2000",
                                      "--seed", "7", "--model", "logistic_l1", "--l1", "4",
                                      "--transport", "in_process", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "logistic_l1"
    assert doc["federated"]["mode"] == "proximal_newton"
    assert doc["federated"]["hyperparameters"]["l1"] == 4.0
    assert doc["pooled"]["hyperparameters"]["C"] == 0.25  # C = 1/l1, not cross-validated
    for key in ("local", "federated", "pooled"):
        assert 0.5 < doc[key]["auroc"] <= 1.0, key
    assert doc["federated_pooled_auroc_ratio"] >= 0.95


def test_compare_refuses_an_unknown_model_and_a_bad_l1() -> None:
    result = CliRunner().invoke(app, ["study", "compare", "--persons", "100", "--model",
                                      "random_forest", "--json"])  # fmt: skip
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
    assert "'random_forest' is not one of logistic_l2, logistic_l1" in result.exception.message
    result = CliRunner().invoke(app, ["study", "compare", "--persons", "100", "--model",
                                      "logistic_l1", "--l1", "0", "--json"])  # fmt: skip
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
    assert result.exception.message == "--l1: must be a positive number"
