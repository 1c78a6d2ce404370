"""`medhaven admin`: organisations, users, roles and API tokens on a running hub."""

from __future__ import annotations

from pathlib import Path

import typer

from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.cli.hub_passwords import read_password
from medhaven.hub.models import OrgKind, Role

app = typer.Typer(
    help="Hub administration: organisations, users, roles, tokens.", no_args_is_help=True
)
ORG_COLUMNS = ("id", "name", "kind", "review_board")
USER_COLUMNS = ("id", "email", "name", "active", "roles")
TOKEN_COLUMNS = ("id", "name", "scopes", "expires_at", "revoked_at", "last_used_at")


@app.command("orgs")
def orgs(
    kind: OrgKind | None = typer.Option(None, "--kind", help="Only organisations of this kind."),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """List organisations."""
    with client(hub) as c:
        page = c.orgs(kind=kind.value if kind else None, limit=limit, offset=offset)
    show(page, as_json=as_json, fields=ORG_COLUMNS)


@app.command("create-org")
def create_org(
    name: str = typer.Option(..., "--name"),
    kind: OrgKind = typer.Option(..., "--kind"),
    review_board: bool = typer.Option(
        False, "--review-board", help="A central review board (ministry or research institute)."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an organisation."""
    with client(hub) as c:
        show(c.create_org(name=name, kind=kind.value, review_board=review_board), as_json=as_json)


@app.command("review-board")
def review_board(
    org_id: int,
    on: bool = typer.Option(
        ..., "--on/--off", help="Make the organisation a central review board, or stop it."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Its reviewers may decide on any hospital's datasets (central board), or only their own."""
    with client(hub) as c:
        show(c.set_review_board(org_id, review_board=on), as_json=as_json)


@app.command("users")
def users(
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """List users and their roles."""
    with client(hub) as c:
        show(c.users(limit=limit, offset=offset), as_json=as_json, fields=USER_COLUMNS)


@app.command("create-user")
def create_user(
    email: str = typer.Option(..., "--email"),
    org_id: int = typer.Option(..., "--org", help="Organisation id."),
    role: Role = typer.Option(..., "--role"),
    name: str = typer.Option("", "--name"),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        help="Read the password from this file's first line (else prompt twice).",
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Create a user with a first role."""
    password = read_password(password_file, confirm=True)
    with client(hub) as c:
        show(
            c.create_user(
                email=email, password=password, org_id=org_id, role=role.value, name=name
            ),
            as_json=as_json,
        )


@app.command("add-role")
def add_role(
    user_id: int,
    org_id: int = typer.Option(..., "--org", help="Organisation id."),
    role: Role = typer.Option(..., "--role"),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Give a user a role in an organisation."""
    with client(hub) as c:
        show(c.add_role(user_id, org_id=org_id, role=role.value), as_json=as_json)


@app.command("remove-role")
def remove_role(
    user_id: int,
    org_id: int = typer.Option(..., "--org", help="Organisation id."),
    role: Role = typer.Option(..., "--role"),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Take a role in an organisation away from a user (not your own last admin role)."""
    with client(hub) as c:
        show(c.remove_role(user_id, org_id=org_id, role=role.value), as_json=as_json)


@app.command("deactivate")
def deactivate(user_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Stop a user signing in; their tokens and sessions stop working at once."""
    with client(hub) as c:
        show(c.set_active(user_id, active=False), as_json=as_json)


@app.command("activate")
def activate(user_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Let a deactivated user sign in again."""
    with client(hub) as c:
        show(c.set_active(user_id, active=True), as_json=as_json)


@app.command("tokens")
def tokens(hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Your API tokens (never their secrets)."""
    with client(hub) as c:
        show(c.tokens(limit=200), as_json=as_json, fields=TOKEN_COLUMNS)


@app.command("revoke-token")
def revoke_token(token_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Revoke an API token (yours; an admin: anyone's)."""
    with client(hub) as c:
        show(c.revoke_token(token_id), as_json=as_json)


__all__ = ["app"]
