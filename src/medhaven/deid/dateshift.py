"""One keyed date shift per patient, applied to every date of that patient.

The offset is drawn from the HMAC-SHA256 of the normalised patient id under
the site's date-shift key, uniformly over ``[-max_days, -1] ∪ [1, max_days]``
(never 0, so no date survives unshifted). Every date of one patient moves by
the same number of days, so every interval within a patient (age at visit,
time to outcome, length of stay) is preserved exactly; dates of different
patients move independently, so calendar alignment across patients is lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import TypeVar

from medhaven.deid.pseudonym import normalise_identifier
from medhaven.errors import InvalidInput

DEFAULT_MAX_DAYS = 365

_LABEL = b"medhaven/deid/date-shift-days/v1\x00"

D = TypeVar("D", dt.date, dt.datetime)


def date_shift_days(patient_id: str, key: bytes, *, max_days: int = DEFAULT_MAX_DAYS) -> int:
    """The patient's offset in days: keyed, uniform over ``[-max_days, max_days]``, never 0."""
    if not isinstance(key, bytes | bytearray) or len(key) < 32:
        raise InvalidInput(
            "a date-shift key must be at least 32 bytes (use SiteKey.date_shift_key)"
        )
    if not isinstance(max_days, int) or isinstance(max_days, bool) or max_days < 1:
        raise InvalidInput("max_days must be a positive whole number of days")
    if not isinstance(patient_id, str):
        raise InvalidInput(f"a patient id must be a string, not {type(patient_id).__name__}")
    pid = normalise_identifier(patient_id)
    if not pid:
        raise InvalidInput("an empty patient id cannot be given a date shift")
    span = 2 * max_days
    # Rejection sampling over 64-bit draws keeps the distribution exactly uniform.
    limit = (1 << 64) - ((1 << 64) % span)
    counter = 0
    while True:
        msg = _LABEL + pid.encode("utf-8") + b"\x00" + counter.to_bytes(4, "big")
        draw = int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:8], "big")
        if draw < limit:
            break
        counter += 1
    index = draw % span  # 0 .. span-1
    return index - max_days if index < max_days else index - max_days + 1


def shift_date(d: D, days: int) -> D:
    """``d`` moved by ``days`` days (a ``datetime`` keeps its time of day and time zone)."""
    if not isinstance(d, dt.date):
        raise InvalidInput(f"only dates and datetimes can be shifted, not {type(d).__name__}")
    try:
        return d + dt.timedelta(days=days)
    except OverflowError:
        raise InvalidInput("a shifted date falls outside the calendar (years 1-9999)") from None


__all__ = ["DEFAULT_MAX_DAYS", "date_shift_days", "shift_date"]
