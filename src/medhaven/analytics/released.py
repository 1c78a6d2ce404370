"""What leaves the node: released tables and counts that never hold a suppressed value.

A :class:`ReleasedTable` keeps the table's structure, the published value of
each entry (``None`` where suppressed) and why each entry was suppressed. The
true value of a suppressed entry is not stored in it at all, so no
serialisation, log line or ``repr`` can leak it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.table import TableStructure


class Status(StrEnum):
    """Why an entry is or is not shown."""

    PUBLISHED = "published"
    PRIMARY = "primary"
    SECONDARY = "secondary"


@dataclass(frozen=True)
class ReleasedEntry:
    """One cell or margin as released: its value, or ``None`` and a marker when suppressed."""

    label: str
    is_margin: bool
    value: float | None
    status: Status

    @property
    def suppressed(self) -> bool:
        """Whether the entry is hidden."""
        return self.status is not Status.PUBLISHED


@dataclass(frozen=True)
class ReleasedTable:
    """A table after disclosure control: published values, a suppressed mask, reasons."""

    structure: TableStructure
    entries: tuple[ReleasedEntry, ...]
    policy: DisclosurePolicy
    rounded: bool
    magnitude: bool = False

    @property
    def suppressed_mask(self) -> tuple[bool, ...]:
        """One flag per entry (cells, then margins): true where hidden."""
        return tuple(e.suppressed for e in self.entries)

    @property
    def primary(self) -> tuple[int, ...]:
        """Entry numbers suppressed because they are sensitive themselves."""
        return tuple(i for i, e in enumerate(self.entries) if e.status is Status.PRIMARY)

    @property
    def secondary(self) -> tuple[int, ...]:
        """Entry numbers suppressed only so that the sensitive ones cannot be recovered."""
        return tuple(i for i, e in enumerate(self.entries) if e.status is Status.SECONDARY)

    def published(self) -> list[float | None]:
        """The published value of each entry, ``None`` where suppressed."""
        return [e.value for e in self.entries]

    def cell_matrix(self) -> list[list[float | None]]:
        """The interior cells of a two-way table as rows (``None`` where suppressed)."""
        if len(self.structure.shape) != 2:
            raise ValueError("cell_matrix is only defined for two-way tables")
        n_rows, n_cols = self.structure.shape
        return [[self.entries[i * n_cols + j].value for j in range(n_cols)] for i in range(n_rows)]

    def to_json(self, *, include_reasons: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; suppressed entries show the policy's marker and no value.

        ``include_reasons`` adds primary / secondary for the output checker at
        the node. Leave it off for anything that leaves: telling a recipient
        which cells are small would narrow what they can infer.
        """
        marker = self.policy.table_marker
        out_entries: list[dict[str, Any]] = []
        for e in self.entries:
            item: dict[str, Any] = {
                "label": e.label,
                "margin": e.is_margin,
                "value": None if e.suppressed else e.value,
                "display": marker if e.suppressed else _fmt(e.value),
                "suppressed": e.suppressed,
            }
            if include_reasons:
                item["reason"] = e.status.value
            out_entries.append(item)
        return {
            "kind": self.structure.kind,
            "shape": list(self.structure.shape),
            "measure": "sum" if self.magnitude else "count",
            "min_cell_count": self.policy.min_cell_count,
            "rounding_base": self.policy.rounding_base if self.rounded else None,
            "entries": out_entries,
        }


@dataclass(frozen=True)
class ReleasedCount:
    """A single count as released: a number, or suppressed with a marker like ``"<5"``."""

    value: int | None
    marker: str | None
    noisy: bool = False

    @property
    def suppressed(self) -> bool:
        """Whether the count is hidden."""
        return self.value is None

    @property
    def display(self) -> str:
        """What a person sees: the number or the marker."""
        return self.marker if self.value is None and self.marker else str(self.value)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that never holds a suppressed count."""
        return {
            "value": self.value,
            "display": self.display,
            "suppressed": self.suppressed,
            "noisy": self.noisy,
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:g}"


__all__ = ["ReleasedCount", "ReleasedEntry", "ReleasedTable", "Status"]
