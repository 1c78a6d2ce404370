"""`medhaven projects`: create, list and view projects; add members."""

from __future__ import annotations

import datetime as dt

import typer

from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput
from medhaven.hub.models import ProjectType

app = typer.Typer(help="Projects on the hub.", no_args_is_help=True)
COLUMNS = ("id", "org_id", "title", "type", "lead_id", "start_date", "end_date")


@app.command("list")
def list_projects(
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Projects you may see."""
    with client(hub) as c:
        show(c.projects(limit=limit, offset=offset), as_json=as_json, fields=COLUMNS)


@app.command("create")
def create(
    title: str = typer.Option(..., "--title"),
    purpose: str = typer.Option(..., "--purpose", help="What the data will be used for."),
    type_: ProjectType = typer.Option(..., "--type", help="education, academic or commercial."),
    domains: str = typer.Option(
        ..., "--domains", help="CDM domains needed, comma-separated (data minimisation)."
    ),
    start: dt.datetime = typer.Option(
        ..., "--start", formats=["%Y-%m-%d"], help="Start date YYYY-MM-DD."
    ),
    end: dt.datetime = typer.Option(
        ..., "--end", formats=["%Y-%m-%d"], help="End date YYYY-MM-DD."
    ),
    ethics_ref: str | None = typer.Option(None, "--ethics-ref", help="Ethics approval reference."),
    org_id: int | None = typer.Option(
        None, "--org", help="Organisation (when you belong to several)."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a project that you lead."""
    body = {
        "title": title,
        "purpose": purpose,
        "type": type_.value,
        "domains": [d.strip() for d in domains.split(",") if d.strip()],
        "start_date": start.date().isoformat(),
        "end_date": end.date().isoformat(),
        "ethics_ref": ethics_ref,
        "org_id": org_id,
    }
    with client(hub) as c:
        show(c.create_project(body), as_json=as_json)


@app.command("update")
def update(
    project_id: int,
    title: str | None = typer.Option(None, "--title"),
    purpose: str | None = typer.Option(None, "--purpose"),
    domains: str | None = typer.Option(None, "--domains", help="CDM domains, comma-separated."),
    start: dt.datetime | None = typer.Option(
        None, "--start", formats=["%Y-%m-%d"], help="Start date YYYY-MM-DD."
    ),
    end: dt.datetime | None = typer.Option(
        None, "--end", formats=["%Y-%m-%d"], help="End date YYYY-MM-DD."
    ),
    ethics_ref: str | None = typer.Option(None, "--ethics-ref"),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Change your project (lead only) while no dataset has been approved for it."""
    changes: dict[str, object] = {}
    if title is not None:
        changes["title"] = title
    if purpose is not None:
        changes["purpose"] = purpose
    if domains is not None:
        changes["domains"] = [d.strip() for d in domains.split(",") if d.strip()]
    if start is not None:
        changes["start_date"] = start.date().isoformat()
    if end is not None:
        changes["end_date"] = end.date().isoformat()
    if ethics_ref is not None:
        changes["ethics_ref"] = ethics_ref
    if not changes:
        raise InvalidInput("give at least one field to change (see --help)")
    with client(hub) as c:
        show(c.update_project(project_id, changes), as_json=as_json)


@app.command("show")
def show_one(project_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """One project."""
    with client(hub) as c:
        show(c.project(project_id), as_json=as_json)


@app.command("add-member")
def add_member(
    project_id: int, user_id: int, hub: str | None = HubOption, as_json: bool = JsonOption
) -> None:
    """Add a user to your project."""
    with client(hub) as c:
        show(c.add_member(project_id, user_id), as_json=as_json)


__all__ = ["app"]
