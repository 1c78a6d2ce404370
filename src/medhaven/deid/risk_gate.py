"""The release gate: a dataset is published only at ``k >= k_min`` and average risk ``<= max``.

When the gate refuses, it searches a small lattice of generalisations of the
quasi-identifiers and suggests the first that would pass: each column has a
ladder (age or other small numbers → 5-, 10-, 20-wide bands; postcode →
first 3, then 2 digits; ISO date → month, then year; last rung for every
column: drop it). Candidates are tried in order of fewest dropped columns,
then fewest generalisation steps, so the suggestion loses as little as the
lattice allows. The search runs on the table pre-aggregated to distinct
(quasi, sensitive) combinations, so each candidate costs little.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from medhaven.deid.risk import (
    check_columns,
    column_codes,
    combine_codes,
    distinct_per_class,
    measure_risk,
)
from medhaven.errors import CheckFailed, InvalidInput

Rung = tuple[str, Callable[[pd.Series], pd.Series]]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_POSTCODE_NAME = re.compile(r"zip|post|postal", re.IGNORECASE)
_AGE_NAME = re.compile(r"age|year", re.IGNORECASE)
_MAX_LATTICE = 100_000


class ReleaseRefused(CheckFailed):
    """The release gate refused a dataset (k too small or average risk too high)."""


@dataclass(frozen=True)
class Candidate:
    """One generalisation of the quasi-identifiers and the k / risk it reaches."""

    steps: dict[str, str]
    dropped: list[str]
    k: int
    average_risk: float
    l_diversity: int | None
    passes: bool

    @property
    def description(self) -> str:
        """Human summary, for example ``age → 10-year bands; drop sex``."""
        parts = [f"{col} → {step}" for col, step in self.steps.items()]
        parts += [f"drop {col}" for col in self.dropped]
        return "; ".join(parts) or "as is"


@dataclass(frozen=True)
class GateVerdict:
    """Whether a dataset may be released, why not, and what would make it pass."""

    released: bool
    k: int
    average_risk: float
    l_diversity: int | None
    k_min: int
    max_avg_risk: float
    reasons: list[str] = field(default_factory=list)
    suggestion: Candidate | None = None
    candidates_tried: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the suggestion carries its description)."""
        out = asdict(self)
        if self.suggestion is not None:
            out["suggestion"]["description"] = self.suggestion.description
        return out


def _band(width: int) -> Callable[[pd.Series], pd.Series]:
    def apply(s: pd.Series) -> pd.Series:
        num = pd.to_numeric(s, errors="coerce")
        low = (np.floor(num / width) * width).astype("Int64")
        out: pd.Series = (low.astype("string") + "-" + (low + width - 1).astype("string")).fillna(
            ""
        )
        return out

    return apply


def _prefix(n: int) -> Callable[[pd.Series], pd.Series]:
    return lambda s: s.astype("string").str.slice(0, n).fillna("")


