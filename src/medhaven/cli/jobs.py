"""`medhaven jobs`: submit federated jobs to the hub and follow them (per-node status, result)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput, TransportError

app = typer.Typer(help="Federated jobs: submit, follow, fetch results.", no_args_is_help=True)
COLUMNS = ("id", "project_id", "kind", "status", "targets", "created_at")
FINISHED = ("completed", "partial", "held", "failed", "refused", "cancelled")


def _ids(text: str) -> list[int]:
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise InvalidInput("--datasets: comma-separated dataset ids") from exc
    if not ids:
        raise InvalidInput("--datasets: at least one dataset id")
    return ids


def _parameters(text: str | None, path: Path | None) -> dict[str, Any]:
    if text is not None and path is not None:
        raise InvalidInput("--params/--params-file: give one, not both")
    where = "--params"
    if path is not None:
        where = f"--params-file {path}"
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{where}: cannot be read") from exc
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: must be a JSON object")
    return value


def _status_line(job: dict[str, Any]) -> None:
    typer.echo(f"job {job['id']} ({job['kind']}): {job['status']}")
    if job.get("reason"):
        typer.echo(f"  reason: {job['reason']}")
    for node, st in sorted(job.get("node_status", {}).items()):
        why = f" ({st['reason']})" if st.get("reason") else ""
        typer.echo(f"  {node}: {st.get('status')}{why}")


@app.command("submit")
def submit(
    project_id: int = typer.Option(..., "--project", help="Your project's id."),
    kind: str = typer.Option(
        ..., "--kind", help="cohort_count, characterize, incidence, train or evaluate."
    ),
    datasets: str = typer.Option(..., "--datasets", help="Dataset ids, comma-separated."),
    params: str | None = typer.Option(None, "--params", help="Job parameters as a JSON object."),
    params_file: Path | None = typer.Option(
        None, "--params-file", help="Read the parameters (a JSON object) from this file."
    ),
    min_nodes: int = typer.Option(1, "--min-nodes", min=1, help="Nodes that must answer."),
    ttl_minutes: int = typer.Option(60, "--ttl-minutes", min=1, help="Minutes the job is valid."),
    wait: float = typer.Option(
        0.0, "--wait", min=0.0, help="Seconds to wait for the job to finish (0: return at once)."
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Submit a job under your project's active grants; the hub signs and dispatches it."""
    body = _parameters(params, params_file)
    with client(hub) as c:
        job = c.submit_job(project_id=project_id, kind=kind, dataset_ids=_ids(datasets),
                           parameters=body, min_nodes=min_nodes, ttl_minutes=ttl_minutes)  # fmt: skip
        deadline = time.monotonic() + wait
        while job["status"] not in FINISHED and time.monotonic() < deadline:
            time.sleep(0.2)
            job = c.job(job["id"])
    if as_json:
        show(job, as_json=True)
    else:
        _status_line(job)
    if wait and job["status"] not in FINISHED:
        raise TransportError(f"job {job['id']} is still {job['status']} after {wait:g} s")


@app.command("status")
def status(
    job_id: int | None = typer.Argument(None, help="A job id; without it, your jobs."),
    project_id: int | None = typer.Option(None, "--project"),
    limit: int = typer.Option(50, "--limit", min=1, max=200),
    offset: int = typer.Option(0, "--offset", min=0),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """One job with each node's status, or the list of your jobs."""
    with client(hub) as c:
        if job_id is None:
            show(c.jobs(project_id=project_id, limit=limit, offset=offset),
                 as_json=as_json, fields=COLUMNS)  # fmt: skip
            return
        job = c.job(job_id)
    if as_json:
        show(job, as_json=True)
    else:
        _status_line(job)


@app.command("result")
def result(job_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """The combined, released result of a completed or partial job."""
    with client(hub) as c:
        out = c.job_result(job_id)
    if as_json:
        show(out, as_json=True)
        return
    typer.echo(f"job {out['id']}: {out['status']}")
    res = out["result"]
    if res.get("kind") == "cohort_count" or "persons" in res:
        for measure in ("persons", "records"):
            cell = res.get(measure) or {}
            typer.echo(f"  {measure}: {cell.get('display')}")
    elif isinstance(res.get("combined"), dict):
        from medhaven.cli.jobs_render import render_combined

        render_combined(res["combined"])  # each node's own result: --json
    else:
        typer.echo(json.dumps(res, indent=2, sort_keys=True))


@app.command("cancel")
def cancel(job_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Cancel a queued or running job of your project (a late result is then discarded)."""
    with client(hub) as c:
        job = c.cancel_job(job_id)
    if as_json:
        show(job, as_json=True)
    else:
        _status_line(job)


@app.command("collect")
def collect(job_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Ask the nodes that held a job's result for their custodian again; show the new status."""
    with client(hub) as c:
        job = c.collect_job(job_id)
    if as_json:
        show(job, as_json=True)
    else:
        _status_line(job)


__all__ = ["app"]
