"""Plan and run every check over a CDM store: :func:`run_checks`.

The plan is a list of small units (one check family on one table); each unit
issues at most one or two statements. The caller may pass ``on_progress`` to
drive a progress bar over units.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from medhaven.cdm import schema
from medhaven.cdm.checks import concept_checks, field_checks, table_checks, temporal_checks
from medhaven.cdm.checks.measure import StoreFacts
from medhaven.cdm.checks.model import CheckReport, CheckResult
from medhaven.cdm.store import CdmStore
from medhaven.errors import StoreError

Progress = Callable[[int, int, str], None]
_Family = Callable[[CdmStore, StoreFacts, schema.Table], list[CheckResult]]

# Order matters only for reading the report: structure first, plausibility last.
_FAMILIES: tuple[_Family, ...] = (
    field_checks.required_and_datatype,
    field_checks.primary_key,
    field_checks.foreign_keys,
    concept_checks.concept_fields,
    table_checks.person_completeness,
    temporal_checks.start_before_end,
    temporal_checks.after_birth,
    temporal_checks.during_life,
)


@dataclass(frozen=True)
class _Unit:
    label: str
    run: Callable[[], list[CheckResult]]


def default_tables() -> list[str]:
    """The tables checked by default: the CDM and vocabulary tables (not RESULTS)."""
    return [n for n, t in schema.tables().items() if t.schema in ("CDM", "VOCAB")]


def _selected(tables: Iterable[str] | None) -> list[schema.Table]:
    names = default_tables() if tables is None else list(tables)
    # schema.table raises SchemaError naming an unknown table.
    return list({t.name: t for t in (schema.table(n) for n in names)}.values())


def _plan(store: CdmStore, facts: StoreFacts, selected: list[schema.Table]) -> list[_Unit]:
    units: list[_Unit] = []
    for table in selected:

        def structure(t: schema.Table = table) -> list[CheckResult]:
            return table_checks.cdm_table(facts, t) + table_checks.cdm_fields(facts, t)

        units.append(_Unit(f"{table.name}: structure", structure))
        if not facts.has_table(table.name):
            continue  # cdmTable reports it; nothing else can be measured
        for family in _FAMILIES:

            def unit(t: schema.Table = table, fam: _Family = family) -> list[CheckResult]:
                return fam(store, facts, t)

            units.append(_Unit(f"{table.name}: {family.__name__}", unit))
    if any(t.name == "measurement" for t in selected):
        units.append(
            _Unit(
                "measurement: plausible values",
                lambda: concept_checks.plausible_values(store, facts),
            )
        )
    return units


def run_checks(
    store: CdmStore,
    *,
    tables: Iterable[str] | None = None,
    on_progress: Progress | None = None,
) -> CheckReport:
    """Run the DQD-style checks on ``store`` (all CDM and vocabulary tables by default)."""
    started = time.perf_counter()
    selected = _selected(tables)
    try:
        facts = StoreFacts.read(store)
    except Exception as exc:  # nothing can be checked without the catalogue
        raise StoreError(
            f"cannot read the table catalogue of {store.location}", detail=type(exc).__name__
        ) from exc
    units = _plan(store, facts, selected)
    report = CheckReport(location=store.location)
    for done, unit in enumerate(units, start=1):
        report.results.extend(unit.run())
        if on_progress is not None:
            on_progress(done, len(units), unit.label)
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["Progress", "default_tables", "run_checks"]
