"""Access requests and review-board decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from medhaven.hub.api.convert import request_public
from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, QueryId, StateDep
from medhaven.hub.models import RequestStatus
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import Page, RequestCreate, RequestPublic, ReviewCreate
from medhaven.hub.services import access
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=f"{V1}/requests", tags=["access requests"])


@router.get("", response_model=Page[RequestPublic])
def list_requests(
    state: StateDep,
    me: CurrentUser,
    page: PageDep,
    status: RequestStatus | None = None,
    project_id: QueryId = None,
    to_review: Annotated[
        bool,
        Query(
            description="Only pending requests with a dataset you are on the board for and have "
            "not decided yet, without a conflict of interest (your review queue)."
        ),
    ] = False,
) -> Page[RequestPublic]:
    """Requests you may see (reviewers: all), optionally by status, project or review queue."""
    stmt = access.list_requests_query(
        me, status=status.value if status else None, project_id=project_id, to_review=to_review
    )
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(session, stmt, limit=page.limit, offset=page.offset)
        return Page(
            items=[request_public(r) for r in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


@router.post("", response_model=RequestPublic, status_code=201)
def create(body: RequestCreate, state: StateDep, me: CurrentUser) -> RequestPublic:
    """Ask for access to datasets for one of your projects."""
    with state.db.unit() as session:
        return request_public(access.create_request(session, me, body))


@router.get("/{request_id}", response_model=RequestPublic)
def view(request_id: PathId, state: StateDep, me: CurrentUser) -> RequestPublic:
    """One request and its reviews."""
    with state.db.unit(readonly=True) as session:
        return request_public(access.get_request(session, me, request_id))


@router.post("/{request_id}/withdraw", response_model=RequestPublic)
def withdraw(request_id: PathId, state: StateDep, me: CurrentUser) -> RequestPublic:
    """Withdraw a pending request."""
    with state.db.unit() as session:
        return request_public(access.withdraw(session, me, request_id))


@router.post("/{request_id}/reviews", response_model=RequestPublic, status_code=201)
def review(
    request_id: PathId, body: ReviewCreate, state: StateDep, me: CurrentUser
) -> RequestPublic:
    """Approve (conditions, expiry) or reject (reasons); enough approvals create the grants."""
    with state.db.unit() as session:
        return request_public(access.decide(session, me, request_id, body))


__all__ = ["router"]
