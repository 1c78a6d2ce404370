"""The model card of a federated ``train`` job, and its external validation at other hospitals.

The card is made by :func:`medhaven.prediction.federated_study.federated_card` (the code
``study run`` uses for a federated study) from what the hub keeps of the job: the released
model bundle (its sha256 checked again) and each node's released evaluation. An ``evaluate``
job of the same project whose bundle has the same sha256 adds its nodes' released evaluations
as external validation. "Validate at ..." submits that ``evaluate`` job through the same
service as ``POST /api/v1/jobs``, at datasets of the project's grants the model was not
trained on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from medhaven.config import get_settings
from medhaven.errors import ConfigError, Forbidden, InvalidInput, NotFound
from medhaven.hub.api.deps import StateDep
from medhaven.hub.models import Dataset, Job
from medhaven.hub.permissions import V1
from medhaven.hub.services import jobs
from medhaven.hub.services.common import Principal
from medhaven.web.pages import Form, ids, writer
from medhaven.web.render import allowed, guard, principal_of, redirect, render
from medhaven.web.study import _granted, _member_project

router = APIRouter(include_in_schema=False)
WITH_RESULT = ("completed", "partial")
EVALUATE_SCAN = 200


def _bundle(job: Job, result: Mapping[str, Any]) -> dict[str, Any]:
    combined = result.get("combined")
    model = combined.get("model") if isinstance(combined, dict) else None
    if job.kind != "train" or not isinstance(model, dict):
        raise NotFound(f"job {job.id} has no released model")
    return model


def _evaluate_job(
    session: Session, me: Principal, job: Job, sha256: Any
) -> tuple[Job | None, dict[str, Any] | None]:
    """The newest finished ``evaluate`` job of the project that evaluated this very bundle."""
    stmt = (
        jobs.list_jobs_query(me, project_id=job.project_id)
        .where(Job.kind == "evaluate", Job.status.in_(WITH_RESULT))
        .limit(EVALUATE_SCAN)
    )
    for found in session.execute(stmt).scalars():
        model = (found.parameters or {}).get("model")
        if isinstance(model, dict) and model.get("sha256") == sha256 and found.result:
            return found, dict(found.result)
    return None, None


def _sites(session: Session, names: list[str]) -> list[dict[str, Any]]:
    """``{"id", "name"}`` of each target (the hub names a job's targets by dataset name)."""
    rows = session.execute(select(Dataset).where(Dataset.name.in_(names))).scalars()
    by_name = {d.name: d.id for d in rows}
    return [{"id": by_name.get(n), "name": n} for n in names]


def card_of(session: Session, me: Principal, job_id: int) -> dict[str, Any]:
    """The card of a finished ``train`` job (and the evaluate job it used), as JSON-ready dicts."""
    from medhaven.prediction.federated_study import federated_card
    from medhaven.prediction.node_training import TrainParams
    from medhaven.prediction.tripod import checklist

    job = jobs.get_job(session, me, job_id)
    result = jobs.get_result(session, me, job_id)
    bundle = _bundle(job, result)
    try:
        params = TrainParams.model_validate(job.parameters)
    except ValidationError:
        raise InvalidInput(f"job {job_id}: its parameters are not a train job's") from None
    ev_job, evaluated = _evaluate_job(session, me, job, bundle.get("sha256"))
    made = federated_card(
        title=params.task.name, intended_use={}, task=params.task, bundle=bundle,
        trained=result, train_job={"id": job.id, "node_status": job.node_status},
        train_sites=_sites(session, list(job.targets)),
        validate_sites=_sites(session, list(ev_job.targets)) if ev_job else [],
        evaluated=evaluated,
        eval_job={"id": ev_job.id, "node_status": ev_job.node_status} if ev_job else None,
        project=job.project_id, test_fraction=params.test_fraction, seed=params.seed,
        min_cell_count=get_settings().min_cell_count,
    )  # fmt: skip
    return {"card": made.card, "tripod": checklist(made.card), "job": job,
            "evaluate_job": ev_job.id if ev_job else None}  # fmt: skip


def _metric(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def performance_rows(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per released (or withheld) evaluation in the card: internal by site, external."""
    perf = card.get("performance") or {}
    rows: list[dict[str, Any]] = []
    for role, key in (("internal", "internal_by_site"), ("external", "external")):
        for site, ev in sorted((perf.get(key) or {}).items()):
            m = (ev.get("metrics") or {}) if ev.get("released") else {}
            ci = m.get("auroc_ci")
            auroc = _metric(m.get("auroc"))
            if isinstance(ci, list) and len(ci) == 2 and None not in ci:
                auroc = f"{auroc} ({_metric(ci[0])}–{_metric(ci[1])})"
            rows.append({
                "site": site, "role": role, "released": bool(m),
                "n": "—" if ev.get("n") is None else str(ev["n"]),
                "outcomes": "—" if ev.get("outcomes") is None else str(ev["outcomes"]),
                "auroc": auroc, "auprc": _metric(m.get("auprc")), "brier": _metric(m.get("brier")),
                "slope": _metric(m.get("calibration_slope")),
                "oe": _metric(m.get("observed_expected")),
            })  # fmt: skip
    return rows


def _json(doc: Any, filename: str | None = None) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else {}
    body = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/jobs/{job_id}/card", response_class=HTMLResponse)
def card_page(job_id: int, request: Request, state: StateDep) -> Response:
    """The model card of a ``train`` job: performance per hospital, plots, TRIPOD+AI, validate."""
    from medhaven.prediction.card import calibration_svg, roc_svg

    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}/result")
    with state.db.unit(readonly=True) as session:
        made = card_of(session, me, job_id)
        job = made["job"]
        trained_on = set(job.dataset_ids)
        can_submit = allowed(me, f"POST {V1}/jobs") and state.jobs is not None
        choices: list[tuple[int, str]] = []
        if can_submit:
            try:
                _member_project(session, me, job.project_id)
            except Forbidden:  # a member of staff who may read the job, not submit
                can_submit = False
        if can_submit:
            names = set(job.targets)
            choices = [(i, n) for i, n in _granted(session, me, job.project_id)
                       if i not in trained_on and n not in names]  # fmt: skip
    card = made["card"]
    return render(
        request, "result_card.html", principal=me, job_id=job_id, card=card,
        tripod=made["tripod"], rows=performance_rows(card), roc=roc_svg(card),
        calibration=calibration_svg(card), evaluate_job=made["evaluate_job"],
        can_submit=can_submit, choices=choices,
    )  # fmt: skip


@router.get("/jobs/{job_id}/card.json")
def card_json(job_id: int, request: Request, state: StateDep) -> Response:
    """The model card as JSON (what ``study run`` writes as model_card.json)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}/result")
    with state.db.unit(readonly=True) as session:
        made = card_of(session, me, job_id)
    return _json(made["card"], f"job-{job_id}-model_card.json")


@router.get("/jobs/{job_id}/tripod.json")
def tripod_json(job_id: int, request: Request, state: StateDep) -> Response:
    """The TRIPOD+AI checklist of the card as JSON."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}/result")
    with state.db.unit(readonly=True) as session:
        made = card_of(session, me, job_id)
    return _json(made["tripod"], f"job-{job_id}-tripod_ai.json")


@router.get("/jobs/{job_id}/card.html", response_class=HTMLResponse)
def card_html(job_id: int, request: Request, state: StateDep) -> Response:
    """The card as one self-contained HTML file (the page ``study run`` writes)."""
    from medhaven.prediction.card import render_html

    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}/result")
    with state.db.unit(readonly=True) as session:
        made = card_of(session, me, job_id)
    return HTMLResponse(
        render_html(made["card"], made["tripod"]),
        headers={"Content-Disposition": f'attachment; filename="job-{job_id}-model_card.html"'},
    )


@router.post("/jobs/{job_id}/validate")
def validate(job_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Submit an ``evaluate`` job of the released bundle at datasets the model never saw."""
    me = writer(request, form)
    guard(me, f"POST {V1}/jobs")
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its job-signing key")
    chosen = ids(form, "dataset_ids")
    if not chosen:
        raise InvalidInput("dataset_ids: choose at least one dataset")
    with state.db.unit(readonly=True) as session:
        job = jobs.get_job(session, me, job_id)
        bundle = _bundle(job, jobs.get_result(session, me, job_id))
        _member_project(session, me, job.project_id)
        seen = [i for i in chosen if i in set(job.dataset_ids)]
        names = {d.name for d in session.execute(
            select(Dataset).where(Dataset.id.in_(chosen))).scalars()}  # fmt: skip
        if seen or names & set(job.targets):
            raise InvalidInput("dataset_ids: the model was trained there; pick another dataset")
        task = job.parameters.get("task")
        project_id = job.project_id
    req = jobs.JobRequest(project_id=project_id, kind="evaluate",
                          parameters={"task": task, "model": bundle}, dataset_ids=chosen)  # fmt: skip
    new = state.jobs.submit(me, req)
    return redirect(f"/jobs/{new.id}")


__all__ = ["card_of", "performance_rows", "router"]
