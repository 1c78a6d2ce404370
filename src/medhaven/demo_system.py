"""The whole system on one machine: SuperLink, a SuperNode per hospital and the hub, as processes.

:class:`DemoSystem` starts a Flower SuperLink, one SuperNode per node
(``OUT/nodes/<node>/node.toml``) and the hub (``medhaven hub serve`` with
``MEDHAVEN_HUB_SUPERLINK`` set, plain HTTP on loopback) and a node console
per hospital (``medhaven node console``, on the ports after the hub's; their
URLs in :attr:`DemoSystem.consoles`), each in its own process group with its
log under ``OUT/run``, and waits until each is ready.
:meth:`DemoSystem.stop` ends every process group; a failed start stops what
was started and raises one line naming the log. ``OUT/run/services.json``
lists the running process groups (for an operator, and for the tests).

:func:`run_jobs` then works as the seeded researcher, over the hub's API
only: a federated cohort count and a federated characterization of every
dataset, each followed until it ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from medhaven.demo_data import DemoData, write_json
from medhaven.demo_hub import HubSeed
from medhaven.errors import MedHavenError, TransportError
from medhaven.federation.processes import (
    Service,
    child_env,
    free_port,
    start_superlink,
    start_supernode,
)
from medhaven.hub.client import HubClient

StepFn = Callable[[str], None]
SERVICES_FILE = "services.json"
#: What a SuperNode logs once the SuperLink has registered it (Flower 1.41-1.42).
REGISTERED = b"SuperNode ID:"
FINISHED = ("completed", "partial", "held", "failed", "refused")
#: The demo's federated questions, asked as the researcher.
COUNT_PARAMETERS: dict[str, Any] = {"definition": "acute_respiratory_infection"}
CHARACTERIZE_PARAMETERS: dict[str, Any] = {"scope": "dataset", "top": 5}


def _wait_registered(nodes: list[tuple[Service, int]], *, wait: float) -> None:
    """Wait until every SuperNode has joined the SuperLink (it logs its SuperNode ID then)."""
    deadline = time.monotonic() + wait
    waiting = list(nodes)
    while waiting:
        for svc, offset in list(waiting):
            if not svc.alive():
                raise TransportError(f"{svc.name} exited at start (log: {svc.log_path})")
            with contextlib.suppress(OSError), svc.log_path.open("rb") as fh:
                fh.seek(offset)
                if REGISTERED in fh.read():
                    waiting.remove((svc, offset))
        if waiting and time.monotonic() > deadline:
            svc = waiting[0][0]
            raise TransportError(
                f"{svc.name} did not join the SuperLink within {wait:g} s (log: {svc.log_path})"
            )
        time.sleep(0.2)


@dataclass
class DemoSystem:
    """The running processes of one demo, and where the hub answers."""

    data: DemoData
    port: int | None = None
    services: list[Service] = field(default_factory=list)
    url: str = ""
    #: Each node's console (``medhaven node console``): node name -> URL, once it answers.
    consoles: dict[str, str] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """Where the processes keep their homes and logs."""
        return self.data.out / "run"

    def _record(self) -> None:
        doc = {"services": [{"name": s.name, "pgid": s.proc.pid, "log": str(s.log_path),
                             "address": s.address} for s in self.services],
               "url": self.url, "consoles": self.consoles}  # fmt: skip
        write_json(self.run_dir / SERVICES_FILE, doc)

    def start(self, *, on_step: StepFn | None = None, wait: float = 90.0) -> None:
        """Start the SuperLink, the SuperNodes and the hub; wait until they are ready."""
        step = on_step or (lambda _what: None)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Flower node ids are new with every SuperLink: an old node-name cache would mislead it.
        (self.data.hub_dir / "flower-nodes.json").unlink(missing_ok=True)
        # ... and an old network session's spool belongs to a SuperLink that is gone.
        shutil.rmtree(self.data.hub_dir / "flower-session", ignore_errors=True)
        try:
            # The hub starts first (its imports and migration overlap the SuperLink's start);
            # it needs the SuperLink only when a job comes.
            link_port = free_port()
            step("starting the hub")
            hub = self._spawn_hub(f"127.0.0.1:{link_port}")
            step("starting the SuperLink")
            link = start_superlink(self.run_dir, port=link_port, wait=wait)
            self.services.append(link)
            self._record()
            nodes: list[tuple[Service, int]] = []
            for node in self.data.nodes:
                if not hub.alive():  # fail early: no need to start the rest
                    raise TransportError(f"the hub exited at start (log: {hub.log_path})")
                step(f"starting the SuperNode of {node}")
                log_path = self.run_dir / f"supernode-{node}" / "supernode.log"
                offset = log_path.stat().st_size if log_path.is_file() else 0  # logs append
                svc = start_supernode(self.data.node_config(node), superlink=link.address,
                                      work=self.run_dir)  # fmt: skip
                self.services.append(svc)
                nodes.append((svc, offset))
                self._record()
            step("starting a node console per hospital")
            consoles = self._spawn_consoles(int(hub.address.rsplit(":", 1)[1]))
            step("waiting for the SuperNodes to join the SuperLink")
            _wait_registered(nodes, wait=wait)
            step("waiting for the hub")
            self._wait_hub(hub, wait=wait)
            step("waiting for the node consoles")
            self._wait_consoles(consoles, wait=wait)
            self._record()
            for svc in self.services:
                if not svc.alive():
                    raise TransportError(f"{svc.name} exited at start (log: {svc.log_path})")
        except BaseException:
            self.stop()
            raise

    def _spawn_hub(self, superlink: str) -> Service:
        port = self.port or free_port()
        log_path = self.run_dir / "hub.log"
        env = {**child_env(self.run_dir / "hub-home"), "MEDHAVEN_HUB_SUPERLINK": superlink}
        cmd = [sys.executable, "-c", "from medhaven.cli.main import main; main()", "hub", "serve",
               "--data-dir", str(self.data.hub_dir.resolve()), "--host", "127.0.0.1",
               "--port", str(port), "--insecure-cookies"]  # fmt: skip
        log = open(log_path, "ab")  # noqa: SIM115 - closed by Service.stop
        proc = subprocess.Popen(  # noqa: S603 - this interpreter and fixed arguments
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
        svc = Service(name="hub", proc=proc, log_path=log_path, address=f"127.0.0.1:{port}",
                      _log=log)  # fmt: skip
        self.services.append(svc)
        return svc

    def _spawn_consoles(self, hub_port: int) -> dict[str, Service]:
        """``medhaven node console`` per node, on the ports after the hub's where free."""
        started: dict[str, Service] = {}
        for i, node in enumerate(self.data.nodes):
            port = hub_port + 1 + i
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    port = free_port()
            log_path = self.run_dir / f"console-{node}.log"
            cmd = [sys.executable, "-c", "from medhaven.cli.main import main; main()", "node",
                   "console", "--config", str(self.data.node_config(node).resolve()),
                   "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
            log = open(log_path, "ab")  # noqa: SIM115 - closed by Service.stop
            proc = subprocess.Popen(  # noqa: S603 - this interpreter and fixed arguments
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_env(self.run_dir / f"console-{node}-home"), start_new_session=True,
            )  # fmt: skip
            svc = Service(name=f"console {node}", proc=proc, log_path=log_path,
                          address=f"127.0.0.1:{port}", _log=log)  # fmt: skip
            self.services.append(svc)
            started[node] = svc
        self._record()
        return started

    def _wait_consoles(self, consoles: dict[str, Service], *, wait: float) -> None:
        deadline = time.monotonic() + wait
        for node, svc in consoles.items():
            url = f"http://{svc.address}"
            while url not in self.consoles.values():
                if not svc.alive():
                    raise TransportError(f"{svc.name} exited at start (log: {svc.log_path})")
                if time.monotonic() > deadline:
                    raise TransportError(
                        f"{svc.name} did not answer within {wait:g} s (log: {svc.log_path})"
                    )
                try:
                    if httpx.get(f"{url}/signin", timeout=2.0).status_code == 200:
                        self.consoles[node] = url
                        continue
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)

    def _wait_hub(self, svc: Service, *, wait: float) -> None:
        url = f"http://{svc.address}"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not svc.alive():
                raise TransportError(f"the hub exited at start (log: {svc.log_path})")
            try:
                if httpx.get(f"{url}/openapi.json", timeout=2.0).status_code == 200:
                    self.url = url
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TransportError(f"the hub did not answer within {wait:g} s (log: {svc.log_path})")

    def node_status(self) -> list[dict[str, str]]:
        """Each node's SuperNode and console: ``up`` while its process runs, else ``exited``."""
        out = []
        for node in self.data.nodes:
            svc = next((s for s in self.services if s.name == f"supernode {node}"), None)
            con = next((s for s in self.services if s.name == f"console {node}"), None)
            out.append({"name": node, "status": "up" if svc and svc.alive() else "exited",
                        "console": "up" if con and con.alive() else "exited",
                        "console_url": self.consoles.get(node, "")})  # fmt: skip
        return out

    def dead(self) -> list[Service]:
        """Services whose process has ended."""
        return [s for s in self.services if not s.alive()]

    def stop(self) -> None:
        """Stop every process group (the hub first, the SuperLink last)."""
        for svc in reversed(self.services):  # all at once: their shutdowns overlap
            with contextlib.suppress(OSError):
                os.killpg(svc.proc.pid, signal.SIGTERM)
        for svc in reversed(self.services):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                svc.stop()
        self.services.clear()
        (self.run_dir / SERVICES_FILE).unlink(missing_ok=True)


