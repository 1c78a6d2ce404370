"""The Flower transport end to end: a SuperLink and three SuperNodes as real processes on loopback.

Three generated hospitals, each a node with its own ``node.toml`` and
DuckDB CDM; jobs go through ``flwr run`` and MedHaven's ServerApp exactly as
in production, only without TLS. The tests share one network (module
fixture) and run in file order: the last one kills a node.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medhaven.errors import CATALOGUE
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.combine import combine_counts
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.federation.processes import Service, start_superlink, start_supernode, submit
from medhaven.synth.writer import CDM_FILE, write_hospitals

pytestmark = pytest.mark.slow

KINDS = '["cohort_count", "characterize", "incidence"]'


@dataclass
class Network:
    superlink: Service
    nodes: dict[str, Service]
    configs: dict[str, Path]
    key: Ed25519PrivateKey
    cache: Path

    def sign(self, **changes: Any) -> str:
        now = dt.datetime.now(dt.UTC)
        base: dict[str, Any] = {
            "job_id": f"job-{uuid.uuid4().hex[:12]}",
            "project": "proj-fl",
            "grant_id": "grant-fl",
            "kind": "cohort_count",
            "parameters": {"definition": "essential_hypertension", "cohort_id": 3},
            "targets": sorted(self.configs),
            "expires_at": now + dt.timedelta(hours=1),
            "issued_at": now,
        }
        base.update(changes)
        return sign_job(JobSpec.model_validate(base), self.key, "hub-test").to_json()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    work = tmp_path_factory.mktemp("flower")
    write_hospitals(work / "hospitals", hospitals=3, persons=200, seed=5)
    private, public = generate_hub_keypair(work / "hub-key")
    configs: dict[str, Path] = {}
    for db in sorted((work / "hospitals").glob(f"*/{CDM_FILE}")):
        name = db.parent.name
        path = db.parent / "node.toml"
        path.write_text(
            f'name = "{name}"\ncdm = "{db}"\naccepted_kinds = {KINDS}\n'
            f'hub_public_key = "{public}"\n',
            encoding="utf-8",
        )
        configs[name] = path
    assert len(configs) == 3
    services: list[Service] = []
    nodes: dict[str, Service] = {}
    try:
        link = start_superlink(work / "run")
        services.append(link)
        for name, path in configs.items():
            nodes[name] = start_supernode(path, superlink=link.address, work=work / "run")
            services.append(nodes[name])
        yield Network(link, nodes, configs, load_private_key(private), work / "nodes.json")
    finally:
        for svc in reversed(services):
            svc.stop()
        for svc in nodes.values():  # a node restarted by a test
            svc.stop()


def test_federated_count_equals_the_nodes_own_counts_combined(network: Network) -> None:
    doc = submit(network.sign(), superlink=network.superlink.address, min_nodes=3,
                 timeout=60, wait_nodes=60, nodes_cache=network.cache)  # fmt: skip
    assert doc["status"] == "completed", doc
    assert doc["partial"] is False
    # the same question asked of each node directly (a new job id: a resend would be recalled)
    direct_job = network.sign()
    direct = [handle_job(direct_job, NodeConfig.load(p)) for p in network.configs.values()]
    assert all(r["status"] == "ok" for r in direct)
    expected = combine_counts(direct)
    combined = doc["combined"]
    assert combined["complete"] is True and expected["complete"] is True
    assert combined["persons"] == expected["persons"]
    assert combined["records"] == expected["records"]
    assert combined["persons"]["value"] > 0
    by_node = {r["node"]: r["persons"] for r in combined["nodes"]}
    assert by_node == {r["node"]: r["persons"] for r in expected["nodes"]}
    assert set(by_node) == set(network.configs)


def test_a_warm_network_remembers_its_nodes_and_still_answers(network: Network) -> None:
    # the first test filled the cache (or, run alone, this run does it with a hello round)
    doc = submit(network.sign(), superlink=network.superlink.address, min_nodes=3,
                 timeout=60, wait_nodes=60, nodes_cache=network.cache)  # fmt: skip
    assert doc["status"] == "completed", doc
    cached = json.loads(network.cache.read_text(encoding="utf-8"))
    assert sorted(cached.values()) == sorted(network.configs)
    assert doc["combined"]["persons"]["value"] > 0


def test_tampered_job_is_refused_by_every_node_and_audited(network: Network) -> None:
    signed = json.loads(network.sign())
    signed["spec"]["parameters"]["cohort_id"] = 4  # altered after signing
    job_id = signed["spec"]["job_id"]
    job_file = network.superlink.log_path.parent / "tampered.json"
    job_file.write_text(json.dumps(signed), encoding="utf-8")
    env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "medhaven"), "federation", "submit", "--superlink",
         network.superlink.address, "--job", str(job_file), "--json", "--wait-nodes", "60", "--nodes-cache", str(network.cache)],
        capture_output=True, text=True, timeout=180, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == CATALOGUE["transport_error"].exit_code, done.stderr[-2000:]
    doc = json.loads(done.stdout)
    assert doc["status"] == "failed"
    assert {r["node"] for r in doc["nodes"]} == set(network.configs)
    for reply in doc["nodes"]:
        assert reply["status"] == "refused", reply
        assert "signature" in reply["reason"]
        assert reply["result"] is None
    for path in network.configs.values():
        entries = NodeAuditLog(NodeConfig.load(path).audit_path).entries()
        mine = [e for e in entries if e.get("job_id") == job_id]
        assert [e["outcome"] for e in mine] == ["refused"]


def test_killed_node_gives_a_partial_result_flagged_as_such(network: Network) -> None:
    victim = sorted(network.nodes)[-1]
    network.nodes[victim].stop(timeout=0.1)  # SIGTERM then SIGKILL of its process group
    assert not network.nodes[victim].alive()
    try:
        # no node cache: the live nodes say hello (a few seconds), the dead one never does
        doc = submit(network.sign(), superlink=network.superlink.address, min_nodes=2,
                     timeout=60, wait_nodes=25)  # fmt: skip
    finally:  # back up, so the other tests do not depend on running before this one
        network.nodes[victim] = start_supernode(
            network.configs[victim], superlink=network.superlink.address,
            work=network.superlink.log_path.parent,
        )  # fmt: skip
    assert doc["status"] == "partial", doc
    assert doc["partial"] is True
    status = {r["node"]: r["status"] for r in doc["nodes"]}
    assert status[victim] in ("failed", "timed_out")
    assert all(s == "ok" for n, s in status.items() if n != victim)
    combined = doc["combined"]
    assert combined["complete"] is False
    assert combined["persons"]["lower_bound"] is True
    assert combined["persons"]["display"].startswith(">= ")
    shown = sum(r["persons"] for r in combined["nodes"] if r["node"] != victim)
    assert combined["persons"]["value"] == shown
