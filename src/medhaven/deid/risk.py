"""Re-identification risk of a table on its declared quasi-identifiers.

Records that share every quasi-identifier value form an *equivalence class*
of size ``f_j`` in the sample (and ``F_j`` in the population, when one is
given). Measures, as in El Emam & Dankar (2008) and Dankar & El Emam (2010):

* k-anonymity: ``k = min f_j``;
* distinct l-diversity: the fewest distinct sensitive values in any class
  (minimum over the sensitive attributes);
* prosecutor risk (the attacker knows the person is in the sample): per record
  ``1/f_j``; reported as the highest, the share of records whose risk is above
  ``threshold``, and the average (``J/n`` for ``J`` classes and ``n`` records);
* journalist risk (the attacker does not know who is in the sample): per
  record ``1/F_j``; highest, share above threshold, average ``J / Σ F_j``;
* marketer risk (expected share of records re-identified when all are
  matched): ``(1/n) Σ f_j / F_j``.

Without a population, the sample is assumed to be the population
(``F_j = f_j``) and the report says so. Missing values count as a value of
their own (a blank postcode still narrows a class). Grouping is done with
``pandas.factorize`` and ``numpy`` counting, linear in the number of records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from medhaven.errors import InvalidInput

IntArray = npt.NDArray[np.int64]

SAMPLE_AS_POPULATION = "sample assumed to be the population"


@dataclass(frozen=True)
class RiskSummary:
    """One attacker model's record-level risk: highest, share above threshold, average."""

    highest: float
    share_above_threshold: float
    average: float


@dataclass(frozen=True)
class RiskReport:
    """Every measure for one table on its quasi-identifiers (no cell value is kept)."""

    records: int
    quasi_identifiers: list[str]
    sensitive: list[str]
    equivalence_classes: int
    k: int
    l_diversity: int | None
    threshold: float
    prosecutor: RiskSummary
    journalist: RiskSummary
    marketer: float
    population: str
    population_records: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def combine_codes(codes: Sequence[IntArray]) -> tuple[IntArray, int]:
    """Dense class ids (0..J-1) for rows from per-column integer codes, and J."""
    if not codes:
        raise InvalidInput("at least one quasi-identifier is needed")
    widths = [int(c.max()) + 1 if c.size else 1 for c in codes]
    if float(np.prod(widths, dtype=np.float64)) < 2.0**62:
        # Mixed-radix key in one pass: exact, because the product of widths fits in int64.
        key = np.zeros(len(codes[0]), dtype=np.int64)
        for col, width in zip(codes, widths, strict=True):
            key = key * width + np.asarray(col, dtype=np.int64)
        dense, uniques = pd.factorize(key, sort=False)
        return dense.astype(np.int64), len(uniques)
    ids = np.asarray(codes[0], dtype=np.int64)
    n_ids = widths[0] if ids.size else 0
    for col in codes[1:]:
        width = int(col.max()) + 1 if col.size else 1
        # Re-densify after every column so the combined key can never overflow int64.
        combined = ids * width + np.asarray(col, dtype=np.int64)
        dense, uniques = pd.factorize(combined, sort=False)
        ids, n_ids = dense.astype(np.int64), len(uniques)
    return ids, n_ids


def column_codes(series: pd.Series) -> IntArray:
    """Integer codes of a column's values, with missing values as one more value."""
    codes, _ = pd.factorize(series, use_na_sentinel=False, sort=False)
    return codes.astype(np.int64)


def distinct_per_class(ids: IntArray, n_classes: int, values: IntArray) -> IntArray:
    """Number of distinct ``values`` codes within each class."""
    width = int(values.max()) + 1 if values.size else 1
    pairs = np.unique(ids * width + values)
    return np.bincount(pairs // width, minlength=n_classes).astype(np.int64)


def check_columns(
    data: pd.DataFrame, *, quasi: Sequence[str], sensitive: Sequence[str], source: str
) -> None:
    """Raise a one-line error naming the first declared column the table does not have."""
    if not quasi:
        raise InvalidInput("at least one quasi-identifier column must be declared")
    for role, names in (("quasi-identifier", quasi), ("sensitive", sensitive)):
        for name in names:
            if name not in data.columns:
                known = ", ".join(map(str, data.columns[:20]))
                raise InvalidInput(f"{source}: no {role} column {name!r} (columns: {known})")
    overlap = set(quasi) & set(sensitive)
    if overlap:
        raise InvalidInput(f"column {sorted(overlap)[0]!r} is declared both quasi and sensitive")
    if len(data) == 0:
        raise InvalidInput(f"{source}: has no data rows")


def _summary(risk: npt.NDArray[np.float64], threshold: float, average: float) -> RiskSummary:
    return RiskSummary(
        highest=float(risk.max()),
        share_above_threshold=float(np.mean(risk > threshold)),
        average=float(average),
    )


def measure_risk(
    data: pd.DataFrame,
    quasi: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    population: pd.DataFrame | None = None,
    threshold: float = 0.2,
    source: str = "input",
) -> RiskReport:
    """k, distinct l, and prosecutor / journalist / marketer risk of ``data`` on ``quasi``."""
    quasi, sensitive = list(quasi), list(sensitive)
    check_columns(data, quasi=quasi, sensitive=sensitive, source=source)
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("the risk threshold must be between 0 and 1")
    n = len(data)
    if population is None:
        ids, n_classes = combine_codes([column_codes(data[c]) for c in quasi])
        f = np.bincount(ids, minlength=n_classes)
        big_f = f
        pop_label, pop_records = SAMPLE_AS_POPULATION, n
    else:
        check_columns(population, quasi=quasi, sensitive=(), source="population")
        # Factorise sample and population together so equal values share a code;
        # strings on both sides because the two files may have been typed differently.
        both = pd.concat([data[quasi].astype("string"), population[quasi].astype("string")])
        all_ids, n_all = combine_codes([column_codes(both[c]) for c in quasi])
        sample_ids_raw, pop_ids = all_ids[:n], all_ids[n:]
        ids, sample_classes = pd.factorize(sample_ids_raw, sort=False)
        ids = ids.astype(np.int64)
        n_classes = len(sample_classes)
        f = np.bincount(ids, minlength=n_classes)
        pop_counts = np.bincount(pop_ids, minlength=n_all)[sample_classes]
        # A sample record not found in the population file still exists in the population.
        big_f = np.maximum(pop_counts, f)
        pop_label, pop_records = "given", len(population)
    l_div: int | None = None
    if sensitive:
        l_div = min(
            int(distinct_per_class(ids, n_classes, column_codes(data[s])).min()) for s in sensitive
        )
    f_rec = f[ids].astype(np.float64)
    big_f_rec = big_f[ids].astype(np.float64)
    return RiskReport(
        records=n,
        quasi_identifiers=quasi,
        sensitive=sensitive,
        equivalence_classes=n_classes,
        k=int(f.min()),
        l_diversity=l_div,
        threshold=threshold,
        prosecutor=_summary(1.0 / f_rec, threshold, n_classes / n),
        journalist=_summary(1.0 / big_f_rec, threshold, n_classes / float(big_f.sum())),
        marketer=float(np.sum(f / big_f) / n),
        population=pop_label,
        population_records=pop_records,
    )


__all__ = [
    "SAMPLE_AS_POPULATION",
    "RiskReport",
    "RiskSummary",
    "check_columns",
    "column_codes",
    "combine_codes",
    "distinct_per_class",
    "measure_risk",
]
