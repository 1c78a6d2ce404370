"""A study run as federated hub jobs: ``train`` at the train datasets, ``evaluate`` at the others.

The spec's ``hub`` section names the project and hub datasets (by id or by
name) with roles ``train`` and ``validate``. :func:`run_federated_study`
submits one ``train`` job (each node fits on its training part and
evaluates the final model on its own held-out part), follows it node by node,
then submits one ``evaluate`` job with the released model bundle at the
validate datasets (external validation at hospitals the model never saw).

Only what the hub keeps of those jobs is used: the model bundle (its sha256
checked again here) and each node's released evaluation, computed at the node
on its own rows under its disclosure control. The outputs are those of a
local study (model card JSON/HTML, TRIPOD+AI checklist, ``model.json``); the
card says which figures a federated run cannot give (a pooled internal
evaluation, attrition counts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.config import get_settings
from medhaven.errors import CheckFailed, InvalidInput, NotFound, TransportError
from medhaven.hub.client import HubClient
from medhaven.prediction.card import build_card, write_card
from medhaven.prediction.models import TrainedModel
from medhaven.prediction.study import (
    MODEL_BUNDLE,
    StudyResult,
    StudySpec,
    _headline,
    _task_json,
    card_features,
    card_model,
)
from medhaven.prediction.task import PredictionTask

EventFn = Callable[[str], None]
FINISHED = ("completed", "partial", "failed", "refused", "cancelled")
RELEASE_NOTE = (
    "node-released: every evaluation figure was computed at its node on the node's own rows "
    "and released under that node's disclosure control; no patient-level prediction left a node"
)
UNAVAILABLE = [
    "pooled internal evaluation (one AUROC, curve and calibration over every training site's "
    "held-out part together): each node releases its own held-out evaluation only",
    "attrition counts of the study population at each site: nodes do not release them with a "
    "train or evaluate job",
    "TRIPOD+AI items read from the pooled internal evaluation (20b, 22, 23b): see "
    "performance.internal_by_site",
]


def _dataset(client: HubClient, ref: int | str, where: str) -> dict[str, Any]:
    """A hub dataset by id or exact name; unknown or retired: one line naming the field."""
    if isinstance(ref, int):
        try:
            found = client.dataset(ref)
        except NotFound:
            raise NotFound(f"{where}: no dataset {ref} at the hub") from None
        if found.get("retired_at"):
            raise InvalidInput(f"{where}: dataset {ref} is retired")
        return found
    page = client.datasets(q=ref, limit=200)
    hits = [d for d in page.get("items", []) if d.get("name") == ref]
    if not hits:
        raise NotFound(f"{where}: no dataset named {ref!r} at the hub")
    if len(hits) > 1:
        raise InvalidInput(f"{where}: {len(hits)} datasets are named {ref!r}; give its id")
    return dict(hits[0])


def follow(client: HubClient, job: dict[str, Any], *, timeout: float, poll: float = 0.5,
           on_event: EventFn | None = None) -> dict[str, Any]:  # fmt: skip
    """Poll a job until it ends; each change of a node's status is reported once."""
    say = on_event or (lambda _line: None)
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        for node, st in sorted((job.get("node_status") or {}).items()):
            status = str(st.get("status"))
            if seen.get(node) != status:
                seen[node] = status
                why = f" ({st['reason']})" if st.get("reason") else ""
                say(f"job {job['id']} ({job['kind']}) {node}: {status}{why}")
        if job["status"] in FINISHED:
            return job
        if time.monotonic() > deadline:
            raise TransportError(f"job {job['id']} is still {job['status']} after {timeout:g} s "
                                 "(medhaven jobs status)")  # fmt: skip
        time.sleep(poll)
        job = client.job(job["id"])


