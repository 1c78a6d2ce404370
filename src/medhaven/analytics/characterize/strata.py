"""Strata shared by every characterization: age groups, sex, and the SQL that assigns them.

The SQL fragments here are written once and run unchanged on DuckDB and
PostgreSQL: ``EXTRACT(YEAR FROM ...)``, ``CASE``, integer date differences
(``date - date``) and ``date + integer`` behave the same on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from medhaven.analytics.table import LinkedTable, one_way

#: Age groups (inclusive bounds in whole years); the last one is open-ended.
AGE_GROUPS: tuple[tuple[int, int | None], ...] = (
    (0, 17),
    (18, 34),
    (35, 49),
    (50, 64),
    (65, 74),
    (75, 84),
    (85, None),
)
UNKNOWN = "unknown"
FEMALE_CONCEPT = 8532
MALE_CONCEPT = 8507
SEX_LABELS = ("female", "male")
OTHER_SEX = "other"


def age_label(low: int, high: int | None) -> str:
    """``"18-34"`` for a closed group, ``"85+"`` for the open one."""
    return f"{low}+" if high is None else f"{low}-{high}"


AGE_LABELS = tuple(age_label(lo, hi) for lo, hi in AGE_GROUPS)


def age_group_of(age: int | None) -> str:
    """The age-group label of a whole-year age (``"unknown"`` for none or negative)."""
    if age is None or age < 0:
        return UNKNOWN
    for lo, hi in AGE_GROUPS:
        if age >= lo and (hi is None or age <= hi):
            return age_label(lo, hi)
    return UNKNOWN  # pragma: no cover - the last group is open-ended


def sex_of(gender_concept_id: int | None) -> str:
    """``"female"``, ``"male"`` or ``"other"`` from an OMOP gender concept id."""
    if gender_concept_id == FEMALE_CONCEPT:
        return "female"
    if gender_concept_id == MALE_CONCEPT:
        return "male"
    return OTHER_SEX


def age_case_sql(age_expr: str) -> str:
    """A SQL ``CASE`` giving the age-group label of the integer expression ``age_expr``."""
    whens = []
    for lo, hi in AGE_GROUPS:
        cond = f"{age_expr} >= {lo}" if hi is None else f"{age_expr} BETWEEN {lo} AND {hi}"
        whens.append(f"WHEN {cond} THEN '{age_label(lo, hi)}'")
    return f"CASE {' '.join(whens)} ELSE '{UNKNOWN}' END"


def sex_case_sql(gender_expr: str) -> str:
    """A SQL ``CASE`` giving the sex label of a gender concept id expression."""
    return (
        f"CASE WHEN {gender_expr} = {FEMALE_CONCEPT} THEN 'female' "
        f"WHEN {gender_expr} = {MALE_CONCEPT} THEN 'male' ELSE '{OTHER_SEX}' END"
    )


def year_sql(date_expr: str) -> str:
    """The calendar year of a date as an integer, on both dialects."""
    return f"CAST(EXTRACT(YEAR FROM {date_expr}) AS INTEGER)"


@dataclass(frozen=True)
class Axis:
    """The labels of one table dimension, in display order."""

    labels: tuple[str, ...]


def age_axis(present: Iterable[str]) -> Axis:
    """Every age group, plus ``unknown`` only when some row has it."""
    seen = set(present)
    extra = (UNKNOWN,) if UNKNOWN in seen else ()
    return Axis((*AGE_LABELS, *extra))


def sex_axis(present: Iterable[str]) -> Axis:
    """Female and male always, plus ``other`` only when some row has it."""
    seen = set(present)
    extra = (OTHER_SEX,) if OTHER_SEX in seen else ()
    return Axis((*SEX_LABELS, *extra))


def ordered_one_way(counts: Mapping[str, int], order: Sequence[str], *, name: str) -> LinkedTable:
    """A one-way count table with its total, cells in ``order`` (absent labels are 0)."""
    return one_way({k: int(counts.get(k, 0)) for k in order}, name=name)


__all__ = [
    "AGE_GROUPS",
    "AGE_LABELS",
    "OTHER_SEX",
    "SEX_LABELS",
    "UNKNOWN",
    "Axis",
    "age_axis",
    "age_case_sql",
    "age_group_of",
    "age_label",
    "ordered_one_way",
    "sex_axis",
    "sex_case_sql",
    "sex_of",
    "year_sql",
]
