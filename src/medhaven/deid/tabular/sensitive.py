"""The configurable list of sensitive categories (HIV, mental illness, STI, rare disease, abuse, abortion).

A list is a CSV file with ``code,category[,description]``: a code matches a
source code exactly (SNOMED, RxNorm, LOINC, ...), or, ending in ``*``, as a
prefix (ICD-10 blocks such as ``F3*``). The shipped default is
``sensitive_concepts.csv`` beside this module.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

from medhaven.errors import InvalidInput

SensitiveList = tuple[tuple[str, str], ...]


def _parse(text: str, source: str) -> SensitiveList:
    reader = csv.DictReader(io.StringIO(text))
    fields = reader.fieldnames or []
    for needed in ("code", "category"):
        if needed not in fields:
            raise InvalidInput(f"{source}: the sensitive list has no column {needed}")
    out: list[tuple[str, str]] = []
    for i, row in enumerate(reader, start=1):
        code = (row.get("code") or "").strip()
        category = (row.get("category") or "").strip()
        if not code or not category or code == "*":
            raise InvalidInput(f"{source}: data row {i}: code and category are required")
        out.append((code, category))
    if not out:
        raise InvalidInput(f"{source}: the sensitive list is empty")
    return tuple(out)


def default_sensitive_list() -> SensitiveList:
    """The shipped list of sensitive codes and their categories."""
    path = resources.files("medhaven.deid.tabular") / "sensitive_concepts.csv"
    return _parse(path.read_text(encoding="utf-8"), "sensitive_concepts.csv")


def read_sensitive_list(path: Path) -> SensitiveList:
    """A user's sensitive list (CSV ``code,category[,description]``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"sensitive list {path} does not exist") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"sensitive list {path} is not UTF-8") from None
    except OSError as exc:
        raise InvalidInput(f"sensitive list {path} cannot be read ({exc.strerror})") from None
    return _parse(text, str(path))


__all__ = ["SensitiveList", "default_sensitive_list", "read_sensitive_list"]
