"""Access requests, review-board decisions and the grants that follow from them.

A request names one or more datasets; it needs as many approvals as the most
demanding of them. Any rejection rejects it. Reviewers holding any role in the
requesting organisation, or belonging to the project, may not review it
(conflict of interest). Deciding locks the request row, so two reviewers at
the same moment are applied one after the other: both approvals count, and the
grants are created exactly once. A grant stops being active the moment it
expires or is revoked; :func:`active_grant` is the one check jobs use.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medhaven.errors import Conflict, ConflictOfInterest, Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import (
    AccessRequest,
    AccessRequestDataset,
    Dataset,
    Decision,
    Grant,
    Project,
    RequestStatus,
    Review,
    Role,
)
from medhaven.hub.schemas import RequestCreate, ReviewCreate
from medhaven.hub.services import visibility
from medhaven.hub.services.common import Principal, now_utc
from medhaven.hub.services.projects import get_visible, is_member


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
    req = AccessRequest(
        project_id=project.id,
        org_id=project.org_id,
        requested_by=principal.user_id,
        justification=data.justification,
        status=RequestStatus.PENDING.value,
        required_approvals=max(d.required_approvals for d in datasets),
        created_at=now_utc(),
    )
    req.datasets.extend(AccessRequestDataset(dataset_id=i) for i in ids)
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
    principal: Principal, *, status: str | None = None, project_id: int | None = None
) -> Select[Any]:
    """Requests the caller may see, newest last."""
    stmt = visibility.where(
        select(AccessRequest).order_by(AccessRequest.id), visibility.request_clause(principal)
    )
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


def _lock(session: Session, request_id: int) -> AccessRequest:
    stmt = (
        select(AccessRequest)
        .where(AccessRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    req = session.execute(stmt).scalar_one_or_none()
    if req is None:
        raise NotFound(f"request {request_id} not found")
    return req


def withdraw(session: Session, principal: Principal, request_id: int) -> AccessRequest:
    """Withdraw a pending request (the requester or the project lead)."""
    get_request(session, principal, request_id)
    req = _lock(session, request_id)
    project = session.get(Project, req.project_id)
    if principal.user_id not in {req.requested_by, project.lead_id if project else None}:
        raise Forbidden("only the requester or the project lead may withdraw it")
    if req.status != RequestStatus.PENDING.value:
        raise Conflict(f"request {request_id} is already {req.status}")
    req.status = RequestStatus.WITHDRAWN.value
    req.decided_at = now_utc()
    audit.record(
        session,
        actor=principal.actor,
        action="request.withdraw",
        object_type="request",
        object_id=req.id,
    )
    return req


def _check_conflict_of_interest(session: Session, principal: Principal, req: AccessRequest) -> None:
    if principal.roles.by_org.get(req.org_id):
        raise ConflictOfInterest("you hold a role in the requesting organisation")
    project = session.get(Project, req.project_id)
    if project is not None and is_member(project, principal.user_id):
        raise ConflictOfInterest("you are a member of the requesting project")


def decide(
    session: Session, principal: Principal, request_id: int, data: ReviewCreate
) -> AccessRequest:
    """Record one reviewer's decision; approve enough times and the grants are created."""
    if not principal.roles.has(Role.REVIEWER):
        raise Forbidden("only reviewers decide on requests")
    now = now_utc()
    if data.decision is Decision.APPROVE:
        if data.expires_at is None:
            raise InvalidInput("expires_at: an approval needs an expiry")
        if data.expires_at.tzinfo is None:
            raise InvalidInput("expires_at: give a time zone (e.g. ...Z)")
        if data.expires_at <= now:
            raise InvalidInput("expires_at: must be in the future")
    elif not data.reasons.strip():
        raise InvalidInput("reasons: a rejection needs reasons")
    req = _lock(session, request_id)
    _check_conflict_of_interest(session, principal, req)
    if req.status != RequestStatus.PENDING.value:
        raise Conflict(f"request {request_id} is already {req.status}")
    if any(r.reviewer_id == principal.user_id for r in req.reviews):
        raise Conflict(f"you have already decided on request {request_id}")
    review = Review(
        request_id=req.id,
        reviewer_id=principal.user_id,
        decision=data.decision.value,
        conditions=data.conditions if data.decision is Decision.APPROVE else "",
        reasons=data.reasons if data.decision is Decision.REJECT else "",
        expires_at=data.expires_at if data.decision is Decision.APPROVE else None,
        decided_at=now,
    )
    session.add(review)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"you have already decided on request {request_id}") from exc
    audit.record(
        session,
        actor=principal.actor,
        action=f"review.{data.decision.value}",
        object_type="request",
        object_id=req.id,
        details={"review_id": review.id},
    )
    session.refresh(req, attribute_names=["reviews"])
    if data.decision is Decision.REJECT:
        req.status = RequestStatus.REJECTED.value
        req.decided_at = now
        audit.record(
            session,
            actor=principal.actor,
            action="request.reject",
            object_type="request",
            object_id=req.id,
        )
        return req
    approvals = [r for r in req.reviews if r.decision == Decision.APPROVE.value]
    if len(approvals) >= req.required_approvals:
        _approve(session, principal, req, approvals, now)
    return req


def _approve(
    session: Session,
    principal: Principal,
    req: AccessRequest,
    approvals: list[Review],
    now: dt.datetime,
) -> None:
    req.status = RequestStatus.APPROVED.value
    req.decided_at = now
    expiries = [r.expires_at for r in approvals if r.expires_at is not None]
    project = session.get(Project, req.project_id)
    if project is not None:  # access never outlives the project it was granted to
        end = dt.datetime.combine(project.end_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        expiries.append(end)
    expires = min(expiries)
    conditions = "\n".join(r.conditions.strip() for r in approvals if r.conditions.strip())
    audit.record(
        session,
        actor=principal.actor,
        action="request.approve",
        object_type="request",
        object_id=req.id,
    )
    for item in req.datasets:
        grant = Grant(
            project_id=req.project_id,
            dataset_id=item.dataset_id,
            request_id=req.id,
            conditions=conditions,
            granted_at=now,
            expires_at=expires,
        )
        session.add(grant)
        session.flush()
        audit.record(
            session,
            actor=principal.actor,
            action="grant.create",
            object_type="grant",
            object_id=grant.id,
            details={
                "project_id": req.project_id,
                "dataset_id": item.dataset_id,
                "expires_at": expires,
            },
        )


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
    if not allowed and principal.roles.has(Role.REVIEWER) and req is not None:
        _check_conflict_of_interest(session, principal, req)
        allowed = True
    if not allowed:
        raise Forbidden("only the dataset's custodian, a reviewer or an admin may revoke")
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
