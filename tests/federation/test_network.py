"""The network session's spool protocol, without Flower: the ServerApp's serve loop on a grid
with no nodes connected, and the hub's NetworkDispatcher talking to it through the spool."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medhaven.errors import InvalidInput
from medhaven.federation.flower_app.session import serve
from medhaven.federation.jobs import JobSpec, sign_job
from medhaven.federation.network import NetworkDispatcher, Spool, job_key, write_json


class EmptyGrid:
    """A grid on which no node ever connects (what the serve loop sees with no SuperNodes)."""

    def get_node_ids(self) -> list[int]:
        return []

    def push_messages(self, messages: list[Any]) -> list[str]:
        raise AssertionError("nothing is sent when no node is connected")

    def pull_messages(self, ids: list[str]) -> list[Any]:
        return []


def _signed(job_id: str = "job-net-1") -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=job_id, project="p", grant_id="g", kind="cohort_count",
                   parameters={"definition": "essential_hypertension", "cohort_id": 1},
                   targets=["north", "south"], expires_at=now + dt.timedelta(hours=1),
                   issued_at=now)  # fmt: skip
    return sign_job(spec, Ed25519PrivateKey.generate(), "k").to_json()


def _serve_in_thread(spool_dir: Path, run_id: int, idle: float = 0.0) -> threading.Thread:
    grid: Any = EmptyGrid()
    thread = threading.Thread(target=serve, args=(grid, spool_dir),
                              kwargs={"run_id": run_id, "idle_limit": idle}, daemon=True)  # fmt: skip
    thread.start()
    return thread


def test_job_key_is_the_job_id_or_its_hash_when_not_a_plain_name() -> None:
    assert job_key("c0ffee-12_ab") == "c0ffee-12_ab"
    odd = job_key("../../etc/passwd")
    assert "/" not in odd and len(odd) == 64 and odd != job_key("../../etc/passwd2")


def test_serve_answers_a_spooled_job_then_stops_on_the_stop_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool").make()
    write_json(spool.inbox("job-a"), {"signed": _signed("job-a"), "min_nodes": 1,
                                      "timeout": 1.0, "wait_nodes": 0.2})  # fmt: skip
    thread = _serve_in_thread(spool.root, run_id=41)
    deadline = time.monotonic() + 20
    while not spool.outbox("job-a").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    doc = json.loads(spool.outbox("job-a").read_text(encoding="utf-8"))
    assert doc["job_id"] == "job-a" and doc["status"] == "failed"
    assert {r["node"]: r["status"] for r in doc["nodes"]} == {"north": "failed", "south": "failed"}
    assert not spool.inbox("job-a").exists() and not spool.claimed("job-a").exists()
    age = spool.beat_age(41)
    assert age is not None and age < 5 and spool.beat_age(42) is None
    spool.stop.touch()
    thread.join(10)
    assert not thread.is_alive()


def test_serve_ends_itself_after_the_idle_limit(tmp_path: Path) -> None:
    thread = _serve_in_thread(tmp_path / "spool", run_id=1, idle=0.3)
    thread.join(10)
    assert not thread.is_alive()


def test_a_request_that_is_not_a_job_gets_a_failed_result(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool").make()
    write_json(spool.inbox("junk"), {"not": "a job"})
    thread = _serve_in_thread(spool.root, run_id=5)
    deadline = time.monotonic() + 20
    while not spool.outbox("junk").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    spool.stop.touch()
    thread.join(10)
    doc = json.loads(spool.outbox("junk").read_text(encoding="utf-8"))
    assert doc["status"] == "failed" and "not a MedHaven job request" in doc["reason"]


def test_dispatcher_hands_the_job_to_a_live_session_and_returns_its_result(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool").make()
    write_json(spool.session, {"run_id": 9, "started": time.time()})
    thread = _serve_in_thread(spool.root, run_id=9)
    try:
        dispatcher = NetworkDispatcher("127.0.0.1:1", spool.root, timeout=1.0, wait_nodes=0.2)
        doc = dispatcher(_signed("job-b"), min_nodes=1)
    finally:
        spool.stop.touch()
        thread.join(10)
    assert doc["job_id"] == "job-b" and doc["run_id"] == 9
    assert doc["status"] == "failed" and len(doc["nodes"]) == 2
    assert not spool.outbox("job-b").exists()  # taken by the dispatcher


def test_a_result_already_in_the_outbox_is_returned_without_running_again(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool").make()
    write_json(spool.session, {"run_id": 3, "started": time.time()})
    spool.beat(3)  # a live session (that would run anything put in its inbox)
    write_json(spool.outbox("job-c"), {"job_id": "job-c", "status": "completed", "nodes": []})
    dispatcher = NetworkDispatcher("127.0.0.1:1", spool.root)
    doc = dispatcher(_signed("job-c"), min_nodes=1)
    assert doc["status"] == "completed" and doc["run_id"] == 3
    assert not spool.inbox("job-c").exists()


def test_dispatcher_refuses_a_min_nodes_below_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="min_nodes"):
        NetworkDispatcher("127.0.0.1:1", tmp_path)(_signed(), min_nodes=0)


def _signed_train(parameters: dict[str, Any]) -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id="job-train-1", project="p", grant_id="g", kind="train",
                   parameters=parameters, targets=["north", "south"],
                   expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
    return sign_job(spec, Ed25519PrivateKey.generate(), "k").to_json()


def test_the_hub_waits_for_every_round_a_train_job_may_run(tmp_path: Path) -> None:
    dispatcher = NetworkDispatcher("127.0.0.1:1", tmp_path, timeout=10.0, wait_nodes=5.0)
    start = dispatcher.session.start_wait
    # one reply: the timeout twice (as before), the nodes' wait and a session's start
    assert dispatcher.limit(_signed()) == 5.0 + 2 * 10.0 + start
    # train: setup, up to `rounds` rounds, the evaluation, and one timeout more
    assert dispatcher.limit(_signed_train({"rounds": 3})) == 5.0 + (2 + 3 + 1) * 10.0 + start
    # the train job's default of 25 rounds when the job does not say
    assert dispatcher.limit(_signed_train({})) == 5.0 + (2 + 25 + 1) * 10.0 + start
    # secure aggregation: four round trips per round
    secure = _signed_train({"rounds": 3, "secure_aggregation": True})
    assert dispatcher.limit(secure) == 5.0 + (2 + 12 + 1) * 10.0 + start
