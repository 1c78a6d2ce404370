"""``medhaven deid tabular``: a raw extract folder to de-identified files, a JSON report and a CDM."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from medhaven.cli.common import console, print_json, progress
from medhaven.deid.keys import SiteKey
from medhaven.deid.tabular.mapping import read_mapping
from medhaven.deid.tabular.model import SensitiveMode
from medhaven.deid.tabular.profiles import PROFILES, synthea_profile
from medhaven.deid.tabular.run import deidentify_extract, plan_run
from medhaven.deid.tabular.sensitive import read_sensitive_list
from medhaven.errors import InvalidInput


def tabular(
    fmt: str = typer.Option(
        "synthea", "--format", help="synthea (Synthea's CSV layout) or csv (with --mapping)."
    ),
    input_dir: Path = typer.Option(..., "--input", help="Folder of the raw extract (CSV files)."),
    output: Path = typer.Option(
        ..., "--output", help="New folder for the de-identified files (must not exist or be empty)."
    ),
    key_file: Path = typer.Option(
        ..., "--key-file", help="The site key (`medhaven deid keygen`), kept apart from the data."
    ),
    report: Path = typer.Option(..., "--report", help="Where to write the JSON run report."),
    cdm: str | None = typer.Option(
        None,
        "--cdm",
        help="Also write an OMOP CDM: a new DuckDB file, or an empty postgresql:// schema.",
    ),
    profile: str = typer.Option(
        "safe-harbor",
        "--profile",
        help="synthea format: safe-harbor (HIPAA, dates to year) or kr-pseudonym (PIPA, shifted).",
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="csv format: YAML rules per file and column (see the docs)."
    ),
    sensitive: str | None = typer.Option(
        None,
        "--sensitive",
        help="Rows in sensitive categories: off, flag or withhold (kr-pseudonym: withhold).",
    ),
    sensitive_list: Path | None = typer.Option(
        None, "--sensitive-list", help="CSV code,category[,description] replacing the shipped list."
    ),
    reference_date: str | None = typer.Option(
        None,
        "--reference-date",
        help="YYYY-MM-DD of the extract: ages are counted to it (90+ pooling) and observation"
        " periods of persons without records end at it (default: today).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """De-identify a raw extract: pseudonyms, per-patient date shift, generalisation, notes.

    Identifiers are replaced by keyed HMAC-SHA256 pseudonyms (computed once per
    distinct value); every date of a patient, in every file and note, moves by
    that patient's keyed offset; direct identifiers are dropped; columns a
    profile does not name are dropped. Output, report and CDM are built aside
    and renamed into place, so a failed run leaves nothing behind.
    """
    if input_dir.is_dir() and input_dir.resolve() in key_file.resolve().parents:
        raise InvalidInput("--key-file must be kept apart from the extract, not inside --input")
    key = SiteKey.load(key_file)
    ref = None
    if reference_date is not None:
        try:
            ref = dt.date.fromisoformat(reference_date)
        except ValueError:
            raise InvalidInput("--reference-date must be YYYY-MM-DD") from None
    if sensitive not in (None, "off", "flag", "withhold"):
        raise InvalidInput("--sensitive must be off, flag or withhold")
    mode: SensitiveMode | None = sensitive  # type: ignore[assignment]
    if fmt == "synthea":
        if mapping is not None:
            raise InvalidInput("--mapping goes with --format csv")
        if profile not in PROFILES:
            raise InvalidInput("--profile must be safe-harbor or kr-pseudonym")
        listed = read_sensitive_list(sensitive_list) if sensitive_list else None
        prof = synthea_profile(profile, sensitive_mode=mode, sensitive=listed, reference_date=ref)
        strict = False
    elif fmt == "csv":
        if mapping is None:
            raise InvalidInput("--format csv needs --mapping M.yaml")
        if sensitive is not None or sensitive_list is not None:
            raise InvalidInput("with --format csv, set the sensitive rows in the mapping file")
        prof = read_mapping(mapping)
        if ref is not None:
            prof = replace(prof, reference_date=ref)
        strict = True
    else:
        raise InvalidInput(f"unknown --format {fmt!r} (use synthea or csv)")
    plan = plan_run(input_dir, prof)
    with progress(not json_out) as bar:
        task = bar.add_task("de-identifying", total=plan.steps)
        result = deidentify_extract(
            source=input_dir,
            output=output,
            key=key,
            profile=prof,
            report_path=report,
            cdm=cdm,
            fmt=fmt,
            strict_columns=strict,
            on_step=lambda _label: bar.advance(task),
        )
    if json_out:
        print_json(result)
        return
    cdm_note = ""
    if result["cdm"]:
        rows = sum(result["cdm"]["rows"].values())
        cdm_note = f"; CDM {rows} rows ({result['cdm']['unmapped_total']} events with unmapped codes -> concept 0)"
    console.print(
        f"wrote {output}: {len(result['tables'])} files, {result['rows_in']} rows in,"
        f" {result['rows_out']} out ({result['sensitive']['withheld']} withheld)"
        f"{cdm_note}; report {report}"
    )
    for line in gate_lines(result.get("risk") or {}):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def gate_lines(risk: dict[str, Any]) -> list[str]:
    """One line per file with quasi-identifiers: the release gate's verdict and its suggestion."""
    lines = []
    for file, fig in sorted(risk.items()):
        gate = fig.get("release_gate") if isinstance(fig, dict) else None
        if not gate:
            continue
        target = f"k >= {gate['k_min']} and average risk <= {gate['max_avg_risk']}"
        if gate["released"]:
            lines.append(f"release gate {file}: passes ({target})")
            continue
        reasons = "; ".join(gate["reasons"])
        hint = (
            f"generalisation that reaches it: {gate['suggestion']}"
            if gate["suggestion"]
            else "no generalisation of the quasi-identifiers reaches it"
        )
        lines.append(f"release gate {file}: refused ({reasons}); needs {target}; {hint}")
    return lines


__all__ = ["gate_lines", "tabular"]
