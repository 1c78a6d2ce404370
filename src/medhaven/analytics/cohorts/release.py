"""Disclosure control for a cohort's counts and attrition before they leave the node.

The attrition is a chain of nested counts ``v0 >= v1 >= ... >= vm`` (persons
or events remaining after each stage). Releasing them all would reveal every
difference ``v(j-1) - vj`` (how many were excluded at a stage) by
subtraction, so the chain is released as one table: the cells are the
exclusions at each stage plus what remains at the end, and each stage's
remaining count is a margin (the sum of the cells after it). The shared
suppression of :mod:`medhaven.analytics` then hides small cells and margins
(primary) and enough others (complementary) that no hidden value can be
recovered from what is published, checked by its LP audit. The search
starts from a pattern suited to a chain: a small exclusion is protected by
hiding the stage count before it (merging it with the previous exclusion),
or after it, whichever merges it with more; the final cohort count is hidden
only when nothing else protects. The shared search then adds whatever more
the LP audit needs. Persons and
events are two separate tables; the last stage's events are the cohort's
records (periods after era collapse).
"""

from __future__ import annotations

from typing import Any

from medhaven.analytics.cohorts.runner import CohortRun, Stage
from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.released import ReleasedTable
from medhaven.analytics.suppression import primary_counts, protect, release
from medhaven.analytics.table import LinkedTable, Margin, TableStructure


def attrition_table(stages: tuple[Stage, ...], *, measure: str) -> LinkedTable:
    """The chain of one measure (``persons`` or ``events``) as cells (exclusions, rest) + margins."""
    values = [int(getattr(s, measure)) for s in stages]
    m = len(values) - 1
    cells = [values[j - 1] - values[j] for j in range(1, m + 1)] + [values[m]]
    labels = (
        *(f"excluded at {stages[j].name}" for j in range(1, m + 1)),
        f"remaining after {stages[m].name}",
    )
    margins = tuple(Margin(stages[j].name, tuple(range(j, m + 1))) for j in range(m))
    structure = TableStructure("one_way", labels, margins, (m + 1,))
    return LinkedTable.from_cells(structure, cells)


def _stage_entry(released: ReleasedTable | None, j: int, m: int) -> int:
    """Entry number holding stage ``j``'s remaining count (a margin, or the last cell)."""
    return m if j == m else m + 1 + j


def _chain_start(values: tuple[float, ...], primary: set[int], m: int) -> set[int]:
    """Stage counts (and the exclusion merged with them) that protect each small exclusion."""
    hidden = set(primary)
    for k in range(1, m + 1):  # exclusion at stage k is cell k - 1
        if k - 1 not in primary:
            continue
        before, after = _stage_entry(None, k - 1, m), _stage_entry(None, k, m)
        if before in hidden or after in hidden:
            continue
        # Hiding stage k-1 merges this exclusion with the previous one (none at stage 0:
        # then nothing bounds it); hiding stage k merges it with the next one.
        width_before = float("inf") if k == 1 else values[k - 2] + values[k - 1]
        width_after = values[k - 1] + (values[k] if k < m else values[m])
        if k == m:
            width_after = -1.0  # the final count: hidden only by the shared search
        if width_before >= width_after:
            hidden.add(before)
            if k > 1:
                hidden.add(k - 2)
        else:
            hidden.update({after, k})
    return hidden


def release_chain(table: LinkedTable, policy: DisclosurePolicy) -> ReleasedTable:
    """Suppress an attrition table: chain-aware start, then the shared LP-checked search."""
    m = table.structure.n_cells - 1
    primary = primary_counts(table.values, policy)
    start = _chain_start(table.values, primary, m) if primary else set()
    extra = protect(table, start, required=lambda _e: float(policy.protection))
    return release(
        table,
        primary,
        (start | extra) - primary,
        policy=policy,
        round_values=policy.rounding_base not in (None, 1),
    )


def _show(released: ReleasedTable, entry: int) -> dict[str, Any]:
    e = released.entries[entry]
    marker = released.policy.table_marker
    value = None if e.suppressed or e.value is None else int(e.value)
    return {"value": value, "display": marker if value is None else str(value)}


def released_attrition(run: CohortRun, policy: DisclosurePolicy) -> dict[str, Any]:
    """Counts and attrition with disclosure control applied: safe to leave the node."""
    stages = run.stages
    m = len(stages) - 1
    tables = {
        k: release_chain(attrition_table(stages, measure=k), policy) for k in ("persons", "events")
    }
    rows: list[dict[str, Any]] = []
    for j, s in enumerate(stages):
        row: dict[str, Any] = {"stage": s.name}
        for k, rel in tables.items():
            row[k] = _show(rel, _stage_entry(rel, j, m))
            row[f"{k}_excluded"] = _show(rel, j - 1) if j > 0 else None
        rows.append(row)
    final = tables["persons"]
    return {
        "cohort_definition_id": run.cohort_definition_id,
        "raw_counts": False,
        "min_cell_count": policy.min_cell_count,
        "persons": _show(final, _stage_entry(final, m, m)),
        "records": _show(tables["events"], _stage_entry(tables["events"], m, m)),
        "attrition": rows,
    }


def raw_attrition(run: CohortRun) -> dict[str, Any]:
    """The true counts, same shape: for a custodian looking at their own node only."""
    rows: list[dict[str, Any]] = []
    for j, s in enumerate(run.stages):
        prev = run.stages[j - 1] if j > 0 else None
        rows.append(
            {
                "stage": s.name,
                "persons": {"value": s.persons, "display": str(s.persons)},
                "events": {"value": s.events, "display": str(s.events)},
                "persons_excluded": None
                if prev is None
                else {"value": prev.persons - s.persons, "display": str(prev.persons - s.persons)},
                "events_excluded": None
                if prev is None
                else {"value": prev.events - s.events, "display": str(prev.events - s.events)},
            }
        )
    return {
        "cohort_definition_id": run.cohort_definition_id,
        "raw_counts": True,
        "min_cell_count": None,
        "persons": {"value": run.persons, "display": str(run.persons)},
        "records": {"value": run.records, "display": str(run.records)},
        "attrition": rows,
    }


__all__ = ["attrition_table", "raw_attrition", "release_chain", "released_attrition"]
