"""Dependencies every route shares: the hub state, the caller, and the permission guard."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from medhaven.errors import Forbidden, Unauthorized
from medhaven.hub.db import Database
from medhaven.hub.permissions import PUBLIC, allowed_roles, require
from medhaven.hub.ratelimit import LoginLimiter
from medhaven.hub.schemas import MAX_ID
from medhaven.hub.services import identity
from medhaven.hub.services.common import MAX_LIMIT, Principal
from medhaven.hub.services.jobs import JobRunner

log = logging.getLogger(__name__)
SESSION_COOKIE = "medhaven_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class HubState:
    """What the app holds: the database, the disclosure threshold, cookie policy, the limiter."""

    db: Database
    min_cell_count: int
    secure_cookies: bool
    limiter: LoginLimiter
    jobs: JobRunner | None = None  # None: jobs cannot be submitted (no key directory)


def get_state(request: Request) -> HubState:
    """The hub state of this app."""
    state: HubState = request.app.state.hub
    return state


def _authenticate(request: Request, state: HubState) -> Principal:
    auth = request.headers.get("authorization", "")
    unsafe = request.method not in SAFE_METHODS
    touch = False
    with state.db.unit(readonly=True) as session:
        if auth:
            scheme, _, secret = auth.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthorized("use Authorization: Bearer <API token>")
            principal, touch = identity.principal_from_token(session, secret.strip())
        elif cookie := request.cookies.get(SESSION_COOKIE):
            principal = identity.principal_from_session(
                session, cookie, request.headers.get(CSRF_HEADER), unsafe=unsafe
            )
        else:
            raise Unauthorized("sign in or send an API token")
    if touch and principal.credential_id is not None:
        with state.db.unit() as session:
            identity.touch_token(session, principal.credential_id)
    if unsafe and "write" not in principal.scopes:
        raise Forbidden("this API token is read-only")
    return principal


def authorize(request: Request) -> None:
    """Deny by default: look the route up in the permission table, authenticate, check roles."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    method = "GET" if request.method == "HEAD" else request.method
    allowed = allowed_roles(method, path) if path else None
    if allowed is None:
        log.error("route %s %s has no permission entry; denied", request.method, path)
        raise Forbidden("this route has no permission entry")
    if allowed == PUBLIC:
        return
    principal = _authenticate(request, get_state(request))
    require(principal.roles, allowed, what=f"{request.method} {path}")
    request.state.principal = principal


def current_principal(request: Request) -> Principal:
    """The caller that :func:`authorize` established."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized("sign in or send an API token")
    return principal


@dataclass(frozen=True)
class PageParams:
    """``limit`` and ``offset`` of a list."""

    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Items to skip.")] = 0,
) -> PageParams:
    """Pagination parameters shared by every list."""
    return PageParams(limit, offset)


PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="Object id.")]
QueryId = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="Only objects linked to this id.")
]
StateDep = Annotated[HubState, Depends(get_state)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
PageDep = Annotated[PageParams, Depends(page_params)]

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentUser",
    "HubState",
    "PageDep",
    "PageParams",
    "PathId",
    "QueryId",
    "StateDep",
    "authorize",
    "current_principal",
]
