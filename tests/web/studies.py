"""Helpers of the study tests: an active grant through the hub's services, and a ``train`` job
result made by the real node-training code in process (nodes, signed job, rounds, release)."""

from __future__ import annotations

import datetime as dt
import pickle
import uuid
from pathlib import Path
from typing import Any

from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig
from medhaven.hub.db import Database
from medhaven.hub.models import Job, User
from medhaven.hub.schemas import RequestCreate, ReviewCreate
from medhaven.hub.services import access, identity
from medhaven.hub.services.common import Principal
from medhaven.prediction.node_training import (
    CACHE_VERSION,
    cache_path,
    in_process_exchange,
    released_training,
    run_training,
)
from medhaven.prediction.study import split
from prediction.synthetic_sites import make_site
from web.conftest import Seed

SITES = {"hospital-a": (500, 0.0, 10), "hospital-b": (400, 0.15, 11)}
TASK = {"name": "t", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission"}  # fmt: skip


def _principal(session: Any, user_id: int) -> Principal:
    user = session.get(User, user_id)
    assert user is not None
    return Principal(user.id, identity.roles_of(user), "cli")


def grant(db: Database, world: Seed) -> None:
    """The researcher's project gets an active grant on the seeded dataset (request, approve)."""
    with db.unit() as s:
        req = access.create_request(
            s, _principal(s, world.users["researcher"]),
            RequestCreate(project_id=world.project_id, dataset_ids=[world.dataset_id],
                          justification="feasibility"),
        )  # fmt: skip
        rid = req.id
    with db.unit() as s:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        access.decide(s, _principal(s, world.users["reviewer"]), rid,
                      ReviewCreate(decision="approve", expires_at=expires))  # fmt: skip


def train_document(tmp: Path) -> dict[str, Any]:
    """A ``train`` job's result document from real nodes' rounds (logistic_l2, two hospitals);
    each node's data is a pre-built cache instead of a CDM, as in the node-training tests."""
    private, public = generate_hub_keypair(tmp / "key")
    configs = {}
    for name in SITES:
        d = tmp / name
        d.mkdir()
        (d / "node.toml").write_text(f'name = "{name}"\ncdm = "none.duckdb"\n'
                                     f'accepted_kinds = ["train"]\nhub_public_key = "{public}"\n'
                                     "min_train_persons = 50\n", encoding="utf-8")  # fmt: skip
        configs[name] = NodeConfig.load(d / "node.toml")
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"w-{uuid.uuid4().hex[:10]}", project="1", grant_id="1", kind="train",
                   parameters={"task": TASK, "model": {"kind": "logistic_l2"}},
                   targets=list(SITES), expires_at=now + dt.timedelta(hours=1),
                   issued_at=now)  # fmt: skip
    signed = sign_job(spec, load_private_key(private), "k").to_json()
    for name, (n, shift, seed) in SITES.items():
        data = make_site(n, seed=seed, shift=shift, site=name)
        mask = split(data, fraction=0.25, seed=1)
        path = cache_path(configs[name], spec.job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            pickle.dump({"version": CACHE_VERSION, "train": data.subset(~mask),
                         "test": data.subset(mask)}, fh)  # fmt: skip
    doc = run_training(signed, in_process_exchange(signed, configs), min_nodes=2,
                       transport="in_process")  # fmt: skip
    assert doc["status"] == "completed", doc.get("reason")
    return doc


def store_train_job(db: Database, world: Seed, doc: dict[str, Any]) -> int:
    """Keep ``doc`` as the hub keeps a finished ``train`` job (what record_result stores)."""
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        job = Job(uid=doc["job_id"], project_id=world.project_id, grant_ids=[], kind="train",
                  parameters={"task": TASK, "model": {"kind": "logistic_l2"}},
                  dataset_ids=[world.dataset_id], targets=list(SITES), min_nodes=2,
                  status="completed",
                  node_status={r["node"]: {"status": r["status"], "reason": r["reason"]}
                               for r in doc["nodes"]},
                  result=released_training(doc, doc["nodes"]), signed_job="-",
                  expires_at=now + dt.timedelta(hours=1), submitted_by=world.users["researcher"],
                  created_at=now, updated_at=now)  # fmt: skip
        s.add(job)
        s.flush()
        return int(job.id)
