"""`medhaven login` / `medhaven logout`: get an API token from the hub and keep it locally."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.cli.common import print_json
from medhaven.cli.hub_common import (
    HubOption,
    JsonOption,
    credentials_path,
    hub_url,
    load_credentials,
    save_credentials,
)
from medhaven.cli.hub_passwords import read_password
from medhaven.hub.client import HubClient


def login(
    email: str = typer.Option(..., "--email", help="Your account's email."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the password from this file's first line (else prompt)."
    ),
    ttl_days: int = typer.Option(
        30, "--ttl-days", min=1, max=365, help="Days until the token expires."
    ),
    read_only: bool = typer.Option(False, "--read-only", help="Ask for a read-only token."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Sign in to a hub: exchange your password for an API token saved (0600) for later commands."""
    url = hub_url(hub)
    password = read_password(password_file, confirm=False)
    scopes = ("read",) if read_only else ("read", "write")
    with HubClient(url) as c:
        issued = c.login(email, password, scopes=scopes, ttl_days=ttl_days)
    path = save_credentials(hub=url, token=issued["token"], token_id=int(issued["id"]), email=email)
    out = {
        "hub": url,
        "email": email,
        "token_id": issued["id"],
        "scopes": issued["scopes"],
        "expires_at": issued["expires_at"],
        "saved_to": str(path),
    }
    if as_json:
        print_json(out)
    else:
        typer.echo(f"signed in to {url} as {email}; token expires {issued['expires_at']}")


def logout(hub: str | None = HubOption) -> None:
    """Revoke the saved token at the hub and delete it locally."""
    creds = load_credentials()
    if creds.get("token"):
        with HubClient(hub_url(hub), token=str(creds["token"])) as c:
            c.logout()
    credentials_path().unlink(missing_ok=True)
    typer.echo("signed out")


__all__ = ["login", "logout"]
