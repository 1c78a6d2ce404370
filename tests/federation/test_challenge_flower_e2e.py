"""A challenge submission scored over real Flower processes (a SuperLink and one SuperNode on a
generated hospital): the ServerApp's reply equals the node's own answer, and holds no label."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.federation.processes import Service, start_superlink, start_supernode, submit
from medhaven.synth.writer import CDM_FILE, write_hospitals

pytestmark = pytest.mark.slow

PARAMS = {"task": {"name": "ckd", "target_cohort": "essential_hypertension",
                   "outcome_cohort": "chronic_kidney_disease",
                   "features": {"windows": [365], "counts": False,
                                "measurement_values": False}},
          "split": {"seed": 99, "test_fraction": 0.5, "public_fraction": 0.5},
          "score_digits": 3, "model": {"kind": "logistic_l2"}}  # fmt: skip


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("challenge-flower")
    write_hospitals(work / "h", hospitals=1, persons=1500, seed=5)
    private, public = generate_hub_keypair(work / "hub-key")
    db = next((work / "h").glob(f"*/{CDM_FILE}"))
    config = db.parent / "node.toml"
    config.write_text(f'name = "{db.parent.name}"\ncdm = "{db}"\naccepted_kinds = ["challenge"]\n'
                      f'hub_public_key = "{public}"\nmin_train_persons = 20\n',
                      encoding="utf-8")  # fmt: skip
    services: list[Service] = []
    try:
        link = start_superlink(work / "run")
        services.append(link)
        services.append(start_supernode(config, superlink=link.address, work=work / "run"))
        yield {"link": link, "config": config, "key": load_private_key(private),
               "name": db.parent.name, "cache": work / "nodes.json"}  # fmt: skip
    finally:
        for svc in reversed(services):
            svc.stop()


def _signed(net: dict[str, Any]) -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"ch-{uuid.uuid4().hex[:12]}", project="course-1", grant_id="g1",
                   kind="challenge", parameters=PARAMS, targets=[net["name"]],
                   expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
    return sign_job(spec, net["key"], "hub-test").to_json()


def test_a_submission_is_scored_over_flower(network: dict[str, Any]) -> None:
    doc = submit(_signed(network), superlink=network["link"].address, min_nodes=1, timeout=180,
                 wait_nodes=60, nodes_cache=network["cache"])  # fmt: skip
    assert doc["status"] == "completed", doc
    reply = doc["nodes"][0]
    direct = handle_job(_signed(network), NodeConfig.load(Path(network["config"])))
    assert direct["status"] == "ok" and reply["result"] == direct["result"]
    combined = doc["combined"]
    assert combined["kind"] == "challenge"
    assert combined["public"] == reply["result"]["public"]["auroc"]
    assert combined["private"] == reply["result"]["private"]["auroc"]
    assert set(reply["result"]["public"]) == {"auroc", "persons", "outcomes"}
    assert "label" not in json.dumps(doc) and "predictions" not in json.dumps(reply)
