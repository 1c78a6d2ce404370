"""Tables that disclosure control works on: cells plus the margins published with them.

Every table is reduced to one shape: a flat list of cells and a list of
margins, each margin the sum of a set of cells. A 1-D table with its total, a
2-D table with row, column and grand totals, and a hierarchical table with
group subtotals are all this shape, so one linear-programming audit and one
secondary-suppression search serve them all.

Entries are numbered: cells ``0 .. n-1`` then margins ``n .. n+m-1``.
Validation errors name the cell's position, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from medhaven.errors import InvalidInput

TableKind = Literal["one_way", "two_way", "hierarchical"]


@dataclass(frozen=True)
class Margin:
    """A published sum of cells: its label and the indices of the cells it adds up."""

    label: str
    members: tuple[int, ...]


@dataclass(frozen=True)
class TableStructure:
    """The layout of a table without any values: cell labels and margins."""

    kind: TableKind
    cell_labels: tuple[str, ...]
    margins: tuple[Margin, ...]
    shape: tuple[int, ...]

    @property
    def n_cells(self) -> int:
        """How many interior cells the table has."""
        return len(self.cell_labels)

    @property
    def n_entries(self) -> int:
        """Cells plus margins."""
        return len(self.cell_labels) + len(self.margins)

    def label(self, entry: int) -> str:
        """The label of entry ``entry`` (a cell or a margin)."""
        if entry < self.n_cells:
            return self.cell_labels[entry]
        return self.margins[entry - self.n_cells].label

    def is_margin(self, entry: int) -> bool:
        """Whether entry ``entry`` is a margin rather than an interior cell."""
        return entry >= self.n_cells

    def members(self, entry: int) -> tuple[int, ...]:
        """The cells an entry adds up: itself for a cell, its members for a margin."""
        if entry < self.n_cells:
            return (entry,)
        return self.margins[entry - self.n_cells].members

    def margins_of(self, cell: int) -> list[int]:
        """The entry numbers of the margins that contain ``cell``."""
        return [self.n_cells + k for k, m in enumerate(self.margins) if cell in m.members]


@dataclass(frozen=True)
class LinkedTable:
    """A table's structure with its true values (cells then margins); never leaves the node."""

    structure: TableStructure
    values: tuple[float, ...]

    @classmethod
    def from_cells(cls, structure: TableStructure, cells: Sequence[float]) -> LinkedTable:
        """Build a table from cell values, computing every margin as the sum of its cells."""
        margins = [sum(cells[i] for i in m.members) for m in structure.margins]
        return cls(structure=structure, values=(*cells, *margins))


def _check_count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}: a count must be a whole number")
    if value < 0:
        raise InvalidInput(f"{where}: a count must not be negative")
    return value


def one_way(
    counts: Mapping[str, int] | Sequence[int], *, total: bool = True, name: str = "table"
) -> LinkedTable:
    """A 1-D count table (e.g. patients per age band), with its total unless ``total=False``."""
    if isinstance(counts, Mapping):
        labels = tuple(str(k) for k in counts)
        raw = list(counts.values())
    else:
        raw = list(counts)
        labels = tuple(str(i) for i in range(len(raw)))
    if not raw:
        raise InvalidInput(f"{name}: the table has no cells")
    cells = [_check_count(v, f"{name} cell {i + 1}") for i, v in enumerate(raw)]
    margins = (Margin("total", tuple(range(len(cells)))),) if total else ()
    structure = TableStructure("one_way", labels, margins, (len(cells),))
    return LinkedTable.from_cells(structure, cells)


def two_way(
    counts: Sequence[Sequence[int]],
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    margins: bool = True,
    name: str = "table",
) -> LinkedTable:
    """A 2-D count table with row totals, column totals and a grand total (unless ``margins=False``)."""
    rows = [list(r) for r in counts]
    if not rows or not rows[0]:
        raise InvalidInput(f"{name}: the table has no cells")
    n_cols = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != n_cols:
            raise InvalidInput(f"{name} row {i + 1}: expected {n_cols} columns, found {len(r)}")
    rl = (
        [str(x) for x in row_labels]
        if row_labels is not None
        else [str(i) for i in range(len(rows))]
    )
    cl = [str(x) for x in col_labels] if col_labels is not None else [str(j) for j in range(n_cols)]
    if len(rl) != len(rows) or len(cl) != n_cols:
        raise InvalidInput(f"{name}: the number of labels does not match the table's shape")
    cells = [
        _check_count(v, f"{name} row {i + 1} column {j + 1}")
        for i, r in enumerate(rows)
        for j, v in enumerate(r)
    ]
    labels = tuple(f"{a} | {b}" for a in rl for b in cl)
    ms: list[Margin] = []
    if margins:
        for i, a in enumerate(rl):
            ms.append(Margin(f"{a} | total", tuple(i * n_cols + j for j in range(n_cols))))
        for j, b in enumerate(cl):
            ms.append(Margin(f"total | {b}", tuple(i * n_cols + j for i in range(len(rows)))))
        ms.append(Margin("total | total", tuple(range(len(cells)))))
    structure = TableStructure("two_way", labels, tuple(ms), (len(rows), n_cols))
    return LinkedTable.from_cells(structure, cells)


def hierarchical(
    groups: Mapping[str, Mapping[str, int]], *, total: bool = True, name: str = "table"
) -> LinkedTable:
    """A two-level 1-D table (e.g. region → hospital) with group subtotals and a grand total."""
    if not groups:
        raise InvalidInput(f"{name}: the table has no groups")
    labels: list[str] = []
    cells: list[int] = []
    ms: list[Margin] = []
    for g, children in groups.items():
        if not children:
            raise InvalidInput(f"{name} group {g!s}: the group has no cells")
        start = len(cells)
        for c, v in children.items():
            labels.append(f"{g} / {c}")
            cells.append(_check_count(v, f"{name} group {g!s} cell {c!s}"))
        ms.append(Margin(f"{g} / total", tuple(range(start, len(cells)))))
    if total:
        ms.append(Margin("total", tuple(range(len(cells)))))
    structure = TableStructure("hierarchical", tuple(labels), tuple(ms), (len(cells),))
    return LinkedTable.from_cells(structure, cells)


__all__ = [
    "LinkedTable",
    "Margin",
    "TableKind",
    "TableStructure",
    "hierarchical",
    "one_way",
    "two_way",
]
