"""The demo: generated hospitals, exported, loaded into node stores, checked and summarised.

Each step is what a real deployment does, on synthetic data:

1. ``synth``: three hospitals with different populations and coding habits
   (:func:`medhaven.synth.write_hospitals`), as each hospital's ETL would
   produce them;
2. export: each hospital's CDM written out as one Parquet file per table,
   the hand-over format a node accepts;
3. load: :func:`medhaven.cdm.loader.load_cdm` into the node's own store
   (a DuckDB file per node, or one PostgreSQL schema per node), all or nothing;
4. check: :func:`medhaven.cdm.checks.run_checks` on every node store;
5. summarise: persons, visits, clinical events and the planted outcomes'
   prevalence per hospital, read back from the node stores with SQL;
6. analyse: example ATLAS cohort definitions from the library generated on
   every node, their person counts released through the node's disclosure
   control (minimum cell count), as a researcher would receive them.

The figures come from the loaded node stores, never from the generator's
memory, so the table shows what a node really holds.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medhaven.analytics import DisclosurePolicy
from medhaven.analytics.cohorts import generate_cohort, library_definition, released_attrition
from medhaven.cdm import schema
from medhaven.cdm.checks import run_checks
from medhaven.cdm.loader import load_cdm
from medhaven.cdm.store import CdmStore, open_store
from medhaven.config import get_settings
from medhaven.errors import InvalidInput, StoreError
from medhaven.synth.outcomes import outcome_summary
from medhaven.synth.writer import write_hospitals

#: Tables whose rows the summary counts as clinical events.
EVENT_TABLES: tuple[str, ...] = (
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
    "measurement",
    "observation",
    "device_exposure",
)

#: Library cohorts the demo generates on every node (name -> cohort_definition_id).
DEMO_COHORTS: dict[str, int] = {
    "t2dm_metformin_new_users": 1,
    "heart_failure_admission": 2,
    "atrial_fibrillation_anticoagulated": 3,
}

StepFn = Callable[[str], None]


@dataclass(frozen=True)
class HospitalSummary:
    """One row of the demo table: what one node holds after load and checks."""

    slug: str
    name_en: str
    name_ko: str
    profile: str
    store: str
    persons: int
    visits: int
    events: int
    outcomes: dict[str, float]
    cohorts: dict[str, str]
    loaded_rows: int
    load_seconds: float
    checks_passed: int
    checks_failed: int
    checks_errors: int

    @property
    def checks_ok(self) -> bool:
        """Whether every quality check passed on this node."""
        return self.checks_failed == 0 and self.checks_errors == 0


@dataclass(frozen=True)
class DemoReport:
    """Everything the demo did: settings, one summary per hospital, and the wall time."""

    out: str
    seed: int
    persons: int
    hospitals: list[HospitalSummary] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every node passed its quality checks."""
        return all(h.checks_ok for h in self.hospitals)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (``medhaven demo --json`` and ``OUT/demo-summary.json``)."""
        data = asdict(self)
        data["ok"] = self.ok
        for entry, summary in zip(data["hospitals"], self.hospitals, strict=True):
            entry["checks_ok"] = summary.checks_ok
        return data


def _quiet(_step: str) -> None:
    """The default step callback: say nothing."""


def export_parquet(cdm_path: Path, out_dir: Path) -> list[str]:
    """Write every non-empty CDM table of a DuckDB file as ``out_dir/<table>.parquet``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    with open_store(cdm_path, read_only=True) as store:
        present = store.table_names()
        for name in schema.tables():
            if name not in present or store.count(name) == 0:
                continue
            target = out_dir / f"{name}.parquet"
            # The target is our own path, never user text: safe to inline after quoting.
            quoted = str(target).replace("'", "''")
            store.execute(f"COPY {name} TO '{quoted}' (FORMAT parquet)")
            written.append(name)
    return written


