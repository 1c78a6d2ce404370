"""Shared data for the characterization tests: stores filled with a generated hospital or Eunomia.

No tests here; the other ``test_characterize*`` and ``test_incidence*`` modules import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from medhaven.cdm import CdmStore
from medhaven.cdm.loader import load_cdm
from medhaven.cdm.vocabulary import load_vocabulary
from medhaven.synth.generator import generate_hospital
from medhaven.synth.profiles import hospital_profiles

EUNOMIA = (
    Path(__file__).resolve().parents[2].parent / "shared/reference/eunomia/Synthea27Nj_5.4.zip"
)


@cache
def hospital_tables(persons: int = 250, seed: int = 7) -> dict[str, pa.Table]:
    """A small generated hospital's CDM tables (cached: the generator is deterministic)."""
    return generate_hospital(hospital_profiles(2)[1], persons=persons, seed=seed)


def fill_hospital(store: CdmStore, persons: int = 250, seed: int = 7) -> None:
    """Create the CDM, load the shipped vocabulary and a generated hospital into ``store``."""
    store.create_schema()
    load_vocabulary(store)
    with store.transaction():
        for name, table in hospital_tables(persons, seed).items():
            if name != "concept":
                store.append_arrow(name, table)


def fill_eunomia(store: CdmStore) -> None:
    """Load Eunomia's Synthea27Nj CDM with the project's loader."""
    load_cdm(store, EUNOMIA)
    store.create_schema()  # tables Eunomia does not ship (e.g. an empty cohort table)


def rows(store: CdmStore, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Every row of ``table`` as plain dicts (the independent computations start here)."""
    got = store.fetchall(f"SELECT {', '.join(columns)} FROM {table}")
    return [dict(zip(columns, r, strict=True)) for r in got]


def add_cohort(store: CdmStore, cohort_id: int, entries: Sequence[tuple[int, date, date]]) -> None:
    """Insert cohort rows by hand (the cohort compiler is tested elsewhere)."""
    store.append_arrow(
        "cohort",
        pa.table(
            {
                "cohort_definition_id": pa.array([cohort_id] * len(entries), pa.int64()),
                "subject_id": pa.array([e[0] for e in entries], pa.int64()),
                "cohort_start_date": pa.array([e[1] for e in entries], pa.date32()),
                "cohort_end_date": pa.array([e[2] for e in entries], pa.date32()),
            }
        ),
    )


def age_group(age: int | None) -> str:
    """Age groups written out again, independently of the package's CASE expression."""
    if age is None or age < 0:
        return "unknown"
    bounds = [(17, "0-17"), (34, "18-34"), (49, "35-49"), (64, "50-64"), (74, "65-74"),
              (84, "75-84")]  # fmt: skip
    for upper, label in bounds:
        if age <= upper:
            return label
    return "85+"


def sex(gender_concept_id: int | None) -> str:
    """OMOP gender concept to the label the package uses."""
    return {8532: "female", 8507: "male"}.get(gender_concept_id or 0, "other")


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (what SQL percentile_cont computes), by hand."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """The section called ``name`` of a released document."""
    for s in doc["sections"]:
        if s["name"] == name:
            return dict(s)
    raise AssertionError(f"no section {name}")


def table_values(sec: dict[str, Any]) -> dict[str, Any]:
    """``{label: value}`` of a released count table's entries (None where suppressed)."""
    return {e["label"]: e["value"] for e in sec["table"]["entries"]}


COUNT_KEYS = {"value", "persons", "records", "outcomes"}


def small_counts(doc: object, min_count: int = 5) -> list[str]:
    """Every count from 1 to ``min_count - 1`` anywhere in a released document (should be none)."""
    found: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in COUNT_KEYS and isinstance(v, int) and 1 <= v < min_count:
                found.append(k)
            else:
                found += small_counts(v, min_count)
    elif isinstance(doc, list):
        for item in doc:
            found += small_counts(item, min_count)
    return found
