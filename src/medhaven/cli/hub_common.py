"""What the hub CLI commands share: saved credentials, the client, output."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer

from medhaven.cli.common import console, print_json
from medhaven.config import get_settings
from medhaven.errors import InvalidInput, Unauthorized
from medhaven.hub.client import HubClient

HubOption = typer.Option(
    None, "--hub", help="Hub URL (default: saved login, then MEDHAVEN_HUB_URL)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts.")


def credentials_path() -> Path:
    """Where `medhaven login` keeps the hub URL and token."""
    configured = get_settings().hub_credentials
    if configured is not None:
        return configured
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "medhaven" / "hub.json"


def save_credentials(*, hub: str, token: str, token_id: int, email: str) -> Path:
    """Write the credentials file (mode 0600) aside, then rename it into place."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".hub.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"hub": hub, "token": token, "token_id": token_id, "email": email}, fh)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_credentials() -> dict[str, Any]:
    """The saved credentials, or an empty dict."""
    path = credentials_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a MedHaven credentials file; run medhaven login") from exc
    return data if isinstance(data, dict) else {}


def hub_url(option: str | None) -> str:
    """The hub URL: the option, else the saved login's, else the setting."""
    return option or str(load_credentials().get("hub") or get_settings().hub_url)


def client(hub: str | None) -> HubClient:
    """A client with a token: MEDHAVEN_HUB_TOKEN, else the saved login."""
    token = get_settings().hub_token or load_credentials().get("token")
    if not token:
        raise Unauthorized("not signed in: run medhaven login (or set MEDHAVEN_HUB_TOKEN)")
    return HubClient(hub_url(hub), token=str(token))


def show(obj: Any, *, as_json: bool, fields: Iterable[str] | None = None) -> None:
    """Print one object or a page: JSON, or a compact table of ``fields``."""
    if as_json:
        print_json(obj)
        return
    items = obj["items"] if isinstance(obj, dict) and "items" in obj else None
    if items is None:
        for key, value in obj.items():
            typer.echo(f"{key}: {value}")
        return
    cols = list(fields or (items[0].keys() if items else []))
    typer.echo("\t".join(cols))
    for item in items:
        typer.echo("\t".join(str(item.get(c, "")) for c in cols))
    console.print(f"{len(items)} of {obj['total']} (offset {obj['offset']})")


__all__ = [
    "HubOption",
    "JsonOption",
    "client",
    "credentials_path",
    "hub_url",
    "load_credentials",
    "save_credentials",
    "show",
]
