"""``medhaven deid dicom``."""

from __future__ import annotations

from medhaven.errors import InvalidInput


def dicom() -> None:
    """Being built in this change."""
    raise InvalidInput("deid dicom is being built in this change")
