"""`medhaven review` (the review board's queue and decisions) and `medhaven grants`."""

from __future__ import annotations

import datetime as dt

import typer

from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput

app = typer.Typer(
    help="Review access requests: approve with conditions and expiry, or reject.",
    no_args_is_help=True,
)
grants_app = typer.Typer(
    help="Grants that follow from approvals: list, show, revoke.", no_args_is_help=True
)
COLUMNS = ("id", "project_id", "status", "dataset_ids", "required_approvals", "created_at")
GRANT_COLUMNS = ("id", "project_id", "dataset_id", "status", "expires_at", "conditions")


def _expiry(expires: str | None, days: int | None) -> dt.datetime:
    if (expires is None) == (days is None):
        raise InvalidInput("give exactly one of --expires or --days")
    if days is not None:
        return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    try:
        value = dt.datetime.fromisoformat(str(expires))
    except ValueError as exc:
        raise InvalidInput(
            "--expires: an ISO date or time, e.g. 2027-06-30 or 2027-06-30T12:00:00Z"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _dataset_ids(value: str | None) -> list[int] | None:
    if value is None:
        return None
    try:
        ids = [int(v) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidInput("--datasets: comma-separated dataset ids, e.g. 3,4") from exc
    if not ids:
        raise InvalidInput("--datasets: give at least one dataset id")
    return ids


DatasetsOption = typer.Option(
    None,
    "--datasets",
    help="Only these datasets of the request (comma-separated ids); default: every open one "
    "you are on the review board for.",
)


@app.command("queue")
def queue(
    every: bool = typer.Option(
        False, "--all", help="Every pending request, not only those waiting for your decision."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Pending requests waiting for your decision (a dataset you are on the board for)."""
    with client(hub) as c:
        show(
            c.requests(status="pending", to_review=not every, limit=limit, offset=offset),
            as_json=as_json,
            fields=COLUMNS,
        )


@app.command("approve")
def approve(
    request_id: int,
    conditions: str = typer.Option("", "--conditions", help="Conditions the project must meet."),
    expires: str | None = typer.Option(
        None, "--expires", help="When access ends (ISO date/time, UTC if no zone)."
    ),
    days: int | None = typer.Option(
        None, "--days", min=1, help="Access ends this many days from now."
    ),
    datasets: str | None = DatasetsOption,
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve datasets of a request with conditions and an expiry."""
    when = _expiry(expires, days)
    ids = _dataset_ids(datasets)
    with client(hub) as c:
        show(
            c.approve(request_id, expires_at=when, conditions=conditions, dataset_ids=ids),
            as_json=as_json,
        )


@app.command("reject")
def reject(
    request_id: int,
    reasons: str = typer.Option(..., "--reasons", help="Why the request is rejected."),
    datasets: str | None = DatasetsOption,
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Reject datasets of a request with reasons (the others stay open)."""
    ids = _dataset_ids(datasets)
    with client(hub) as c:
        show(c.reject(request_id, reasons=reasons, dataset_ids=ids), as_json=as_json)


@grants_app.command("list")
def list_grants(
    project_id: int | None = typer.Option(None, "--project"),
    dataset_id: int | None = typer.Option(None, "--dataset"),
    status: str | None = typer.Option(None, "--status", help="active, expired or revoked."),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Grants you may see and whether each is active now."""
    with client(hub) as c:
        page = c.grants(
            project_id=project_id, dataset_id=dataset_id, status=status, limit=limit, offset=offset
        )
    show(page, as_json=as_json, fields=GRANT_COLUMNS)


@grants_app.command("show")
def show_grant(grant_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """One grant."""
    with client(hub) as c:
        show(c.grant(grant_id), as_json=as_json)


@grants_app.command("revoke")
def revoke(
    grant_id: int,
    reason: str = typer.Option(..., "--reason"),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Revoke a grant now: every job under it stops."""
    with client(hub) as c:
        show(c.revoke_grant(grant_id, reason=reason), as_json=as_json)


__all__ = ["app", "grants_app"]
