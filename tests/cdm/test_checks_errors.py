"""A check whose query cannot run is reported as an error, never as a failure, and leaks no value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import pyarrow as pa
from test_checks_builders import CHECKED_TABLES, arrow_table, build, clean_cdm, column_sql

from medhaven.cdm import CdmStore
from medhaven.cdm.checks import run_checks

SECRET_LOOKING = "1985-13-45 Kim"


def test_unparseable_date_text_makes_only_its_date_checks_errors(store: CdmStore) -> None:
    data = clean_cdm()
    cond = data.pop("condition_occurrence")
    store.execute(
        column_sql(store, "condition_occurrence", {"condition_start_date": "VARCHAR(30)"})
    )
    texts = [r["condition_start_date"].isoformat() for r in cond]
    texts[0] = SECRET_LOOKING  # person 1, who has a death record: every date check reads it
    table = arrow_table(
        "condition_occurrence",
        [{k: v for k, v in r.items() if k != "condition_start_date"} for r in cond],
    ).append_column("condition_start_date", pa.array(texts, type=pa.string()))
    store.append_arrow("condition_occurrence", table)
    build(store, data)
    report = run_checks(store, tables=CHECKED_TABLES)

    errors = {(r.check, r.table, r.field) for r in report.results if r.status == "error"}
    assert errors == {
        ("plausibleAfterBirth", "condition_occurrence", "condition_start_date"),
        ("plausibleDuringLife", "condition_occurrence", "condition_start_date"),
        ("plausibleStartBeforeEnd", "condition_occurrence", "condition_start_date"),
    }
    assert report.failed == 0 and not report.ok
    # The other date field of the same batched query still got its figure.
    after = report.find(
        "plausibleAfterBirth", table="condition_occurrence", field="condition_end_date"
    )
    assert after.status == "pass"
    for r in report.results:
        if r.status == "error":
            assert r.violated is None and r.denominator is None and r.percent is None
            assert r.message is not None and r.message.startswith("query failed (")
    assert SECRET_LOOKING not in json.dumps(report.to_dict())
    assert "Kim" not in json.dumps(report.to_dict())


class BrokenStore(CdmStore):
    """A real store whose queries touching one table raise, like a lost connection would."""

    def __init__(self, inner: CdmStore, broken_table: str) -> None:
        self.inner = inner
        self.broken = broken_table
        self.dialect = inner.dialect  # type: ignore[misc]

    def _guard(self, sql: str) -> None:
        if f"FROM {self.broken} " in sql + " " or f"JOIN {self.broken} " in sql:
            raise ConnectionError("server closed the connection unexpectedly")

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.inner.execute(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        self._guard(sql)
        return self.inner.fetchall(sql, params)

    def fetch_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        self._guard(sql)
        return self.inner.fetch_arrow(sql, params)

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()

    def append_arrow(self, table_name: str, data: pa.Table) -> int:
        return self.inner.append_arrow(table_name, data)

    def table_names(self) -> set[str]:
        return self.inner.table_names()

    def close(self) -> None:
        self.inner.close()

    @property
    def location(self) -> str:
        return self.inner.location


def test_broken_store_reports_errors_not_failures(store: CdmStore) -> None:
    build(store, clean_cdm())
    report = run_checks(BrokenStore(store, "visit_occurrence"), tables=CHECKED_TABLES)
    errored = [r for r in report.results if r.status == "error"]
    assert errored and report.failed == 0 and not report.ok
    assert {r.check for r in errored} >= {"isRequired", "isPrimaryKey", "isForeignKey", "fkDomain"}
    # Checks that never read visit_occurrence were unaffected.
    assert report.find("isRequired", table="person", field="person_id").status == "pass"
    assert all(r.message == "query failed (ConnectionError)" for r in errored)