def _text(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        s = s.dt.strftime("%Y-%m-%d")
    out: pd.Series = s.astype("string")
    return out


def ladder(name: str, values: pd.Series) -> list[Rung]:
    """The generalisation rungs for one column, mildest first (dropping comes after these)."""
    sample = values.dropna()
    if sample.empty:
        return []
    text = _text(sample)
    if pd.api.types.is_datetime64_any_dtype(values) or text.str.match(_ISO_DATE).all():
        return [
            ("month", lambda s: _text(s).str.slice(0, 7).fillna("")),
            ("year", lambda s: _text(s).str.slice(0, 4).fillna("")),
        ]
    digits = text.str.fullmatch(r"\d+").all()
    if _POSTCODE_NAME.search(name) and digits and text.str.len().min() >= 4:
        return [("first 3 digits", _prefix(3)), ("first 2 digits", _prefix(2))]
    numeric = pd.to_numeric(sample, errors="coerce")
    if numeric.notna().all():
        span = float(numeric.max() - numeric.min())
        if _AGE_NAME.search(name) or span <= 200:
            return [
                (f"{w}-year bands" if _AGE_NAME.search(name) else f"bands of {w}", _band(w))
                for w in (5, 10, 20)
            ]
        return []
    return []


def _measure(
    codes: list[np.ndarray[Any, Any]],
    counts: np.ndarray[Any, Any],
    sens_codes: list[np.ndarray[Any, Any]],
    n: int,
) -> tuple[int, float, int | None]:
    ids, n_classes = combine_codes(codes)
    sizes = np.bincount(ids, weights=counts, minlength=n_classes)
    l_div = None
    if sens_codes:
        l_div = min(int(distinct_per_class(ids, n_classes, s).min()) for s in sens_codes)
    return int(sizes.min()), n_classes / n, l_div


def evaluate_release(
    data: pd.DataFrame,
    quasi: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    k_min: int = 5,
    max_avg_risk: float = 0.05,
    max_candidates: int = 500,
) -> GateVerdict:
    """Release or refuse ``data``; when refused, suggest the first generalisation that passes."""
    quasi, sensitive = list(quasi), list(sensitive)
    if k_min < 1 or not 0.0 < max_avg_risk <= 1.0:
        raise InvalidInput("k_min must be at least 1 and max_avg_risk in (0, 1]")
    check_columns(data, quasi=quasi, sensitive=sensitive, source="dataset")
    report = measure_risk(data, quasi, sensitive)
    avg = report.prosecutor.average
    reasons = []
    if report.k < k_min:
        reasons.append(f"k = {report.k} is below the minimum {k_min}")
    if avg > max_avg_risk:
        reasons.append(f"average prosecutor risk {avg:.4f} is above the maximum {max_avg_risk}")

    def verdict(**extra: Any) -> GateVerdict:
        return GateVerdict(
            k=report.k,
            average_risk=avg,
            l_diversity=report.l_diversity,
            k_min=k_min,
            max_avg_risk=max_avg_risk,
            **extra,
        )

    if not reasons:
        return verdict(released=True)
    # Generalise each column's distinct values only (hundreds, not millions), then
    # carry the result to rows through the factorised codes.
    base_codes: list[np.ndarray[Any, Any]] = []
    ladders: list[list[Rung]] = []
    rung_codes: list[list[np.ndarray[Any, Any]]] = []
    for col in quasi:
        codes, uniques = pd.factorize(data[col], use_na_sentinel=False, sort=False)
        distinct = pd.Series(uniques)
        rungs = ladder(col, distinct)
        base_codes.append(codes.astype(np.int64))
        ladders.append(rungs)
        rung_codes.append([column_codes(fn(distinct)) for _, fn in rungs])
    if np.prod([len(r) + 2 for r in ladders], dtype=np.float64) > _MAX_LATTICE:
        # Many quasi-identifiers: keep only the mildest rung so the lattice stays small.
        ladders = [r[:1] for r in ladders]
        rung_codes = [r[:1] for r in rung_codes]
    # Pre-aggregate to distinct (quasi, sensitive) combinations: every candidate is
    # then measured on those, weighted by how many records each stands for.
    row_sens = [column_codes(data[s]) for s in sensitive]
    combo_ids, _ = combine_codes(base_codes + row_sens)
    _, first = np.unique(combo_ids, return_index=True)
    counts = np.bincount(combo_ids).astype(np.float64)
    sens_codes = [c[first] for c in row_sens]
    # codes_at[i][level]: codes of column i at that rung (0 = as is, last = dropped).
    codes_at: list[list[np.ndarray[Any, Any]]] = []
    for i in range(len(quasi)):
        compact = base_codes[i][first]
        levels = [compact] + [mapping[compact] for mapping in rung_codes[i]]
        levels.append(np.zeros(len(first), dtype=np.int64))
        codes_at.append(levels)
    combos = itertools.product(*(range(len(levels)) for levels in codes_at))
    ordered = sorted(
        (c for c in combos if any(c)),
        key=lambda c: (sum(lv == len(codes_at[i]) - 1 for i, lv in enumerate(c)), sum(c), c),
    )
    tried = 0
    suggestion = None
    for combo in ordered[:max_candidates]:
        tried += 1
        if all(lv == len(codes_at[i]) - 1 for i, lv in enumerate(combo)):
            continue  # dropping every quasi-identifier is not a suggestion
        k, risk, l_div = _measure(
            [codes_at[i][lv] for i, lv in enumerate(combo)], counts, sens_codes, report.records
        )
        if k >= k_min and risk <= max_avg_risk:
            steps = {
                quasi[i]: ladders[i][lv - 1][0]
                for i, lv in enumerate(combo)
                if 0 < lv < len(codes_at[i]) - 1
            }
            dropped = [quasi[i] for i, lv in enumerate(combo) if lv == len(codes_at[i]) - 1]
            suggestion = Candidate(steps, dropped, k, risk, l_div, True)
            break
    return verdict(released=False, reasons=reasons, suggestion=suggestion, candidates_tried=tried)


__all__ = ["Candidate", "GateVerdict", "ReleaseRefused", "evaluate_release", "ladder"]
