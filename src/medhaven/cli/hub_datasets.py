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
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Search the catalogue by text and filters."""
    with client(hub) as c:
        page = c.datasets(
            q=q, org_id=org_id, domain=domain, teaching=teaching, limit=limit, offset=offset
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


__all__ = ["app"]
