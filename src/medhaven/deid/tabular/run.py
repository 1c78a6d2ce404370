"""One de-identification run: extract folder in; de-identified folder, report and CDM out.

Everything is built aside (a hidden sibling folder, a temporary report file,
a temporary DuckDB file) and renamed into place only once all of it is
complete, so an error leaves no half-written output.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from medhaven.deid.keys import SiteKey
from medhaven.deid.tabular import cdm_write
from medhaven.deid.tabular.cdm_build import CdmBuilder
from medhaven.deid.tabular.model import Profile
from medhaven.deid.tabular.notes import deidentify_notes
from medhaven.deid.tabular.report import build_report, risk_figures
from medhaven.deid.tabular.transform import TableResult, Transformer
from medhaven.errors import InvalidInput

StepFn = Callable[[str], None]


@dataclass(frozen=True)
class Plan:
    """Which input files are de-identified, which are notes, which are left out."""

    tables: dict[str, Path]
    notes: Path | None
    not_copied: list[str]
    ground_truth: list[str]

    @property
    def steps(self) -> int:
        """Units of work (for a progress bar)."""
        return len(self.tables) + (1 if self.notes else 0) + 2


def plan_run(source: Path, profile: Profile) -> Plan:
    """Sort the files of ``source`` by what the profile does with them."""
    if not source.is_dir():
        raise InvalidInput(f"--input {source} is not a folder")
    tables: dict[str, Path] = {}
    notes = None
    not_copied: list[str] = []
    truth: list[str] = []
    skip = {s.lower() for s in profile.skip_files}
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        lower = path.name.lower()
        rule = profile.table(path.name)
        if lower in skip:
            truth.append(path.name)
        elif rule is not None:
            if rule.file in tables:
                raise InvalidInput(f"{source}: two files match {rule.file}")
            tables[rule.file] = path
        elif profile.notes_file and lower == profile.notes_file.lower():
            notes = path
        else:
            not_copied.append(path.name)
    if not tables:
        raise InvalidInput(f"--input {source} holds none of the files the profile names")
    return Plan(tables=tables, notes=notes, not_copied=not_copied, ground_truth=truth)


def _check_output(output: Path, source: Path) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise InvalidInput(f"--output {output} exists and is not an empty folder")
    if not output.parent.is_dir():
        raise InvalidInput(f"--output: folder {output.parent} does not exist")
    if output.resolve() == source.resolve() or source.resolve() in output.resolve().parents:
        raise InvalidInput("--output must not be inside --input")


def _write_report(path: Path, report: dict[str, Any]) -> Path:
    if not path.parent.is_dir():
        raise InvalidInput(f"--report: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return tmp


def deidentify_extract(
    *,
    source: Path,
    output: Path,
    key: SiteKey,
    profile: Profile,
    report_path: Path,
    cdm: str | None = None,
    fmt: str = "synthea",
    strict_columns: bool = False,
    on_step: StepFn | None = None,
) -> dict[str, Any]:
    """De-identify the extract in ``source``; return the report (also written to ``report_path``)."""
    started = time.perf_counter()
    step = on_step or (lambda _label: None)
    source, output, report_path = Path(source), Path(output), Path(report_path)
    plan = plan_run(source, profile)
    if strict_columns:
        lacking = [t.file for t in profile.tables if t.file not in plan.tables]
        if lacking:
            raise InvalidInput(f"the mapping names file {lacking[0]}, which --input lacks")
    _check_output(output, source)
    if report_path.exists() and report_path.is_dir():
        raise InvalidInput(f"--report {report_path} is a folder")
    if not report_path.parent.is_dir():
        raise InvalidInput(f"--report: folder {report_path.parent} does not exist")
    if cdm is not None:
        cdm_write.check_target(cdm)
    staged = output.with_name(f".{output.name}.{secrets.token_hex(6)}.partial")
    staged_report: Path | None = None
    staged_cdm: Path | None = None
    con = duckdb.connect()
    try:
        staged.mkdir()
        tx = Transformer(con=con, profile=profile, key=key, strict_columns=strict_columns)
        tx.load(plan.tables)
        keyed = tx.register_maps()
        step("keyed maps")
        results: dict[str, TableResult] = {}
        for file, path in sorted(plan.tables.items()):
            results[file] = tx.run_table(file)
            tx.write_csv(file, staged / path.name)
            step(file)
        notes = None
        if plan.notes is not None:
            notes = deidentify_notes(
                source=plan.notes,
                target=staged / plan.notes.name,
                key=key,
                shift_dates=profile.notes_dates == "shift",
                sensitive_encounters=tx.sensitive_encounters,
                sensitive_mode=profile.sensitive_mode,
            ).as_dict()
            step(plan.notes.name)
        risk: dict[str, Any] = {}
        for t in profile.tables:
            if t.quasi and t.file in tx.outputs:
                fig = risk_figures(
                    con, table=tx.outputs[t.file], quasi=t.quasi, columns=set(tx.columns[t.file])
                )
                if fig is not None:
                    risk[t.file] = fig
        cdm_info = None
        cdm_tables = None
        if cdm is not None:
            build = CdmBuilder(con, tx.outputs, reference_date=profile.reference_date).run()
            cdm_tables = build.tables
            cdm_info = {
                "target": cdm if not cdm_write.is_url(cdm) else "postgresql",
                **build.as_dict(),
            }
            if not cdm_write.is_url(cdm):
                staged_cdm = cdm_write.stage_duckdb(cdm, cdm_tables)
        step("cdm")
        report = build_report(
            profile=profile,
            fmt=fmt,
            key=key,
            tables=results,
            keyed_values=keyed,
            notes=notes,
            not_copied=plan.not_copied,
            ground_truth_skipped=plan.ground_truth,
            risk=risk,
            cdm=cdm_info,
            seconds=time.perf_counter() - started,
            patients_90=tx.patients_90,
        )
        staged_report = _write_report(report_path, report)
        if cdm is not None and cdm_write.is_url(cdm) and cdm_tables is not None:
            cdm_write.write_postgres(cdm, cdm_tables)
        # Everything is complete: move it into place.
        if output.exists():
            output.rmdir()
        os.replace(staged, output)
        if staged_cdm is not None and cdm is not None:
            os.replace(staged_cdm, cdm)
            staged_cdm = None
        os.replace(staged_report, report_path)
        staged_report = None
        step("done")
        return report
    finally:
        con.close()
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
        for leftover in (staged_report, staged_cdm):
            if leftover is not None:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


__all__ = ["Plan", "StepFn", "deidentify_extract", "plan_run"]
