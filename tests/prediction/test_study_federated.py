"""``medhaven study run`` with a federated spec, over the whole system in real processes: the
hub, a SuperLink and one SuperNode per demo hospital. Train at two hospitals, validate at the
third; the released external evaluation is checked against ``evaluate()`` run here directly on
that hospital's CDM with the released bundle (an independent path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.cdm.store import opened
from medhaven.demo_data import MIN_CELL_COUNT, prepare
from medhaven.demo_hub import HubSeed, seed_hub
from medhaven.demo_system import DemoSystem
from medhaven.hub.client import HubClient
from medhaven.prediction.data import PredictionData
from medhaven.prediction.evaluate import evaluate
from medhaven.prediction.features import extract_features
from medhaven.prediction.models import TrainedModel
from medhaven.prediction.population import study_population
from medhaven.prediction.study import split
from medhaven.prediction.task import parse_task

pytestmark = pytest.mark.slow

MAIN = "from medhaven.cli.main import main; main()"
# hypertension -> chronic kidney disease: enough outcomes at 1,500 persons per hospital
TASK = {"name": "ckd", "target_cohort": "essential_hypertension",
        "outcome_cohort": "chronic_kidney_disease",
        "features": {"windows": [365, 30], "counts": False, "measurement_values": False}}  # fmt: skip
SEED = 3
TRAIN = ("hanbit-university", "pureun-community")
VALIDATE = "saemmul-general"


@dataclass
class System:
    out: Path
    url: str
    token: str
    seed: HubSeed

    def site(self, node: str) -> PredictionData:
        """A hospital's population and features, built here from its CDM (not through a job)."""
        task = parse_task(TASK)
        with opened(self.out / "nodes" / node / "cdm.duckdb") as store:
            return extract_features(store, study_population(store, task), task.features, site=node)

    def study(self, tmp: Path, hub: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        spec = {"name": "ckd-fed", "mode": "federated", "task": TASK,
                "model": {"kind": "logistic_l2"}, "test_fraction": 0.25, "seed": SEED,
                "min_train_persons": 20,
                "hub": {"project": self.seed.project_id, "l2": 10.0, "timeout": 300, **hub},
                "limitations": ["synthetic hospitals"]}  # fmt: skip
        path = tmp / "spec.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        env = {**os.environ, "MEDHAVEN_HUB_TOKEN": self.token,
               "XDG_CONFIG_HOME": str(tmp / "config")}  # fmt: skip
        cmd = [sys.executable, "-c", MAIN, "study", "run", "--spec", str(path),
               "--out", str(tmp / "out"), "--hub", self.url, "--json"]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600,
                              check=False)  # fmt: skip


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    out = tmp_path_factory.mktemp("study-fed") / "demo"
    data = prepare(out, seed=5, persons=1500, hospitals=3)
    assert sorted(data.nodes) == sorted([*TRAIN, VALIDATE])
    for node in data.nodes:  # the community hospital's training part is small
        config = data.node_config(node)
        config.write_text(config.read_text(encoding="utf-8") + "min_train_persons = 20\n",
                          encoding="utf-8")  # fmt: skip
    seed, _reused = seed_hub(out, data.report.hospitals)
    demo = DemoSystem(data)
    demo.start()
    try:
        who = seed.login("researcher")
        with HubClient(demo.url) as c:
            token = str(c.login(who["email"], who["password"], name="study-test")["token"])
        yield System(out, demo.url, token, seed)
    finally:
        demo.stop()


