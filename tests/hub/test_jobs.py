"""Hub-side jobs on SQLite and PostgreSQL: governance checks at submit, signing with the hub's
key, dispatch to real node code (``handle_job`` on generated hospital CDMs, no Flower),
per-node status, the combined result, and refusals that are audited."""

from __future__ import annotations

import datetime as dt
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.conftest import World, dataset_body, project_body
from medhaven.errors import Conflict, Forbidden, InvalidInput
from medhaven.federation.combine import combine_counts
from medhaven.federation.jobs import (
    JobSpec,
    SignedJob,
    load_private_key,
    load_public_key,
    sign_job,
)
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.hub.db import Database
from medhaven.hub.models import AuditEntry, Grant, Job
from medhaven.hub.services import identity, jobs
from medhaven.hub.services.common import Principal
from medhaven.synth.writer import CDM_FILE, write_hospitals

NODES = ["north", "south", "east"]
COUNT = {"definition": "essential_hypertension"}


@dataclass
class Hospitals:
    """Three generated hospital CDMs and the hub key directory their nodes trust."""

    root: Path
    keys: Path
    configs: dict[str, NodeConfig]


@pytest.fixture(scope="module")
def hospitals(tmp_path_factory: pytest.TempPathFactory) -> Hospitals:
    root = tmp_path_factory.mktemp("hospitals")
    write_hospitals(root / "h", hospitals=3, persons=200, seed=11)
    dbs = sorted((root / "h").glob(f"*/{CDM_FILE}"))
    keys = root / "hub-keys"
    # the hub makes its key on first use; nodes are given its public key afterwards
    jobs.hub_signing_key(keys)
    configs = {}
    for name, cdm in zip(NODES, dbs, strict=True):
        toml = root / f"{name}.toml"
        toml.write_text(
            f'name = "{name}"\ncdm = "{cdm}"\n'
            'accepted_kinds = ["cohort_count", "characterize"]\n'
            f'hub_public_key = "{jobs.hub_public_key_path(keys)}"\n'
            f'audit_log = "{name}-audit.jsonl"\nanswered_jobs = "{name}-answered"\n'
        )
        configs[name] = NodeConfig.load(toml)
    return Hospitals(root, keys, configs)


class Calls:
    """An in-process dispatcher over the nodes' real ``handle_job``, counting calls."""

    def __init__(self, h: Hospitals, nodes: list[str] | None = None) -> None:
        self.count = 0
        self._h = h
        self.dispatch = jobs.in_process_dispatcher(self._handle, nodes or NODES)

    def _handle(self, signed: str, node: str) -> dict[str, Any]:
        self.count += 1
        return handle_job(signed, self._h.configs[node])


def _later(**kw: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**kw)).isoformat()


