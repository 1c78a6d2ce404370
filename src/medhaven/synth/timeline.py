"""Columnar builders for the generator: visits and event rows as numpy segments.

Events are produced in vectorised segments (one numpy array per column) and
concatenated at the end; visits are numbered only after sorting, so events
refer to visits by their position in the segment list until then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

EPOCH_DAY_2025 = 20089  # 2025-01-01 as days since 1970-01-01
DATA_END = EPOCH_DAY_2025 - 1  # last day of data: 2024-12-31


def sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def uniform_days(rng: np.random.Generator, *, low: IntArray, high: IntArray) -> IntArray:
    """One day per row, uniform in ``[low, high]`` (``high < low`` gives ``low``)."""
    span = np.maximum(high - low, 0) + 1
    return np.asarray(low + (rng.random(low.shape[0]) * span).astype(np.int64), dtype=np.int64)


def date_array(days: IntArray) -> pa.Array:
    """Days since 1970-01-01 as an Arrow date32 array."""
    return pa.array(days.astype(np.int32), pa.date32())


def datetime_array(days: IntArray, seconds: IntArray) -> pa.Array:
    """Days since 1970-01-01 plus seconds into the day, as an Arrow timestamp array."""
    us = (days * 86400 + seconds) * 1_000_000
    return pa.array(us, pa.timestamp("us"))


@dataclass
class VisitBuilder:
    """Visits collected in segments; ids are assigned by (person, start) after all are added."""

    person: list[IntArray] = field(default_factory=list)
    start: list[IntArray] = field(default_factory=list)
    end: list[IntArray] = field(default_factory=list)
    concept: list[IntArray] = field(default_factory=list)
    size: int = 0

    def add(self, *, person: IntArray, start: IntArray, end: IntArray, concept: int) -> IntArray:
        """Add visits; return their positions, which :meth:`ids` later turns into visit ids."""
        n = person.shape[0]
        self.person.append(person)
        self.start.append(start)
        self.end.append(end)
        self.concept.append(np.full(n, concept, np.int64))
        pos = np.arange(self.size, self.size + n, dtype=np.int64)
        self.size += n
        return pos

    def columns(self) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
        """Sorted person, start, end, concept arrays and the id of each original position."""
        person = np.concatenate(self.person) if self.person else np.zeros(0, np.int64)
        start = np.concatenate(self.start) if self.start else np.zeros(0, np.int64)
        end = np.concatenate(self.end) if self.end else np.zeros(0, np.int64)
        concept = np.concatenate(self.concept) if self.concept else np.zeros(0, np.int64)
        order = np.lexsort((concept, start, person))
        ids = np.empty(order.shape[0], np.int64)
        ids[order] = np.arange(1, order.shape[0] + 1, dtype=np.int64)
        return person[order], start[order], end[order], concept[order], ids


@dataclass
class EventBuilder:
    """Rows of one event table, collected as column segments of equal length."""

    columns: dict[str, list[npt.NDArray[np.generic]]] = field(default_factory=dict)
    names: tuple[str, ...] = ()

    def add(self, **cols: npt.NDArray[np.generic] | int | float) -> None:
        """Add one segment; scalars are broadcast to the segment length."""
        n = max(np.asarray(v).shape[0] for v in cols.values() if np.ndim(v) == 1)
        if not self.names:
            self.names = tuple(cols)
        if set(cols) != set(self.names):
            raise ValueError(f"segment columns differ: {sorted(set(cols) ^ set(self.names))}")
        for name in self.names:
            v = cols[name]
            arr = np.asarray(v) if np.ndim(v) == 1 else np.full(n, v)
            self.columns.setdefault(name, []).append(arr)

    def concat(self) -> dict[str, npt.NDArray[np.generic]]:
        """All segments joined, one array per column."""
        return {k: np.concatenate(v) for k, v in self.columns.items()}


__all__ = [
    "DATA_END",
    "BoolArray",
    "EventBuilder",
    "FloatArray",
    "IntArray",
    "VisitBuilder",
    "date_array",
    "datetime_array",
    "sigmoid",
    "uniform_days",
]
