"""The node's own audit log: JSON lines chained by SHA-256, one line per job run or refused.

Each line holds ``seq``, ``at``, the job's id, kind, project and grant, the
outcome and a one-line reason, then ``prev_hash`` and ``hash``. The hash is
the SHA-256 of the line's canonical JSON without ``hash`` (the hub's
:func:`medhaven.hub.chain.canonical`), so editing, removing or reordering a
line breaks the chain there. Appends take an exclusive ``flock`` on the file
so that two processes on one node cannot interleave. Never a patient value:
entries carry ids, names and outcomes only.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medhaven.errors import StoreError
from medhaven.hub.chain import GENESIS, VerifyResult, canonical

FIELDS = ("job_id", "kind", "project", "grant_id", "outcome", "reason")


def line_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of an entry's canonical JSON, ``hash`` itself left out."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def _last_hash(lines: list[str]) -> tuple[int, str]:
    for text in reversed(lines):
        if text.strip():
            last = json.loads(text)
            return int(last["seq"]), str(last["hash"])
    return 0, GENESIS


@dataclass(frozen=True)
class NodeAuditLog:
    """The append-only audit file of one node."""

    path: Path

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Append one entry (``FIELDS`` keys, ``actor`` if given) after the last one; return it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as exc:
            raise StoreError(
                f"{self.path}: cannot open the node audit log", detail=str(exc)
            ) from exc
        with os.fdopen(fd, "r+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                try:
                    seq, prev = _last_hash(fh.read().splitlines())
                except (ValueError, KeyError) as exc:
                    raise StoreError(
                        f"{self.path}: the last audit line is unreadable; run `verify`"
                    ) from exc
                entry: dict[str, Any] = {
                    "seq": seq + 1,
                    "at": dt.datetime.now(dt.UTC).isoformat(),
                    **{k: fields.get(k) for k in FIELDS},
                    # who acted (a console user), only on a custodian's action
                    **({"actor": str(fields["actor"])} if fields.get("actor") else {}),
                    "prev_hash": prev,
                }
                entry["hash"] = line_hash(entry)
                fh.write(canonical(entry) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in file order (an absent file is an empty log)."""
        if not self.path.exists():
            return []
        out: list[dict[str, Any]] = []
        for text in self.path.read_text(encoding="utf-8").splitlines():
            if text.strip():
                out.append(json.loads(text))
        return out

    def verify(self) -> VerifyResult:
        """Walk the chain; report the first line that was modified, removed or reordered."""
        if not self.path.exists():
            return VerifyResult(True, 0)
        prev, expected, count = GENESIS, 1, 0
        for text in self.path.read_text(encoding="utf-8").splitlines():
            if not text.strip():
                continue
            count += 1
            try:
                entry = json.loads(text)
                seq, recorded = int(entry["seq"]), entry["hash"]
            except (ValueError, KeyError, TypeError):
                return VerifyResult(False, count, expected, f"line {count} is not an audit entry")
            if seq != expected:
                return VerifyResult(
                    False, count, expected, f"entry {expected} is missing (removed)"
                )
            if entry.get("prev_hash") != prev:
                return VerifyResult(
                    False, count, seq, f"entry {seq} does not follow entry {seq - 1}"
                )
            if line_hash(entry) != recorded:
                return VerifyResult(False, count, seq, f"entry {seq} was modified")
            prev, expected = recorded, expected + 1
        return VerifyResult(True, count)


__all__ = ["FIELDS", "NodeAuditLog", "line_hash"]
