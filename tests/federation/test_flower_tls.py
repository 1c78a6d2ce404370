"""The Flower transport with TLS and SuperNode authentication, as real processes on loopback.

A SuperLink serving TLS with a certificate from ``medhaven federation certs``
and SuperNode authentication on; two hospitals whose node keys are
registered and whose ``node.toml`` names the CA and key in ``[transport]``.
Also: a node whose key is not registered is refused, a node that trusts
another CA cannot take part, and a grant revoked at a node after the job was
signed refuses the job there (and the refusal is in the node's audit log).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.federation.processes import (
    Service,
    register_supernode,
    start_superlink,
    start_supernode,
    submit,
)
from medhaven.federation.tls import TlsFiles, generate_certs, generate_node_key
from medhaven.synth.writer import CDM_FILE, write_hospitals

pytestmark = pytest.mark.slow

# Flower's exit code for a SuperNode the SuperLink does not know (flwr 1.42: logged, status 1)
UNREGISTERED_EXIT = 305


@dataclass
class Network:
    work: Path
    tls: TlsFiles
    superlink: Service
    nodes: dict[str, Service]
    configs: dict[str, Path]
    hub_public: Path
    key: Ed25519PrivateKey
    extra: list[Service]

    def sign(self, **changes: Any) -> str:
        now = dt.datetime.now(dt.UTC)
        base: dict[str, Any] = {
            "job_id": f"job-{uuid.uuid4().hex[:12]}",
            "project": "proj-tls",
            "grant_id": "grant-tls",
            "kind": "cohort_count",
            "parameters": {"definition": "essential_hypertension", "cohort_id": 3},
            "targets": sorted(self.configs),
            "expires_at": now + dt.timedelta(hours=1),
            "issued_at": now,
        }
        base.update(changes)
        return sign_job(JobSpec.model_validate(base), self.key, "hub-test").to_json()


def _node_toml(path: Path, name: str, db: Path, public: Path, transport: str) -> Path:
    path.write_text(
        f'name = "{name}"\ncdm = "{db}"\naccepted_kinds = ["cohort_count", "characterize"]\n'
        f'hub_public_key = "{public}"\nrevoked_grants = "revoked.txt"\n{transport}',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    work = tmp_path_factory.mktemp("flower-tls")
    write_hospitals(work / "hospitals", hospitals=2, persons=200, seed=7)
    private, public = generate_hub_keypair(work / "hub-key")
    tls = generate_certs(work / "certs", ["localhost", "127.0.0.1"])
    services: list[Service] = []
    nodes: dict[str, Service] = {}
    configs: dict[str, Path] = {}
    extra: list[Service] = []
    try:
        link = start_superlink(work / "run", tls=tls, supernode_auth=True)
        services.append(link)
        for db in sorted((work / "hospitals").glob(f"*/{CDM_FILE}")):
            name = db.parent.name
            _key, pub = generate_node_key(db.parent / "keys", name)
            register_supernode(pub, superlink=link.address, name=name, root_ca=tls.ca_cert,
                               work=work)  # fmt: skip
            transport = f'[transport]\nsuperlink_ca = "{tls.ca_cert}"\nauth_key = "keys/{name}"\n'
            configs[name] = _node_toml(db.parent / "node.toml", name, db, public, transport)
            # no root_ca / auth_key arguments: they come from node.toml's [transport]
            nodes[name] = start_supernode(configs[name], superlink=link.address, work=work / "run")
            services.append(nodes[name])
        assert len(configs) == 2
        yield Network(work, tls, link, nodes, configs, public, load_private_key(private), extra)
    finally:
        for svc in reversed(services + extra):
            svc.stop()


def test_tls_and_auth_network_runs_a_federated_count(network: Network) -> None:
    doc = submit(network.sign(), superlink=network.superlink.address, min_nodes=2,
                 timeout=60, wait_nodes=60, root_ca=network.tls.ca_cert)  # fmt: skip
    assert doc["status"] == "completed", doc
    direct_job = network.sign()
    direct = [handle_job(direct_job, NodeConfig.load(p)) for p in network.configs.values()]
    expected = sum(r["result"]["persons"]["value"] for r in direct)
    assert doc["combined"]["persons"]["value"] == expected > 0
    assert {r["node"]: r["status"] for r in doc["nodes"]} == dict.fromkeys(network.configs, "ok")
    # the SuperLink really serves TLS: plain HTTP to it gets no Flower answer
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{network.superlink.address}/health", timeout=2.0).raise_for_status()


def test_characterization_is_combined_by_the_serverapp(network: Network) -> None:
    params = {"scope": "dataset", "top": 5}
    doc = submit(network.sign(kind="characterize", parameters=params),
                 superlink=network.superlink.address, min_nodes=2, timeout=90, wait_nodes=60,
                 root_ca=network.tls.ca_cert)  # fmt: skip
    assert doc["status"] == "completed", doc
    combined = doc["combined"]
    assert combined["kind"] == "characterize"
    nodes = {r["node"]: r["result"] for r in doc["nodes"]}  # each node's result is kept
    assert set(nodes) == set(network.configs)
    persons = next(s for s in combined["sections"] if s["name"] == "persons")
    shown = [next(s for s in r["sections"] if s["name"] == "persons")["value"]
             for r in nodes.values()]  # fmt: skip
    assert persons["value"] == sum(shown) == 400  # two generated hospitals of 200
    assert persons["lower_bound"] is False


def test_submit_without_the_ca_cannot_reach_a_tls_superlink(network: Network) -> None:
    from medhaven.errors import TransportError

    with pytest.raises(TransportError):
        submit(network.sign(), superlink=network.superlink.address, min_nodes=1,
               timeout=10, wait_nodes=5)  # fmt: skip


def test_unregistered_node_is_refused_and_exits_with_flowers_code(network: Network) -> None:
    hospital = next(iter(network.configs.values())).parent
    keys = network.work / "stranger-keys"
    key, _pub = generate_node_key(keys, "stranger")  # never registered
    toml = _node_toml(network.work / "stranger.toml", "stranger", hospital / CDM_FILE,
                      network.hub_public, "")  # fmt: skip
    svc = start_supernode(toml, superlink=network.superlink.address, work=network.work / "run",
                          root_ca=network.tls.ca_cert, auth_key=key)  # fmt: skip
    network.extra.append(svc)
    deadline = time.monotonic() + 90
    while svc.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not svc.alive(), svc.log_tail()
    assert svc.proc.returncode != 0
    assert svc.flower_exit_code() == UNREGISTERED_EXIT, svc.log_tail()


def test_node_trusting_another_ca_cannot_take_part(network: Network) -> None:
    other = generate_certs(network.work / "other-certs")
    hospital = next(iter(network.configs.values())).parent
    key, pub = generate_node_key(network.work / "wrongca-keys", "wrongca")
    register_supernode(pub, superlink=network.superlink.address, name="wrongca",
                       root_ca=network.tls.ca_cert, work=network.work)  # fmt: skip
    toml = _node_toml(network.work / "wrongca.toml", "wrongca", hospital / CDM_FILE,
                      network.hub_public, "")  # fmt: skip
    svc = start_supernode(toml, superlink=network.superlink.address, work=network.work / "run",
                          root_ca=other.ca_cert, auth_key=key)  # fmt: skip
    network.extra.append(svc)
    targets = [*sorted(network.configs), "wrongca"]
    doc = submit(network.sign(targets=targets), superlink=network.superlink.address,
                 min_nodes=2, timeout=30, wait_nodes=20, root_ca=network.tls.ca_cert)  # fmt: skip
    status = {r["node"]: r["status"] for r in doc["nodes"]}
    assert status["wrongca"] == "failed", doc
    assert "did not connect" in next(r for r in doc["nodes"] if r["node"] == "wrongca")["reason"]
    assert all(status[n] == "ok" for n in network.configs), doc
    assert doc["status"] == "partial"
    # it never ran the job: its audit log has no entry
    assert NodeAuditLog(NodeConfig.load(toml).audit_path).entries() == []


def test_grant_revoked_after_signing_is_refused_at_the_node_and_audited(network: Network) -> None:
    victim, other = sorted(network.configs)
    grant = f"grant-{uuid.uuid4().hex[:8]}"
    signed = network.sign(grant_id=grant)  # signed while the grant is valid
    job_id = json.loads(signed)["spec"]["job_id"]
    cfg = NodeConfig.load(network.configs[victim])
    assert cfg.revoked_grants is not None
    with cfg.revoked_grants.open("a", encoding="utf-8") as fh:
        fh.write(f"# revoked by the data custodian\n{grant}\n")
    doc = submit(signed, superlink=network.superlink.address, min_nodes=1,
                 timeout=60, wait_nodes=60, root_ca=network.tls.ca_cert)  # fmt: skip
    by_node = {r["node"]: r for r in doc["nodes"]}
    assert by_node[victim]["status"] == "refused", doc
    assert by_node[victim]["reason"] == "the grant has been revoked"
    assert by_node[victim]["result"] is None
    assert by_node[other]["status"] == "ok"
    assert doc["status"] == "partial"
    assert doc["combined"]["persons"]["lower_bound"] is True
    entries = NodeAuditLog(cfg.audit_path).entries()
    mine = [e for e in entries if e.get("job_id") == job_id]
    assert [(e["outcome"], e["reason"], e["grant_id"]) for e in mine] == [
        ("refused", "the grant has been revoked", grant)
    ]
    assert NodeAuditLog(cfg.audit_path).verify().intact
