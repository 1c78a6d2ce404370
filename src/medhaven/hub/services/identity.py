"""Organisations, users, roles, API tokens, browser sessions, login with lockout."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from medhaven.errors import Conflict, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized
from medhaven.hub import audit
from medhaven.hub.models import ApiToken, BrowserSession, Org, OrgKind, Role, RoleAssignment, User
from medhaven.hub.permissions import RoleSet
from medhaven.hub.security import (
    MIN_PASSWORD_LENGTH,
    TOKEN_PREFIX,
    digest,
    hash_password,
    needs_rehash,
    new_secret,
    verify_password,
)
from medhaven.hub.services.common import Principal, get_or_404, now_utc

log = logging.getLogger(__name__)
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=8)
SCOPES = frozenset({"read", "write"})


def roles_of(user: User) -> RoleSet:
    """A user's roles per organisation."""
    return RoleSet.of((r.org_id, r.role) for r in user.roles)


def get_or_create_org(session: Session, *, name: str, kind: OrgKind, actor: str) -> Org:
    """The organisation called ``name``, created with ``kind`` if it does not exist."""
    org = session.execute(select(Org).where(Org.name == name)).scalar_one_or_none()
    if org is not None:
        if org.kind != kind.value:
            raise Conflict(f"organisation {org.id} exists with kind {org.kind}, not {kind.value}")
        return org
    return create_org(session, name=name, kind=kind, actor=actor)


BOARD_KINDS = frozenset({OrgKind.MINISTRY, OrgKind.RESEARCH_INSTITUTE})


def _check_board_kind(kind: str) -> None:
    if kind not in BOARD_KINDS:
        raise InvalidInput(
            "review_board: only a ministry or a research institute can be a central review board"
        )


def create_org(
    session: Session, *, name: str, kind: OrgKind, actor: str, review_board: bool = False
) -> Org:
    """A new organisation (``review_board``: a central review board)."""
    if review_board:
        _check_board_kind(kind.value)
    if session.execute(select(Org.id).where(Org.name == name)).first() is not None:
        raise Conflict("an organisation with that name exists")
    org = Org(name=name, kind=kind.value, review_board=review_board, created_at=now_utc())
    session.add(org)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="org.create",
        object_type="org",
        object_id=org.id,
        details={"kind": kind.value, "review_board": review_board},
    )
    return org


def set_review_board(session: Session, *, org_id: int, review_board: bool, actor: str) -> Org:
    """Mark an organisation as a central review board, or not (its reviewers decide everywhere)."""
    org = get_or_404(session, Org, org_id, "organisation")
    if review_board:
        _check_board_kind(org.kind)
    if org.review_board != review_board:
        org.review_board = review_board
        audit.record(
            session,
            actor=actor,
            action="org.review_board",
            object_type="org",
            object_id=org.id,
            details={"review_board": review_board},
        )
    return org


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters")


def create_user(
    session: Session, *, email: str, password: str, name: str, org_id: int, role: Role, actor: str
) -> User:
    """A new user holding ``role`` in organisation ``org_id``."""
    _check_password(password)
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidInput("email: not an email address")
    get_or_404(session, Org, org_id, "organisation")
    if session.execute(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict("a user with that email exists")
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
        created_at=now_utc(),
    )
    user.roles.append(RoleAssignment(org_id=org_id, role=role.value))
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.id,
        details={"org_id": org_id, "role": role.value},
    )
    return user


def add_role(session: Session, *, user_id: int, org_id: int, role: Role, actor: str) -> User:
    """Give a user a role in an organisation (idempotent)."""
    user = get_or_404(session, User, user_id, "user")
    get_or_404(session, Org, org_id, "organisation")
    if not any(r.org_id == org_id and r.role == role.value for r in user.roles):
        user.roles.append(RoleAssignment(org_id=org_id, role=role.value))
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="user.add_role",
            object_type="user",
            object_id=user.id,
            details={"org_id": org_id, "role": role.value},
        )
    return user


def remove_role(
    session: Session, *, user_id: int, org_id: int, role: Role, actor: str, by_user_id: int | None
) -> User:
    """Take a role in an organisation away from a user (idempotent).

    ``by_user_id`` is the caller: an administrator may not remove their own last admin role
    (:class:`Conflict`), so that nobody locks themselves out of administration by mistake.
    """
    user = get_or_404(session, User, user_id, "user")
    get_or_404(session, Org, org_id, "organisation")
    held = [r for r in user.roles if r.org_id == org_id and r.role == role.value]
    if not held:
        return user
    admin_roles = sum(1 for r in user.roles if r.role == Role.ADMIN.value)
    if role is Role.ADMIN and by_user_id == user_id and admin_roles == 1:
        raise Conflict("you may not remove your own last admin role: ask another administrator")
    user.roles.remove(held[0])
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="user.remove_role",
        object_type="user",
        object_id=user.id,
        details={"org_id": org_id, "role": role.value},
    )
    return user


def set_active(
    session: Session, *, user_id: int, active: bool, actor: str, by_user_id: int | None = None
) -> User:
    """Deactivate (or reactivate) a user: their tokens and sessions stop working at once.

    ``by_user_id`` is the caller: nobody may deactivate themselves (:class:`Conflict`).
    """
    user = get_or_404(session, User, user_id, "user")
    if not active and by_user_id == user_id:
        raise Conflict("you may not deactivate yourself: ask another administrator")
    if user.active != active:
        user.active = active
        audit.record(
            session,
            actor=actor,
            action="user.activate" if active else "user.deactivate",
            object_type="user",
            object_id=user.id,
        )
    return user


