"""``medhaven deid``: site keys, DICOM de-identification and re-identification risk."""

from __future__ import annotations

import typer

from medhaven.cli.deid_dicom import dicom
from medhaven.cli.deid_keys import keygen
from medhaven.cli.deid_risk import risk
from medhaven.cli.deid_tabular import tabular
from medhaven.cli.deid_text import text

app = typer.Typer(
    help="De-identify raw extracts at the node and measure re-identification risk.",
    no_args_is_help=True,
)
app.command("keygen")(keygen)
app.command("dicom")(dicom)
app.command("risk")(risk)
app.command("text")(text)
app.command("tabular")(tabular)