def _follow(client: HubClient, job: dict[str, Any], *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["status"] not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.5)
        job = client.job(job["id"])
    return job


def _released(result: dict[str, Any] | None) -> dict[str, Any]:
    """The hub's combination of a job, and for characterize each node's released result."""
    if result is None:
        return {"combined": None}
    doc = result.get("result") or {}
    if isinstance(doc.get("combined"), dict):  # characterize/incidence: combined + per node
        return {"combined": doc["combined"], "per_node": doc.get("nodes", {})}
    return {"combined": doc}


def run_jobs(
    url: str, seed: HubSeed, *, on_step: StepFn | None = None, timeout: float = 240.0
) -> list[dict[str, Any]]:
    """As the researcher, over the hub API: a federated count and characterization, followed."""
    step = on_step or (lambda _what: None)
    who = seed.login("researcher")
    done: list[dict[str, Any]] = []
    with HubClient(url, timeout=60.0) as client:
        client.login(who["email"], who["password"], name="demo")
        ids = sorted(seed.datasets.values())
        for kind, parameters in (("cohort_count", COUNT_PARAMETERS),
                                 ("characterize", CHARACTERIZE_PARAMETERS)):  # fmt: skip
            step(f"federated {kind} on {len(ids)} nodes (through the hub)")
            started = time.perf_counter()
            entry: dict[str, Any] = {"kind": kind, "parameters": parameters}
            try:
                job = client.submit_job(project_id=seed.project_id, kind=kind, dataset_ids=ids,
                                        parameters=parameters, min_nodes=len(ids))  # fmt: skip
                job = _follow(client, job, timeout=timeout)
                result = client.job_result(job["id"]) if job["status"] in ("completed",
                                                                           "partial") else None  # fmt: skip
                entry.update(id=job["id"], status=job["status"], reason=job.get("reason"),
                             nodes=job.get("node_status", {}), **_released(result))  # fmt: skip
            except MedHavenError as exc:
                entry.update(status="failed", reason=exc.message, nodes={}, combined=None)
            entry["seconds"] = round(time.perf_counter() - started, 2)
            done.append(entry)
    return done


def smoke_document(
    system: DemoSystem, jobs: list[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    """The one JSON object of ``medhaven demo --smoke --json``."""
    nodes = system.node_status()
    ok = (
        bool(nodes)
        and all(n["status"] == "up" and n["console"] == "up" for n in nodes)
        and len(jobs) == 2
        and all(j["status"] == "completed" for j in jobs)
    )
    return {"ok": ok, "nodes": nodes, "jobs": jobs, "url": system.url,
            "out": str(system.data.out), "reused": system.data.reused,
            "notes": system.data.notes, "seconds": round(seconds, 2)}  # fmt: skip


def read_services(out: Path) -> list[dict[str, Any]]:
    """The process groups a running demo under ``out`` lists (empty when none runs)."""
    path = out / "run" / SERVICES_FILE
    if not path.is_file():
        return []
    doc = json.loads(path.read_text(encoding="utf-8"))
    return list(doc.get("services", []))


__all__ = [
    "CHARACTERIZE_PARAMETERS",
    "COUNT_PARAMETERS",
    "DemoSystem",
    "read_services",
    "run_jobs",
    "smoke_document",
]
