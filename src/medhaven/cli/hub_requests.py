"""`medhaven requests`: ask for access to datasets, follow requests, withdraw them."""

from __future__ import annotations

import typer

from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput

app = typer.Typer(help="Access requests for datasets.", no_args_is_help=True)
COLUMNS = ("id", "project_id", "status", "dataset_ids", "required_approvals", "created_at")


@app.command("create")
def create(
    project_id: int = typer.Option(..., "--project"),
    datasets: str = typer.Option(..., "--datasets", help="Dataset ids, comma-separated."),
    justification: str = typer.Option(..., "--justification", help="Why the project needs them."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Request access to datasets for one of your projects."""
    try:
        ids = [int(x) for x in datasets.split(",") if x.strip()]
    except ValueError as exc:
        raise InvalidInput("--datasets: comma-separated dataset ids") from exc
    with client(hub) as c:
        show(
            c.create_request(project_id=project_id, dataset_ids=ids, justification=justification),
            as_json=as_json,
        )


@app.command("list")
def list_requests(
    status: str | None = typer.Option(
        None, "--status", help="pending, approved, rejected or withdrawn."
    ),
    project_id: int | None = typer.Option(None, "--project"),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Requests you may see."""
    with client(hub) as c:
        page = c.requests(status=status, project_id=project_id, limit=limit, offset=offset)
    show(page, as_json=as_json, fields=COLUMNS)


@app.command("show")
def show_one(request_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """One request and its reviews."""
    with client(hub) as c:
        show(c.request(request_id), as_json=as_json)


@app.command("withdraw")
def withdraw(request_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Withdraw a pending request."""
    with client(hub) as c:
        show(c.withdraw(request_id), as_json=as_json)


__all__ = ["app"]
