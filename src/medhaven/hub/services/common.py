"""What every service shares: the calling principal, the clock, pagination, lookups."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from medhaven.errors import NotFound
from medhaven.hub.models import Base
from medhaven.hub.permissions import RoleSet

M = TypeVar("M", bound=Base)
MAX_LIMIT = 200


def now_utc() -> dt.datetime:
    """The current time, timezone-aware UTC, truncated to microseconds."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user id, their roles, and how they signed in."""

    user_id: int
    roles: RoleSet
    via: str  # "token", "session" or "cli"
    scopes: frozenset[str] = frozenset({"read", "write"})
    credential_id: int | None = None

    @property
    def actor(self) -> str:
        """The pseudonymous actor name written to the audit log."""
        return f"user:{self.user_id}"


SYSTEM_ACTOR = "system:cli"


def get_or_404(session: Session, model: type[M], object_id: int, what: str) -> M:
    """Load by primary key or raise :class:`NotFound` naming the kind of object."""
    obj = session.get(model, object_id)
    if obj is None:
        raise NotFound(f"{what} {object_id} not found")
    return obj


def paginate(
    session: Session, query: Select[Any], *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of ``query`` and the total count."""
    total = session.execute(
        select(func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    rows = list(session.execute(query.limit(min(limit, MAX_LIMIT)).offset(offset)).scalars())
    return rows, int(total)


__all__ = ["MAX_LIMIT", "SYSTEM_ACTOR", "Principal", "get_or_404", "now_utc", "paginate"]
