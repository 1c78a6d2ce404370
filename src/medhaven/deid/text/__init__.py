"""Free-text PHI de-identification for English and Korean clinical notes (rules, no ML model)."""

from __future__ import annotations

from medhaven.deid.text.engine import detect
from medhaven.deid.text.spans import LABELS, Span

__all__ = ["LABELS", "Span", "detect"]
