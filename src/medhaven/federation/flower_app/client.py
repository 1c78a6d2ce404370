"""The ClientApp at a hospital's SuperNode: names the node, and runs signed jobs through the node.

The SuperNode is started with ``--node-config 'config="/abs/node.toml"'``;
every message reloads that file, so a policy edit applies to the next job.
The job goes through :func:`medhaven.federation.node.handle_job`, the
node's trust boundary, unchanged: this module only carries JSON in and out.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from medhaven.federation.node import NodeConfig, handle_job

app = ClientApp()


def node_config(context: Context) -> NodeConfig:
    """The node's configuration named by the SuperNode's ``config`` node-config key."""
    return NodeConfig.load(Path(str(context.node_config["config"])))


@app.query("hello")
def hello(msg: Message, context: Context) -> Message:
    """Answer with this node's name, so the ServerApp can map Flower node ids to names."""
    config = node_config(context)
    return Message(content=RecordDict({"hello": ConfigRecord({"node": config.name})}), reply_to=msg)


@app.query("job")
def job(msg: Message, context: Context) -> Message:
    """Run one signed job (``content["job"]["signed"]``) and reply ``{"reply": {"json": ...}}``."""
    config = node_config(context)
    signed = msg.content["job"]["signed"]
    lock_path = config.base_dir / f".{config.name}.job.lock"
    # one job at a time per node: a DuckDB CDM allows one writer (cohort tables are written)
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            reply = handle_job(str(signed), config)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    text = json.dumps(reply, sort_keys=True, ensure_ascii=False)
    return Message(content=RecordDict({"reply": ConfigRecord({"json": text})}), reply_to=msg)


@app.query("train")
def train_round(msg: Message, context: Context) -> Message:
    """One round of a ``train`` job (:mod:`medhaven.prediction.node_training`)."""
    from medhaven.federation.flower_app.training import from_record, reply_content
    from medhaven.prediction.node_training import handle_round

    config = node_config(context)
    job_rec = msg.content["job"]
    arrays = from_record(msg.content["arrays"]) if "arrays" in msg.content else {}
    meta = json.loads(str(job_rec["meta"]))
    lock_path = config.base_dir / f".{config.name}.job.lock"
    with open(lock_path, "a+b") as lock:  # the setup round writes cohorts into the CDM
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            reply = handle_round(str(job_rec["signed"]), config, str(job_rec["stage"]), arrays,
                                 meta if isinstance(meta, dict) else {})  # fmt: skip
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return Message(content=reply_content(reply), reply_to=msg)


__all__ = ["app", "hello", "job", "node_config", "train_round"]
