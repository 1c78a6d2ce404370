"""``medhaven cdm``: load an OMOP CDM export into a store, and check its quality."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Work with a node's OMOP CDM store: load exports, run quality checks.",
    no_args_is_help=True,
)
