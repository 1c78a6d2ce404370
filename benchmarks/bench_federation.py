"""Federated cohort count over Flower SuperNodes on loopback against the same count run directly.

MedHaven: a signed ``cohort_count`` job to a warm network (a SuperLink and
N SuperNodes as real processes), submit to result, for N = 3 and N = 10,
two ways: through the network session (one long-lived Flower run serving
jobs from a spool, :class:`~medhaven.federation.network.NetworkDispatcher`,
what the hub uses) and with one ``flwr run`` per job (``submit``, node names
cached; what ``medhaven federation submit`` does). The two are measured in
turns, in the same run. Baseline: ``handle_job`` on each node in turn, in
this process (same checks, same CDMs, no network). Goal (issue 6): under
5 s wall for the federated count over 3 warm nodes.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks.result import Result
from medhaven.federation.combine import combine_counts
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.network import NetworkDispatcher
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.federation.processes import Service, start_superlink, start_supernode, submit
from medhaven.synth.writer import CDM_FILE, write_hospitals

KINDS = '["cohort_count", "characterize", "incidence"]'


@dataclass
class Measured:
    warm: float  # one flwr run per job
    session: float  # the network session
    direct: float
    cold: float
    server: float
    session_server: float


def measure(nodes: int, persons: int) -> Measured:
    """Cold start, then the median of three warm federated counts and of three direct ones."""
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp:
        work = Path(tmp)
        write_hospitals(work / "h", hospitals=nodes, persons=persons, seed=11)
        private, public = generate_hub_keypair(work / "key")
        key = load_private_key(private)
        configs = []
        for db in sorted((work / "h").glob(f"*/{CDM_FILE}")):
            path = db.parent / "node.toml"
            path.write_text(f'name = "{db.parent.name}"\ncdm = "{db}"\n'
                            f'accepted_kinds = {KINDS}\nhub_public_key = "{public}"\n',
                            encoding="utf-8")  # fmt: skip
            configs.append(path)
        names = [p.parent.name for p in configs]

        def signed() -> str:
            now = dt.datetime.now(dt.UTC)
            spec = JobSpec(job_id=f"bench-{uuid.uuid4().hex[:12]}", project="bench",
                           grant_id="bench", kind="cohort_count",
                           parameters={"definition": "essential_hypertension", "cohort_id": 7},
                           targets=names, expires_at=now + dt.timedelta(hours=1),
                           issued_at=now)  # fmt: skip
            return sign_job(spec, key, "bench").to_json()

        services: list[Service] = []
        try:
            t0 = time.perf_counter()
            link = start_superlink(work / "run")
            services.append(link)
            services += [start_supernode(p, superlink=link.address, work=work / "run")
                         for p in configs]  # fmt: skip
            cache = work / "nodes.json"
            first = submit(signed(), superlink=link.address, min_nodes=nodes, wait_nodes=120,
                           nodes_cache=cache)  # fmt: skip
            cold = time.perf_counter() - t0
            assert first["status"] == "completed", first
            session = NetworkDispatcher(link.address, work / "spool", wait_nodes=120)
            assert session(signed(), min_nodes=nodes)["status"] == "completed"  # names the nodes
            warm, server, in_session, session_server = [], [], [], []
            for _ in range(3):  # in turns, so a busy moment of the host hits both paths
                t = time.perf_counter()
                doc = submit(signed(), superlink=link.address, min_nodes=nodes, nodes_cache=cache)
                warm.append(time.perf_counter() - t)
                server.append(float(doc["seconds"]))
                assert doc["combined"]["persons"] == first["combined"]["persons"]
                t = time.perf_counter()
                doc = session(signed(), min_nodes=nodes)
                in_session.append(time.perf_counter() - t)
                session_server.append(float(doc["seconds"]))
                assert doc["combined"]["persons"] == first["combined"]["persons"]
            session.session.stop()
        finally:
            for svc in services:
                svc.stop()
        direct = []
        for _ in range(3):
            job = signed()
            t = time.perf_counter()
            replies = [handle_job(job, NodeConfig.load(p)) for p in configs]
            direct.append(time.perf_counter() - t)
            assert combine_counts(replies)["persons"] == first["combined"]["persons"]
    return Measured(statistics.median(warm), statistics.median(in_session),
                    statistics.median(direct), cold, statistics.median(server),
                    statistics.median(session_server))  # fmt: skip


def run(scale: float) -> list[Result]:
    """3 and 10 warm nodes against the direct count; cold start to the first result."""
    persons = max(200, int(2000 * scale))
    out = []
    for nodes in (3, 10):
        m = measure(nodes, persons)
        out.append(Result(
            f"federation: cohort_count via the network session, {nodes} warm nodes (median of 3)",
            m.session, "s", f"direct handle_job x{nodes}", m.direct,
            goal="< 5 s" if nodes == 3 else "",
            note=f"{persons} persons/node; inside the ServerApp {m.session_server:.2f} s",
        ))  # fmt: skip
        out.append(Result(
            f"federation: network session vs one flwr run per job, {nodes} warm nodes",
            m.session, "s", "one flwr run per job", m.warm,
            note=f"per-run path inside the ServerApp {m.server:.2f} s",
        ))  # fmt: skip
        out.append(Result(f"federation: cold start to first result, {nodes} nodes", m.cold,
                          "s", note=f"SuperLink + {nodes} SuperNodes + hello round + first count"))  # fmt: skip
    return out
