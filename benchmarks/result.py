"""One benchmark row: MedHaven's figure, the baseline's figure from the same run, the ratio."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Result:
    """A measured comparison. ``ratio`` is MedHaven / baseline in ``unit``."""

    name: str
    medhaven: float
    unit: str
    baseline_name: str = "-"
    baseline: float | None = None
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """MedHaven's figure over the baseline's."""
        if self.baseline in (None, 0):
            return None
        return self.medhaven / self.baseline

    def as_dict(self) -> dict[str, Any]:
        """Plain dict including the ratio."""
        return {**asdict(self), "ratio": self.ratio}


def timed(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall-clock seconds of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
