"""Small language facts shared by the note generator and the free-text scrubber.

Kept in one place so that what :mod:`medhaven.synth.notes` writes and what
:mod:`medhaven.deid.text` looks for cannot drift apart. English names are
spelled out rather than taken from :mod:`calendar`, whose names follow the
process locale.
"""

from __future__ import annotations

MONTHS_EN: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS_EN: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
WEEKDAYS_EN_ABBR: tuple[str, ...] = tuple(day[:3] for day in WEEKDAYS_EN)

PHI_LABELS: tuple[str, ...] = (
    "NAME",
    "RRN",
    "PHONE",
    "EMAIL",
    "URL",
    "IP",
    "MRN",
    "INSURANCE",
    "SSN",
    "DATE",
    "AGE",
    "ADDRESS",
    "POSTCODE",
    "HOSPITAL",
)
"""Every label a PHI span may carry, in notes' ground truth and in the scrubber's output."""

__all__ = ["MONTHS_EN", "PHI_LABELS", "WEEKDAYS_EN", "WEEKDAYS_EN_ABBR"]