def _node_target(node_dir: Path, slug: str, postgres_url: str | None) -> str:
    """Where a node's CDM lives: its DuckDB file, or its own schema on the PostgreSQL server."""
    if postgres_url is None:
        return str(node_dir / slug / "cdm.duckdb")
    schema_name = "demo_" + re.sub(r"[^a-z0-9]+", "_", slug.lower()).strip("_")
    joiner = "&" if "?" in postgres_url else "?"
    return f"{postgres_url}{joiner}schema={schema_name}"


def _fresh_store(target: str, postgres_url: str | None) -> CdmStore:
    """Open the node store empty: a new DuckDB file, or the node's schema dropped and re-created."""
    if postgres_url is None:
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        return open_store(path)
    store = open_store(target)
    name = getattr(store, "schema_name", None)
    if not isinstance(name, str) or not name.startswith("demo_"):
        store.close()
        raise StoreError("demo: refusing to reset a PostgreSQL schema it did not create")
    store.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    store.execute(f'CREATE SCHEMA "{name}"')
    store.execute(f'SET search_path TO "{name}"')
    return store


def _count_events(store: CdmStore) -> int:
    return sum(store.count(name) for name in EVENT_TABLES)


def released_cohort_counts(store: CdmStore, policy: DisclosurePolicy) -> dict[str, str]:
    """Generate the demo's library cohorts; return each one's person count as released."""
    shown: dict[str, str] = {}
    for name, cohort_id in DEMO_COHORTS.items():
        run = generate_cohort(
            store, library_definition(name).expression, cohort_definition_id=cohort_id
        )
        shown[name] = str(released_attrition(run, policy)["persons"]["display"])
    return shown


def run_demo(
    out: Path,
    *,
    hospitals: int = 3,
    persons: int = 2000,
    seed: int = 42,
    postgres_url: str | None = None,
    on_step: StepFn | None = None,
) -> DemoReport:
    """Generate, export, load, check and summarise ``hospitals`` hospitals under ``out``."""
    if hospitals < 1:
        raise InvalidInput("--hospitals: must be at least 1")
    if persons < 1:
        raise InvalidInput("--persons: must be at least 1")
    step = on_step or _quiet
    policy = DisclosurePolicy(min_cell_count=get_settings().min_cell_count)
    started = time.perf_counter()
    extracts = out / "extracts"
    nodes = out / "nodes"
    step(f"generating {hospitals} hospitals of {persons:,} persons")
    manifest = write_hospitals(extracts, hospitals=hospitals, persons=persons, seed=seed)
    summaries: list[HospitalSummary] = []
    for entry in manifest.hospitals:
        export_dir = extracts / entry.slug / "export"
        shutil.rmtree(export_dir, ignore_errors=True)
        step(f"{entry.slug}: exporting the CDM as Parquet")
        export_parquet(extracts / entry.cdm, export_dir)
        target = _node_target(nodes, entry.slug, postgres_url)
        step(f"{entry.slug}: loading into the node store")
        with _fresh_store(target, postgres_url) as store:
            loaded = load_cdm(store, export_dir)
            step(f"{entry.slug}: running the quality checks")
            checks = run_checks(store)
            step(f"{entry.slug}: generating the example cohorts")
            cohorts = released_cohort_counts(store, policy)
            summaries.append(
                HospitalSummary(
                    slug=entry.slug,
                    name_en=entry.name_en,
                    name_ko=entry.name_ko,
                    profile=entry.profile,
                    store=store.location,
                    persons=store.count("person"),
                    visits=store.count("visit_occurrence"),
                    events=_count_events(store),
                    outcomes=outcome_summary(store),
                    cohorts=cohorts,
                    loaded_rows=loaded.total_rows,
                    load_seconds=round(loaded.seconds, 3),
                    checks_passed=checks.passed,
                    checks_failed=checks.failed,
                    checks_errors=checks.errors,
                )
            )
    report = DemoReport(
        out=str(out),
        seed=seed,
        persons=persons,
        hospitals=summaries,
        seconds=round(time.perf_counter() - started, 3),
    )
    return report


__all__ = [
    "DEMO_COHORTS",
    "EVENT_TABLES",
    "DemoReport",
    "HospitalSummary",
    "export_parquet",
    "released_cohort_counts",
    "run_demo",
]