@pytest.fixture(scope="module")
def trained(
    system: System, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("study-run")
    # one train dataset by name, one by id; the validate dataset by name
    hub = {"train": [TRAIN[0], system.seed.datasets[TRAIN[1]]], "validate": [VALIDATE]}
    return tmp, system.study(tmp, hub)


def test_federated_study_writes_the_local_outputs_from_released_results(
    trained: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp, done = trained
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    out = tmp / "out"
    names = {"model_card.json", "model_card.html", "tripod_ai.json", "model.json"}
    assert {p.name for p in out.iterdir()} == names
    assert summary["mode"] == "federated" and summary["jobs"]["evaluate"] is not None
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    design = card["evaluation_design"]
    assert design["mode"] == "federated" and design["release"].startswith("node-released")
    assert any(u.startswith("pooled internal evaluation") for u in design["unavailable"])
    assert card["performance"]["internal"] == {}  # no pooled internal figure is claimed
    assert [(s["site"], s["role"]) for s in card["data"]["sites"]] == [
        (TRAIN[0], "train"), (TRAIN[1], "train"), (VALIDATE, "validate")]  # fmt: skip
    html = (out / "model_card.html").read_text(encoding="utf-8")
    assert "node-released" in html and f"external: {VALIDATE}" in html
    tripod = json.loads((out / "tripod_ai.json").read_text(encoding="utf-8"))
    assert tripod["guideline"].startswith("TRIPOD+AI")
    bundle = json.loads((out / "model.json").read_text(encoding="utf-8"))
    model = TrainedModel.from_bundle(bundle)
    assert card["model"]["bundle_sha256"] == bundle["sha256"]
    assert sorted(model.training["sites"]) == sorted(TRAIN)


def test_external_evaluation_equals_evaluate_on_the_third_hospital(
    system: System, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    tmp, done = trained
    assert done.returncode == 0, done.stderr
    out = tmp / "out"
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    model = TrainedModel.from_bundle(json.loads((out / "model.json").read_text(encoding="utf-8")))
    data = system.site(VALIDATE)
    expected = evaluate(data.y, model.predict(data), groups=data.subgroups,
                        policy=DisclosurePolicy(min_cell_count=MIN_CELL_COUNT))  # fmt: skip
    released = card["performance"]["external"][VALIDATE]
    assert released == json.loads(json.dumps(expected))
    assert released["released"] and released["n"] == data.rows
    assert released["metrics"]["auroc"] is not None
    summary = json.loads(done.stdout)
    assert summary["external"][VALIDATE]["auroc"] == expected["metrics"]["auroc"]


def test_internal_evaluations_are_each_nodes_held_out_part(
    system: System, trained: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    tmp, done = trained
    assert done.returncode == 0, done.stderr
    card = json.loads((tmp / "out" / "model_card.json").read_text(encoding="utf-8"))
    by_site = card["performance"]["internal_by_site"]
    assert set(by_site) == set(TRAIN)
    model = TrainedModel.from_bundle(
        json.loads((tmp / "out" / "model.json").read_text(encoding="utf-8"))
    )
    data = system.site(TRAIN[0])
    test = data.subset(split(data, fraction=0.25, seed=SEED))
    expected = evaluate(test.y, model.predict(test), groups=test.subgroups,
                        policy=DisclosurePolicy(min_cell_count=MIN_CELL_COUNT))  # fmt: skip
    assert by_site[TRAIN[0]] == json.loads(json.dumps(expected))


@pytest.mark.parametrize(
    ("hub", "message"),
    [
        ({"train": [TRAIN[0]], "validate": ["no-such-hospital"]},
         "hub.validate[0]: no dataset named 'no-such-hospital' at the hub"),
        ({"train": [TRAIN[0], 987654]}, "hub.train[1]: no dataset 987654 at the hub"),
    ],
)  # fmt: skip
def test_an_unknown_dataset_is_one_line_and_nothing_is_written(
    system: System, tmp_path: Path, hub: dict[str, Any], message: str
) -> None:
    done = system.study(tmp_path, hub)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [f"error: {message}"]
    assert not (tmp_path / "out").exists()


def test_hub_secure_aggregation_reaches_the_train_job(system: System, tmp_path: Path) -> None:
    """``hub.secure_aggregation`` in the spec: the released model was trained by SecAgg+ rounds."""
    done = system.study(tmp_path, {"train": list(TRAIN), "secure_aggregation": True, "rounds": 2})
    assert done.returncode == 0, done.stderr
    bundle = json.loads((tmp_path / "out" / "model.json").read_text(encoding="utf-8"))
    training = TrainedModel.from_bundle(bundle).training
    assert training["secure_aggregation"]["protocol"].startswith("SecAgg+")
    assert sorted(training["sites"]) == sorted(TRAIN) and training["mode"] == "newton"
