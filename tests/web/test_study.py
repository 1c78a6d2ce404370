"""The study builder, a train job's results and downloads, the custodian's held outputs
(in-process, real SQLite; a train result made by the real node-training rounds)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import Job, Role
from medhaven.hub.services import identity
from medhaven.hub.services.common import SYSTEM_ACTOR
from web.conftest import DATASET, PASSWORD, Seed, sign_in
from web.studies import SITES, grant, store_train_job, train_document


@pytest.fixture
def hub(web_db: Database, world: Seed, tmp_path: Path) -> Iterator[TestClient]:
    """A hub that can sign jobs (a key directory; no dispatcher: jobs stay queued)."""
    grant(web_db, world)
    config = HubConfig(database_url=web_db.url, secure_cookies=False, keys_dir=tmp_path / "keys")
    with TestClient(create_app(config, database=web_db), base_url="http://testserver") as c:
        yield c


def _jobs(db: Database) -> list[Job]:
    with db.unit(readonly=True) as s:
        return list(s.execute(select(Job).order_by(Job.id)).scalars())


def _post(client: TestClient, world: Seed, csrf: str, **fields: str) -> object:
    data = {"csrf_token": csrf, "dataset_ids": str(world.dataset_id), **fields}
    if not data["dataset_ids"]:  # no box ticked: the browser sends no field
        del data["dataset_ids"]
    return client.post(f"/projects/{world.project_id}/study", data=data, follow_redirects=False)


def test_builder_submits_a_cohort_count_and_opens_the_job_page(
    hub: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(hub, "student")  # a project member
    assert 'href="/projects/1/study"' in hub.get(f"/projects/{world.project_id}").text
    page = hub.get(f"/projects/{world.project_id}/study").text
    assert DATASET in page and "essential_hypertension" in page and 'name="csrf_token"' in page
    r = _post(hub, world, csrf, kind="cohort_count", cohort_name="essential_hypertension")
    assert r.status_code == 303  # type: ignore[attr-defined]
    [job] = _jobs(web_db)
    assert r.headers["location"] == f"/jobs/{job.id}"  # type: ignore[attr-defined]
    assert job.kind == "cohort_count" and job.dataset_ids == [world.dataset_id]
    assert job.parameters == {"definition": "essential_hypertension"}
    assert job.status == "queued" and job.targets == [DATASET]
    page = hub.get(f"/jobs/{job.id}").text
    assert f'hx-get="/jobs/{job.id}/status"' in page and DATASET in page


def test_pasted_atlas_json_is_sent_as_the_definition(
    hub: TestClient, web_db: Database, world: Seed
) -> None:
    atlas = (Path(__file__).resolve().parents[2] / "src" / "medhaven" / "analytics" / "cohorts"
             / "library" / "essential_hypertension.json").read_text("utf-8")  # fmt: skip
    csrf = sign_in(hub, "researcher")
    r = _post(hub, world, csrf, kind="characterize", cohort_json=atlas)
    assert r.status_code == 303  # type: ignore[attr-defined]
    [job] = _jobs(web_db)
    assert job.kind == "characterize" and job.parameters["cohort"] == json.loads(atlas)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "cohort_count", "cohort_json": "{not json"}, "cohort_json: not valid JSON"),
        ({"kind": "cohort_count", "cohort_json": "[1, 2]"}, "cohort_json: expected an ATLAS"),
        ({"kind": "cohort_count", "cohort_json": '{"PrimaryCriteria": "zq-value"}'}, "parameters.cohort"),
        ({"kind": "cohort_count", "cohort_name": "no_such_cohort"}, "cohort_name: not in the"),
        ({"kind": "cohort_count"}, "cohort_name: pick a cohort"),
        ({"kind": "survival", "cohort_name": "essential_hypertension"}, "kind: one of"),
        ({"kind": "prediction", "cohort_name": "essential_hypertension",
          "outcome_name": "heart_failure_admission", "model_kind": "svm"}, "model_kind: one of"),
        ({"kind": "prediction", "cohort_name": "essential_hypertension",
          "outcome_name": "heart_failure_admission", "model_kind": "mlp", "tar_start": "30",
          "tar_end": "10"}, "tar_end: must not be before tar_start"),
        ({"kind": "incidence", "cohort_name": "essential_hypertension",
          "outcome_name": "heart_failure_admission", "tar_end": "a year"}, "tar_end: a whole"),
        ({"kind": "cohort_count", "cohort_name": "essential_hypertension",
          "dataset_ids": ""}, "dataset_ids: choose at least one"),
    ],
)  # fmt: skip
def test_a_bad_study_is_shown_in_the_form_and_nothing_is_submitted(
    hub: TestClient, web_db: Database, world: Seed, fields: dict[str, str], message: str
) -> None:
    csrf = sign_in(hub, "researcher")
    r = _post(hub, world, csrf, **fields)
    assert r.status_code == 400  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    error = re.search(r'id="study-error">(.*?)</p>', text, re.S)
    assert error and message in error.group(1), error
    assert 'id="study-form"' in text  # the form again, with what was typed
    if fields.get("cohort_json"):
        assert "zq-value" not in error.group(1)  # the field is named, not the value
    assert _jobs(web_db) == []


def test_a_prediction_study_is_a_train_job_with_the_task_and_model(
    hub: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(hub, "researcher")
    r = _post(hub, world, csrf, kind="prediction", cohort_name="essential_hypertension",
              outcome_name="heart_failure_admission", tar_start="1", tar_end="730",
              model_kind="mlp", study_name="HF after HTN")  # fmt: skip
    assert r.status_code == 303  # type: ignore[attr-defined]
    [job] = _jobs(web_db)
    assert job.kind == "train"
    assert job.parameters == {
        "task": {"name": "HF after HTN", "target_cohort": "essential_hypertension",
                 "outcome_cohort": "heart_failure_admission", "risk_window_start": 1,
                 "risk_window_end": 730},
        "model": {"kind": "mlp"},
    }  # fmt: skip


def test_incidence_study_sends_the_time_at_risk_end(
    hub: TestClient, web_db: Database, world: Seed
) -> None:
    csrf = sign_in(hub, "researcher")
    r = _post(hub, world, csrf, kind="incidence", cohort_name="essential_hypertension",
              outcome_name="heart_failure_admission", tar_end="180")  # fmt: skip
    assert r.status_code == 303  # type: ignore[attr-defined]
    [job] = _jobs(web_db)
    assert (
        job.parameters["tar_days"] == 180 and job.parameters["target"] == "essential_hypertension"
    )


def test_a_non_member_cannot_open_or_post_the_builder(
    hub: TestClient, web_db: Database, world: Seed
) -> None:
    with web_db.unit() as s:  # a researcher of the same university, not in the project
        identity.create_user(s, email="other@example.org", password=PASSWORD, name="Other",
                             org_id=world.orgs["University U"], role=Role.RESEARCHER,
                             actor=SYSTEM_ACTOR)  # fmt: skip
    r = hub.post("/signin", data={"email": "other@example.org", "password": PASSWORD},
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert hub.get(f"/projects/{world.project_id}/study").status_code in (403, 404)
    hub.cookies.clear()
    csrf = sign_in(hub, "reviewer")  # a role that may not submit jobs at all
    assert hub.get(f"/projects/{world.project_id}/study").status_code == 403
    r = _post(hub, world, csrf, kind="cohort_count", cohort_name="essential_hypertension")
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert _jobs(web_db) == []


def test_builder_post_without_csrf_is_refused(hub: TestClient, web_db: Database,
                                              world: Seed) -> None:  # fmt: skip
    sign_in(hub, "researcher")
    r = _post(hub, world, "forged", kind="cohort_count", cohort_name="essential_hypertension")
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert _jobs(web_db) == []


def test_train_result_page_shows_released_metrics_plots_and_downloads(
    client: TestClient, web_db: Database, world: Seed, tmp_path: Path
) -> None:
    doc = train_document(tmp_path)
    job_id = store_train_job(web_db, world, doc)
    sign_in(client, "student")
    page = client.get(f"/jobs/{job_id}").text
    table = page.split('id="train-metrics"', 1)[1].split("</table>", 1)[0]
    for reply in doc["nodes"]:
        ev = reply["result"]["evaluation"]
        m = ev["metrics"]
        lo, hi = m["auroc_ci"]
        row = re.search(rf'<th scope="row">{reply["node"]}</th>(.*?)</tr>', table)
        assert row, reply["node"]
        cells = re.findall(r"<td>([^<]*)</td>", row.group(1))
        assert cells == [str(ev["n"]), str(ev["outcomes"]),
                         f"{m['auroc']:.3f} ({lo:.3f}–{hi:.3f})", f"{m['auprc']:.3f}",
                         f"{m['brier']:.3f}", f"{m['calibration_slope']:.3f}"]  # fmt: skip
    assert page.count("<svg") == 2 and 'id="roc-plot"' in page and 'id="calibration-plot"' in page
    assert "hospital-a (held-out)" in page  # the legend names each node's released curve
    model = client.get(f"/jobs/{job_id}/model.json")
    assert model.status_code == 200 and "attachment" in model.headers["content-disposition"]
    assert model.json() == doc["combined"]["model"]
    result = client.get(f"/jobs/{job_id}/result.json").json()
    assert result["status"] == "completed" and set(result["result"]["nodes"]) == set(SITES)
    client.cookies.clear()
    sign_in(client, "reviewer")  # not a member: neither the page nor the downloads
    assert client.get(f"/jobs/{job_id}/model.json").status_code == 404
    assert client.get(f"/jobs/{job_id}/result.json").status_code == 404


def test_custodian_dashboard_lists_held_outputs_without_a_release_button(
    client: TestClient, web_db: Database, world: Seed
) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    with web_db.unit() as s:
        for uid, status in (("held-1", "held"), ("ok-1", "ok")):
            s.add(Job(uid=uid, project_id=world.project_id, grant_ids=[], kind="cohort_count",
                      parameters={}, dataset_ids=[world.dataset_id], targets=[DATASET],
                      min_nodes=1, status="partial",
                      node_status={DATASET: {"status": status, "reason": None},
                                   "other-node": {"status": "held", "reason": None}},
                      result=None, signed_job="-", expires_at=now + dt.timedelta(hours=1),
                      submitted_by=world.users["researcher"], created_at=now,
                      updated_at=now))  # fmt: skip
    sign_in(client, "custodian")
    page = client.get("/").text
    held = page.split('id="held"', 1)[1].split("</section>", 1)[0]
    assert "held-1" in held and "ok-1" not in held and "other-node" not in held
    assert "medhaven node release --config node.toml --job-id" in held
    assert "<form" not in held and "<button" not in held
    ko = client.get("/?lang=ko").text.split('id="held"', 1)[1]
    assert "공개 버튼이 없습니다" in ko
    client.cookies.clear()
    sign_in(client, "student")  # no custodian: no held list, and still no review queue
    assert 'id="held"' not in client.get("/").text
    assert client.get("/reviews").status_code == 403


PREDICTION = {"kind": "prediction", "cohort_name": "essential_hypertension",
              "outcome_name": "heart_failure_admission", "tar_start": "1", "tar_end": "365",
              "study_name": "opts"}  # fmt: skip
TASK = {"name": "opts", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission", "risk_window_start": 1,
        "risk_window_end": 365}  # fmt: skip


def test_builder_offers_every_model_kind_rounds_xgb_mode_and_secure_aggregation(
    hub: TestClient, world: Seed
) -> None:
    sign_in(hub, "researcher")
    page = hub.get(f"/projects/{world.project_id}/study").text
    models = re.findall(
        r'<option value="(\w+)"', page.split('id="s-model"', 1)[1].split("</select>")[0]
    )
    assert models == ["logistic_l2", "logistic_l1", "mlp", "lightgbm", "xgboost"]
    modes = page.split('id="s-xgb-mode"', 1)[1].split("</select>")[0]
    assert re.findall(r'<option value="(\w+)"', modes) == ["cyclic", "bagging"]
    assert 'name="rounds"' in page and 'name="l1"' in page
    assert re.search(r'<input type="checkbox" id="s-secagg" name="secure_aggregation"[^>]*>', page)
    assert 'checked aria-describedby="s-secagg-help"' not in page  # off by default
    ko = hub.get(f"/projects/{world.project_id}/study?lang=ko").text
    assert "보안 집계" in ko and "로지스틱 회귀 (L1, 라쏘)" in ko and "XGBoost 연합 방식" in ko


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"model_kind": "logistic_l1", "l1": "4", "rounds": "40"},
         {"model": {"kind": "logistic_l1"}, "rounds": 40, "l1": 4.0}),
        ({"model_kind": "xgboost", "xgb_mode": "bagging"},
         {"model": {"kind": "xgboost"}, "xgb_mode": "bagging"}),
        ({"model_kind": "xgboost", "rounds": "3"},  # the form's default mode
         {"model": {"kind": "xgboost"}, "rounds": 3, "xgb_mode": "cyclic"}),
        ({"model_kind": "mlp", "rounds": "5", "secure_aggregation": "on", "xgb_mode": "bagging"},
         {"model": {"kind": "mlp"}, "rounds": 5, "secure_aggregation": True}),
        ({"model_kind": "logistic_l2", "secure_aggregation": "on"},
         {"model": {"kind": "logistic_l2"}, "secure_aggregation": True}),
    ],
)  # fmt: skip
def test_the_submitted_train_job_has_the_options_asked_for(
    hub: TestClient, web_db: Database, world: Seed, fields: dict[str, str],
    expected: dict[str, object],
) -> None:  # fmt: skip
    csrf = sign_in(hub, "researcher")
    r = _post(hub, world, csrf, **PREDICTION, **fields)
    assert r.status_code == 303, r.text  # type: ignore[attr-defined]
    [job] = _jobs(web_db)
    assert job.kind == "train" and job.parameters == {"task": TASK, **expected}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_kind": "lightgbm", "secure_aggregation": "on"},
         "parameters.secure_aggregation: for logistic_l2 (Newton) and mlp (FedAvg) only, not lightgbm"),
        ({"model_kind": "xgboost", "secure_aggregation": "on"},
         "parameters.secure_aggregation: for logistic_l2 (Newton) and mlp (FedAvg) only, not xgboost"),
        ({"model_kind": "mlp", "rounds": "0"}, "rounds: from 1 to 500"),
        ({"model_kind": "mlp", "rounds": "501"}, "rounds: from 1 to 500"),
        ({"model_kind": "mlp", "rounds": "ten"}, "rounds: a whole number"),
        ({"model_kind": "mlp", "l1": "2"}, "l1: the L1 penalty is for logistic_l1 only"),
        ({"model_kind": "logistic_l1", "l1": "-1"}, "l1: a number above 0"),
        ({"model_kind": "xgboost", "xgb_mode": "ring"}, "xgb_mode: one of cyclic, bagging"),
    ],
)  # fmt: skip
def test_a_refused_option_is_shown_in_the_form_and_nothing_is_submitted(
    hub: TestClient, web_db: Database, world: Seed, fields: dict[str, str], message: str
) -> None:
    csrf = sign_in(hub, "researcher")
    r = _post(hub, world, csrf, **PREDICTION, **fields)
    assert r.status_code == 400  # type: ignore[attr-defined]
    text = r.text  # type: ignore[attr-defined]
    error = re.search(r'id="study-error">(.*?)</p>', text, re.S)
    assert error and message in error.group(1).replace("&#39;", "'"), error
    if fields.get("secure_aggregation"):  # the form again, as it was ticked
        assert re.search(r'name="secure_aggregation" value="on" checked', text)
    assert _jobs(web_db) == []