def find_user(session: Session, email: str) -> User | None:
    """The user with this email, if any."""
    return session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a password check: a user, or the error to raise after committing."""

    user: User | None
    error: Exception | None


def check_login(session: Session, *, email: str, password: str) -> LoginOutcome:
    """Check a password, counting failures and locking the account after too many.

    The caller commits *then* raises ``outcome.error``, so that failure counts
    and the audit entry persist.
    """
    now = now_utc()
    user = find_user(session, email)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        audit.record(
            session,
            actor=f"user:{user.id}",
            action="auth.login_locked",
            object_type="user",
            object_id=user.id,
        )
        return LoginOutcome(None, RateLimited("account locked after repeated failures; try later"))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
            audit.record(
                session,
                actor=f"user:{user.id}",
                action="auth.login_failed",
                object_type="user",
                object_id=user.id,
            )
        else:
            audit.record(
                session,
                actor="anonymous",
                action="auth.login_failed",
                object_type="user",
                object_id="unknown",
            )
        return LoginOutcome(None, Unauthorized("email or password is wrong"))
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return LoginOutcome(user, None)


def issue_token(
    session: Session, *, user: User, name: str, scopes: list[str], ttl: dt.timedelta
) -> tuple[ApiToken, str]:
    """A new API token for ``user``; returns the row and the secret (shown once)."""
    bad = set(scopes) - SCOPES
    if bad or not scopes:
        raise InvalidInput("scopes: each must be read or write")
    secret = new_secret(TOKEN_PREFIX)
    now = now_utc()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=digest(secret),
        scopes=" ".join(sorted(set(scopes))),
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="auth.token_issue",
        object_type="token",
        object_id=token.id,
        details={"scopes": token.scopes, "expires_at": token.expires_at},
    )
    return token, secret


def tokens_query(principal: Principal) -> Select[Any]:
    """The caller's own tokens."""
    return select(ApiToken).where(ApiToken.user_id == principal.user_id).order_by(ApiToken.id)


def revoke_token(session: Session, principal: Principal, token_id: int) -> ApiToken:
    """Revoke a token: one's own, or anyone's for an admin."""
    token = session.get(ApiToken, token_id)
    if token is None or (
        token.user_id != principal.user_id and not principal.roles.has(Role.ADMIN)
    ):
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = now_utc()
        audit.record(
            session,
            actor=principal.actor,
            action="auth.token_revoke",
            object_type="token",
            object_id=token.id,
        )
    return token


def principal_from_token(session: Session, secret: str) -> tuple[Principal, bool]:
    """The principal behind a bearer token (or :class:`Unauthorized`) and whether to touch it."""
    now = now_utc()
    token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == digest(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise Unauthorized("the API token is unknown, expired or revoked")
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise Unauthorized("the API token's user is not active")
    stale = token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1)
    principal = Principal(
        user.id, roles_of(user), "token", frozenset(token.scopes.split()), token.id
    )
    return principal, stale


def touch_token(session: Session, token_id: int) -> None:
    """Record that a token was used now (at most about once a minute per token)."""
    token = session.get(ApiToken, token_id)
    if token is not None:
        token.last_used_at = now_utc()


def open_session(session: Session, user: User) -> tuple[BrowserSession, str, str]:
    """A browser session: the row, the cookie secret and the CSRF token."""
    cookie, csrf = new_secret(), new_secret()
    now = now_utc()
    row = BrowserSession(
        user_id=user.id,
        session_hash=digest(cookie),
        csrf_hash=digest(csrf),
        created_at=now,
        expires_at=now + SESSION_TTL,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=f"user:{user.id}",
        action="auth.login",
        object_type="session",
        object_id=row.id,
    )
    return row, cookie, csrf


def principal_from_session(
    session: Session, cookie: str, csrf: str | None, *, unsafe: bool
) -> Principal:
    """The principal behind a session cookie; writes need the matching CSRF token."""
    now = now_utc()
    row = session.execute(
        select(BrowserSession).where(BrowserSession.session_hash == digest(cookie))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise Unauthorized("the session is unknown or has ended")
    if unsafe and (csrf is None or digest(csrf) != row.csrf_hash):
        raise Forbidden("missing or wrong CSRF token (send X-CSRF-Token)")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise Unauthorized("the session's user is not active")
    return Principal(user.id, roles_of(user), "session", frozenset(SCOPES), row.id)


def close_session(session: Session, principal: Principal) -> None:
    """End the caller's browser session (or revoke the token they called with)."""
    if principal.via == "session" and principal.credential_id is not None:
        row = session.get(BrowserSession, principal.credential_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = now_utc()
            audit.record(
                session,
                actor=principal.actor,
                action="auth.logout",
                object_type="session",
                object_id=row.id,
            )
    elif principal.via == "token" and principal.credential_id is not None:
        revoke_token(session, principal, principal.credential_id)


def list_users(q: str | None = None) -> Select[Any]:
    """A select over all users, or those whose email or name contains ``q`` (for pagination)."""
    stmt = select(User).order_by(User.id)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(User.email.ilike(pattern, escape="\\"), User.name.ilike(pattern, escape="\\"))
        )
    return stmt


__all__ = [
    "LOCKOUT",
    "MAX_FAILED_LOGINS",
    "LoginOutcome",
    "add_role",
    "check_login",
    "close_session",
    "create_org",
    "create_user",
    "find_user",
    "get_or_create_org",
    "issue_token",
    "list_users",
    "open_session",
    "principal_from_session",
    "principal_from_token",
    "remove_role",
    "revoke_token",
    "roles_of",
    "set_active",
    "set_review_board",
    "tokens_query",
    "touch_token",
]
