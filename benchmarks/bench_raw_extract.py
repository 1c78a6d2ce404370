"""Raw extract + notes for 10,000 x scale patients, against writing the CDM input as CSV.

The CDM is Eunomia's 28 persons copied with fresh ids until there are enough
persons (every copy keeps Eunomia's full density: about 64 visits and 650
measurements and observations per person). The baseline is the I/O floor:
``pyarrow.csv.write_csv`` of the same input tables, with no transformation.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from benchmarks.result import Result, timed
from medhaven.synth.raw import RawHospital, write_raw_extract

EUNOMIA = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "reference"
    / "eunomia"
    / "Synthea27Nj_5.4.zip"
)
TABLES = (
    "person",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "measurement",
    "observation",
    "procedure_occurrence",
    "death",
    "provider",
    "concept",
)
ID_COLUMNS = ("person_id", "visit_occurrence_id")


def scaled_eunomia(persons: int) -> dict[str, pa.Table]:
    """Eunomia's CDM copied until it holds ``persons`` persons (ids offset per copy)."""
    base: dict[str, pa.Table] = {}
    with zipfile.ZipFile(EUNOMIA) as z:
        for name in z.namelist():
            table = name[:-4].lower()
            if not name.startswith("__MACOSX") and table in TABLES:
                base[table] = pacsv.read_csv(io.BytesIO(z.read(name)))
    copies = -(-persons // base["person"].num_rows)
    out = {"concept": base["concept"], "provider": base["provider"]}
    for name, table in base.items():
        if name in out:
            continue
        parts = []
        for k in range(copies):
            t = table
            for col in ID_COLUMNS:
                if col in t.column_names:
                    i = t.column_names.index(col)
                    t = t.set_column(
                        i, col, pc.add(pc.cast(t.column(col), pa.int64()), k * 1_000_000)
                    )
            parts.append(t)
        out[name] = pa.concat_tables(parts)
    out["person"] = out["person"].slice(0, persons)
    return out


def run(scale: float) -> list[Result]:
    """Seconds for the whole raw extract with notes, and for the plain CSV floor."""
    persons = max(28, int(10_000 * scale))
    cdm = scaled_eunomia(persons)
    hospital = RawHospital(
        slug="bench", name_ko="벤치병원", name_en="Bench Hospital", city_ko="서울", city_en="Seoul"
    )
    tmp = Path(tempfile.mkdtemp(prefix="medhaven-bench-raw-"))
    try:
        ours = timed(lambda: write_raw_extract(cdm, tmp / "raw", seed=1, hospital=hospital))

        def floor() -> None:
            for name, table in cdm.items():
                pacsv.write_csv(table, tmp / f"{name}.csv")

        base = timed(floor)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = sum(t.num_rows for t in cdm.values())
    return [
        Result(
            name=f"raw extract + notes, {persons:,} patients ({rows:,} CDM rows)",
            medhaven=ours,
            unit="s",
            baseline_name="pyarrow write_csv of the input (I/O floor)",
            baseline=base,
            goal="10,000 patients well under 60 s",
        )
    ]
