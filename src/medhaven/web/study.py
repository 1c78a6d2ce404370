"""The study builder, a ``train`` job's released results, downloads and the custodian's held list.

The builder submits through the same service as ``POST /api/v1/jobs`` (the job runner's
``submit``) after that route's permission check; cohorts are checked with the nodes' own
parser (:func:`medhaven.federation.kinds.definition_of`) before anything is signed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from medhaven.analytics.cohorts.library import library_names
from medhaven.errors import ConfigError, Forbidden, InvalidInput, NotFound
from medhaven.federation.kinds import definition_of
from medhaven.hub.api.deps import StateDep
from medhaven.hub.models import Dataset, Job, Role
from medhaven.hub.permissions import V1
from medhaven.hub.services import access, jobs, projects
from medhaven.hub.services.common import Principal
from medhaven.web.pages import Form, form_fields, ids, one, writer
from medhaven.web.render import N_, allowed, guard, principal_of, redirect, render

router = APIRouter(include_in_schema=False)

#: builder kinds → (job kind, label msgid)
STUDY_KINDS: dict[str, tuple[str, str]] = {
    "cohort_count": ("cohort_count", N_("Cohort count (attrition)")),
    "characterize": ("characterize", N_("Characterization (Table 1)")),
    "incidence": ("incidence", N_("Incidence")),
    "prediction": ("train", N_("Prediction (federated training)")),
}
MODEL_KINDS: dict[str, str] = {
    "logistic_l2": N_("Logistic regression (L2)"),
    "logistic_l1": N_("Logistic regression (L1, lasso)"),
    "mlp": N_("Neural network (MLP)"),
    "lightgbm": N_("Gradient-boosted trees (LightGBM, bagged)"),
    "xgboost": N_("Gradient-boosted trees (XGBoost)"),
}
#: xgboost's federated modes → label msgid (TrainParams.xgb_mode)
XGB_MODES: dict[str, str] = {
    "cyclic": N_("Cyclic: the nodes add trees in turn"),
    "bagging": N_("Bagging: each node's trees, joined"),
}
MAX_ROUNDS = 500  # TrainParams.rounds
MAX_ATLAS_CHARS = 60_000
HELD_SCAN = 500

__all__ = ["form_fields", "router", "train_view"]


# -- the builder -----------------------------------------------------------------------------


def _member_project(session: Session, me: Principal, project_id: int) -> Any:
    project = projects.get_visible(session, me, project_id)
    if not projects.is_member(project, me.user_id):
        raise Forbidden("only project members may submit jobs")
    return project


def _granted(session: Session, me: Principal, project_id: int) -> list[tuple[int, str]]:
    """The datasets of the project's active grants (id, name)."""
    stmt = access.list_grants_query(me, project_id=project_id, status="active")
    ds_ids = sorted({g.dataset_id for g in session.execute(stmt).scalars()})
    if not ds_ids:
        return []
    rows = session.execute(select(Dataset).where(Dataset.id.in_(ds_ids))).scalars()
    return sorted(((d.id, d.name) for d in rows), key=lambda x: x[1])


def _cohort(form: dict[str, list[str]], prefix: str) -> dict[str, Any] | str:
    """A cohort from the form: a library name, or pasted ATLAS JSON (the pasted text wins)."""
    pasted = one(form, f"{prefix}_json")
    if pasted:
        if len(pasted) > MAX_ATLAS_CHARS:
            raise InvalidInput(f"{prefix}_json: at most {MAX_ATLAS_CHARS} characters")
        try:
            value = json.loads(pasted)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{prefix}_json: not valid JSON (line {exc.lineno})") from None
        if not isinstance(value, dict):
            raise InvalidInput(f"{prefix}_json: expected an ATLAS cohort definition object")
        definition_of(value, field=prefix)  # the nodes' parser: a bad definition fails here
        return value
    name = one(form, f"{prefix}_name")
    if not name:
        raise InvalidInput(f"{prefix}_name: pick a cohort from the library or paste ATLAS JSON")
    if name not in library_names():
        raise InvalidInput(f"{prefix}_name: not in the example library")
    return name


