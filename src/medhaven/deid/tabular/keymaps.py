"""Keyed lookup tables: one pseudonym per distinct identifier, one date offset per patient.

The HMACs are computed once per distinct value (over all files of the
extract) and registered in DuckDB as small two-column tables that every file
is joined with, so the per-row work is a vectorised hash join.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from medhaven.deid.dateshift import date_shift_days
from medhaven.deid.dicom_uid import UidMapper
from medhaven.deid.keys import SiteKey
from medhaven.deid.pseudonym import normalise_identifier, pseudonymize_many

PSEUDONYM_LENGTH = 24
"""Hex characters kept of each pseudonym (96 bits: collisions negligible at any hospital's scale)."""

DICOM_UID_NAMESPACE = "dicom-uid"
"""Values in this namespace get the same keyed UID as ``medhaven deid dicom`` gives them."""


def map_table_name(namespace: str) -> str:
    """The DuckDB table holding the pseudonyms of ``namespace``."""
    return "pm_" + "".join(c if c.isalnum() else "_" for c in namespace)


def _distinct(con: duckdb.DuckDBPyConnection, sources: list[tuple[str, str]]) -> list[str]:
    union = " UNION ".join(f'SELECT "{col}" AS v FROM {tab}' for tab, col in sources)
    rows = con.execute(f"SELECT DISTINCT v FROM ({union}) WHERE v IS NOT NULL").fetchall()
    # Blank identifiers have no pseudonym: they stay empty (see pseudonymize's contract).
    return [r[0] for r in rows if normalise_identifier(r[0])]


def register_pseudonyms(
    con: duckdb.DuckDBPyConnection,
    *,
    namespace: str,
    sources: list[tuple[str, str]],
    key: SiteKey,
) -> int:
    """Register ``pm_<namespace>(raw, pseudo)`` for every distinct value of ``sources``."""
    values = _distinct(con, sources)
    if namespace == DICOM_UID_NAMESPACE:
        mapper = UidMapper(key.uid_key)
        pseudos = [mapper(v) for v in values]
    else:
        pseudos = pseudonymize_many(
            values, key.pseudonym_key, namespace=namespace, length=PSEUDONYM_LENGTH
        )
    table = pa.table({"raw": pa.array(values, pa.string()), "pseudo": pa.array(pseudos)})
    con.register(map_table_name(namespace), table)
    return len(values)


def register_shifts(
    con: duckdb.DuckDBPyConnection, *, sources: list[tuple[str, str]], key: SiteKey
) -> dict[str, int]:
    """Register ``shift(raw, days)``: each distinct patient id's keyed offset; return the map."""
    values = _distinct(con, sources) if sources else []
    dkey = key.date_shift_key
    days = {v: date_shift_days(v, dkey) for v in values}
    table = pa.table(
        {
            "raw": pa.array(list(days), pa.string()),
            "days": pa.array(list(days.values()), pa.int32()),
        }
    )
    con.register("shift", table)
    return days


__all__ = [
    "DICOM_UID_NAMESPACE",
    "PSEUDONYM_LENGTH",
    "map_table_name",
    "register_pseudonyms",
    "register_shifts",
]
