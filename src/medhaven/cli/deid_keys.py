"""``medhaven deid keygen``: write a new site key (32 random bytes, mode 0600)."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.cli.common import console, print_json
from medhaven.deid.keys import KEY_BYTES, SiteKey


def keygen(
    out: Path = typer.Option(
        ..., "--out", help="Where to write the key file (kept apart from the data; mode 0600)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing key file (every pseudonym will change)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write a new site key: the secret behind this hospital's pseudonyms and date shifts.

    The key file holds 32 random bytes. Pseudonym, date-shift and DICOM UID
    sub-keys are derived from it with HKDF-SHA256. Keep it out of the data
    directory and back it up: losing it means new pseudonyms for everyone.
    The key itself is never printed; only a fingerprint that tells keys apart.
    """
    key = SiteKey.generate()
    path = key.write(out, overwrite=force)
    if json_out:
        print_json(
            {"path": str(path), "bytes": KEY_BYTES, "mode": "0600", "fingerprint": key.fingerprint}
        )
    else:
        console.print(f"wrote site key {path} (fingerprint {key.fingerprint}, mode 0600)")


__all__ = ["keygen"]