def _day(form: dict[str, list[str]], name: str, default: int) -> int:
    text = one(form, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{name}: a whole number of days") from None
    if not -100_000 <= value <= 100_000:
        raise InvalidInput(f"{name}: out of range")
    return value


def study_parameters(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    """The job kind and parameters the builder's form asks for (one-line error naming a field)."""
    kind = one(form, "kind")
    if kind not in STUDY_KINDS:
        raise InvalidInput(f"kind: one of {', '.join(STUDY_KINDS)}")
    target = _cohort(form, "cohort")
    if kind == "cohort_count":
        return "cohort_count", {"definition": target}
    if kind == "characterize":
        return "characterize", {"cohort": target}
    outcome = _cohort(form, "outcome")
    start, end = _day(form, "tar_start", 1), _day(form, "tar_end", 365)
    if end < start:
        raise InvalidInput("tar_end: must not be before tar_start")
    if kind == "incidence":
        return "incidence", {"target": target, "outcome": outcome, "tar_days": max(end, 0)}
    model = one(form, "model_kind")
    if model not in MODEL_KINDS:
        raise InvalidInput(f"model_kind: one of {', '.join(MODEL_KINDS)}")
    name = one(form, "study_name") or "web study"
    task = {"name": name[:200], "target_cohort": target, "outcome_cohort": outcome,
            "risk_window_start": start, "risk_window_end": end}  # fmt: skip
    params: dict[str, Any] = {"task": task, "model": {"kind": model}}
    if one(form, "rounds"):
        params["rounds"] = _whole(form, "rounds", 1, MAX_ROUNDS)
    if one(form, "l1"):
        if model != "logistic_l1":
            raise InvalidInput("l1: the L1 penalty is for logistic_l1 only")
        params["l1"] = _positive(form, "l1")
    if model == "xgboost":
        mode = one(form, "xgb_mode") or "cyclic"
        if mode not in XGB_MODES:
            raise InvalidInput(f"xgb_mode: one of {', '.join(XGB_MODES)}")
        params["xgb_mode"] = mode
    if one(form, "secure_aggregation"):  # the hub's own check refuses it for other models
        params["secure_aggregation"] = True
    if one(form, "dp_epsilon"):  # each node clips, noises and charges its privacy budget
        if model != "mlp":
            raise InvalidInput("dp_epsilon: differential privacy is for the MLP only")
        params["dp"] = {"epsilon": _positive(form, "dp_epsilon"),
                        "clip": _positive(form, "dp_clip", "1.0")}  # fmt: skip
    return "train", params


def _whole(form: dict[str, list[str]], name: str, low: int, high: int) -> int:
    try:
        value = int(one(form, name))
    except ValueError:
        raise InvalidInput(f"{name}: a whole number") from None
    if not low <= value <= high:
        raise InvalidInput(f"{name}: from {low} to {high}")
    return value


def _positive(form: dict[str, list[str]], name: str, default: str = "") -> float:
    try:
        value = float(one(form, name) or default)
    except ValueError:
        raise InvalidInput(f"{name}: a number") from None
    if not 0 < value <= 1e6:
        raise InvalidInput(f"{name}: a number above 0")
    return value


def _builder(
    request: Request,
    state: StateDep,
    me: Principal,
    project_id: int,
    *,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with state.db.unit(readonly=True) as session:
        project = _member_project(session, me, project_id)
        title = project.title
        granted = _granted(session, me, project_id)
    return render(
        request, "study.html", principal=me, status_code=status_code, project_id=project_id,
        project_title=title, granted=granted, library=library_names(), kinds=STUDY_KINDS,
        models=MODEL_KINDS, xgb_modes=XGB_MODES, max_rounds=MAX_ROUNDS, values=values,
        error=error,
    )  # fmt: skip


DEFAULTS: dict[str, Any] = {
    "kind": "cohort_count", "cohort_name": "", "cohort_json": "", "outcome_name": "",
    "outcome_json": "", "tar_start": "1", "tar_end": "365", "model_kind": "logistic_l2",
    "study_name": "", "dataset_ids": [], "dp_epsilon": "", "dp_clip": "1.0", "rounds": "",
    "l1": "", "xgb_mode": "cyclic", "secure_aggregation": "",
}  # fmt: skip


@router.get("/projects/{project_id}/study", response_class=HTMLResponse)
def study_builder(project_id: int, request: Request, state: StateDep) -> Response:
    """The study builder of a project (its members only)."""
    me = principal_of(request)
    guard(me, f"POST {V1}/jobs")
    return _builder(request, state, me, project_id, values=dict(DEFAULTS))


@router.post("/projects/{project_id}/study", response_class=HTMLResponse)
def study_submit(project_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Check the study and submit it as a job; a bad field is shown in the form (400)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/jobs")
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its job-signing key")
    values: dict[str, Any] = {k: one(form, k) for k in DEFAULTS if k != "dataset_ids"}
    values["dataset_ids"] = [v for v in form.get("dataset_ids", []) if v.isdigit()]
    with state.db.unit(readonly=True) as session:
        _member_project(session, me, project_id)
    try:
        kind, parameters = study_parameters(form)
        chosen = ids(form, "dataset_ids")
        if not chosen:
            raise InvalidInput("dataset_ids: choose at least one dataset")
        req = jobs.JobRequest(project_id=project_id, kind=kind, parameters=parameters,
                              dataset_ids=chosen)  # fmt: skip
        job = state.jobs.submit(me, req)
        job_id = job.id
    except InvalidInput as exc:
        return _builder(request, state, me, project_id, values=values, error=exc.message,
                        status_code=400)  # fmt: skip
    return redirect(f"/jobs/{job_id}")


# -- a train job's released results ----------------------------------------------------------


def _num(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def train_view(result: Mapping[str, Any], *, external: bool = False) -> dict[str, Any]:
    """Per-node released metrics and the ROC/calibration plots drawn from released points.

    ``external``: an ``evaluate`` job's result (each node's whole population, not a held-out
    part of its training data).
    """
    from medhaven.prediction.card import calibration_svg_of, roc_svg_of

    nodes = result.get("nodes") if isinstance(result.get("nodes"), dict) else {}
    assert isinstance(nodes, dict)
    rows: list[dict[str, Any]] = []
    evaluations: list[tuple[str, Mapping[str, Any]]] = []
    for node, reply in sorted(nodes.items()):
        ev = reply.get("evaluation") if isinstance(reply, dict) else None
        if not isinstance(ev, dict):
            rows.append({"node": node, "released": False, "n": "—", "outcomes": "—",
                         "auroc": "—", "auprc": "—", "brier": "—", "slope": "—"})  # fmt: skip
            continue
        metrics = ev.get("metrics") if ev.get("released") else None
        m = metrics if isinstance(metrics, dict) else {}
        ci = m.get("auroc_ci")
        auroc = _num(m.get("auroc"))
        if isinstance(ci, list) and len(ci) == 2 and None not in ci:
            auroc = f"{auroc} ({_num(ci[0])}–{_num(ci[1])})"
        rows.append({
            "node": node, "released": bool(metrics), "auroc": auroc,
            "n": "—" if ev.get("n") is None else str(ev["n"]),
            "outcomes": "—" if ev.get("outcomes") is None else str(ev["outcomes"]),
            "auprc": _num(m.get("auprc")), "brier": _num(m.get("brier")),
            "slope": _num(m.get("calibration_slope")),
        })  # fmt: skip
        if metrics:
            evaluations.append((f"{node} ({'external' if external else 'held-out'})", ev))
    combined = result.get("combined") if isinstance(result.get("combined"), dict) else {}
    assert isinstance(combined, dict)
    model = combined.get("model") if isinstance(combined.get("model"), dict) else None
    plots: dict[str, Markup] = {}
    if evaluations:
        plots = {"roc": roc_svg_of(evaluations), "calibration": calibration_svg_of(evaluations)}
    return {
        "rows": rows, "plots": plots, "has_model": model is not None,
        "model_kind": model.get("kind") if model else None,
        "rounds": combined.get("rounds"), "reason": combined.get("reason"),
    }  # fmt: skip


def _result_of(state: StateDep, me: Principal, job_id: int) -> tuple[Job, dict[str, Any]]:
    with state.db.unit(readonly=True) as session:
        job = jobs.get_job(session, me, job_id)
        result = jobs.get_result(session, me, job_id)
        return job, result


def _download(doc: Any, filename: str) -> Response:
    body = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True)
    return Response(
        body, media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )  # fmt: skip


@router.get("/jobs/{job_id}/result.json")
def result_download(job_id: int, request: Request, state: StateDep) -> Response:
    """The released result of a job as JSON (what ``GET /api/v1/jobs/N/result`` answers)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}/result")
    job, result = _result_of(state, me, job_id)
    doc = {"id": job.id, "status": job.status, "node_status": job.node_status, "result": result}
    return _download(doc, f"job-{job_id}-result.json")


@router.get("/jobs/{job_id}/model.json")
def model_download(job_id: int, request: Request, state: StateDep) -> Response:
    """The released model bundle of a ``train`` job (its sha256 was checked when stored)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}/result")
    _job, result = _result_of(state, me, job_id)
    combined = result.get("combined")
    model = combined.get("model") if isinstance(combined, dict) else None
    if not isinstance(model, dict):
        raise NotFound(f"job {job_id} has no released model")
    return _download(model, f"job-{job_id}-model.json")


# -- the custodian's held outputs ------------------------------------------------------------


def held_for_custodian(session: Session, me: Principal) -> list[dict[str, Any]] | None:
    """Jobs held at a node for a release check, on datasets of the custodian's hospitals.

    None for a caller who is no custodian. Only what the hub holds: the job, the dataset (node)
    and when; the held output itself stays at the node until the custodian releases it there.
    """
    if not allowed(me, f"POST {V1}/datasets"):
        return None
    orgs = me.roles.orgs_with(Role.CUSTODIAN)
    if not orgs:
        return None
    own = {d.name: d.id for d in session.execute(
        select(Dataset).where(Dataset.org_id.in_(sorted(orgs)))).scalars()}  # fmt: skip
    out: list[dict[str, Any]] = []
    recent = (
        select(Job.id, Job.uid, Job.kind, Job.node_status, Job.updated_at)  # not the results
        .order_by(Job.id.desc())
        .limit(HELD_SCAN)
    )
    for job in session.execute(recent):
        for node, status in sorted((job.node_status or {}).items()):
            if node in own and isinstance(status, dict) and status.get("status") == "held":
                out.append({"job_id": job.id, "uid": job.uid, "kind": job.kind,
                            "dataset": node, "updated_at": job.updated_at})  # fmt: skip
    return out
