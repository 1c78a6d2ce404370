"""A ``train`` job's rounds over Flower: one ``query.train`` message per node per round.

Each message carries the signed job (verified again by the node every
round), the stage name, a JSON ``meta`` text and the round's arrays as a
Flower ``ArrayRecord``; the reply carries the node's status, its ``meta``
and its arrays the same way. The round logic itself is
:func:`medhaven.prediction.node_training.drive_training`, the same code the
in-process simulation runs.

Limits: a node that does not answer a round within ``timeout`` seconds
leaves the training (the others go on while at least ``min_nodes`` are
left). A SuperNode restarted mid-training rejoins: the round it missed is
sent again once at its new node id (:func:`flower_exchange`); a node that
stays away longer than ``timeout`` leaves the training.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from medhaven.federation.flower_app.dispatch import HELLO, POLL, _message, _pull, _push
from medhaven.prediction.node_training import Arrays, Exchange, RoundReply, run_training

TRAIN = "query.train"
#: How long a round keeps a Flower error reply open for its node to rejoin (seconds).
REJOIN_WAIT = 30.0
log = logging.getLogger("medhaven.federation.flower_app.training")


def to_record(arrays: Arrays) -> ArrayRecord:
    """Numpy arrays as a Flower ``ArrayRecord`` (contiguous copies)."""
    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in arrays.items()})


def from_record(record: Any) -> Arrays:
    """A Flower ``ArrayRecord`` back to numpy arrays."""
    return {str(k): np.asarray(v.numpy()) for k, v in record.items()}


def round_content(signed_json: str, stage: str, arrays: Arrays, meta: dict[str, Any]) -> RecordDict:
    """The message of one round to one node."""
    records: dict[str, Any] = {
        "job": ConfigRecord({"signed": signed_json, "stage": stage, "meta": json.dumps(meta)})
    }
    if arrays:
        records["arrays"] = to_record(arrays)
    return RecordDict(records)


def reply_content(reply: RoundReply) -> RecordDict:
    """A node's answer to one round."""
    doc = {"status": reply.status, "reason": reply.reason, "meta": reply.meta}
    records: dict[str, Any] = {"round": ConfigRecord({"json": json.dumps(doc)})}
    if reply.arrays:
        records["arrays"] = to_record(reply.arrays)
    return RecordDict(records)


def _parse_reply(rep: Message) -> RoundReply:
    if rep.has_error():
        return RoundReply(
            "failed", f"the node's ClientApp failed (Flower error code {rep.error.code})"
        )
    try:
        doc = json.loads(str(rep.content["round"]["json"]))
        arrays = from_record(rep.content["arrays"]) if "arrays" in rep.content else {}
        return RoundReply(
            str(doc["status"]), doc.get("reason"), arrays, dict(doc.get("meta") or {})
        )
    except (KeyError, ValueError, TypeError):
        return RoundReply("failed", "the node's reply is not a MedHaven round reply")


def name_nodes(grid: Grid, targets: list[str], *, wait: float,
               known: dict[int, str] | None = None) -> dict[str, int]:  # fmt: skip
    """``{name: node id}`` for the targets that answer ``query.hello`` within ``wait`` seconds."""
    named: dict[str, int] = {}
    connected = set(grid.get_node_ids())
    for nid, name in (known or {}).items():
        if nid in connected and name in targets:
            named.setdefault(name, nid)
    asked = set(named.values())
    pending: dict[str, int] = {}
    until = time.monotonic() + wait
    while any(t not in named for t in targets) and time.monotonic() < until:
        fresh = [nid for nid in grid.get_node_ids() if nid not in asked]
        asked.update(fresh)
        ttl = until - time.monotonic()
        pending.update(_push(grid, [_message(i, HELLO, RecordDict(), ttl) for i in fresh]))
        for nid, rep in _pull(grid, pending).items():
            if not rep.has_error() and "hello" in rep.content:
                name = str(rep.content["hello"]["node"])
                if name in targets:
                    named.setdefault(name, nid)
                    if known is not None:
                        known[nid] = name
        time.sleep(POLL)
    return named


