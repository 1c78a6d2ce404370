"""A ``train`` job's rounds over Flower: one ``query.train`` message per node per round.

Each message carries the signed job (verified again by the node every
round), the stage name, a JSON ``meta`` text and the round's arrays as a
Flower ``ArrayRecord``; the reply carries the node's status, its ``meta``
and its arrays the same way. The round logic itself is
:func:`medhaven.prediction.node_training.drive_training`, the same code the
in-process simulation runs.

Limits: a node that does not answer a round within ``timeout`` seconds
leaves the training (the others go on while at least ``min_nodes`` are
left); a SuperNode restarted mid-training is not re-joined.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from medhaven.federation.flower_app.dispatch import HELLO, POLL, _message, _pull, _push
from medhaven.prediction.node_training import Arrays, Exchange, RoundReply, run_training

TRAIN = "query.train"


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
                    timeout: float) -> Exchange:  # fmt: skip
    """An exchange that sends each round to the named nodes and waits up to ``timeout`` s."""

    def exchange(
        stage: str, asks: dict[str, tuple[Arrays, dict[str, Any]]]
    ) -> dict[str, RoundReply]:
        out: dict[str, RoundReply] = {}
        messages = []
        for node, (arrays, meta) in asks.items():
            if node not in named:
                out[node] = RoundReply("failed", f"node {node} did not connect or answer hello")
                continue
            content = round_content(signed_json, stage, arrays, meta)
            messages.append(_message(named[node], TRAIN, content, timeout))
        pending = _push(grid, messages)
        by_id = {nid: name for name, nid in named.items()}
        until = time.monotonic() + timeout
        while pending and time.monotonic() < until:
            for nid, rep in _pull(grid, pending).items():
                out[by_id[nid]] = _parse_reply(rep)
            if pending:
                time.sleep(POLL / 5)
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
