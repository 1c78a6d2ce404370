"""``medhaven cdm``: load an OMOP CDM export into a store, and check its quality."""

from __future__ import annotations

import typer

from medhaven.cli.cdm_check import check
from medhaven.cli.cdm_load import load

app = typer.Typer(
    help="Work with a node's OMOP CDM store: load exports, run quality checks.",
    no_args_is_help=True,
)
app.command("load")(load)
app.command("check")(check)