def flower_exchange(grid: Grid, signed_json: str, named: dict[str, int], *,
                    timeout: float, rejoin_wait: float = REJOIN_WAIT) -> Exchange:  # fmt: skip
    """An exchange that sends each round to the named nodes and waits up to ``timeout`` s.

    A SuperNode restarted during the training comes back under a new Flower
    node id. While a round waits, every node id that appears is asked its
    name (``query.hello``); a target that answers from a new id gets the
    round it has not answered sent again, once, with ``timeout`` s from
    then, and the later rounds at its new id. A Flower error reply (a node
    that went away) is kept open for ``rejoin_wait`` s in case the node
    rejoins. Resending is safe: a node answers a repeated round as before
    (setup is cached per job, Newton and FedAvg rounds are deterministic, a
    DP round's reply is stored).
    """
    asked: set[int] = set(grid.get_node_ids())  # name_nodes asked these; a new id is asked
    hellos: dict[str, int] = {}

    def rejoined() -> dict[str, int]:
        """Named targets that answered hello from a node id other than theirs: {name: new id}."""
        fresh = [nid for nid in grid.get_node_ids() if nid not in asked]
        asked.update(fresh)
        hellos.update(_push(grid, [_message(i, HELLO, RecordDict(), timeout) for i in fresh]))
        back: dict[str, int] = {}
        for nid, rep in _pull(grid, hellos).items():
            if not rep.has_error() and "hello" in rep.content:
                name = str(rep.content["hello"]["node"])
                if name in named and named[name] != nid:
                    back[name] = nid
        return back

    def exchange(
        stage: str, asks: dict[str, tuple[Arrays, dict[str, Any]]]
    ) -> dict[str, RoundReply]:
        out: dict[str, RoundReply] = {}
        held: dict[str, tuple[RoundReply, float]] = {}  # an error reply, open for a rejoin
        resent: set[str] = set()
        pending: dict[str, int] = {}  # message id: node id
        waiting: dict[int, str] = {}  # node id: target name

        def send(node: str) -> None:
            arrays, meta = asks[node]
            content = round_content(signed_json, stage, arrays, meta)
            pending.update(_push(grid, [_message(named[node], TRAIN, content, timeout)]))
            waiting[named[node]] = node

        for node in asks:
            if node not in named:
                out[node] = RoundReply("failed", f"node {node} did not connect or answer hello")
            else:
                send(node)
        until = time.monotonic() + timeout
        look = 0.0
        while (pending or held) and time.monotonic() < until:
            for nid, rep in _pull(grid, pending).items():
                node = waiting.pop(nid, "")
                if not node:  # an answer from a node id left behind by a restart
                    continue
                reply = _parse_reply(rep)
                if rep.has_error() and node not in resent:
                    held[node] = (reply, time.monotonic() + rejoin_wait)
                else:
                    out[node] = reply
            now = time.monotonic()
            for node, (_reply, due) in list(held.items()):
                if now >= due:
                    out[node] = held.pop(node)[0]
            if now >= look:
                look = now + 0.5
                for node, nid in rejoined().items():
                    old, named[node] = named[node], nid
                    if node not in asks or node in out or node in resent:
                        continue
                    log.warning("node %s is back under a new node id: the %s round is sent "
                                "again", node, stage)  # fmt: skip
                    for mid in [m for m, i in pending.items() if i == old]:
                        del pending[mid]
                    waiting.pop(old, "")
                    held.pop(node, None)
                    resent.add(node)
                    send(node)
                    until = max(until, time.monotonic() + timeout)
            if pending or held:
                time.sleep(POLL / 5)
        for node, (reply, _due) in held.items():
            out.setdefault(node, reply)
        for node in asks:
            out.setdefault(node, RoundReply("timed_out", f"node {node} did not reply to the "
                                            f"{stage} round within {timeout:g} s"))  # fmt: skip
        return out

    return exchange


def run_train_job(grid: Grid, signed_json: str, targets: list[str], *, min_nodes: int,
                  wait: float, timeout: float,
                  known: dict[int, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Name the target nodes, then run the training's rounds over Flower."""
    named = name_nodes(grid, targets, wait=wait, known=known)
    exchange = flower_exchange(grid, signed_json, named, timeout=timeout)
    return run_training(signed_json, exchange, min_nodes=min_nodes, transport="flower")


__all__ = ["TRAIN", "flower_exchange", "from_record", "name_nodes", "reply_content",
           "round_content", "run_train_job", "to_record"]  # fmt: skip
