"""Access requests and the grants that follow from review-board decisions.

A request names one or more datasets (never a retired one); each is decided
on its own (see :mod:`.review`, whose :func:`decide` is re-exported here). A
grant stops being active the moment it expires or is revoked;
:func:`active_grant` is the one check jobs use. Who sees which request or grant
is :mod:`.visibility`'s business.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from medhaven.errors import Conflict, Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import (
    AccessRequest,
    AccessRequestDataset,
    Dataset,
    DatasetStatus,
    Grant,
    Project,
    RequestStatus,
    Role,
)
from medhaven.hub.schemas import RequestCreate
from medhaven.hub.services import visibility
from medhaven.hub.services.common import Principal, now_utc
from medhaven.hub.services.projects import get_visible, is_member
from medhaven.hub.services.review import (
    board_org_ids,
    check_conflict_of_interest,
    decide,
    lock_request,
    sits_on_board,
    to_review_clause,
)


def create_request(session: Session, principal: Principal, data: RequestCreate) -> AccessRequest:
    """A request by a project member for datasets in the catalogue."""
    project = get_visible(session, principal, data.project_id)
    if not is_member(project, principal.user_id):
        raise Forbidden("only project members may request access")
    ids = sorted(set(data.dataset_ids))
    datasets = list(session.execute(select(Dataset).where(Dataset.id.in_(ids))).scalars())
    missing = sorted(set(ids) - {d.id for d in datasets})
    if missing:
        raise NotFound(f"dataset {missing[0]} not found")
    retired = sorted(d.id for d in datasets if d.retired_at is not None)
    if retired:
        raise Conflict(f"dataset {retired[0]} is retired and can no longer be requested")
    req = AccessRequest(
        project_id=project.id,
        org_id=project.org_id,
        requested_by=principal.user_id,
        justification=data.justification,
        status=RequestStatus.PENDING.value,
        required_approvals=max(d.required_approvals for d in datasets),
        created_at=now_utc(),
    )
    req.datasets.extend(
        AccessRequestDataset(
            dataset_id=d.id,
            status=DatasetStatus.PENDING.value,
            required_approvals=d.required_approvals,
        )
        for d in sorted(datasets, key=lambda d: d.id)
    )
    session.add(req)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="request.create",
        object_type="request",
        object_id=req.id,
        details={"project_id": project.id, "dataset_ids": ids},
    )
    return req


def list_requests_query(
    principal: Principal,
    *,
    status: str | None = None,
    project_id: int | None = None,
    to_review: bool = False,
) -> Select[Any]:
    """Requests the caller may see, oldest first; ``to_review``: only the caller's review queue."""
    stmt = visibility.where(
        select(AccessRequest).order_by(AccessRequest.id), visibility.request_clause(principal)
    )
    if to_review:
        stmt = stmt.where(to_review_clause(principal))
    if status:
        stmt = stmt.where(AccessRequest.status == status)
    if project_id is not None:
        stmt = stmt.where(AccessRequest.project_id == project_id)
    return stmt


def get_request(session: Session, principal: Principal, request_id: int) -> AccessRequest:
    """One request the caller may see."""
    stmt = select(AccessRequest).where(AccessRequest.id == request_id)
    req = session.execute(
        visibility.where(stmt, visibility.request_clause(principal))
    ).scalar_one_or_none()
    if req is None:
        raise NotFound(f"request {request_id} not found")
    return req


def withdraw(session: Session, principal: Principal, request_id: int) -> AccessRequest:
    """Withdraw the open datasets of a pending request (the requester or the project lead).

    Datasets already approved keep their grants (revoke those separately), and the request
    is then ``approved``; otherwise it is ``withdrawn``.
    """
    get_request(session, principal, request_id)
    req = lock_request(session, request_id)
    project = session.get(Project, req.project_id)
    if principal.user_id not in {req.requested_by, project.lead_id if project else None}:
        raise Forbidden("only the requester or the project lead may withdraw it")
    if req.status != RequestStatus.PENDING.value:
        raise Conflict(f"request {request_id} is already {req.status}")
    now = now_utc()
    withdrawn = []
    for item in req.datasets:
        if item.status == DatasetStatus.PENDING.value:
            item.status = DatasetStatus.WITHDRAWN.value
            item.decided_at = now
            withdrawn.append(item.dataset_id)
    # datasets approved before the withdrawal keep their grants: the request stays approved
    any_approved = any(i.status == DatasetStatus.APPROVED.value for i in req.datasets)
    req.status = (RequestStatus.APPROVED if any_approved else RequestStatus.WITHDRAWN).value
    req.decided_at = now
    audit.record(
        session,
        actor=principal.actor,
        action="request.withdraw",
        object_type="request",
        object_id=req.id,
        details={"dataset_ids": sorted(withdrawn)},
    )
    return req


