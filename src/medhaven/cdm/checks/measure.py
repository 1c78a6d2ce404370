"""Running check queries in batches, and what the runner knows about a store.

Checks of one family on one table share a single query (one scan), so a CDM
with dozens of fields costs a handful of statements per table. When a batched
query fails, each check is retried on its own so that one broken field is an
*error* for that field only; every other check still gets its figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from medhaven.cdm.checks.model import CheckResult, CheckSpec
from medhaven.cdm.store import CdmStore


@dataclass(frozen=True)
class Ratio:
    """A check expressed as two boolean SQL conditions over a shared ``FROM``.

    ``violated`` counts rows that break the rule; ``eligible`` counts the
    denominator (``None`` means every row).
    """

    spec: CheckSpec
    violated: str
    eligible: str | None = None


@dataclass(frozen=True)
class Counts:
    """A check expressed as two independent ``SELECT COUNT(*) ...`` statements."""

    spec: CheckSpec
    violated_sql: str
    denominator_sql: str


@dataclass
class StoreFacts:
    """What exists in the store: tables, the columns of each and their SQL types (lower case)."""

    columns: dict[str, set[str]] = field(default_factory=dict)
    types: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def read(cls, store: CdmStore) -> StoreFacts:
        """Read table and column names from ``information_schema`` (same SQL on both stores)."""
        rows = store.fetchall(
            "SELECT lower(table_name), lower(column_name), lower(data_type) "
            "FROM information_schema.columns WHERE table_schema = current_schema()"
        )
        facts = cls()
        for table_name, column, data_type in rows:
            facts.columns.setdefault(str(table_name), set()).add(str(column))
            facts.types[(str(table_name), str(column))] = str(data_type)
        for name in store.table_names():
            facts.columns.setdefault(name, set())
        return facts

    def has_table(self, name: str) -> bool:
        """Whether the table exists."""
        return name in self.columns

    def has(self, table: str, *fields: str) -> bool:
        """Whether the table exists with every one of ``fields``.

        A field named as a quoted SQL identifier in the spec (``"offset"``) is
        looked up by its bare name, as the catalogue lists it.
        """
        cols = self.columns.get(table)
        return cols is not None and all(f.strip('"') in cols for f in fields)

    def is_integer_column(self, table: str, column: str) -> bool:
        """Whether the column's declared SQL type is an integer type."""
        declared = self.types.get((table, column.strip('"')), "")
        return declared in _INTEGER_TYPES


# information_schema spellings on DuckDB and PostgreSQL.
_INTEGER_TYPES = frozenset(
    {"bigint", "integer", "smallint", "tinyint", "hugeint", "int", "int2", "int4", "int8"}
    | {"ubigint", "uinteger", "usmallint", "utinyint"}
)


def _case(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def run_ratios(store: CdmStore, from_sql: str, ratios: Sequence[Ratio]) -> list[CheckResult]:
    """Measure every ratio with one query over ``from_sql``; retry singly if it fails."""
    if not ratios:
        return []
    try:
        return _ratios_once(store, from_sql, ratios)
    except Exception as exc:  # any driver error makes these checks errors
        if len(ratios) == 1:
            return [CheckResult.errored(ratios[0].spec, exc)]
    out: list[CheckResult] = []
    for ratio in ratios:
        out.extend(run_ratios(store, from_sql, [ratio]))
    return out


def _ratios_once(store: CdmStore, from_sql: str, ratios: Sequence[Ratio]) -> list[CheckResult]:
    exprs: list[str] = ["COUNT(*)"]
    for r in ratios:
        exprs.append(_case(r.violated))
        exprs.append(_case(r.eligible) if r.eligible is not None else "COUNT(*)")
    row = store.fetchall(f"SELECT {', '.join(exprs)} FROM {from_sql}")[0]
    out = []
    for i, r in enumerate(ratios):
        # SUM over zero rows is NULL: an empty table has no violations (DQD).
        violated, denominator = row[1 + 2 * i], row[2 + 2 * i]
        out.append(
            CheckResult.measured(
                r.spec, violated=int(violated or 0), denominator=int(denominator or 0)
            )
        )
    return out


def run_counts(store: CdmStore, items: Sequence[Counts]) -> list[CheckResult]:
    """Measure every item in one statement of scalar subqueries; retry singly if it fails."""
    if not items:
        return []
    try:
        parts = [f"({c.violated_sql}), ({c.denominator_sql})" for c in items]
        row = store.fetchall("SELECT " + ", ".join(parts))[0]
    except Exception as exc:  # any driver error makes these checks errors
        if len(items) == 1:
            return [CheckResult.errored(items[0].spec, exc)]
        out: list[CheckResult] = []
        for item in items:
            out.extend(run_counts(store, [item]))
        return out
    return [
        CheckResult.measured(
            c.spec, violated=int(row[2 * i] or 0), denominator=int(row[2 * i + 1] or 0)
        )
        for i, c in enumerate(items)
    ]


__all__ = ["Counts", "Ratio", "StoreFacts", "run_counts", "run_ratios"]
