"""Prediction challenges through the hub API, scored by real nodes (``handle_job`` on generated
hospital CDMs) through the in-process dispatcher: scores, leaderboard order and ties, the daily
limit, the private column absent before the close and shown after, predictions mode."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hub.conftest import World, dataset_body
from medhaven.cdm import opened
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Challenge, Job, Role
from medhaven.hub.services import jobs
from medhaven.prediction.challenge import NOT_SYNTHETIC
from medhaven.prediction.population import study_population
from medhaven.prediction.task import parse_task
from medhaven.synth.writer import CDM_FILE, write_hospitals

V1 = "/api/v1"
NODES = ["north", "south"]  # south's data are synthetic teaching data
TASK = {"name": "ckd", "target_cohort": "essential_hypertension",
        "outcome_cohort": "chronic_kidney_disease",
        "features": {"windows": [365], "counts": False, "measurement_values": False}}  # fmt: skip
L2 = {"kind": "logistic_l2"}
SEED = 20261203
LGBM = {"kind": "lightgbm", "hyperparameters": {"n_estimators": 5}}


@dataclass
class Sites:
    keys: Path
    configs: dict[str, NodeConfig]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    root = tmp_path_factory.mktemp("challenge-hospitals")
    write_hospitals(root / "h", hospitals=2, persons=3000, seed=5)
    keys = root / "hub-keys"
    jobs.hub_signing_key(keys)
    configs = {}
    for name, cdm in zip(NODES, sorted((root / "h").glob(f"*/{CDM_FILE}")), strict=True):
        toml = root / name / "node.toml"
        toml.parent.mkdir()
        toml.write_text(f'name = "{name}"\ncdm = "{cdm}"\naccepted_kinds = ["challenge"]\n'
                        f'hub_public_key = "{jobs.hub_public_key_path(keys)}"\n'
                        f"min_train_persons = 20\nmin_cell_count = 3\n"
                        f"synthetic_teaching = {'true' if name == 'south' else 'false'}\n")  # fmt: skip
        configs[name] = NodeConfig.load(toml)
    return Sites(keys, configs)


@pytest.fixture
def cc(db: Database, sites: Sites) -> Iterator[TestClient]:
    dispatch = jobs.in_process_dispatcher(
        lambda signed, node: handle_job(signed, sites.configs[node]), NODES
    )
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=sites.keys,
                       job_dispatcher=dispatch)  # fmt: skip
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        yield c


def _later(**kw: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**kw)).isoformat()


def _course(c: TestClient, w: World, students: list[str]) -> dict[str, Any]:
    """A course with its teaching datasets (north, south) granted and its students enrolled."""
    r = c.post(f"{V1}/courses", json={"code": "MAI201", "title": "Prediction", "term": "2026-2",
                                      "year": 2026}, headers=w.auth("instructor"))  # fmt: skip
    assert r.status_code == 201, r.text
    course = r.json()
    ids = {}
    for name in NODES:
        r = c.post(f"{V1}/datasets", json=dataset_body(w.orgs["Hospital A"], name=name,
                                                       teaching=True),
                   headers=w.auth("custodian"))  # fmt: skip
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    r = c.post(f"{V1}/courses/{course['id']}/datasets",
               json={"dataset_ids": list(ids.values()), "justification": "teaching"},
               headers=w.auth("instructor"))  # fmt: skip
    assert r.status_code == 201, r.text
    r = c.post(f"{V1}/requests/{r.json()['request_id']}/reviews",
               json={"decision": "approve", "expires_at": _later(days=30)},
               headers=w.auth("reviewer"))  # fmt: skip
    assert r.status_code == 201, r.text
    for who in students:
        if who not in w.users:
            w.add_user(who, org="University U", role=Role.STUDENT)
        r = c.post(f"{V1}/courses/{course['id']}/members",
                   json={"email": f"{who}@example.org"}, headers=w.auth("instructor"))  # fmt: skip
        assert r.status_code == 201, r.text
    return {**course, "datasets": ids}


def _challenge(c: TestClient, w: World, course: dict[str, Any], **over: Any) -> dict[str, Any]:
    body = {"course_id": course["id"], "title": "Predict CKD", "task": TASK,
            "dataset_ids": list(course["datasets"].values()), "opens_at": _later(hours=-1),
            "closes_at": _later(days=7), "test_fraction": 0.6, "max_daily": 3, **over}  # fmt: skip
    r = c.post(f"{V1}/challenges", json=body, headers=w.auth("instructor"))
    assert r.status_code == 201, r.text
    with w.db.unit() as s:  # the seed drawn at creation, pinned: every part holds outcomes
        s.execute(update(Challenge).where(Challenge.id == r.json()["id"]).values(split_seed=SEED))
    return dict(r.json())


def _submit(c: TestClient, w: World, who: str, cid: int, **body: Any) -> Any:
    return c.post(f"{V1}/challenges/{cid}/submissions", json=body, headers=w.auth(who))


def _settled(c: TestClient, w: World, who: str, cid: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 120
    while True:
        r = c.get(f"{V1}/challenges/{cid}/submissions", headers=w.auth(who))
        assert r.status_code == 200, r.text
        items = list(r.json()["items"])
        if all(i["status"] not in ("queued", "running") for i in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.2)


def _close(db: Database, cid: int) -> None:
    with db.unit() as s:
        s.execute(update(Challenge).where(Challenge.id == cid)
                  .values(closes_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))  # fmt: skip


def test_scores_leaderboard_daily_limit_and_private_after_close(
    cc: TestClient, world: World, db: Database
) -> None:
    course = _course(cc, world, ["student", "s2", "s3"])
    ch = _challenge(cc, world, course)
    assert "split_seed" not in ch and ch["is_open"] and not ch["is_closed"]
    cid = ch["id"]
    # a student may not create one; a model challenge takes no predictions
    r = cc.post(f"{V1}/challenges", json={**ch, "course_id": course["id"]},
                headers=world.auth("student"))  # fmt: skip
    assert r.status_code in (400, 403)
    r = _submit(cc, world, "student", cid, predictions={"1": 0.5})
    assert r.status_code == 400 and "takes a model" in r.json()["error"]["message"]
    # four submissions, one after the other (jobs at one node's CDM run one at a time, as a
    # SuperNode runs them): student twice (the same model), s2 another model, s3 the same one
    for who, model in (("student", L2), ("s2", LGBM), ("s3", L2), ("student", L2)):
        assert _submit(cc, world, who, cid, model=model).status_code == 202
        _settled(cc, world, who, cid)
    mine = _settled(cc, world, "student", cid)
    assert [s["status"] for s in mine] == ["scored", "scored"], mine
    assert mine[0]["public_score"] == mine[1]["public_score"]  # deterministic split and fit
    assert all("private_score" not in s for s in mine)  # absent before the close
    # the score is the nodes' rounded AUROCs, persons-weighted, from the job's released result
    result = cc.get(f"{V1}/jobs/{mine[0]['job_id']}/result", headers=world.auth("student"))
    res = result.json()["result"]
    assert "private" not in res["combined"] and "private" not in res["nodes"]["north"]
    assert set(res["nodes"]) == set(NODES), result.json()["node_status"]
    per = [res["nodes"][n]["public"] for n in NODES]
    weighted = sum(p["auroc"] * p["persons"] for p in per) / sum(p["persons"] for p in per)
    assert mine[0]["public_score"] == round(weighted, 3)
    for p in per:
        assert p["auroc"] == round(p["auroc"], 3) and set(p) == {"auroc", "persons", "outcomes"}
    s2_score = _settled(cc, world, "s2", cid)[0]["public_score"]
    assert _settled(cc, world, "s3", cid)[0]["public_score"] == mine[0]["public_score"]
    # the daily limit: the student's fourth submission today is refused (429), no job made
    assert _submit(cc, world, "student", cid, model=L2).status_code == 202
    _settled(cc, world, "student", cid)
    with db.unit(readonly=True) as s:
        before = len(s.execute(select(Job.id)).all())
    r = _submit(cc, world, "student", cid, model=L2)
    assert r.status_code == 429 and "daily limit" in r.json()["error"]["message"]
    with db.unit(readonly=True) as s:
        assert len(s.execute(select(Job.id)).all()) == before
    board = cc.get(f"{V1}/challenges/{cid}/leaderboard", headers=world.auth("s2")).json()
    assert not board["closed"] and "persons-weighted" in board["combined"]
    rows = board["rows"]
    # best public first; student and s3 tie (the same model), the earlier (student) first
    scores = {"student": mine[0]["public_score"], "s2": s2_score, "s3": mine[0]["public_score"]}
    order = sorted(["student", "s2", "s3"], key=lambda n: -scores[n])  # a stable sort
    assert [r["name"] for r in rows] == order
    assert [r["public_score"] for r in rows] == [scores[n] for n in order]
    by = {r["name"]: r for r in rows}
    assert by["student"]["submissions"] == 3 and by["s2"]["submissions"] == 1
    assert by["student"]["rank"] < by["s3"]["rank"]
    assert all("private_score" not in r for r in rows)
    # after the close: submissions refused, the private column shown
    _close(db, cid)
    r = _submit(cc, world, "s2", cid, model=L2)
    assert r.status_code == 409 and "closed" in r.json()["error"]["message"]
    board = cc.get(f"{V1}/challenges/{cid}/leaderboard", headers=world.auth("s2")).json()
    assert board["closed"] and all(isinstance(r["private_score"], float) for r in board["rows"])
    res = cc.get(f"{V1}/jobs/{mine[0]['job_id']}/result", headers=world.auth("student")).json()
    assert (
        res["result"]["combined"]["private"]
        == _settled(cc, world, "student", cid)[-1]["private_score"]
    )
    with db.unit(readonly=True) as s:
        actions = set(s.execute(select(AuditEntry.action)).scalars())
    assert {"challenge.create", "challenge.submit", "challenge.score",
            "challenge.refuse"} <= actions  # fmt: skip


def test_predictions_mode_scored_at_the_teaching_node_refused_at_the_real_one(
    cc: TestClient, world: World, sites: Sites
) -> None:
    course = _course(cc, world, ["student"])
    south, north = course["datasets"]["south"], course["datasets"]["north"]
    teach = _challenge(cc, world, course, mode="predictions", dataset_ids=[south], title="T")
    real = _challenge(cc, world, course, mode="predictions", dataset_ids=[north], title="R")
    # the student's file: a probability for every person of the teaching population
    with opened(sites.configs["south"].cdm) as store:
        pop = study_population(store, parse_task(TASK))
    rng = np.random.default_rng(1)
    probs = np.clip(0.5 * pop.label + 0.5 * rng.random(pop.rows), 0, 1)
    preds = {str(int(p)): float(v) for p, v in zip(pop.person_id, probs, strict=True)}
    assert _submit(cc, world, "student", teach["id"], predictions=preds).status_code == 202
    assert _submit(cc, world, "student", real["id"], predictions=preds).status_code == 202
    scored = _settled(cc, world, "student", teach["id"])[0]
    assert scored["status"] == "scored", scored["reason"]
    assert 0.5 < scored["public_score"] <= 1.0
    refused = _settled(cc, world, "student", real["id"])[0]
    assert refused["status"] == "failed" and NOT_SYNTHETIC in refused["reason"]
    assert refused["public_score"] is None


def test_a_challenge_needs_granted_datasets_and_an_open_window(
    cc: TestClient, world: World
) -> None:
    course = _course(cc, world, ["student"])
    r = cc.post(f"{V1}/datasets", json=dataset_body(world.orgs["Hospital A"], name="west"),
                headers=world.auth("custodian"))  # fmt: skip
    body = {"course_id": course["id"], "title": "x", "task": TASK, "dataset_ids": [r.json()["id"]],
            "opens_at": _later(hours=1), "closes_at": _later(days=1)}  # fmt: skip
    r = cc.post(f"{V1}/challenges", json=body, headers=world.auth("instructor"))
    assert r.status_code == 400 and "no active grant" in r.json()["error"]["message"]
    later = _challenge(cc, world, course, opens_at=_later(hours=1))
    r = _submit(cc, world, "student", later["id"], model=L2)
    assert r.status_code == 409 and "opens at" in r.json()["error"]["message"]
    # outsiders see nothing
    r = cc.get(f"{V1}/challenges/{later['id']}", headers=world.auth("researcher"))
    assert r.status_code == 404