def grant_status(grant: Grant, at: dt.datetime | None = None) -> str:
    """``revoked``, ``expired`` or ``active`` at ``at`` (now by default)."""
    at = at or now_utc()
    if grant.revoked_at is not None and grant.revoked_at <= at:
        return "revoked"
    if grant.expires_at <= at:
        return "expired"
    return "active"


def list_grants_query(
    principal: Principal,
    *,
    project_id: int | None = None,
    dataset_id: int | None = None,
    status: str | None = None,
) -> Select[Any]:
    """Grants the caller may see, optionally filtered."""
    stmt = visibility.where(select(Grant).order_by(Grant.id), visibility.grant_clause(principal))
    if project_id is not None:
        stmt = stmt.where(Grant.project_id == project_id)
    if dataset_id is not None:
        stmt = stmt.where(Grant.dataset_id == dataset_id)
    now = now_utc()
    if status == "active":
        stmt = stmt.where(Grant.revoked_at.is_(None), Grant.expires_at > now)
    elif status == "expired":
        stmt = stmt.where(Grant.revoked_at.is_(None), Grant.expires_at <= now)
    elif status == "revoked":
        stmt = stmt.where(Grant.revoked_at.is_not(None))
    elif status is not None:
        raise InvalidInput("status: one of active, expired, revoked")
    return stmt


def get_grant(session: Session, principal: Principal, grant_id: int) -> Grant:
    """One grant the caller may see."""
    stmt = select(Grant).where(Grant.id == grant_id)
    grant = session.execute(
        visibility.where(stmt, visibility.grant_clause(principal))
    ).scalar_one_or_none()
    if grant is None:
        raise NotFound(f"grant {grant_id} not found")
    return grant


def revoke(session: Session, principal: Principal, grant_id: int, reason: str) -> Grant:
    """Revoke a grant now: the dataset's custodian, a reviewer without conflict, or an admin."""
    grant = session.execute(
        select(Grant)
        .where(Grant.id == grant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if grant is None:
        raise NotFound(f"grant {grant_id} not found")
    dataset = session.get(Dataset, grant.dataset_id)
    req = session.get(AccessRequest, grant.request_id)
    allowed = principal.roles.has(Role.ADMIN) or (
        dataset is not None and principal.roles.has(Role.CUSTODIAN, dataset.org_id)
    )
    if (
        not allowed
        and dataset is not None
        and req is not None
        and sits_on_board(principal, dataset_org_id=dataset.org_id, boards=board_org_ids(session))
    ):
        check_conflict_of_interest(session, principal, req)
        allowed = True
    if not allowed:
        raise Forbidden("only the dataset's custodian, its review board or an admin may revoke")
    if grant.revoked_at is not None:
        raise Conflict(f"grant {grant_id} is already revoked")
    grant.revoked_at = now_utc()
    grant.revoked_by = principal.user_id
    grant.revoke_reason = reason
    audit.record(
        session,
        actor=principal.actor,
        action="grant.revoke",
        object_type="grant",
        object_id=grant.id,
    )
    return grant


def active_grant(
    session: Session, *, project_id: int, dataset_id: int, at: dt.datetime | None = None
) -> Grant | None:
    """The project's active grant for the dataset at ``at``, if any: the check every job makes."""
    at = at or now_utc()
    stmt = (
        select(Grant)
        .where(
            Grant.project_id == project_id,
            Grant.dataset_id == dataset_id,
            Grant.revoked_at.is_(None),
        )
        .where(Grant.expires_at > at, Grant.granted_at <= at)
        .order_by(Grant.expires_at.desc())
    )
    return session.execute(stmt).scalars().first()


__all__ = [
    "active_grant",
    "create_request",
    "decide",
    "get_grant",
    "get_request",
    "grant_status",
    "list_grants_query",
    "list_requests_query",
    "revoke",
    "withdraw",
]
