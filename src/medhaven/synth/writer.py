"""Write synthetic hospitals to disk: one DuckDB CDM per hospital and a ``hospitals.json`` manifest.

Each hospital is written into a hidden sibling folder and renamed into place
only when complete; the manifest is written last, the same way, so an
interrupted run never leaves a half-written hospital behind a manifest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medhaven.cdm.store import open_store
from medhaven.cdm.vocabulary import load_vocabulary
from medhaven.errors import InvalidInput, MedHavenError, StoreError
from medhaven.synth.generator import generate_hospital
from medhaven.synth.profiles import HospitalProfile, hospital_profiles

MANIFEST = "hospitals.json"
CDM_FILE = "cdm.duckdb"


@dataclass(frozen=True)
class HospitalEntry:
    """One hospital in the manifest."""

    slug: str
    name_ko: str
    name_en: str
    city_ko: str
    city_en: str
    profile: str
    persons: int
    cdm: str
    raw: str | None
    rows: dict[str, int]


@dataclass(frozen=True)
class Manifest:
    """What ``write_hospitals`` wrote: seed, persons per hospital and the hospitals."""

    seed: int
    persons: int
    hospitals: list[HospitalEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        return asdict(self)


def write_cdm(path: Path, tables: dict[str, Any]) -> dict[str, int]:
    """Create every CDM table in a new DuckDB file, load the vocabulary and append the data."""
    rows: dict[str, int] = {}
    with open_store(path) as store:
        store.create_schema()
        load_vocabulary(store)
        with store.transaction():
            for name, table in tables.items():
                if name == "concept":
                    continue  # the shipped vocabulary is a superset of the rows the data uses
                rows[name] = store.append_arrow(name, table)
    return rows


def _replace(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)


def _write_raw(tables: dict[str, Any], out: Path, *, seed: int, profile: HospitalProfile) -> None:
    # Imported here: raw extracts are optional and live in their own module.
    from medhaven.synth.raw import RawHospital, write_raw_extract

    hospital = RawHospital(
        slug=profile.slug,
        name_ko=profile.name_ko,
        name_en=profile.name_en,
        city_ko=profile.city_ko,
        city_en=profile.city_en,
    )
    write_raw_extract(tables, out, seed=seed, hospital=hospital)


def write_hospitals(
    out: Path,
    *,
    hospitals: int,
    persons: int,
    seed: int,
    raw: bool = False,
    on_hospital: Callable[[HospitalProfile], None] | None = None,
) -> Manifest:
    """Generate and write ``hospitals`` hospitals of ``persons`` persons each under ``out``."""
    if persons < 1:
        raise InvalidInput("--persons: must be at least 1")
    profiles = hospital_profiles(hospitals)
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out: {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"--out: cannot create {out}", detail=str(exc)) from exc
    entries: list[HospitalEntry] = []
    for profile in profiles:
        tmp = out / f".{profile.slug}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            tables = generate_hospital(profile, persons=persons, seed=seed)
            rows = write_cdm(tmp / CDM_FILE, tables)
            if raw:
                _write_raw(tables, tmp / "raw", seed=seed, profile=profile)
            _replace(tmp, out / profile.slug)
        except MedHavenError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(f"synth: writing {profile.slug} failed", detail=str(exc)) from exc
        entries.append(
            HospitalEntry(
                slug=profile.slug,
                name_ko=profile.name_ko,
                name_en=profile.name_en,
                city_ko=profile.city_ko,
                city_en=profile.city_en,
                profile=profile.kind,
                persons=persons,
                cdm=f"{profile.slug}/{CDM_FILE}",
                raw=f"{profile.slug}/raw" if raw else None,
                rows=rows,
            )
        )
        if on_hospital is not None:
            on_hospital(profile)
    manifest = Manifest(seed=seed, persons=persons, hospitals=entries)
    tmp_manifest = out / f".{MANIFEST}.tmp"
    tmp_manifest.write_text(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n")
    tmp_manifest.replace(out / MANIFEST)
    return manifest


__all__ = ["CDM_FILE", "MANIFEST", "HospitalEntry", "Manifest", "write_cdm", "write_hospitals"]
