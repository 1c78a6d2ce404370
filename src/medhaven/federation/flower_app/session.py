"""The ServerApp's session mode: serve jobs from a spool until told to stop or idle too long.

Jobs run one after another (a node runs one job at a time anyway: its
ClientApp holds the node's job lock), each through the same
:func:`.dispatch.run_job` as a one-job run. The node-id-to-name map stays in
memory between jobs, so a warm session sends each job to the known nodes
at once. A thread rewrites the heartbeat every second, also while a job
runs; the spool layout is in :mod:`medhaven.federation.network`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from flwr.serverapp import Grid

from medhaven.federation.flower_app.dispatch import run_job
from medhaven.federation.network import BEAT_EVERY, CLAIMED, INBOX, Spool, read_json, write_json

log = logging.getLogger("medhaven.federation.flower_app")

POLL = 0.02


def _heartbeat(spool: Spool, run_id: int, done: threading.Event) -> None:
    while not done.is_set():
        try:
            spool.beat(run_id)
        except OSError as exc:  # a full disk must not kill the session's jobs
            log.warning("session heartbeat not written: %s", exc)
        done.wait(BEAT_EVERY)


def _failed(reason: str) -> dict[str, Any]:
    return {"job_id": None, "kind": None, "status": "failed", "reason": reason, "partial": True,
            "nodes": [], "combined": None}  # fmt: skip


def _run(grid: Grid, request: dict[str, Any] | None, known: dict[int, str]) -> dict[str, Any]:
    if request is None or not isinstance(request.get("signed"), str):
        return _failed("the spool request is not a MedHaven job request")
    try:
        min_nodes = int(request.get("min_nodes", 1))
        wait = float(request.get("wait_nodes", 20.0))
        timeout = float(request.get("timeout", 60.0))
    except (TypeError, ValueError):
        return _failed("the spool request has a bad min_nodes, wait_nodes or timeout")
    only = request.get("only")
    if only is not None and not (isinstance(only, list) and all(isinstance(n, str) for n in only)):
        return _failed("the spool request has a bad only list")
    return run_job(grid, request["signed"], min_nodes=min_nodes, wait=wait, timeout=timeout,
                   known=known, only=only)  # fmt: skip


def serve(grid: Grid, spool_dir: Path, *, run_id: int, idle_limit: float) -> int:
    """Answer spool requests until ``stop`` appears or ``idle_limit`` s pass without one.

    Returns how many jobs it answered. ``idle_limit`` 0: no idle limit.
    """
    spool = Spool(spool_dir).make()
    known: dict[int, str] = {}
    done = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(spool, run_id, done), daemon=True)
    beat.start()
    answered = 0
    last = time.monotonic()
    try:
        while not spool.stop.exists():
            if idle_limit > 0 and time.monotonic() - last > idle_limit:
                log.info("session run %s: idle for %g s, ending", run_id, idle_limit)
                break
            waiting = sorted((spool.root / INBOX).glob("*.json"), key=_mtime)
            for path in waiting:
                claimed = spool.root / CLAIMED / path.name
                try:
                    os.rename(path, claimed)  # atomic: two sessions never take the same job
                except FileNotFoundError:
                    continue
                doc = _run(grid, read_json(claimed), known)
                write_json(spool.outbox(path.stem), doc)
                claimed.unlink(missing_ok=True)  # after the outbox: a reader sees one of them
                answered += 1
                last = time.monotonic()
                if spool.stop.exists():
                    break
            if not waiting:
                time.sleep(POLL)
    finally:
        done.set()
        beat.join(2 * BEAT_EVERY)
    return answered


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


__all__ = ["serve"]
