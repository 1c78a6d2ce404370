"""``deid tabular`` on a raw extract of 10,000 x scale patients, against two plain baselines.

The extract is written by ``medhaven synth``'s raw-extract writer from Eunomia
copied up to size (see :mod:`benchmarks.bench_raw_extract`). MedHaven runs
the kr-pseudonym profile (pseudonyms, per-patient date shift, notes scrubbed)
without and with ``--cdm``. Baselines, in the same run:

* the I/O floor: read every CSV with pyarrow and write it back unchanged;
* per-row Python: the same pseudonyms and date shifts computed cell by cell
  (one HMAC per cell, one offset derivation per row), with pandas, on the
  patient-linked tables only and without notes: what "compute once per
  distinct identifier and join" saves.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.csv as pacsv

from benchmarks.bench_raw_extract import scaled_eunomia
from benchmarks.result import Result, timed
from medhaven.deid.dateshift import date_shift_days
from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import pseudonymize
from medhaven.deid.tabular import deidentify_extract, synthea_profile
from medhaven.synth.raw import RawHospital, write_raw_extract

KEY = SiteKey(b"\x42" * 32)
PER_ROW = {
    "encounters.csv": ("PATIENT", ["Id", "PATIENT"], ["START", "STOP"]),
    "conditions.csv": ("PATIENT", ["PATIENT", "ENCOUNTER"], ["START", "STOP"]),
    "medications.csv": ("PATIENT", ["PATIENT", "ENCOUNTER"], ["START", "STOP"]),
    "observations.csv": ("PATIENT", ["PATIENT", "ENCOUNTER"], ["DATE"]),
    "procedures.csv": ("PATIENT", ["PATIENT", "ENCOUNTER"], ["START", "STOP"]),
}


def _per_row(src: Path, out: Path) -> None:
    pkey, dkey = KEY.pseudonym_key, KEY.date_shift_key
    for name, (patient, ids, dates) in PER_ROW.items():
        df = pd.read_csv(src / name, dtype=str, keep_default_na=False)
        days = [date_shift_days(p, dkey) for p in df[patient]]
        for c in dates:
            df[c] = [
                (dt.date.fromisoformat(v[:10]) + dt.timedelta(days=d)).isoformat() + v[10:]
                if v
                else v
                for v, d in zip(df[c], days, strict=True)
            ]
        for c in ids:
            df[c] = [pseudonymize(v, pkey, namespace=c, length=24) if v else v for v in df[c]]
        df.to_csv(out / name, index=False)


def run(scale: float) -> list[Result]:
    """Seconds for MedHaven (files only, and files + CDM) and for the two baselines."""
    persons = max(28, int(10_000 * scale))
    tmp = Path(tempfile.mkdtemp(prefix="medhaven-bench-tabular-"))
    try:
        hospital = RawHospital(
            slug="bench",
            name_ko="벤치병원",
            name_en="Bench Hospital",
            city_ko="서울",
            city_en="Seoul",
        )
        write_raw_extract(scaled_eunomia(persons), tmp / "raw", seed=1, hospital=hospital)
        src = tmp / "raw"
        rows = sum(
            sum(1 for _ in p.open("rb")) - 1 for p in src.glob("*.csv") if p.name != "_linkage.csv"
        )
        prof = synthea_profile("kr-pseudonym")

        def ours(cdm: bool, tag: str) -> float:
            return timed(
                lambda: deidentify_extract(
                    source=src,
                    output=tmp / f"out-{tag}",
                    key=KEY,
                    profile=prof,
                    report_path=tmp / f"{tag}.json",
                    cdm=str(tmp / f"{tag}.duckdb") if cdm else None,
                )
            )

        files_only = ours(False, "files")
        with_cdm = ours(True, "cdm")

        def floor() -> None:
            (tmp / "floor").mkdir()
            for p in src.glob("*.csv"):
                pacsv.write_csv(pacsv.read_csv(p), tmp / "floor" / p.name)

        io_floor = timed(floor)
        (tmp / "rows").mkdir()
        per_row = timed(lambda: _per_row(src, tmp / "rows"))
        per_row_rows = sum(sum(1 for _ in (src / n).open("rb")) - 1 for n in PER_ROW)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    label = f"{persons:,} patients, {rows:,} rows"
    return [
        Result(
            name=f"deid tabular kr-pseudonym, {label} + notes",
            medhaven=files_only,
            unit="s",
            baseline_name="pyarrow read + write of the same CSVs (I/O floor)",
            baseline=io_floor,
        ),
        Result(
            name=f"deid tabular kr-pseudonym --cdm, {label}",
            medhaven=with_cdm,
            unit="s",
            baseline_name="pyarrow read + write of the same CSVs (I/O floor)",
            baseline=io_floor,
        ),
        Result(
            name=f"pseudonyms + date shift, 5 clinical tables ({per_row_rows:,} rows)",
            medhaven=files_only,
            unit="s",
            baseline_name="per-row Python (HMAC per cell), those 5 tables only, no notes",
            baseline=per_row,
            note="MedHaven's figure covers every file and the notes",
        ),
    ]
