"""What the hub's audit chain and a node's audit log share, without SQLAlchemy.

The genesis hash, the canonical JSON that is hashed and the verification
outcome. A node's ClientApp imports this on every Flower message, so it
must stay light: the hub's database layer lives in :mod:`.audit`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def canonical(details: Mapping[str, Any]) -> str:
    """Details as canonical JSON (sorted keys, no spaces): the exact text that is hashed."""
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: intact, or the first entry that is wrong and why."""

    intact: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "intact": self.intact,
            "entries": self.entries,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }


__all__ = ["GENESIS", "VerifyResult", "canonical"]
