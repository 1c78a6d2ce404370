"""Collecting results that nodes held for their custodian: the hub re-asks only the held nodes
with the same signed job (nothing re-runs at a node), the status goes held -> partial ->
completed as custodians release, a rejection comes back as refused with its reason, and the
hub never holds an unreleased result. In-process dispatcher over real ``handle_job``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub.conftest import PASSWORD, World
from hub.test_jobs import COUNT, NODES, Hospitals, _actions, _granted, _job, hospitals
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.node import NodeConfig, handle_job, reject_held, release_held
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.services import jobs

__all__ = ["hospitals"]  # the module-scoped fixture, shared with test_jobs


class Holding:
    """The three nodes, ``holding`` of them holding cohort counts; each call to a node counted."""

    def __init__(self, h: Hospitals, tmp: Path, holding: list[str]) -> None:
        self.calls: dict[str, int] = dict.fromkeys(NODES, 0)
        self.configs: dict[str, NodeConfig] = {}
        for name, c in h.configs.items():
            self.configs[name] = c.model_copy(update={
                "require_release_approval": ["cohort_count"] if name in holding else False,
                "release_queue": tmp / f"{name}-queue", "answered_jobs": tmp / f"{name}-answered",
                "audit_log": tmp / f"{name}-audit.jsonl"})  # fmt: skip
        self.dispatch = jobs.in_process_dispatcher(self._handle, NODES)

    def _handle(self, signed: str, node: str) -> dict[str, Any]:
        self.calls[node] += 1
        return handle_job(signed, self.configs[node])

    def replay(self, node: str, uid: str) -> dict[str, Any]:
        """What the node has on record for the job (its answered file), read directly."""
        for path in self.configs[node].answered_dir.glob("*.json"):
            doc = json.loads(path.read_text())
            if doc["reply"]["job_id"] == uid:
                return dict(doc["reply"])
        raise AssertionError(f"no answered record at {node}")


@pytest.fixture
def holding(hospitals: Hospitals, tmp_path: Path) -> Holding:
    return Holding(hospitals, tmp_path, ["north", "south"])


@pytest.fixture
def client(db: Database, hospitals: Hospitals, holding: Holding) -> Iterator[TestClient]:
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=hospitals.keys,
                       job_dispatcher=holding.dispatch, held_poll_seconds=0)  # fmt: skip
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        yield c


def _submit(client: TestClient, world: World, min_nodes: int) -> dict[str, Any]:
    g = _granted(client, world)
    body = {"project_id": g["project"], "kind": "cohort_count", "parameters": COUNT,
            "dataset_ids": g["datasets"], "min_nodes": min_nodes}  # fmt: skip
    r = client.post("/api/v1/jobs", json=body, headers=world.auth("researcher"))
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=world.auth("researcher")).json()
        if job["status"] not in ("queued", "running"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError("the job did not finish within 60 s")


def _collect(client: TestClient, world: World, job_id: int, who: str = "researcher") -> Any:
    return client.post(f"/api/v1/jobs/{job_id}/collect", headers=world.auth(who))


def _shown(*values: int | None) -> int:
    """The sum of the counts the nodes showed (a suppressed one is None and adds nothing)."""
    return sum(v for v in values if v is not None)


def _statuses(job: dict[str, Any]) -> dict[str, str]:
    return {n: v["status"] for n, v in job["node_status"].items()}


def test_collect_goes_held_partial_then_refused_after_a_reject(
    client: TestClient, world: World, db: Database, holding: Holding
) -> None:
    job = _submit(client, world, min_nodes=2)
    uid = _job(db, job["id"]).uid
    assert _statuses(job) == {"north": "held", "south": "held", "east": "ok"}
    assert job["status"] == "held" and "2 of 3 nodes hold" in job["reason"]
    r = client.get(f"/api/v1/jobs/{job['id']}/result", headers=world.auth("researcher"))
    assert r.status_code == 409  # fewer than min_nodes released: no result shown
    assert holding.calls == dict.fromkeys(NODES, 1)

    nothing = _collect(client, world, job["id"])  # nobody released yet
    assert nothing.status_code == 200 and nothing.json()["status"] == "held"
    assert holding.calls == {"north": 2, "south": 2, "east": 1}  # only the held ones asked

    north = release_held(uid, holding.configs["north"], actor="custodian@north.example")
    r = _collect(client, world, job["id"])
    assert r.status_code == 200, r.text
    assert _statuses(r.json()) == {"north": "ok", "south": "held", "east": "ok"}
    assert r.json()["status"] == "partial" and "1 of 3 nodes hold" in r.json()["reason"]
    result = client.get(f"/api/v1/jobs/{job['id']}/result", headers=world.auth("researcher"))
    east = holding.replay("east", uid)["result"]["persons"]["value"]
    expected = _shown(north["result"]["persons"]["value"], east)
    assert result.json()["result"]["persons"] == {
        "value": expected, "display": f">= {expected}", "lower_bound": True}  # fmt: skip

    reject_held(uid, holding.configs["south"], "too close to a small cell")
    r = _collect(client, world, job["id"])
    assert _statuses(r.json()) == {"north": "ok", "south": "refused", "east": "ok"}
    assert r.json()["status"] == "partial"
    south = r.json()["node_status"]["south"]["reason"]
    assert "too close to a small cell" in south
    # the nodes answered from their records: nothing ran twice
    for name in ("north", "south"):
        outcomes = [e["outcome"] for e in NodeAuditLog(holding.configs[name].audit_path).entries()]
        assert outcomes.count("held") == 1 and "ok" not in outcomes
    again = _collect(client, world, job["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert _actions(db).count("job.collected") == 3


def test_all_released_makes_the_job_completed_with_every_count(
    client: TestClient, world: World, db: Database, holding: Holding, hospitals: Hospitals
) -> None:
    job = _submit(client, world, min_nodes=1)
    uid = _job(db, job["id"]).uid
    assert job["status"] == "partial" and "2 of 3 nodes hold" in job["reason"]
    released = [release_held(uid, holding.configs[n]) for n in ("north", "south")]
    r = _collect(client, world, job["id"])
    assert r.json()["status"] == "completed" and r.json()["reason"] is None
    values = [x["result"]["persons"]["value"] for x in released]
    values.append(holding.replay("east", uid)["result"]["persons"]["value"])
    total, bound = _shown(*values), None in values  # a suppressed count makes a lower bound
    result = client.get(f"/api/v1/jobs/{job['id']}/result", headers=world.auth("researcher"))
    assert result.json()["result"]["persons"] == {
        "value": total, "display": f">= {total}" if bound else str(total), "lower_bound": bound}  # fmt: skip


def test_only_project_members_may_collect(
    client: TestClient, world: World, holding: Holding
) -> None:
    job = _submit(client, world, min_nodes=1)
    assert _collect(client, world, job["id"], "student").status_code == 404  # not a member
    assert _collect(client, world, job["id"], "custodian").status_code == 403  # role
    assert holding.calls == dict.fromkeys(NODES, 1)  # nobody was asked


def test_the_background_re_ask_collects_a_released_result(
    db: Database, world: World, hospitals: Hospitals, holding: Holding
) -> None:
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=hospitals.keys,
                       job_dispatcher=holding.dispatch, held_poll_seconds=0.1)  # fmt: skip
    with TestClient(create_app(config, database=db), base_url="http://testserver") as c:
        job = _submit(c, world, min_nodes=3)
        assert job["status"] == "held"
        uid = _job(db, job["id"]).uid
        for name in ("north", "south"):
            release_held(uid, holding.configs[name])
        deadline = time.monotonic() + 20
        while _job(db, job["id"]).status != "completed":
            assert time.monotonic() < deadline, "the background re-ask did not collect"
            time.sleep(0.05)
    assert "job.collected" in _actions(db)


def test_the_job_page_button_collects_and_needs_the_csrf_token(
    client: TestClient, world: World, db: Database, holding: Holding
) -> None:
    job = _submit(client, world, min_nodes=1)
    uid = _job(db, job["id"]).uid
    r = client.post("/signin", data={"email": "researcher@example.org", "password": PASSWORD,
                                     "next": "/"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    page = client.get(f"/jobs/{job['id']}").text
    assert 'id="collect"' in page and "Check for released results" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    release_held(uid, holding.configs["north"])
    forged = client.post(f"/jobs/{job['id']}/collect", data={}, follow_redirects=False)
    assert forged.status_code in (401, 403)
    assert _job(db, job["id"]).node_status["north"]["status"] == "held"  # nothing collected
    r = client.post(f"/jobs/{job['id']}/collect", data={"csrf_token": token.group(1)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == f"/jobs/{job['id']}"
    assert _job(db, job["id"]).node_status["north"]["status"] == "ok"
    ko = client.get(f"/jobs/{job['id']}?lang=ko").text
    assert "공개된 결과 확인" in ko and "공개 승인 대기" in ko  # south still held


@pytest.mark.parametrize("hub_url", ["sqlite"], indirect=True)
def test_jobs_submit_waits_for_a_held_job_and_jobs_collect_completes_it(
    db: Database, world: World, hospitals: Hospitals, holding: Holding
) -> None:
    import socket
    import threading

    import uvicorn
    from typer.testing import CliRunner

    from medhaven.cli.main import app as cli

    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=hospitals.keys,
                       job_dispatcher=holding.dispatch, held_poll_seconds=0)  # fmt: skip
    application = create_app(config, database=db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.02)
    env = {"MEDHAVEN_HUB_TOKEN": world.tokens["researcher"],
           "MEDHAVEN_HUB_URL": f"http://127.0.0.1:{port}"}  # fmt: skip
    try:
        with TestClient(application, base_url="http://testserver") as api:
            g = _granted(api, world)
        ds = ",".join(str(i) for i in g["datasets"])
        r = CliRunner().invoke(cli, ["jobs", "submit", "--project", str(g["project"]), "--kind",
                                     "cohort_count", "--datasets", ds, "--params",
                                     json.dumps(COUNT), "--min-nodes", "3", "--wait", "60",
                                     "--json"], env=env)  # fmt: skip
        assert r.exit_code == 0, r.output
        job = json.loads(r.stdout)
        assert job["status"] == "held"  # the wait ends: the job waits for custodians now
        uid = _job(db, job["id"]).uid
        for name in ("north", "south"):
            release_held(uid, holding.configs[name])
        r = CliRunner().invoke(cli, ["jobs", "collect", str(job["id"])], env=env)
        assert r.exit_code == 0, r.output
        assert r.stdout.splitlines()[0] == f"job {job['id']} (cohort_count): completed"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_second_collect_of_the_same_job_meanwhile_is_a_conflict(
    client: TestClient, world: World, db: Database, holding: Holding
) -> None:
    import threading

    from medhaven.errors import Conflict

    job = _submit(client, world, min_nodes=1)
    entered, go = threading.Event(), threading.Event()

    def slow(signed: str, *, min_nodes: int, only: list[str] | None = None) -> dict[str, Any]:
        entered.set()
        assert go.wait(20)
        return holding.dispatch(signed, min_nodes=min_nodes, only=only)

    first = threading.Thread(target=jobs.collect, args=(db, job["id"], slow))
    first.start()
    try:
        assert entered.wait(20)
        with pytest.raises(Conflict) as exc:
            jobs.collect(db, job["id"], holding.dispatch)
        assert "being asked already" in exc.value.message
    finally:
        go.set()
        first.join(20)
    assert holding.calls == {"north": 2, "south": 2, "east": 1}  # asked once more, not twice
    jobs.collect(db, job["id"], holding.dispatch)  # free again afterwards
