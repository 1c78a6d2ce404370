"""``medhaven deid dicom``: PS3.15 Basic Profile with modified dates, directory in, directory out."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.cli.common import console, print_json, progress
from medhaven.deid.dicom import DeidContext
from medhaven.deid.dicom_files import deidentify_directory, list_inputs
from medhaven.deid.keys import SiteKey


def dicom(
    input_dir: Path = typer.Option(
        ..., "--input", help="Directory of DICOM files (searched recursively)."
    ),
    output: Path = typer.Option(
        ...,
        "--output",
        help="New directory for the de-identified files (must not exist or be empty).",
    ),
    key_file: Path = typer.Option(
        ...,
        "--key-file",
        help="The site key (from `medhaven deid keygen`): pseudonyms, date shifts, UIDs.",
    ),
    skip_invalid: bool = typer.Option(
        False,
        "--skip-invalid",
        help="List unreadable or truncated files in the report and go on, instead of stopping.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
) -> None:
    """De-identify DICOM files: PS3.15 Basic Profile + Retain Longitudinal Modified Dates.

    Every attribute, nested sequences included, gets its Table E.1-1 action;
    private tags are removed; UIDs are replaced by keyed 2.25 UIDs (the same
    in every file, so references still resolve); every date moves by the
    patient's keyed offset; Patient ID and Name become the keyed pseudonym.
    Images with Burned In Annotation = YES are held back (held/held.json).
    Output goes to OUTPUT/<study>/<series>/<instance>.dcm plus report.json;
    it is built aside and renamed, so a failed run leaves nothing.
    """
    key = SiteKey.load(key_file)
    files = list_inputs(input_dir)
    ctx = DeidContext.create(key)
    with progress(not json_out) as bar:
        task = bar.add_task("de-identifying DICOM", total=len(files))
        report = deidentify_directory(
            source=input_dir,
            output=output,
            ctx=ctx,
            skip_invalid=skip_invalid,
            files=files,
            on_file=lambda: bar.advance(task),
        )
    info = {"output": str(output), "key_fingerprint": key.fingerprint, **report.as_dict()}
    if json_out:
        print_json(info)
    else:
        console.print(
            f"wrote {report.written} files to {output}; held {len(report.held)} for review"
            f" (burned-in annotation); {len(report.failed)} failed; "
            f"{report.actions.get('private_removed', 0)} private elements removed"
        )


__all__ = ["dicom"]
