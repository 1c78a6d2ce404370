"""Smoke run on the Eunomia Synthea CDM (28 persons): no check errors, figures match the CSVs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from test_checks_builders import eunomia_tables

from medhaven.cdm import CdmStore
from medhaven.cdm.checks import MEASUREMENT_RANGES, run_checks

pytestmark = pytest.mark.slow


@pytest.fixture
def eunomia(reference: Path) -> dict[str, pa.Table]:
    """Eunomia's tables as Arrow, typed as the CDM spec says."""
    return eunomia_tables(reference / "eunomia" / "Synthea27Nj_5.4.zip")


def test_eunomia_runs_every_check_without_errors(
    store: CdmStore, eunomia: dict[str, pa.Table]
) -> None:
    store.create_schema()
    for name, data in eunomia.items():
        store.append_arrow(name, data)
    report = run_checks(store)
    assert report.errors == 0, [(r.check, r.target) for r in report.results if r.status == "error"]

    persons = set(eunomia["person"].column("person_id").to_pylist())
    cond_persons = set(eunomia["condition_occurrence"].column("person_id").to_pylist())
    r = report.find("measurePersonCompleteness", table="condition_occurrence")
    assert (r.violated, r.denominator) == (len(persons - cond_persons), len(persons))

    # Eunomia ships a concept subset: keys to concepts outside it are real isForeignKey findings.
    concepts = set(eunomia["concept"].column("concept_id").to_pylist())
    for table, field in [("person", "gender_concept_id"), ("measurement", "unit_concept_id"),
                         ("condition_occurrence", "condition_concept_id")]:  # fmt: skip
        values = eunomia[table].column(field).to_pylist()
        orphans = sum(1 for v in values if v is not None and v not in concepts)
        r = report.find("isForeignKey", table=table, field=field)
        assert (r.violated, r.denominator) == (orphans, len(values))

    meas = eunomia["measurement"].select(
        ["measurement_concept_id", "unit_concept_id", "value_as_number"]
    )
    rows = meas.to_pylist()
    for rng in MEASUREMENT_RANGES:
        values = [m["value_as_number"] for m in rows
                  if (m["measurement_concept_id"], m["unit_concept_id"]) == (rng.concept_id, rng.unit_concept_id)
                  and m["value_as_number"] is not None]  # fmt: skip
        low = report.find(
            "plausibleValueLow",
            table="measurement",
            field="value_as_number",
            concept_id=rng.concept_id,
        )
        high = report.find(
            "plausibleValueHigh",
            table="measurement",
            field="value_as_number",
            concept_id=rng.concept_id,
        )
        assert (low.violated, low.denominator) == (sum(v < rng.low for v in values), len(values))
        assert (high.violated, high.denominator) == (sum(v > rng.high for v in values), len(values))

    deaths = dict(zip(eunomia["death"].column("person_id").to_pylist(),
                      eunomia["death"].column("death_date").to_pylist(), strict=True))  # fmt: skip
    visits = eunomia["visit_occurrence"].select(["person_id", "visit_start_date"]).to_pylist()
    of_dead = [v for v in visits if v["person_id"] in deaths]
    late = sum(1 for v in of_dead if (v["visit_start_date"] - deaths[v["person_id"]]).days > 60)
    r = report.find("plausibleDuringLife", table="visit_occurrence", field="visit_start_date")
    assert (r.violated, r.denominator) == (late, len(of_dead))
    assert Counter(r.status for r in report.results)["pass"] > 1000
