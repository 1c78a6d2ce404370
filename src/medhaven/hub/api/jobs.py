"""Federated jobs: submit (returns at once; dispatch runs in the background), list, view, result,
collect (ask again the nodes that held a result)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter

from medhaven.errors import ConfigError
from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, QueryId, StateDep
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import JobCreate, JobPublic, JobResultPublic, Page
from medhaven.hub.services import jobs
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=f"{V1}/jobs", tags=["jobs"])


@router.post("", response_model=JobPublic, status_code=202)
def submit(body: JobCreate, state: StateDep, me: CurrentUser) -> JobPublic:
    """Submit a job under the project's active grants; it is signed, stored and dispatched."""
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its job-signing key")
    req = jobs.JobRequest(
        project_id=body.project_id,
        kind=body.kind,
        parameters=body.parameters,
        dataset_ids=body.dataset_ids,
        min_nodes=body.min_nodes,
        ttl=dt.timedelta(minutes=body.ttl_minutes),
    )
    return JobPublic.model_validate(state.jobs.submit(me, req))


@router.get("", response_model=Page[JobPublic])
def list_jobs(
    state: StateDep,
    me: CurrentUser,
    page: PageDep,
    project_id: QueryId = None,
    status: Literal[
        "queued", "running", "completed", "partial", "held", "failed", "refused", "cancelled"
    ]
    | None = None,
) -> Page[JobPublic]:
    """Jobs of your projects (admins: all), newest first."""
    stmt = jobs.list_jobs_query(me, project_id=project_id, status=status)
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(session, stmt, limit=page.limit, offset=page.offset)
        return Page(
            items=[JobPublic.model_validate(j) for j in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


@router.get("/{job_id}", response_model=JobPublic)
def view(job_id: PathId, state: StateDep, me: CurrentUser) -> JobPublic:
    """One job with each node's status."""
    with state.db.unit(readonly=True) as session:
        return JobPublic.model_validate(jobs.get_job(session, me, job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel(job_id: PathId, state: StateDep, me: CurrentUser) -> JobPublic:
    """Cancel a queued or running job (project members; 409 once it has finished)."""
    job = jobs.cancel(state.db, me, job_id)
    with state.db.unit(readonly=True) as session:
        return JobPublic.model_validate(jobs.get_job(session, me, job.id))


@router.post("/{job_id}/collect", response_model=JobPublic)
def collect(job_id: PathId, state: StateDep, me: CurrentUser) -> JobPublic:
    """Ask the nodes that held this job's result again (project members; 409: none held)."""
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its job-signing key")
    job = state.jobs.collect(me, job_id)
    with state.db.unit(readonly=True) as session:
        return JobPublic.model_validate(jobs.get_job(session, me, job.id))


@router.get("/{job_id}/result", response_model=JobResultPublic)
def result(job_id: PathId, state: StateDep, me: CurrentUser) -> JobResultPublic:
    """The combined, released result (completed or partial jobs only)."""
    with state.db.unit(readonly=True) as session:
        job = jobs.get_job(session, me, job_id)
        combined = jobs.get_result(session, me, job_id)
        return JobResultPublic(
            id=job.id, status=job.status, node_status=job.node_status, result=combined
        )


__all__ = ["router"]
