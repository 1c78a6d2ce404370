"""The ``medhaven`` command line: one Typer app, one module per command group.

Exports :data:`app` and :func:`main` (the console-script entry point).
"""

from medhaven.cli.main import app, main

__all__ = ["app", "main"]
