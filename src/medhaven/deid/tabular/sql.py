"""SQL expressions for each column action (DuckDB), all over text columns.

Dates are ``YYYY-MM-DD`` optionally followed by a time (``T``/space, any
precision, any zone): a shift moves the calendar date by whole days and keeps
the rest of the text verbatim, so times, fractions and zones survive and
every within-patient interval stays exactly what it was.
"""

from __future__ import annotations

import datetime as dt

from medhaven.deid.tabular.model import Generalization

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ].*)?$"

HIPAA_RESTRICTED_ZIP3 = (
    "036",
    "059",
    "063",
    "102",
    "203",
    "556",
    "692",
    "790",
    "821",
    "823",
    "830",
    "831",
    "878",
    "879",
    "884",
    "890",
    "893",
)
"""3-digit ZIP prefixes with 20,000 people or fewer (2000 Census; HHS guidance): written ``000``."""


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def is_date(col: str) -> str:
    """True where ``col`` holds a valid date (or datetime) text."""
    return (
        f"(regexp_matches({col}, '{DATE_PATTERN}') "
        f"AND TRY_CAST(substr({col}, 1, 10) AS DATE) IS NOT NULL)"
    )


def shifted(col: str, days: str) -> str:
    """``col`` with its calendar date moved by ``days`` days (rest of the text kept)."""
    return (
        f"CASE WHEN {col} IS NULL OR {days} IS NULL THEN NULL ELSE "
        f"strftime(CAST(substr({col}, 1, 10) AS DATE) + {days}, '%Y-%m-%d') "
        f"|| substr({col}, 11) END"
    )


def generalized(col: str, method: Generalization, reference: dt.date) -> str:
    """``col`` generalised by ``method`` (see :data:`~.model.GENERALIZATIONS`)."""
    if method == "year":
        return f"substr({col}, 1, 4)"
    if method == "birth_year":
        ref = f"DATE '{reference.isoformat()}'"
        return (
            f"CASE WHEN {col} IS NULL THEN NULL "
            f"WHEN date_sub('year', CAST(substr({col}, 1, 10) AS DATE), {ref}) >= 90 "
            f"THEN '{reference.year - 90:04d}' ELSE substr({col}, 1, 4) END"
        )
    if method in ("zip3", "postcode3"):
        digits = f"substr(regexp_replace({col}, '[^0-9]', '', 'g'), 1, 3)"
        restricted = ", ".join(f"'{z}'" for z in HIPAA_RESTRICTED_ZIP3)
        small = f"WHEN {digits} IN ({restricted}) THEN '000' " if method == "zip3" else ""
        return f"CASE WHEN length({digits}) < 3 THEN NULL {small}ELSE {digits} END"
    if method == "age_band":
        age = f"TRY_CAST({col} AS INTEGER)"
        return (
            f"CASE WHEN {age} IS NULL THEN NULL WHEN {age} >= 90 THEN '90+' "
            f"ELSE CAST(({age} // 5) * 5 AS VARCHAR) || '-' || CAST(({age} // 5) * 5 + 4 AS VARCHAR)"
            " END"
        )
    raise AssertionError(method)


def pooled_90(col: str, reference: dt.date) -> str:
    """True where a birth date ``col`` means an age of 90 or more at ``reference``."""
    ref = f"DATE '{reference.isoformat()}'"
    return f"date_sub('year', CAST(substr({col}, 1, 10) AS DATE), {ref}) >= 90"


def is_age(col: str) -> str:
    """True where ``col`` holds a whole, non-negative age."""
    return f"(TRY_CAST({col} AS INTEGER) IS NOT NULL AND TRY_CAST({col} AS INTEGER) >= 0)"


__all__ = [
    "DATE_PATTERN",
    "HIPAA_RESTRICTED_ZIP3",
    "generalized",
    "ident",
    "is_age",
    "is_date",
    "pooled_90",
    "shifted",
]
