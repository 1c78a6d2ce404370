"""Reading cohort definitions: ATLAS JSON files, and the library of example definitions.

A definition file is the ``expression`` JSON ATLAS exports (or the full
cohort-definition export with an ``expression`` key, as WebAPI returns it).
The shipped library lives in ``library/*.json``; each file holds
``{"name", "description", "expression"}`` and is addressed by its file stem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medhaven.analytics.cohorts.model import CohortExpression
from medhaven.errors import InvalidInput, NotFound

_UNSUPPORTED = {"extra_forbidden", "literal_error"}


@dataclass(frozen=True)
class Definition:
    """A parsed definition with its display name."""

    name: str
    description: str
    expression: CohortExpression


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def parse_expression(data: Any, *, source: str = "cohort definition") -> CohortExpression:
    """Validate a Circe expression; any element outside the subset is refused by its path."""
    if isinstance(data, dict) and "expression" in data and "PrimaryCriteria" not in data:
        data = data["expression"]
        if isinstance(data, str):  # WebAPI nests the expression as a JSON string
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{source}: expression is not valid JSON") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected a JSON object")
    try:
        return CohortExpression.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # Name an unsupported element before any follow-on "missing field" error it causes.
        err = next((e for e in errors if e["type"] in _UNSUPPORTED), errors[0])
        where = _path(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            raise InvalidInput(
                f"{source}: {where} is not supported by MedHaven's cohort compiler"
            ) from None
        if err["type"] == "literal_error":
            raise InvalidInput(
                f"{source}: {where}: this value is not supported ({err['msg']})"
            ) from None
        raise InvalidInput(f"{source}: {where}: {err['msg']}") from None


def load_definition(path: Path) -> Definition:
    """Read and validate one definition file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{path}: no such cohort definition file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the file as UTF-8 text") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON (line {exc.lineno})") from None
    expression = parse_expression(data, source=str(path))
    name = path.stem
    description = ""
    if isinstance(data, dict):
        name = str(data.get("name") or name)
        description = str(data.get("description") or "")
    return Definition(name=name, description=description, expression=expression)


def _library_dir() -> Path:
    return Path(str(resources.files("medhaven.analytics.cohorts") / "library"))


def library_names() -> list[str]:
    """The names (file stems) of the shipped example definitions."""
    return sorted(p.stem for p in _library_dir().glob("*.json"))


def library_definition(name: str) -> Definition:
    """One shipped example definition by name."""
    path = _library_dir() / f"{name}.json"
    if name not in library_names():
        raise NotFound(f"no library cohort named {name!r}; see `medhaven cohort list`")
    return load_definition(path)


def resolve(definition: str) -> Definition:
    """A definition from a file path, else from the library by name."""
    path = Path(definition)
    if path.suffix.lower() == ".json" or path.exists():
        return load_definition(path)
    return library_definition(definition)


__all__ = [
    "Definition",
    "library_definition",
    "library_names",
    "load_definition",
    "parse_expression",
    "resolve",
]