def _granted(client: TestClient, world: World, names: list[str] = NODES) -> dict[str, Any]:
    """Datasets named after the nodes, a project of the researcher, an approved request."""
    ids = []
    for name in names:
        r = client.post(
            "/api/v1/datasets",
            json=dataset_body(world.orgs["Hospital A"], name=name),
            headers=world.auth("custodian"),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = client.post("/api/v1/projects", json=project_body(), headers=world.auth("researcher"))
    assert r.status_code == 201, r.text
    project = r.json()
    r = client.post(
        "/api/v1/requests",
        json={"project_id": project["id"], "dataset_ids": ids, "justification": "study"},
        headers=world.auth("researcher"),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/requests/{r.json()['id']}/reviews",
        json={"decision": "approve", "expires_at": _later(days=30)},
        headers=world.auth("reviewer"),
    )
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    return {"project": project["id"], "datasets": ids}


def _principal(db: Database, world: World, who: str) -> Principal:
    with db.unit(readonly=True) as s:
        return identity.principal_from_token(s, world.tokens[who])[0]


def _actions(db: Database) -> list[str]:
    with db.unit(readonly=True) as s:
        return list(s.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def _job(db: Database, job_id: int) -> Job:
    with db.unit(readonly=True) as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _own_counts(h: Hospitals) -> dict[str, Any]:
    """Each node's own released count for the same question, under a job signed here."""
    key = load_private_key(h.keys / "hub_ed25519.pem")
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"own-{now.timestamp()}", project="own", grant_id="own",
                   kind="cohort_count", parameters=COUNT, targets=list(h.configs),
                   expires_at=now + dt.timedelta(minutes=5), issued_at=now)  # fmt: skip
    wire = sign_job(spec, key, "own").to_json()
    return combine_counts([handle_job(wire, c) for c in h.configs.values()])


def test_submit_runs_in_the_background_to_completed_with_the_combined_counts(
    db: Database, client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(client, world)
    calls = Calls(hospitals)
    runner = jobs.JobRunner(db, hospitals.keys, calls.dispatch)
    me = _principal(db, world, "researcher")
    job = runner.submit(me, jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"]))
    assert job.status == "queued" and job.targets == NODES
    runner.wait(60)
    done = _job(db, job.id)
    assert done.status == "completed", done.reason
    assert done.node_status == {n: {"status": "ok", "reason": None} for n in NODES}
    own = _own_counts(hospitals)
    with db.unit(readonly=True) as s:
        result = jobs.get_result(s, me, job.id)
    assert result["persons"] == own["persons"] and result["records"] == own["records"]
    assert isinstance(result["persons"]["value"], int) and result["persons"]["value"] > 0
    assert calls.count == 3
    acts = _actions(db)
    assert acts[-3:] == ["job.submit", "job.dispatch", "job.result"]


def test_the_signed_spec_verifies_with_the_hub_public_key_only(
    db: Database, client: TestClient, world: World, hospitals: Hospitals, tmp_path: Path
) -> None:
    g = _granted(client, world, ["north"])
    runner = jobs.JobRunner(db, tmp_path / "fresh-keys")  # no dispatcher: stays queued
    job = runner.submit(
        _principal(db, world, "researcher"),
        jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"]),
    )
    assert job.status == "queued" and job.reason == jobs.NO_DISPATCHER
    private = tmp_path / "fresh-keys" / "hub_ed25519.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    signed = SignedJob.from_json(_job(db, job.id).signed_job)
    assert signed.verify(load_public_key(jobs.hub_public_key_path(tmp_path / "fresh-keys")))
    assert not signed.verify(load_public_key(jobs.hub_public_key_path(hospitals.keys)))
    spec = signed.spec
    assert spec.project == str(g["project"]) and spec.targets == ["north"]
    assert spec.expires_at > dt.datetime.now(dt.UTC) and spec.kind == "cohort_count"
    with db.unit(readonly=True) as s:
        grant = s.execute(select(Grant).where(Grant.dataset_id == g["datasets"][0])).scalar_one()
    assert spec.grant_id == str(grant.id)
    # a second job reuses the same key rather than replacing it
    before = private.read_bytes()
    runner.submit(
        _principal(db, world, "researcher"),
        jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"]),
    )
    assert private.read_bytes() == before


def test_a_grant_revoked_before_dispatch_refuses_the_job_and_is_audited(
    db: Database, client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(client, world)
    queued = jobs.JobRunner(db, hospitals.keys)
    job = queued.submit(
        _principal(db, world, "researcher"),
        jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"]),
    )
    grants = client.get("/api/v1/grants", headers=world.auth("custodian")).json()["items"]
    r = client.post(
        f"/api/v1/grants/{grants[1]['id']}/revoke",
        json={"reason": "ethics withdrawn"},
        headers=world.auth("custodian"),
    )
    assert r.status_code == 200, r.text
    calls = Calls(hospitals)
    jobs.run(db, job.id, calls.dispatch)
    done = _job(db, job.id)
    assert done.status == "refused" and "no longer active" in (done.reason or "")
    assert calls.count == 0 and done.result is None
    assert _actions(db)[-1] == "job.refuse"
    with db.unit(readonly=True) as s, pytest.raises(Conflict):
        jobs.get_result(s, _principal(db, world, "researcher"), job.id)


def test_an_expired_grant_refuses_at_submit_and_before_dispatch(
    db: Database, client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(client, world, ["north", "south"])
    me = _principal(db, world, "researcher")
    job = jobs.JobRunner(db, hospitals.keys).submit(
        me, jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"])
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with db.unit() as s:
        grant = s.execute(select(Grant).where(Grant.dataset_id == g["datasets"][0])).scalar_one()
        grant.expires_at = past
    jobs.run(db, job.id, Calls(hospitals).dispatch)
    assert _job(db, job.id).status == "refused"
    n_jobs = len(_actions(db))
    with pytest.raises(Forbidden, match="not covered by an active grant"):
        jobs.submit(
            db,
            me,
            jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"]),
            keys_dir=hospitals.keys,
        )
    acts = _actions(db)
    assert acts[n_jobs:] == ["job.refuse"]
    with db.unit(readonly=True) as s:
        assert len(s.execute(select(Job)).scalars().all()) == 1


def test_a_non_member_or_bad_request_is_refused_and_audited(
    db: Database, client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(client, world, ["north"])
    req = jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"])
    with pytest.raises(Forbidden, match="only project members"):
        jobs.submit(db, _principal(db, world, "admin"), req, keys_dir=hospitals.keys)
    assert _actions(db)[-1] == "job.refuse"
    me = _principal(db, world, "researcher")
    for bad, match in [
        (jobs.JobRequest(g["project"], "drop_table", COUNT, g["datasets"]), "kind"),
        (jobs.JobRequest(g["project"], "cohort_count", COUNT, []), "dataset_ids"),
        (jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"], min_nodes=2),
         "min_nodes"),
        (jobs.JobRequest(g["project"], "train", {"task": {"name": "t",
         "target_cohort": "essential_hypertension", "outcome_cohort": "heart_failure_admission"},
         "model": {"kind": "logistic_l2"}, "dp": {"clip": 1.0, "epsilon": 1.0}}, g["datasets"]),
         "differential privacy is for mlp"),
    ]:  # fmt: skip
        with pytest.raises(InvalidInput, match=match):
            jobs.submit(db, me, bad, keys_dir=hospitals.keys)
    with db.unit(readonly=True) as s:
        assert s.execute(select(Job)).scalars().all() == []


def test_a_missing_node_gives_a_partial_job_flagged_per_node(
    db: Database, client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(client, world)
    calls = Calls(hospitals, nodes=["north", "south"])  # east is down
    runner = jobs.JobRunner(db, hospitals.keys, calls.dispatch, background=False)
    me = _principal(db, world, "researcher")
    job = runner.submit(
        me, jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"], min_nodes=2)
    )
    done = _job(db, job.id)
    assert done.status == "partial"
    assert done.node_status["east"]["status"] == "failed"
    assert [done.node_status[n]["status"] for n in ("north", "south")] == ["ok", "ok"]
    with db.unit(readonly=True) as s:
        result = jobs.get_result(s, me, job.id)
    assert result["persons"]["lower_bound"] is True and result["complete"] is False
    # other users of the hub do not see the job at all
    with db.unit(readonly=True) as s:
        assert s.execute(jobs.list_jobs_query(_principal(db, world, "student"))).all() == []


def test_a_hub_restart_fails_lost_runs_and_dispatches_queued_jobs(
    db: Database, client: TestClient, world: World, hospitals: Hospitals
) -> None:
    g = _granted(client, world)
    me = _principal(db, world, "researcher")
    req = jobs.JobRequest(g["project"], "cohort_count", COUNT, g["datasets"])
    before = jobs.JobRunner(db, hospitals.keys)  # no SuperLink yet: both stay queued
    lost, waiting = before.submit(me, req), before.submit(me, req)
    assert jobs.start(db, lost.id) is not None  # dispatched, then the hub died
    calls = Calls(hospitals)
    after = jobs.JobRunner(db, hospitals.keys, calls.dispatch)
    assert after.resume() == {"failed": 1, "resumed": 0, "dispatched": 1}
    after.wait(60)
    gone = _job(db, lost.id)
    assert gone.status == "failed" and gone.reason == jobs.LOST_RUN
    assert {v["status"] for v in gone.node_status.values()} == {"unknown"}
    assert _job(db, waiting.id).status == "completed" and calls.count == 3
    assert "job.result" in _actions(db)[-4:]
