"""Reading a password for the hub CLI: from a file's first line, or a hidden prompt."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.errors import InvalidInput


def read_password(path: Path | None, *, confirm: bool) -> str:
    """The password from ``path`` (first line, newline stripped) or a hidden prompt."""
    if path is None:
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)
        return value
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the password file") from exc
    if not lines or not lines[0]:
        raise InvalidInput(f"{path}: the password file is empty")
    return lines[0]


__all__ = ["read_password"]
