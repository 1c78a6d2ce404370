"""The ServerApp's rounds: find the target nodes, send them the job, collect, combine.

Flower's stock ``Grid.send_and_receive`` sleeps 3 s between pulls; here
every exchange is a push followed by pulls every ``POLL`` seconds, so a
question costs what the nodes take, not a multiple of 3 s.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from medhaven.errors import MedHavenError
from medhaven.federation.combine import combine
from medhaven.federation.jobs import SignedJob

log = logging.getLogger("medhaven.federation.flower_app")

POLL = 0.1
HELLO = "query.hello"
JOB = "query.job"


def _message(node_id: int, message_type: str, content: RecordDict, ttl: float) -> Message:
    return Message(content=content, dst_node_id=node_id, message_type=message_type,
                   ttl=max(ttl, 1.0))  # fmt: skip


def _push(grid: Grid, messages: list[Message]) -> dict[str, int]:
    """Push; the message ids that went out, mapped to their destination node ids."""
    if not messages:
        return {}
    ids = list(grid.push_messages(messages))
    return {mid: m.metadata.dst_node_id for mid, m in zip(ids, messages, strict=True) if mid}


def _pull(grid: Grid, pending: dict[str, int]) -> dict[int, Message]:
    """Pull what has arrived for ``pending`` (removing it from ``pending``), by node id."""
    if not pending:
        return {}
    out: dict[int, Message] = {}
    for rep in grid.pull_messages(list(pending)):
        node_id = pending.pop(rep.metadata.reply_to_message_id, None)
        if node_id is not None:
            out[node_id] = rep
    return out


def gather(
    grid: Grid,
    signed_json: str,
    targets: list[str],
    *,
    wait: float,
    timeout: float,
    known: dict[int, str] | None = None,
) -> tuple[dict[str, int], dict[str, Message]]:
    """Find the target nodes, send each the job as soon as it is known, collect the replies.

    A connected node in ``known`` (``{node id: name}`` from earlier runs) is
    not asked its name; every other connected node is asked once
    (``query.hello``) for up to ``wait`` seconds. Each target gets the job
    the moment it is named and has ``timeout`` seconds from then to reply,
    so a missing node never delays the others. Returns ``({name: node id},
    {name: reply})`` for the targets named and those that replied.

    A SuperNode restarted mid-job comes back under a new Flower node id:
    while a target has not replied, every node that appears is asked its
    name, and a target whose node id left (or that answers hello from a new
    id) gets the same signed job again at its new id, with ``timeout``
    seconds from then. The node answers a job id it already answered from
    its record, so nothing runs twice and nothing is lost.
    """
    start = time.monotonic()
    wait_until = start + wait
    content = RecordDict({"job": ConfigRecord({"signed": signed_json})})
    named: dict[str, int] = {}
    connected = set(grid.get_node_ids())
    for nid, name in (known or {}).items():
        if nid in connected and name in targets and name not in named:
            named[name] = nid
    asked: set[int] = set(named.values())
    hellos: dict[str, int] = {}
    jobs: dict[str, int] = {}  # message id: node id
    sent: dict[str, int] = {}  # target name: the node id it was last sent to
    due: dict[str, float] = {}  # target name: when its reply is late
    got: dict[str, Message] = {}

    def send_job() -> None:
        fresh = [n for n in named if n not in got and sent.get(n) != named[n]]
        for n in fresh:
            if n in sent:  # a restarted node: forget the message to its old id
                for mid in [m for m, nid in jobs.items() if nid == sent[n]]:
                    del jobs[mid]
                log.warning("node %s is back under a new node id: the job is sent again", n)
        jobs.update(_push(grid, [_message(named[n], JOB, content, timeout) for n in fresh]))
        for n in fresh:
            sent[n] = named[n]
            due[n] = time.monotonic() + timeout

    def hello(name: str, node_id: int) -> None:
        if name not in targets or name in got:
            return
        if name in named and named[name] != node_id and sent.get(name) != named[name]:
            log.warning("two connected nodes call themselves %s; the first is used", name)
            return
        named[name] = node_id  # new, or the same node restarted under a new id

    send_job()
    look_again = 0.0
    while True:
        now = time.monotonic()
        open_targets = [t for t in targets if t not in got]
        if (
            open_targets
            and now >= look_again
            and (now < wait_until or any(t in due for t in open_targets))
        ):
            # naming: look every poll; all named: look for restarted nodes twice a second
            look_again = now + (0.0 if any(t not in named for t in open_targets) else 0.5)
            connected = set(grid.get_node_ids())
            for t in open_targets:
                if t in named and named[t] not in connected:
                    log.warning("node %s left before replying; waiting for it to return", t)
                    del named[t]
            fresh_ids = [nid for nid in connected if nid not in asked]
            asked.update(fresh_ids)
            hello_ttl = max([wait_until, *due.values()]) - now
            hellos.update(
                _push(grid, [_message(i, HELLO, RecordDict(), hello_ttl) for i in fresh_ids])
            )
            for node_id, rep in _pull(grid, hellos).items():
                if rep.has_error() or "hello" not in rep.content:
                    log.warning("node id %s: no name in its hello reply", node_id)
                    continue
                hello(str(rep.content["hello"]["node"]), node_id)
            send_job()
        by_id = {nid: name for name, nid in sent.items()}
        for node_id, rep in _pull(grid, jobs).items():
            if node_id in by_id:
                got[by_id[node_id]] = rep
        now = time.monotonic()
        if all(t in got or (t in due and now >= due[t]) or (t not in due and now >= wait_until)
               for t in targets):  # fmt: skip
            return {**sent, **named}, got
        time.sleep(POLL)


def _node_reply(name: str, job_id: str, rep: Message) -> dict[str, Any]:
    if rep.has_error():
        return {"node": name, "job_id": job_id, "status": "failed", "result": None,
                "reason": f"the node's ClientApp failed (Flower error code {rep.error.code})"}  # fmt: skip
    try:
        reply = json.loads(str(rep.content["reply"]["json"]))
    except (KeyError, ValueError):
        reply = None
    if not isinstance(reply, dict) or reply.get("node") != name:
        return {"node": name, "job_id": job_id, "status": "failed", "result": None,
                "reason": "the node's reply is not a MedHaven reply"}  # fmt: skip
    return reply


def _answered_as(rep: Message, name: str) -> bool:
    try:
        return bool(json.loads(str(rep.content["reply"]["json"])).get("node") == name)
    except (KeyError, ValueError, AttributeError):
        return False


def _missing(name: str, job_id: str, status: str, reason: str) -> dict[str, Any]:
    return {"node": name, "job_id": job_id, "status": status, "reason": reason, "result": None}


def run_job(
    grid: Grid,
    signed_json: str,
    *,
    min_nodes: int,
    wait: float,
    timeout: float,
    known: dict[int, str] | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Dispatch one signed job to its target nodes and return the result document.

    ``status`` is ``completed`` (every target answered ``ok``), ``partial``
    (at least ``min_nodes`` did; the others are listed as ``failed``,
    ``timed_out``, ``refused``, ``error`` or ``held``) or ``failed``.
    ``known`` (node id to name, from earlier runs) saves the hello round; it
    is updated in place: nodes that answered under their name are kept, the
    others dropped, so a wrong entry costs one run at most, never a wrong result.
    ``only``: ask just these targets (the hub collecting results its nodes held).
    """
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    try:
        spec = SignedJob.from_json(signed_json).spec
    except MedHavenError as exc:
        return {"job_id": None, "kind": None, "status": "failed", "reason": exc.message,
                "partial": True, "nodes": [], "combined": None, "min_nodes": min_nodes,
                "started_at": started.isoformat(), "seconds": round(time.monotonic() - t0, 3)}  # fmt: skip
    targets = list(dict.fromkeys(spec.targets))
    if only is not None and spec.kind != "train":
        targets = [t for t in targets if t in only]
    if spec.kind == "train":  # a whole training: rounds of query.train messages
        from medhaven.federation.flower_app.training import run_train_job

        return run_train_job(grid, signed_json, targets, min_nodes=min_nodes, wait=wait,
                             timeout=timeout, known=known)  # fmt: skip
    nodes, got = gather(grid, signed_json, targets, wait=wait, timeout=timeout, known=known)
    replies: list[dict[str, Any]] = []
    for name in targets:
        if name not in nodes:
            why = f"node {name} did not connect or answer within {wait:g} s"
            replies.append(_missing(name, spec.job_id, "failed", why))
        elif name not in got:
            why = f"node {name} did not reply within {timeout:g} s"
            replies.append(_missing(name, spec.job_id, "timed_out", why))
        else:
            replies.append(_node_reply(name, spec.job_id, got[name]))
    if known is not None:
        for name, nid in nodes.items():
            known.pop(nid, None)
            if name in got and not got[name].has_error() and _answered_as(got[name], name):
                known[nid] = name
    ok = sum(1 for r in replies if r.get("status") == "ok")
    status = "completed" if ok == len(targets) else "partial" if ok >= min_nodes else "failed"
    combined = combine(spec.kind, replies)
    return {"job_id": spec.job_id, "kind": spec.kind, "status": status,
            "reason": None if status != "failed" else f"{ok} of {len(targets)} nodes answered ok; "
            f"at least {min_nodes} needed", "partial": status != "completed",
            "min_nodes": min_nodes, "nodes": replies, "combined": combined,
            "started_at": started.isoformat(), "seconds": round(time.monotonic() - t0, 3)}  # fmt: skip


__all__ = ["gather", "run_job"]
