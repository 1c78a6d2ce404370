"""The append-only audit log: a SHA-256 chain over every state change and data access.

Each entry's hash covers its sequence number, time, actor, action, object,
details and the previous entry's hash, so modifying, removing or reordering
an entry breaks the chain at that entry. A head row holds the last sequence
number and hash; appends lock it, which serialises them across processes, and
truncation of the tail shows up as a head that names a missing entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from medhaven.hub.chain import GENESIS, VerifyResult, canonical
from medhaven.hub.models import AuditEntry, AuditHead


def entry_hash(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: str,
    prev_hash: str,
) -> str:
    """The SHA-256 of one entry's fields and its predecessor's hash."""
    body = json.dumps(
        [
            seq,
            at.astimezone(dt.UTC).isoformat(),
            actor,
            action,
            object_type,
            object_id,
            details,
            prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits or rolls back with the change)."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one()
    # microsecond precision only: what every backend stores round-trips, so hashes verify
    at = dt.datetime.now(dt.UTC)
    text = canonical(details or {})
    seq = head.seq + 1
    digest = entry_hash(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=text,
        prev_hash=head.hash,
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=text,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq = seq
    head.hash = digest
    session.flush()
    return entry


def verify(session: Session) -> VerifyResult:
    """Walk the chain; report the first entry that was modified, removed or reordered."""
    prev_hash = GENESIS
    expected = 1
    count = 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if entry.seq != expected:
            return VerifyResult(False, count, expected, f"entry {expected} is missing (removed)")
        if entry.prev_hash != prev_hash:
            return VerifyResult(
                False,
                count,
                entry.seq,
                f"entry {entry.seq} does not follow entry {expected - 1} (removed or reordered)",
            )
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            details=entry.details,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            return VerifyResult(False, count, entry.seq, f"entry {entry.seq} was modified")
        prev_hash = entry.hash
        expected += 1
    head = session.get(AuditHead, 1)
    last = expected - 1
    if head is None:
        return VerifyResult(False, count, None, "the chain head is missing")
    if head.seq != last or head.hash != prev_hash:
        if head.seq > last:
            return VerifyResult(False, count, last + 1, f"entry {last + 1} is missing (removed)")
        return VerifyResult(False, count, head.seq, "the chain head does not match the last entry")
    return VerifyResult(True, count)


def export_rows(session: Session) -> Iterator[dict[str, Any]]:
    """Every entry as a JSON-ready dict, in sequence order."""
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        yield {
            "seq": entry.seq,
            "at": entry.at.isoformat(),
            "actor": entry.actor,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "details": json.loads(entry.details),
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        }


__all__ = ["GENESIS", "VerifyResult", "canonical", "entry_hash", "export_rows", "record", "verify"]
