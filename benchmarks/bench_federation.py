"""Federated cohort count over 3 Flower SuperNodes on loopback against the same count run directly.

MedHaven: ``submit`` of a signed ``cohort_count`` job to a warm network (a
SuperLink and three SuperNodes as real processes, node names cached),
submit to result. Baseline: ``handle_job`` on each of the three nodes in
turn, in this process (same checks, same CDMs, no network). Goal (issue 6):
under 5 s wall for the federated count.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.result import Result
from medhaven.federation.combine import combine_counts
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.federation.processes import Service, start_superlink, start_supernode, submit
from medhaven.synth.writer import CDM_FILE, write_hospitals

KINDS = '["cohort_count", "characterize", "incidence"]'


def run(scale: float) -> list[Result]:
    """Median of three warm federated counts against the direct count on the same three CDMs."""
    persons = max(200, int(2000 * scale))
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp:
        work = Path(tmp)
        write_hospitals(work / "h", hospitals=3, persons=persons, seed=11)
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
            first = submit(signed(), superlink=link.address, min_nodes=3, wait_nodes=60,
                           nodes_cache=cache)  # fmt: skip
            cold = time.perf_counter() - t0
            assert first["status"] == "completed", first
            warm = []
            for _ in range(3):
                t = time.perf_counter()
                doc = submit(signed(), superlink=link.address, min_nodes=3, nodes_cache=cache)
                warm.append(time.perf_counter() - t)
                assert doc["combined"]["persons"] == first["combined"]["persons"]
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
    return [
        Result(
            "federation: cohort_count, 3 warm nodes (median of 3)",
            statistics.median(warm),
            "s",
            "direct handle_job x3",
            statistics.median(direct),
            goal="< 5 s",
            note=f"{persons} persons/node; server-side {doc['seconds']:.2f} s",
        ),
        Result(
            "federation: cold start to first result, 3 nodes",
            cold,
            "s",
            note="SuperLink + 3 SuperNodes + hello round + first count",
        ),
    ]
