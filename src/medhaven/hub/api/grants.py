"""Grants: list, view, revoke."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from medhaven.hub.api.convert import grant_public
from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, QueryId, StateDep
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import GrantPublic, Page, RevokeIn
from medhaven.hub.services import access
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=f"{V1}/grants", tags=["grants"])


@router.get("", response_model=Page[GrantPublic])
def list_grants(
    state: StateDep,
    me: CurrentUser,
    page: PageDep,
    project_id: QueryId = None,
    dataset_id: QueryId = None,
    status: Literal["active", "expired", "revoked"] | None = None,
) -> Page[GrantPublic]:
    """Grants you may see, optionally filtered."""
    stmt = access.list_grants_query(me, project_id=project_id, dataset_id=dataset_id, status=status)
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(session, stmt, limit=page.limit, offset=page.offset)
        return Page(
            items=[grant_public(g) for g in rows], total=total, limit=page.limit, offset=page.offset
        )


@router.get("/{grant_id}", response_model=GrantPublic)
def view(grant_id: PathId, state: StateDep, me: CurrentUser) -> GrantPublic:
    """One grant and whether it is active now."""
    with state.db.unit(readonly=True) as session:
        return grant_public(access.get_grant(session, me, grant_id))


@router.post("/{grant_id}/revoke", response_model=GrantPublic)
def revoke(grant_id: PathId, body: RevokeIn, state: StateDep, me: CurrentUser) -> GrantPublic:
    """Revoke a grant now."""
    with state.db.unit() as session:
        return grant_public(access.revoke(session, me, grant_id, body.reason))


__all__ = ["router"]
