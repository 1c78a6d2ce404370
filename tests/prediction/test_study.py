"""`medhaven study run`: spec validation, split and stacking, and a 3-hospital study end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import brier_score_loss, roc_auc_score
from typer.testing import CliRunner

from medhaven.cli.main import app
from medhaven.errors import InvalidInput, NotFound
from medhaven.prediction.data import PredictionData
from medhaven.prediction.models import TrainedModel
from medhaven.prediction.study import load_spec, run_study, site_data, split, stack
from medhaven.prediction.tripod import ITEMS
from medhaven.synth.writer import CDM_FILE, write_hospitals


def _spec(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    (tmp_path / "a.duckdb").write_bytes(b"")
    doc: dict[str, Any] = {
        "name": "s",
        "task": {"name": "t", "target_cohort": "essential_hypertension",
                 "outcome_cohort": "heart_failure_admission"},
        "model": {"kind": "logistic_l2"},
        "data": [{"site": "a", "cdm": "a.duckdb", "role": "train"}],
    }  # fmt: skip
    doc.update(overrides)
    return doc


def _write(tmp_path: Path, doc: Any) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def test_spec_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, _spec(tmp_path)))
    assert spec.data[0].cdm == str(tmp_path.resolve() / "a.duckdb")
    assert spec.study_task().features.windows == [365, 180, 30]
    top = load_spec(_write(tmp_path, _spec(tmp_path, features={"windows": [30]})))
    assert top.study_task().features.windows == [30]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"colour": "red"}, r"spec.json: colour: unknown field"),
        ({"test_fraction": 1.5}, r"spec.json: test_fraction: "),
        ({"model": {"kind": "forest"}}, r"spec.json: model.kind: "),
        ({"data": [{"site": "a", "cdm": "a.duckdb", "role": "validate"}]}, "no site has role 'train'"),
        ({"data": [{"site": "a", "cdm": "a.duckdb", "role": "train"}] * 2}, "listed twice"),
        ({"features": {"windows": [30]}, "task": {"name": "t", "target_cohort": "essential_hypertension",
          "outcome_cohort": "heart_failure_admission", "features": {"windows": [30]}}}, "both"),
        ({"task": {"name": "t", "target_cohort": "no_such_cohort", "outcome_cohort": "heart_failure_admission"}},
         r"spec.json: task: "),
    ],
)  # fmt: skip
def test_bad_spec_fields_named(tmp_path: Path, override: dict[str, Any], message: str) -> None:
    with pytest.raises((InvalidInput, NotFound), match=message):
        load_spec(_write(tmp_path, _spec(tmp_path, **override)))


def test_bad_spec_files(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such study spec"):
        load_spec(tmp_path / "missing.json")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_spec(_write(tmp_path, "{"))
    with pytest.raises(NotFound, match=r"data\[0\].cdm: no CDM store"):
        load_spec(
            _write(
                tmp_path, _spec(tmp_path, data=[{"site": "a", "cdm": "b.duckdb", "role": "train"}])
            )
        )


def _federated(**hub: Any) -> dict[str, Any]:
    return {"name": "s", "mode": "federated",
            "task": {"name": "t", "target_cohort": "essential_hypertension",
                     "outcome_cohort": "heart_failure_admission"},
            "model": {"kind": "logistic_l2"},
            "hub": {"project": 1, "train": ["a", 2], "validate": ["c"], **hub}}  # fmt: skip


def test_a_federated_spec_names_hub_datasets_by_role(tmp_path: Path) -> None:
    spec = load_spec(_write(tmp_path, _federated(rounds=7)))
    assert spec.mode == "federated" and spec.data == []
    assert spec.hub is not None
    assert (spec.hub.train, spec.hub.validate_at, spec.hub.rounds) == (["a", 2], ["c"], 7)
    assert load_spec(_write(tmp_path, _spec(tmp_path))).mode == "local"  # the default


@pytest.mark.parametrize("kind", ["logistic_l2", "mlp"])
def test_hub_secure_aggregation_and_dp_reach_the_train_job_the_hub_accepts(
    tmp_path: Path, kind: str
) -> None:
    from medhaven.prediction.federated_study import train_parameters
    from medhaven.prediction.node_training import TrainParams, check_parameters

    plain = train_parameters(load_spec(_write(tmp_path, {**_federated(), "model": {"kind": kind}})))
    assert "secure_aggregation" not in plain and "dp" not in plain
    assert TrainParams.model_validate(plain).secure_aggregation is False
    dp = {"epsilon": 2.0, "clip": 0.5, "delta": 1e-6} if kind == "mlp" else None
    hub = {"secure_aggregation": True, "rounds": 4, **({"dp": dp} if dp else {})}
    doc = {**_federated(**hub), "model": {"kind": kind}}
    params = train_parameters(load_spec(_write(tmp_path, doc)))
    assert params["secure_aggregation"] is True and params["rounds"] == 4
    assert params.get("dp") == dp
    check_parameters("train", params)  # what the hub checks before it signs the job
    assert TrainParams.model_validate(params).secure_aggregation is True


@pytest.mark.parametrize("kind", ["logistic_l1", "lightgbm", "xgboost"])
def test_hub_secure_aggregation_for_another_model_is_one_line_naming_it(
    tmp_path: Path, kind: str
) -> None:
    doc = {**_federated(secure_aggregation=True), "model": {"kind": kind}}
    with pytest.raises(InvalidInput, match=rf"hub\.secure_aggregation: .* not {kind}") as err:
        load_spec(_write(tmp_path, doc))
    assert "\n" not in err.value.message
    with pytest.raises(InvalidInput, match=r"hub\.secure_aggregation"):
        load_spec(_write(tmp_path, _federated(secure_aggregation="maybe")))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({**_federated(), "mode": "cloud"}, r"spec.json: mode: Input should be 'local' or 'federated'"),
        ({k: v for k, v in _federated().items() if k != "hub"}, "needs a hub section"),
        ({**_federated(), "data": [{"site": "a", "cdm": "a.duckdb", "role": "train"}]},
         "data \\(CDM stores\\) is for mode 'local'"),
        (_federated(train=[]), r"spec.json: hub.train: List should have at least 1 item"),
        (_federated(validate=["a"]), "a dataset is listed twice"),
        (_federated(colour="red"), r"spec.json: hub.colour: unknown field"),
        (_federated(train=[" "]), r"spec.json: hub.train: Value error, item 0 is empty"),
        (_federated(min_nodes=3), "min_nodes: more than the number of train datasets"),
    ],
)  # fmt: skip
def test_bad_federated_specs_are_one_line(
    tmp_path: Path, doc: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        load_spec(_write(tmp_path, doc))
    assert "\n" not in err.value.message


def test_a_local_spec_refuses_a_hub_section_and_run_study_refuses_a_federated_spec(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidInput, match="hub is only for mode 'federated'"):
        load_spec(_write(tmp_path, _spec(tmp_path, hub=_federated()["hub"])))
    spec = load_spec(_write(tmp_path, _federated()))
    with pytest.raises(InvalidInput, match="runs through the hub"):
        run_study(spec, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # a real `medhaven` process: its start-up takes seconds
def test_cli_bad_spec_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run([str(Path(sys.executable).parent / "medhaven"), "study", "run", "--spec",
                           str(_write(tmp_path, "[]")), "--out", str(out)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().endswith("spec.json: expected a JSON object")
    assert not out.exists()


def _data(ids: list[int], rows: int, site: str, seed: int) -> PredictionData:
    rng = np.random.default_rng(seed)
    X = sparse.csr_matrix(rng.integers(0, 2, size=(rows, len(ids))).astype(float))
    y = (rng.random(rows) < 0.3).astype(np.int8)
    return PredictionData(X=X, y=y, feature_ids=np.array(ids, dtype=np.int64),
                          feature_names=[f"f{i}" for i in ids],
                          subgroups={"sex": np.array(["female"] * rows)}, site=site)  # fmt: skip


def test_stack_puts_sites_in_the_union_feature_space() -> None:
    a, b = _data([1, 5], 4, "a", 0), _data([5, 9], 3, "b", 1)
    both, site = stack([a, b])
    assert both.feature_ids.tolist() == [1, 5, 9]
    assert both.feature_names == ["f1", "f5", "f9"]
    assert site.tolist() == ["a"] * 4 + ["b"] * 3
    dense = both.X.toarray()
    np.testing.assert_array_equal(dense[:4, :2], a.X.toarray())
    np.testing.assert_array_equal(dense[4:, 1:], b.X.toarray())
    assert (dense[:4, 2] == 0).all() and (dense[4:, 0] == 0).all()
    assert both.y.tolist() == [*a.y.tolist(), *b.y.tolist()]


def test_split_is_stratified_and_seeded() -> None:
    d = _data([1], 400, "a", 2)
    mask = split(d, fraction=0.25, seed=3)
    assert mask.sum() == round((d.y == 0).sum() * 0.25) + round((d.y == 1).sum() * 0.25)
    assert d.y[mask].sum() == round(d.y.sum() * 0.25)
    assert (split(d, fraction=0.25, seed=3) == mask).all()
    assert not (split(d, fraction=0.25, seed=4) == mask).all()


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    manifest = write_hospitals(root, hospitals=3, persons=3000, seed=7)
    slugs = [h.slug for h in manifest.hospitals]
    # the tertiary hospital has the most outcomes: train there and at the community hospital,
    # validate at the general hospital
    spec = {
        "name": "hf_in_hypertension",
        "title": "Heart-failure admission within a year",
        "task": {"name": "hf1y", "target_cohort": "essential_hypertension",
                 "outcome_cohort": "heart_failure_admission"},
        "features": {"windows": [365, 30]},
        "model": {"kind": "logistic_l2"},
        "data": [{"site": "tertiary", "cdm": f"{slugs[0]}/{CDM_FILE}", "role": "train"},
                 {"site": "community", "cdm": f"{slugs[2]}/{CDM_FILE}", "role": "train"},
                 {"site": "general", "cdm": f"{slugs[1]}/{CDM_FILE}", "role": "validate"}],
        "test_fraction": 0.3,
        "seed": 1,
        "intended_use": {"context": "test", "population": "adults with hypertension"},
        "reporting": {"ethics": "synthetic data, no approval needed"},
    }  # fmt: skip
    (root / "spec.json").write_text(json.dumps(spec))
    return root


@pytest.mark.slow
def test_study_run_trains_on_two_hospitals_and_validates_on_the_third(hospitals: Path) -> None:
    out = hospitals / "out"
    result = CliRunner().invoke(app, ["study", "run", "--spec", str(hospitals / "spec.json"),
                                      "--out", str(out), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) >= {"internal", "external", "wall_seconds", "model"}
    for name in ("model_card.json", "model_card.html", "tripod_ai.json", "model.json"):
        assert (out / name).stat().st_size > 0
    card = json.loads((out / "model_card.json").read_text())
    assert [s["role"] for s in card["data"]["sites"]] == ["train", "train", "validate"]

    # the external AUROC and Brier equal sklearn's on the bundle's own predictions at that site
    spec = load_spec(hospitals / "spec.json")
    model = TrainedModel.load(out / "model.json")
    general = site_data(spec.data[2], spec.study_task())
    p = model.predict(general)
    ext = card["performance"]["external"]["general"]
    assert ext["released"] is True, "too few outcomes at the validation site for this test"
    assert 0.0 <= ext["metrics"]["auroc"] <= 1.0
    assert ext["metrics"]["auroc"] == pytest.approx(roc_auc_score(general.y, p), abs=1e-6)
    assert ext["metrics"]["brier"] == pytest.approx(brier_score_loss(general.y, p), abs=1e-6)
    assert summary["external"]["general"]["auroc"] == ext["metrics"]["auroc"]
    assert card["model"]["bundle_sha256"] == json.loads((out / "model.json").read_text())["sha256"]

    internal = card["performance"]["internal"]
    assert internal["released"] is True
    assert 0.0 <= internal["metrics"]["auroc"] <= 1.0
    assert {r["label"] for r in internal["subgroups"]["hospital"]} == {"tertiary", "community"}
    assert set(internal["subgroups"]) == {"sex", "age_group", "hospital"}

    tripod = json.loads((out / "tripod_ai.json").read_text())
    assert [i["id"] for i in tripod["items"]] == [i[0] for i in ITEMS]
    status = {i["id"]: i["status"] for i in tripod["items"]}
    assert status["17"] == "reported" and status["23a"] == "reported"
    assert status["18a"] == "missing" and "18a" in tripod["missing"]
    html = (out / "model_card.html").read_text()
    assert html.count("<svg") == 2 and "external: general" in html


def test_packaged_example_spec_is_valid(tmp_path: Path) -> None:
    from importlib.resources import files

    text = (files("medhaven.prediction") / "examples" / "hf_hypertension_study.json").read_text()
    doc = json.loads(text)
    for site in doc["data"]:
        (tmp_path / site["cdm"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / site["cdm"]).write_bytes(b"")
    spec = load_spec(_write(tmp_path, doc))
    assert [s.role for s in spec.data] == ["train", "train", "validate"]
    assert spec.study_task().outcome_cohort == "heart_failure_admission"


def test_node_minimum_cell_count_is_a_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medhaven.prediction import study as study_mod

    seen: list[int] = []

    def stop(*args: Any, **kwargs: Any) -> None:
        seen.append(kwargs["min_cell_count"])
        raise InvalidInput("stop here")

    monkeypatch.setattr(study_mod, "site_data", lambda s, t: _data([1, 2], 300, s.site, 0))
    monkeypatch.setattr(study_mod, "fit", stop)
    monkeypatch.setenv("MEDHAVEN_MIN_CELL_COUNT", "11")
    for asked in (3, 20):
        spec = load_spec(_write(tmp_path, _spec(tmp_path, min_cell_count=asked)))
        with pytest.raises(InvalidInput, match="stop here"):
            study_mod.run_study(spec, tmp_path / "out")
    assert seen == [11, 20]
    assert not (tmp_path / "out").exists()
