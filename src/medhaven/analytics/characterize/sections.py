"""The parts of a characterization and how each one is released.

A characterization is a list of sections computed at the node with their
true figures. Nothing leaves as such: :meth:`Section.release` turns a section
into a JSON-ready dict under the node's :class:`DisclosurePolicy`:

* :class:`CountFigure`: one count (e.g. persons), through :func:`release_count`;
* :class:`CountTable`: a one- or two-way count table with margins, through
  :func:`suppress_counts` (minimum cell count, complementary suppression, then
  rounding);
* :class:`ConceptCounts`: persons per concept (no margins: persons overlap
  between concepts); only concepts with at least the minimum cell count are
  listed, so the top-N never shows a small count;
* :class:`Distributions`: count, min, p10/p25/median/p75/p90, max of a value
  per group; a row with fewer contributing persons than the minimum cell
  count shows no figure at all (so no single person's value is released).

Record counts are sums of records per person: one whose largest contributors
dominate it (the policy's (n, k), p% and fewest-contributors rules) is hidden
while the persons count stays.

``raw=True`` returns every true figure for a custodian's own node; the
document then says ``"raw": true`` and must not leave the node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from medhaven.analytics.disclosure import release_count
from medhaven.analytics.dominance import is_dominated
from medhaven.analytics.policy import DisclosurePolicy
from medhaven.analytics.suppression import release, suppress_counts
from medhaven.analytics.table import LinkedTable

STATS = ("min", "p10", "p25", "median", "p75", "p90", "max")


def records_dominated(
    persons: int, records: int, top_records: tuple[int, ...], policy: DisclosurePolicy
) -> bool:
    """Whether a record count (a sum of records per person) fails the policy's dominance rules.

    Only the largest per-person counts are known; the other persons' records
    are spread evenly, which keeps every rule exact as long as the (n, k)
    rule's ``n`` is at most ``len(top_records)`` (else the count is hidden).
    """
    if persons > len(top_records) and policy.dominance_n > len(top_records):
        return True
    rest = persons - len(top_records)
    filler = [(records - sum(top_records)) / rest] * rest if rest > 0 else []
    return is_dominated([*top_records, *filler], policy)


class Section(ABC):
    """One part of a characterization."""

    name: str
    title: str

    @abstractmethod
    def release(self, policy: DisclosurePolicy, *, raw: bool = False) -> dict[str, Any]:
        """The section as it may leave the node (every true figure when ``raw``)."""


@dataclass(frozen=True)
class CountFigure(Section):
    """A single count, e.g. the number of persons."""

    name: str
    title: str
    count: int

    def release(self, policy: DisclosurePolicy, *, raw: bool = False) -> dict[str, Any]:
        """The count, or ``None`` with the ``"<5"`` marker when it is small."""
        if raw:
            return {"name": self.name, "title": self.title, "type": "count",
                    "value": self.count, "display": str(self.count), "suppressed": False}  # fmt: skip
        rel = release_count(self.count, policy, name=self.name)
        return {"name": self.name, "title": self.title, "type": "count", **rel.to_json()}


@dataclass(frozen=True)
class CountTable(Section):
    """A count table (one- or two-way) with its margins."""

    name: str
    title: str
    table: LinkedTable
    row_title: str
    col_title: str | None = None

    def release(self, policy: DisclosurePolicy, *, raw: bool = False) -> dict[str, Any]:
        """Suppressed (and rounded) as the policy says; every true count when ``raw``."""
        if raw:
            released = release(self.table, set(), set(), policy=policy, round_values=False)
        else:
            released = suppress_counts(self.table, policy)
        return {
            "name": self.name,
            "title": self.title,
            "type": "table",
            "row_title": self.row_title,
            "col_title": self.col_title,
            "table": released.to_json(),
        }


@dataclass(frozen=True)
class ConceptCount:
    """Persons (and records) with one concept."""

    concept_id: int
    concept_name: str | None
    persons: int
    records: int
    top_records: tuple[int, ...] = ()  # the largest records-per-person counts, descending


@dataclass(frozen=True)
class ConceptCounts(Section):
    """The most frequent concepts of one domain, by persons."""

    name: str
    title: str
    rows: tuple[ConceptCount, ...]
    top: int
    denominator: int | None = None

    def release(self, policy: DisclosurePolicy, *, raw: bool = False) -> dict[str, Any]:
        """The top concepts among those with at least the minimum cell count of persons."""
        shown = sorted(
            (r for r in self.rows if raw or not policy.is_sensitive_count(r.persons)),
            key=lambda r: (-r.persons, r.concept_id),
        )[: self.top]
        denom = self.denominator
        if denom is not None and not raw:
            denom = None if policy.is_sensitive_count(denom) else policy.round_count(denom)
        out: list[dict[str, Any]] = []
        for r in shown:
            persons = r.persons if raw else policy.round_count(r.persons)
            records: int | None = r.records
            if not raw:
                hide = records_dominated(r.persons, r.records, r.top_records, policy)
                records = None if hide else policy.round_count(r.records)
            item: dict[str, Any] = {
                "concept_id": r.concept_id,
                "concept_name": r.concept_name,
                "persons": persons,
                "records": records,
            }
            if self.denominator is not None:
                item["percent"] = round(100.0 * persons / denom, 1) if denom else None
            out.append(item)
        return {
            "name": self.name,
            "title": self.title,
            "type": "concepts",
            "top": self.top,
            "rows": out,
        }


@dataclass(frozen=True)
class DistributionRow:
    """The distribution of a value within one group (e.g. a measurement concept and unit)."""

    key: tuple[int, ...]
    label: str
    unit: str | None
    persons: int
    records: int
    stats: tuple[float, ...]  # in the order of STATS
    top_records: tuple[int, ...] = ()  # the largest records-per-person counts, descending


@dataclass(frozen=True)
class Distributions(Section):
    """Value distributions per group; small groups show no figure."""

    name: str
    title: str
    key_names: tuple[str, ...]
    rows: tuple[DistributionRow, ...]
    limit: int

    def release(self, policy: DisclosurePolicy, *, raw: bool = False) -> dict[str, Any]:
        """Rows ordered by persons; a row with fewer persons than the minimum is all hidden."""
        published = [r for r in self.rows if raw or not policy.is_sensitive_count(r.persons)]
        hidden = [r for r in self.rows if r not in published]
        published.sort(key=lambda r: (-r.persons, r.key))
        hidden.sort(key=lambda r: r.key)  # never by the hidden counts themselves
        out: list[dict[str, Any]] = []
        for r in [*published, *hidden][: self.limit]:
            item: dict[str, Any] = dict(zip(self.key_names, r.key, strict=True))
            item.update({"label": r.label, "unit": r.unit})
            if r in published:
                item["persons"] = r.persons if raw else policy.round_count(r.persons)
                if raw:
                    item["records"] = r.records
                elif records_dominated(r.persons, r.records, r.top_records, policy):
                    item["records"] = None
                else:
                    item["records"] = policy.round_count(r.records)
                item.update(dict(zip(STATS, r.stats, strict=True)))
                item["suppressed"] = False
            else:
                item.update({"persons": None, "records": None})
                item.update(dict.fromkeys(STATS))
                item["suppressed"] = True
            out.append(item)
        return {
            "name": self.name,
            "title": self.title,
            "type": "distribution",
            "rows": out,
        }


def release_document(
    kind: str,
    sections: list[Section],
    policy: DisclosurePolicy,
    *,
    raw: bool,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole characterization as one JSON-ready document."""
    return {
        "kind": kind,
        "raw": raw,
        "min_cell_count": policy.min_cell_count,
        "rounding_base": policy.rounding_base,
        **(meta or {}),
        "sections": [s.release(policy, raw=raw) for s in sections],
    }


__all__ = [
    "STATS",
    "ConceptCount",
    "ConceptCounts",
    "CountFigure",
    "CountTable",
    "DistributionRow",
    "Distributions",
    "Section",
    "records_dominated",
    "release_document",
]
