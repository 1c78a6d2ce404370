"""`medhaven datasets`: search and view the hub catalogue; publish (custodians)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput

app = typer.Typer(help="The hub's dataset catalogue.", no_args_is_help=True)
COLUMNS = ("id", "org_id", "name", "cdm_version", "person_count", "person_count_marker", "teaching")


@app.command("search")
def search(
    q: str | None = typer.Argument(None, help="Text to find in name or description."),
    org_id: int | None = typer.Option(None, "--org", help="Only this organisation's datasets."),
    domain: str | None = typer.Option(
        None, "--domain", help="Only datasets covering this CDM domain."
    ),
    teaching: bool | None = typer.Option(
        None, "--teaching/--no-teaching", help="Only teaching (or non-teaching) datasets."
    ),
    include_retired: bool = typer.Option(
        False, "--include-retired", help="Also list retired datasets."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Search the catalogue by text and filters."""
    with client(hub) as c:
        page = c.datasets(
            q=q,
            org_id=org_id,
            domain=domain,
            teaching=teaching,
            include_retired=include_retired,
            limit=limit,
            offset=offset,
        )
    show(page, as_json=as_json, fields=COLUMNS)


@app.command("show")
def show_one(dataset_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """One catalogue entry with its characterization summary."""
    with client(hub) as c:
        show(c.dataset(dataset_id), as_json=as_json)


@app.command("publish")
def publish(
    file: Path = typer.Argument(..., help="JSON file with the dataset (see docs/hub.md)."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Publish a dataset for your hospital; small counts are suppressed and counts rounded."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{file}: not a readable JSON file") from exc
    with client(hub) as c:
        show(c.publish_dataset(body), as_json=as_json)


@app.command("update")
def update(
    dataset_id: int,
    description: str | None = typer.Option(None, "--description", help="New description."),
    terms: str | None = typer.Option(None, "--terms", help="New terms of use."),
    teaching: bool | None = typer.Option(
        None, "--teaching/--no-teaching", help="Mark (or unmark) it as a teaching dataset."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a dataset's description, terms of use or teaching flag (its custodians)."""
    changes: dict[str, object] = {}
    if description is not None:
        changes["description"] = description
    if terms is not None:
        changes["terms_of_use"] = terms
    if teaching is not None:
        changes["teaching"] = teaching
    if not changes:
        raise InvalidInput("give at least one of --description, --terms, --teaching/--no-teaching")
    with client(hub) as c:
        show(c.update_dataset(dataset_id, changes), as_json=as_json)


@app.command("retire")
def retire(
    dataset_id: int,
    reason: str = typer.Option(..., "--reason", help="Why it is retired (kept in the audit log)."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Retire a dataset: it can no longer be requested; existing grants keep their expiry."""
    with client(hub) as c:
        show(c.retire_dataset(dataset_id, reason=reason), as_json=as_json)


__all__ = ["app"]
