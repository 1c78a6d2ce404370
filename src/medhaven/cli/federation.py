"""``medhaven federation``: the hub side of the Flower transport (a SuperLink, submitting jobs)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from medhaven.cli.common import print_json
from medhaven.errors import CATALOGUE

app = typer.Typer(
    help="The federated network over Flower: run a SuperLink, send signed jobs to the nodes.",
    no_args_is_help=True,
)


@app.command("superlink")
def superlink(
    work: Path = typer.Option(..., "--work", help="Flower's home and the SuperLink's log."),
    port: int = typer.Option(9092, "--port", help="Port on 127.0.0.1 (Fleet, Control, runtime)."),
) -> None:
    """Run an insecure SuperLink on 127.0.0.1 until Ctrl-C (for one machine; use TLS across sites)."""
    from medhaven.federation.processes import start_superlink, stop_on_sigterm

    stop_on_sigterm()
    svc = start_superlink(work, port=port)
    typer.echo(f"SuperLink at {svc.address} (log: {svc.log_path})", err=True)
    try:
        while svc.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        svc.stop()


@app.command("submit")
def submit(
    superlink: str = typer.Option(..., "--superlink", help="The SuperLink as HOST:PORT."),
    job: Path = typer.Option(..., "--job", help="A signed job as JSON (from the hub)."),
    min_nodes: int = typer.Option(1, "--min-nodes", help="Target nodes that must answer ok."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the replies."),
    wait_nodes: float = typer.Option(
        20.0, "--wait-nodes", help="Seconds to wait for target nodes to connect."
    ),
    nodes_cache: Path | None = typer.Option(
        None,
        "--nodes-cache",
        help="JSON file remembering which Flower node is which hospital "
        "(saves a round on a warm network).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the whole result as JSON."),
) -> None:
    """Send a signed job to its target nodes through a running SuperLink; print the result.

    Exits 0 when at least ``--min-nodes`` targets answered ok (``completed``
    or ``partial``); a ``failed`` job exits non-zero. Run it on the
    SuperLink's host: the ServerApp hands the result back through a file.
    """
    from medhaven.federation.processes import load_signed_job
    from medhaven.federation.processes import submit as submit_job

    doc = submit_job(load_signed_job(job), superlink=superlink, min_nodes=min_nodes,
                     timeout=timeout, wait_nodes=wait_nodes, nodes_cache=nodes_cache)  # fmt: skip
    if as_json:
        print_json(doc)
    else:
        typer.echo(f"job {doc['job_id']}: {doc['status']} in {doc['seconds']} s")
        for reply in doc["nodes"]:
            typer.echo(f"  {reply['node']}: {reply['status']}" +
                       (f" ({reply['reason']})" if reply.get("reason") else ""))  # fmt: skip
        combined = doc.get("combined")
        if combined:
            typer.echo(f"  persons {combined['persons']['display']}, "
                       f"records {combined['records']['display']}")  # fmt: skip
    if doc["status"] == "failed":
        typer.echo(f"job failed: {doc.get('reason')}", err=True)
        raise typer.Exit(CATALOGUE["transport_error"].exit_code)


__all__ = ["app"]