def _run_job(client: HubClient, spec: StudySpec, kind: str, ids: list[int],
             parameters: dict[str, Any], min_nodes: int,
             on_event: EventFn | None) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    assert spec.hub is not None
    ttl = max(1, int(spec.hub.timeout // 60) + 1)
    job = client.submit_job(project_id=spec.hub.project, kind=kind, dataset_ids=ids,
                            parameters=parameters, min_nodes=min_nodes,
                            ttl_minutes=ttl)  # fmt: skip
    job = follow(client, job, timeout=spec.hub.timeout, on_event=on_event)
    if job["status"] not in ("completed", "partial"):
        why = f": {job['reason']}" if job.get("reason") else ""
        raise CheckFailed(f"study {spec.name}: {kind} job {job['id']} {job['status']}{why}")
    result = client.job_result(job["id"])
    return job, dict(result.get("result") or {})


@dataclass
class FederatedCard:
    """A card made from a ``train`` job's released result (and an ``evaluate`` job's, if any)."""

    card: dict[str, Any]
    model: TrainedModel
    internal: dict[str, Any]
    external: dict[str, Any]
    missing: list[str]
    jobs: dict[str, Any]


def external_evaluations(evaluated: Mapping[str, Any] | None, sha256: Any) -> dict[str, Any]:
    """Each node's released evaluation in an ``evaluate`` result, of the bundle ``sha256`` only."""
    out: dict[str, Any] = {}
    for node, res in ((evaluated or {}).get("nodes") or {}).items():
        if isinstance(res, dict) and res.get("model_sha256") == sha256 and res.get("evaluation"):
            out[str(node)] = res["evaluation"]
    return out


def federated_card(
    *,
    title: str,
    intended_use: Mapping[str, str],
    task: PredictionTask,
    bundle: dict[str, Any],
    trained: Mapping[str, Any],
    train_job: Mapping[str, Any],
    train_sites: Sequence[Mapping[str, Any]],
    validate_sites: Sequence[Mapping[str, Any]] = (),
    evaluated: Mapping[str, Any] | None = None,
    eval_job: Mapping[str, Any] | None = None,
    project: int | str,
    test_fraction: float,
    seed: int,
    limitations: Sequence[str] = (),
    reporting: Mapping[str, Any] | None = None,
    min_cell_count: int = 1,
) -> FederatedCard:
    """The model card of a federated study from what the hub keeps of its jobs, nothing more.

    ``trained``/``evaluated`` are the jobs' released results, ``train_job``/``eval_job`` their
    ``id`` and ``node_status``, sites ``{"id", "name"}``. Used by ``study run`` and the web
    card page alike. The bundle's sha256 is checked again here.
    """
    model = TrainedModel.from_bundle(bundle, source=f"train job {train_job['id']}")
    internal = {str(node): res["evaluation"] for node, res in (trained.get("nodes") or {}).items()
                if isinstance(res, dict) and res.get("evaluation")}  # fmt: skip
    external = external_evaluations(evaluated, bundle.get("sha256"))
    floors = [int(ev["min_cell_count"]) for ev in (*internal.values(), *external.values())
              if isinstance(ev.get("min_cell_count"), int)]  # fmt: skip
    policy = DisclosurePolicy(min_cell_count=max([min_cell_count, *floors]))
    jobs = {"train": train_job["id"], "evaluate": eval_job["id"] if eval_job else None}
    node_status = {"train": train_job.get("node_status") or {},
                   "evaluate": (eval_job or {}).get("node_status") or {}}  # fmt: skip
    missing = [f"external evaluation at {d['name']}: not released (evaluate job "
               f"{jobs['evaluate']}: {node_status['evaluate'].get(d['name'], {}).get('status')})"
               for d in validate_sites if d["name"] not in external]  # fmt: skip
    missing += [f"internal evaluation at {d['name']}: not released (train job {jobs['train']}: "
                f"{node_status['train'].get(d['name'], {}).get('status')})"
                for d in train_sites if d["name"] not in internal]  # fmt: skip
    sites = [{"site": d["name"], "role": "train", "dataset_id": d["id"]} for d in train_sites]
    sites += [{"site": d["name"], "role": "validate", "dataset_id": d["id"]}
              for d in validate_sites]  # fmt: skip
    card = build_card(
        title=title,
        intended_use=intended_use,
        task=_task_json(task),
        features=card_features(task, model),
        model=card_model(model, bundle),
        sites=sites,
        evaluation_design={
            "mode": "federated",
            "hub": {"project": project, "jobs": jobs},
            "internal": f"stratified random split at each training node, "
            f"{test_fraction:g} held out (seed {seed}); evaluated at each node",
            "external": [d["name"] for d in validate_sites],
            "test_fraction": test_fraction,
            "seed": seed,
            "release": RELEASE_NOTE,
            "unavailable": [*UNAVAILABLE, *missing],
        },
        performance={"internal": {}, "internal_by_site": internal, "external": external},
        limitations=limitations,
        reporting=reporting,
        policy=policy,
    )
    for site in card["data"]["sites"]:
        site["attrition_released"] = False  # nodes release no attrition with these jobs
    return FederatedCard(card, model, internal, external, missing, jobs)


def train_parameters(spec: StudySpec) -> dict[str, Any]:
    """The ``train`` job's parameters of a federated spec (its ``hub`` section's options)."""
    hub = spec.hub
    if hub is None:
        raise InvalidInput(f"study {spec.name}: not a federated study (mode {spec.mode})")
    params: dict[str, Any] = {"task": spec.study_task().model_dump(mode="json"),
              "model": spec.model.model_dump(mode="json"), "rounds": hub.rounds, "l2": hub.l2,
              "min_patients": spec.min_train_persons, "test_fraction": spec.test_fraction,
              "seed": spec.seed}  # fmt: skip
    if hub.dp is not None:
        params["dp"] = hub.dp.model_dump(mode="json", exclude_none=True)
    if spec.model.kind == "xgboost":
        params["xgb_mode"] = hub.xgb_mode
    if hub.secure_aggregation:
        params["secure_aggregation"] = True
    return params


def run_federated_study(spec: StudySpec, out: Path, client: HubClient, *,
                        on_event: EventFn | None = None) -> StudyResult:  # fmt: skip
    """Train at the train datasets and validate at the others through the hub; write the card."""
    if spec.mode != "federated" or spec.hub is None:
        raise InvalidInput(f"study {spec.name}: not a federated study (mode {spec.mode})")
    hub = spec.hub
    started = time.perf_counter()
    train = [_dataset(client, r, f"hub.train[{i}]") for i, r in enumerate(hub.train)]
    validate = [_dataset(client, r, f"hub.validate[{i}]") for i, r in enumerate(hub.validate_at)]
    ids = [int(d["id"]) for d in (*train, *validate)]
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"study {spec.name}: hub: a dataset is named twice (by id and name)")
    task = spec.study_task()
    task_doc = task.model_dump(mode="json")
    params = train_parameters(spec)
    train_job, trained = _run_job(client, spec, "train", [int(d["id"]) for d in train], params,
                                  hub.min_nodes or len(train), on_event)  # fmt: skip
    combined = trained.get("combined") or {}
    bundle = combined.get("model")
    if not isinstance(bundle, dict):
        why = combined.get("reason") or "the hub kept no model"
        raise CheckFailed(f"study {spec.name}: train job {train_job['id']}: {why}")
    eval_job: dict[str, Any] | None = None
    evaluated: dict[str, Any] | None = None
    if validate:
        eval_job, evaluated = _run_job(client, spec, "evaluate",
                                       [int(d["id"]) for d in validate],
                                       {"task": task_doc, "model": bundle}, 1, on_event)  # fmt: skip
    made = federated_card(
        title=spec.title or spec.name, intended_use=spec.intended_use, task=task,
        bundle=bundle, trained=trained, train_job=train_job,
        train_sites=train, validate_sites=validate, evaluated=evaluated, eval_job=eval_job,
        project=hub.project, test_fraction=spec.test_fraction, seed=spec.seed,
        limitations=spec.limitations, reporting=spec.reporting,
        min_cell_count=max(get_settings().min_cell_count, spec.min_cell_count or 1),
    )  # fmt: skip
    card, model, internal, external = made.card, made.model, made.internal, made.external
    missing, jobs = made.missing, made.jobs
    files = write_card(card, out)
    files["model"] = out / MODEL_BUNDLE
    files["model"].write_text(json.dumps(bundle), encoding="utf-8")
    summary = {
        "study": spec.name,
        "mode": "federated",
        "model": model.kind,
        "jobs": jobs,
        "internal": {
            "n": None,
            "outcomes": None,
            "released": False,
            **{k: None for k in ("auroc", "auprc", "brier", "calibration_slope")},
        },
        "internal_by_site": {site: _headline(ev) for site, ev in internal.items()},
        "external": {site: _headline(ev) for site, ev in external.items()},
        "unavailable": missing,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "files": {k: str(v) for k, v in files.items()},
    }
    return StudyResult(card=card, files=files, summary=summary)


__all__ = [
    "RELEASE_NOTE",
    "UNAVAILABLE",
    "FederatedCard",
    "external_evaluations",
    "federated_card",
    "follow",
    "run_federated_study",
    "train_parameters",
]
