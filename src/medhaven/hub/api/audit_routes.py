"""The audit log over the API (admins): list entries, verify the chain."""

from __future__ import annotations

import json

from fastapi import APIRouter
from sqlalchemy import select

from medhaven.hub import audit
from medhaven.hub.api.deps import CurrentUser, PageDep, StateDep
from medhaven.hub.models import AuditEntry
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import AuditPublic, AuditVerifyPublic, Page
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=f"{V1}/audit", tags=["audit"])


@router.get("", response_model=Page[AuditPublic])
def list_entries(state: StateDep, me: CurrentUser, page: PageDep) -> Page[AuditPublic]:
    """Audit entries in chain order."""
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(
            session,
            select(AuditEntry).order_by(AuditEntry.seq),
            limit=page.limit,
            offset=page.offset,
        )
        items = [
            AuditPublic(
                seq=e.seq,
                at=e.at,
                actor=e.actor,
                action=e.action,
                object_type=e.object_type,
                object_id=e.object_id,
                details=json.loads(e.details),
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in rows
        ]
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/verify", response_model=AuditVerifyPublic)
def verify(state: StateDep, me: CurrentUser) -> AuditVerifyPublic:
    """Walk the SHA-256 chain and report the first broken entry."""
    with state.db.unit(readonly=True) as session:
        return AuditVerifyPublic(**audit.verify(session).as_dict())


__all__ = ["router"]
