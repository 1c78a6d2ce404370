"""Review-board decisions, dataset by dataset, and the grants that follow from them.

Who sits on the board for a dataset: a user holding the reviewer role in the
organisation that publishes it (the hospital's own data review board), or in an
organisation an admin has marked as a *central review board* (a ministry or a
research institute running a national DRB). Nobody reviews a request of an
organisation in which they hold any role, or of a project they belong to
(conflict of interest).

Each dataset of a request is decided on its own: it needs its own number of
approvals (``required_approvals``, fixed when the request is made), gets its
grant as soon as it has them, and a rejection rejects only the datasets it
names. The request is pending while any dataset is; then it is ``approved`` if
at least one dataset was approved, else ``rejected``.

Deciding locks the request row and then the project row, so two reviewers at
the same moment are applied one after the other, and a project cannot be edited
while access to it is being approved.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from medhaven.errors import Conflict, ConflictOfInterest, Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import (
    AccessRequest,
    AccessRequestDataset,
    Dataset,
    DatasetStatus,
    Decision,
    Grant,
    Org,
    Project,
    ProjectMember,
    RequestStatus,
    Review,
    ReviewDataset,
    Role,
)
from medhaven.hub.schemas import ReviewCreate
from medhaven.hub.services.common import Principal, now_utc
from medhaven.hub.services.projects import is_member


def board_org_ids(session: Session) -> frozenset[int]:
    """Organisations marked as central review boards."""
    return frozenset(session.execute(select(Org.id).where(Org.review_board.is_(True))).scalars())


def sits_on_board(principal: Principal, *, dataset_org_id: int, boards: frozenset[int]) -> bool:
    """Whether the caller is a reviewer of the publishing organisation or of a central board."""
    if principal.roles.has(Role.REVIEWER, dataset_org_id):
        return True
    return any(principal.roles.has(Role.REVIEWER, org) for org in boards)


def to_review_clause(principal: Principal) -> ColumnElement[bool]:
    """Condition on :class:`AccessRequest`: pending, not conflicted, and with an open dataset
    the caller is on the board for and has not decided yet (the caller's review queue)."""
    reviewer_orgs = principal.roles.orgs_with(Role.REVIEWER)
    if not reviewer_orgs:
        return false()
    on_central_board = exists(
        select(Org.id).where(Org.id.in_(reviewer_orgs), Org.review_board.is_(True))
    )
    decided_by_me = exists(
        select(ReviewDataset.id).where(
            ReviewDataset.request_id == AccessRequestDataset.request_id,
            ReviewDataset.dataset_id == AccessRequestDataset.dataset_id,
            ReviewDataset.reviewer_id == principal.user_id,
        )
    )
    open_for_me = (
        select(AccessRequestDataset.request_id)
        .join(Dataset, Dataset.id == AccessRequestDataset.dataset_id)
        .where(
            AccessRequestDataset.status == DatasetStatus.PENDING.value,
            or_(on_central_board, Dataset.org_id.in_(reviewer_orgs)),
            ~decided_by_me,
        )
    )
    my_projects = select(ProjectMember.project_id).where(ProjectMember.user_id == principal.user_id)
    return and_(
        AccessRequest.status == RequestStatus.PENDING.value,
        AccessRequest.id.in_(open_for_me),
        AccessRequest.org_id.not_in(sorted(principal.roles.by_org)),
        AccessRequest.project_id.not_in(my_projects),
    )


def check_conflict_of_interest(session: Session, principal: Principal, req: AccessRequest) -> None:
    """Raise :class:`ConflictOfInterest` for a role in the requesting org or project membership."""
    if principal.roles.by_org.get(req.org_id):
        raise ConflictOfInterest("you hold a role in the requesting organisation")
    project = session.get(Project, req.project_id)
    if project is not None and is_member(project, principal.user_id):
        raise ConflictOfInterest("you are a member of the requesting project")


def lock_request(session: Session, request_id: int) -> AccessRequest:
    """The request, locked for this transaction (``SELECT ... FOR UPDATE``)."""
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


def lock_project(session: Session, project_id: int) -> Project | None:
    """The project, locked for this transaction."""
    stmt = (
        select(Project)
        .where(Project.id == project_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def _check_input(data: ReviewCreate, now: dt.datetime) -> None:
    if data.decision is Decision.APPROVE:
        if data.expires_at is None:
            raise InvalidInput("expires_at: an approval needs an expiry")
        if data.expires_at.tzinfo is None:
            raise InvalidInput("expires_at: give a time zone (e.g. ...Z)")
        if data.expires_at <= now:
            raise InvalidInput("expires_at: must be in the future")
    elif not data.reasons.strip():
        raise InvalidInput("reasons: a rejection needs reasons")


def _targets(
    session: Session,
    principal: Principal,
    req: AccessRequest,
    data: ReviewCreate,
) -> list[int]:
    """The datasets this decision covers: those named, or every open one the caller may decide."""
    items = {i.dataset_id: i for i in req.datasets}
    rows = session.execute(
        select(Dataset.id, Dataset.org_id).where(Dataset.id.in_(sorted(items)))
    ).all()
    orgs = {int(row[0]): int(row[1]) for row in rows}
    boards = board_org_ids(session)
    mine = {
        rd.dataset_id
        for r in req.reviews
        if r.reviewer_id == principal.user_id
        for rd in r.datasets
    }

    def eligible(did: int) -> bool:
        return sits_on_board(principal, dataset_org_id=orgs[did], boards=boards)

    if data.dataset_ids is not None:
        targets = sorted(set(data.dataset_ids))
        for did in targets:
            if did not in items:
                raise InvalidInput(f"dataset_ids: dataset {did} is not part of request {req.id}")
            if not eligible(did):
                raise Forbidden(f"you are not on a review board for dataset {did}")
            if items[did].status != DatasetStatus.PENDING.value:
                raise Conflict(f"dataset {did} of request {req.id} is already {items[did].status}")
            if did in mine:
                raise Conflict(f"you have already decided on dataset {did} of request {req.id}")
        return targets
    mine_to_decide = [did for did in sorted(items) if eligible(did)]
    if not mine_to_decide:
        raise Forbidden(f"you are not on a review board for any dataset of request {req.id}")
    still_open = [d for d in mine_to_decide if items[d].status == DatasetStatus.PENDING.value]
    targets = [d for d in still_open if d not in mine]
    if not targets:
        if still_open:
            raise Conflict(f"you have already decided on request {req.id}")
        raise Conflict(f"the datasets you review in request {req.id} are already decided")
    return targets


def decide(
    session: Session, principal: Principal, request_id: int, data: ReviewCreate
) -> AccessRequest:
    """Record one reviewer's decision on some datasets of a request; grant those approved enough."""
    if not principal.roles.has(Role.REVIEWER):
        raise Forbidden("only reviewers decide on requests")
    now = now_utc()
    _check_input(data, now)
    req = lock_request(session, request_id)
    check_conflict_of_interest(session, principal, req)
    if req.status != RequestStatus.PENDING.value:
        raise Conflict(f"request {request_id} is already {req.status}")
    project = lock_project(session, req.project_id)
    targets = _targets(session, principal, req, data)
    approve = data.decision is Decision.APPROVE
    if approve:
        retired = session.execute(
            select(Dataset.id).where(Dataset.id.in_(targets), Dataset.retired_at.is_not(None))
        ).scalar()
        if retired is not None:
            raise Conflict(f"dataset {retired} is retired: reject it or let the requester withdraw")
    review = Review(
        request_id=req.id,
        reviewer_id=principal.user_id,
        decision=data.decision.value,
        conditions=data.conditions if approve else "",
        reasons=data.reasons if not approve else "",
        expires_at=data.expires_at if approve else None,
        decided_at=now,
    )
    review.datasets.extend(
        ReviewDataset(
            request_id=req.id,
            dataset_id=did,
            reviewer_id=principal.user_id,
            decision=data.decision.value,
        )
        for did in targets
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
        details={"review_id": review.id, "dataset_ids": targets},
    )
    session.refresh(req, attribute_names=["reviews"])
    items = {i.dataset_id: i for i in req.datasets}
    for did in targets:
        if approve:
            _maybe_grant(session, principal, req, items[did], project, now)
        else:
            _close(session, principal, req, items[did], DatasetStatus.REJECTED, now)
    if all(i.status != DatasetStatus.PENDING.value for i in req.datasets):
        any_approved = any(i.status == DatasetStatus.APPROVED.value for i in req.datasets)
        req.status = (RequestStatus.APPROVED if any_approved else RequestStatus.REJECTED).value
        req.decided_at = now
        audit.record(
            session,
            actor=principal.actor,
            action=f"request.{'approve' if any_approved else 'reject'}",
            object_type="request",
            object_id=req.id,
        )
    return req


def _close(
    session: Session,
    principal: Principal,
    req: AccessRequest,
    item: AccessRequestDataset,
    status: DatasetStatus,
    now: dt.datetime,
) -> None:
    item.status = status.value
    item.decided_at = now
    audit.record(
        session,
        actor=principal.actor,
        action=f"request.dataset.{'approve' if status is DatasetStatus.APPROVED else 'reject'}",
        object_type="request",
        object_id=req.id,
        details={"dataset_id": item.dataset_id},
    )


def _maybe_grant(
    session: Session,
    principal: Principal,
    req: AccessRequest,
    item: AccessRequestDataset,
    project: Project | None,
    now: dt.datetime,
) -> None:
    approvals = [
        r
        for r in req.reviews
        if r.decision == Decision.APPROVE.value
        and any(rd.dataset_id == item.dataset_id for rd in r.datasets)
    ]
    if len(approvals) < item.required_approvals:
        return
    _close(session, principal, req, item, DatasetStatus.APPROVED, now)
    expiries = [r.expires_at for r in approvals if r.expires_at is not None]
    if project is not None:  # access never outlives the project it was granted to
        end = dt.datetime.combine(project.end_date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        expiries.append(end)
    expires = min(expiries)
    conditions = "\n".join(r.conditions.strip() for r in approvals if r.conditions.strip())
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


__all__ = [
    "board_org_ids",
    "check_conflict_of_interest",
    "decide",
    "lock_project",
    "lock_request",
    "sits_on_board",
    "to_review_clause",
]
