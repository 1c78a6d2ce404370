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


def test_compare_refuses_a_model_without_a_federated_path() -> None:
    result = CliRunner().invoke(app, ["study", "compare", "--persons", "100", "--model",
                                      "logistic_l1", "--json"])  # fmt: skip
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInput)
    assert "logistic_l1 has no federated path" in result.exception.message
