"""Organisations, users and roles (admins), and ``/me``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, StateDep
from medhaven.hub.models import Org, OrgKind, User
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import (
    ActiveIn,
    OrgCreate,
    OrgPublic,
    Page,
    ReviewBoardIn,
    RoleGrant,
    UserCreate,
    UserPublic,
)
from medhaven.hub.services import identity
from medhaven.hub.services.common import get_or_404, paginate

router = APIRouter(prefix=V1, tags=["organisations and users"])


@router.get("/me", response_model=UserPublic)
def me(state: StateDep, me: CurrentUser) -> UserPublic:
    """Who you are and which roles you hold where."""
    with state.db.unit(readonly=True) as session:
        return UserPublic.model_validate(get_or_404(session, User, me.user_id, "user"))


@router.get("/orgs", response_model=Page[OrgPublic])
def list_orgs(
    state: StateDep, me: CurrentUser, page: PageDep, kind: OrgKind | None = None
) -> Page[OrgPublic]:
    """Organisations, optionally of one kind."""
    stmt = select(Org).order_by(Org.id)
    if kind is not None:
        stmt = stmt.where(Org.kind == kind.value)
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(session, stmt, limit=page.limit, offset=page.offset)
        return Page(
            items=[OrgPublic.model_validate(o) for o in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


@router.post("/orgs", response_model=OrgPublic, status_code=201)
def create_org(body: OrgCreate, state: StateDep, me: CurrentUser) -> OrgPublic:
    """A new organisation."""
    with state.db.unit() as session:
        return OrgPublic.model_validate(
            identity.create_org(
                session,
                name=body.name,
                kind=body.kind,
                actor=me.actor,
                review_board=body.review_board,
            )
        )


@router.post("/orgs/{org_id}/review-board", response_model=OrgPublic)
def set_review_board(
    org_id: PathId, body: ReviewBoardIn, state: StateDep, me: CurrentUser
) -> OrgPublic:
    """Make an organisation a central review board, or stop it being one."""
    with state.db.unit() as session:
        return OrgPublic.model_validate(
            identity.set_review_board(
                session, org_id=org_id, review_board=body.review_board, actor=me.actor
            )
        )


@router.get("/users", response_model=Page[UserPublic])
def list_users(
    state: StateDep,
    me: CurrentUser,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Text in email or name.")] = None,
) -> Page[UserPublic]:
    """All users, or those whose email or name contains ``q``."""
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(
            session, identity.list_users(q), limit=page.limit, offset=page.offset
        )
        return Page(
            items=[UserPublic.model_validate(u) for u in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, state: StateDep, me: CurrentUser) -> UserPublic:
    """A new user with a first role in an organisation."""
    with state.db.unit() as session:
        user = identity.create_user(
            session,
            email=body.email,
            password=body.password,
            name=body.name,
            org_id=body.org_id,
            role=body.role,
            actor=me.actor,
        )
        return UserPublic.model_validate(user)


@router.post("/users/{user_id}/roles", response_model=UserPublic)
def add_role(user_id: PathId, body: RoleGrant, state: StateDep, me: CurrentUser) -> UserPublic:
    """Give a user a role in an organisation."""
    with state.db.unit() as session:
        user = identity.add_role(
            session, user_id=user_id, org_id=body.org_id, role=body.role, actor=me.actor
        )
        return UserPublic.model_validate(user)


@router.post("/users/{user_id}/roles/revoke", response_model=UserPublic)
def remove_role(user_id: PathId, body: RoleGrant, state: StateDep, me: CurrentUser) -> UserPublic:
    """Take a role in an organisation away from a user (not your own last admin role: 409)."""
    with state.db.unit() as session:
        user = identity.remove_role(
            session, user_id=user_id, org_id=body.org_id, role=body.role, actor=me.actor,
            by_user_id=me.user_id,
        )  # fmt: skip
        return UserPublic.model_validate(user)


@router.post("/users/{user_id}/active", response_model=UserPublic)
def set_active(user_id: PathId, body: ActiveIn, state: StateDep, me: CurrentUser) -> UserPublic:
    """Deactivate or reactivate a user (their tokens stop working at once; not yourself: 409)."""
    with state.db.unit() as session:
        user = identity.set_active(
            session, user_id=user_id, active=body.active, actor=me.actor, by_user_id=me.user_id
        )
        return UserPublic.model_validate(user)


__all__ = ["router"]
