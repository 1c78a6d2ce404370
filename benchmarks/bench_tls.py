"""What TLS and SuperNode authentication cost: the same federated count, secured against insecure.

Two networks on loopback, each a SuperLink and 3 SuperNodes as real
processes over the same generated hospitals: one insecure, one serving TLS
(certificate from ``generate_certs``) with SuperNode authentication (node
keys registered). MedHaven: the secured network; baseline: the insecure one,
measured in turns in the same run: cold start to the first result, then the
median of three warm counts through the network session (what the hub uses)
and through one ``flwr run`` per job (``medhaven federation submit``).
``python -m benchmarks --only tls``.
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
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.network import NetworkDispatcher
from medhaven.federation.processes import (
    Service,
    register_supernode,
    start_superlink,
    start_supernode,
    submit,
)
from medhaven.federation.tls import TlsFiles, generate_certs, generate_node_key
from medhaven.synth.writer import CDM_FILE, write_hospitals

NODES = 3


@dataclass
class Network:
    services: list[Service]
    address: str
    root_ca: Path | None
    cold: float = 0.0


def _start(work: Path, configs: list[Path], tls: TlsFiles | None) -> Network:
    t0 = time.perf_counter()
    link = start_superlink(work / "run", tls=tls, supernode_auth=tls is not None)
    services = [link]
    for path in configs:
        name = path.stem
        key = None
        if tls is not None:
            key, pub = generate_node_key(work / "keys", name)
            register_supernode(pub, superlink=link.address, name=name, root_ca=tls.ca_cert,
                               work=work)  # fmt: skip
        services.append(start_supernode(path, superlink=link.address, work=work / "run",
                                        root_ca=tls.ca_cert if tls else None, auth_key=key))  # fmt: skip
    net = Network(services, link.address, tls.ca_cert if tls else None)
    net.cold = -t0  # completed by the first result
    return net


def run(scale: float) -> list[Result]:
    """Secured against insecure: cold start, warm count (session and per-run)."""
    persons = max(200, int(500 * scale))
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        work = Path(tmp)
        write_hospitals(work / "h", hospitals=NODES, persons=persons, seed=11)
        private, public = generate_hub_keypair(work / "key")
        key = load_private_key(private)
        configs = []
        for db in sorted((work / "h").glob(f"*/{CDM_FILE}")):
            path = work / f"{db.parent.name}.toml"
            path.write_text(f'name = "{db.parent.name}"\ncdm = "{db}"\n'
                            'accepted_kinds = ["cohort_count"]\n'
                            f'hub_public_key = "{public}"\n', encoding="utf-8")  # fmt: skip
            configs.append(path)
        names = [p.stem for p in configs]

        def signed() -> str:
            now = dt.datetime.now(dt.UTC)
            spec = JobSpec(job_id=f"bench-{uuid.uuid4().hex[:12]}", project="bench",
                           grant_id="bench", kind="cohort_count",
                           parameters={"definition": "essential_hypertension"}, targets=names,
                           expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
            return sign_job(spec, key, "bench").to_json()

        nets: dict[str, Network] = {}
        per_run: dict[str, list[float]] = {"tls": [], "plain": []}
        in_session: dict[str, list[float]] = {"tls": [], "plain": []}
        try:
            for label, tls in (("plain", None), ("tls", generate_certs(work / "certs"))):
                nets[label] = net = _start(work / label, configs, tls)
                first = submit(signed(), superlink=net.address, min_nodes=NODES,
                               wait_nodes=120, nodes_cache=work / f"{label}-nodes.json",
                               root_ca=net.root_ca)  # fmt: skip
                net.cold += time.perf_counter()
                assert first["status"] == "completed", first
            sessions = {label: NetworkDispatcher(n.address, work / f"{label}-spool",
                                                 wait_nodes=120, root_ca=n.root_ca)
                        for label, n in nets.items()}  # fmt: skip
            for s in sessions.values():
                assert s(signed(), min_nodes=NODES)["status"] == "completed"
            for _ in range(3):  # in turns, so a busy moment of the host hits both
                for label, net in nets.items():
                    t = time.perf_counter()
                    doc = submit(signed(), superlink=net.address, min_nodes=NODES,
                                 nodes_cache=work / f"{label}-nodes.json", root_ca=net.root_ca)  # fmt: skip
                    per_run[label].append(time.perf_counter() - t)
                    assert doc["status"] == "completed", doc
                    t = time.perf_counter()
                    doc = sessions[label](signed(), min_nodes=NODES)
                    in_session[label].append(time.perf_counter() - t)
                    assert doc["status"] == "completed", doc
            for s in sessions.values():
                s.session.stop()
        finally:
            for net in nets.values():
                for svc in reversed(net.services):
                    svc.stop()
    med = statistics.median
    note = f"{NODES} nodes, {persons} persons/node, loopback"
    return [
        Result(
            "federation TLS+auth: warm count via the network session (median of 3)",
            med(in_session["tls"]),
            "s",
            "insecure network",
            med(in_session["plain"]),
            note=note,
        ),
        Result(
            "federation TLS+auth: warm count, one flwr run per job (median of 3)",
            med(per_run["tls"]),
            "s",
            "insecure network",
            med(per_run["plain"]),
            note=note,
        ),
        Result(
            "federation TLS+auth: cold start to first result",
            nets["tls"].cold,
            "s",
            "insecure network",
            nets["plain"].cold,
            note=f"{note}; TLS side includes registering the node keys",
        ),
    ]
