"""Sign-in routes: password → browser session (cookie + CSRF) or API token; token management."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response

from medhaven.errors import MedHavenError
from medhaven.hub.api.deps import SESSION_COOKIE, CurrentUser, PageDep, PathId, StateDep
from medhaven.hub.models import User
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import LoginIn, Page, SessionIssued, TokenCreate, TokenIssued, TokenPublic
from medhaven.hub.services import identity
from medhaven.hub.services.common import paginate
from medhaven.hub.services.identity import LoginOutcome

router = APIRouter(prefix=f"{V1}/auth", tags=["auth"])


def _login(request: Request, state: StateDep, body: LoginIn) -> User:
    state.limiter.hit(request.client.host if request.client else "unknown")
    with state.db.unit() as session:
        outcome: LoginOutcome = identity.check_login(
            session, email=body.email, password=body.password
        )
    # committed: failure counts and the audit entry persist even though we raise
    if outcome.error is not None or outcome.user is None:
        err = outcome.error
        raise err if isinstance(err, MedHavenError) else RuntimeError("login failed")
    return outcome.user


@router.post("/login", response_model=SessionIssued)
def login(request: Request, response: Response, state: StateDep, body: LoginIn) -> SessionIssued:
    """Start a browser session: sets an HttpOnly cookie; send the CSRF token on writes."""
    user = _login(request, state, body)
    with state.db.unit() as session:
        row, cookie, csrf = identity.open_session(session, session.merge(user))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(identity.SESSION_TTL.total_seconds()),
        httponly=True,
        secure=state.secure_cookies,
        samesite="strict",
        path="/",
    )
    return SessionIssued(csrf_token=csrf, expires_at=row.expires_at)


@router.post("/token", response_model=TokenIssued, status_code=201)
def token(request: Request, state: StateDep, body: TokenCreate) -> TokenIssued:
    """Exchange email and password for a scoped, expiring API token (shown once)."""
    user = _login(request, state, body)
    with state.db.unit() as session:
        row, secret = identity.issue_token(
            session,
            user=session.merge(user),
            name=body.name,
            scopes=list(body.scopes),
            ttl=dt.timedelta(days=body.ttl_days),
        )
    return TokenIssued(
        id=row.id, token=secret, scopes=row.scopes.split(), expires_at=row.expires_at
    )


@router.post("/logout", status_code=204)
def logout(response: Response, state: StateDep, me: CurrentUser) -> Response:
    """End this browser session, or revoke the API token used for this call."""
    with state.db.unit() as session:
        identity.close_session(session, me)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/tokens", response_model=Page[TokenPublic])
def tokens(state: StateDep, me: CurrentUser, page: PageDep) -> Page[TokenPublic]:
    """Your API tokens (never their secrets)."""
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(
            session, identity.tokens_query(me), limit=page.limit, offset=page.offset
        )
        items = [TokenPublic.model_validate(t) for t in rows]
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.delete("/tokens/{token_id}", response_model=TokenPublic)
def revoke_token(token_id: PathId, state: StateDep, me: CurrentUser) -> TokenPublic:
    """Revoke one of your tokens (an admin: anyone's)."""
    with state.db.unit() as session:
        return TokenPublic.model_validate(identity.revoke_token(session, me, token_id))


__all__ = ["router"]
