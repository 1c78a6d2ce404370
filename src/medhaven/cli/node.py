"""``medhaven node``: a hospital node's commands: run one signed job, release or reject held results."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from medhaven.cli.common import print_json
from medhaven.errors import CATALOGUE, AuditBroken, InvalidInput, NotFound, TransportError

app = typer.Typer(
    help="A hospital node: verifies signed jobs, runs them on its CDM, releases only safe results.",
    no_args_is_help=True,
)

ConfigOption = typer.Option(..., "--config", help="The node's TOML configuration (node.toml).")


@app.command("run-job")
def run_job(
    config: Path = ConfigOption,
    job: Path = typer.Option(..., "--job", help="A signed job as JSON (from the hub)."),
    as_json: bool = typer.Option(False, "--json", help="Print the node's reply as JSON."),
) -> None:
    """Verify one signed job, run it under the node's policy, audit it, print the reply.

    Exits 0 when the job ran (status ok or held); a refused job or one that
    failed prints its reason and exits non-zero.
    """
    from medhaven.federation.node import NodeConfig, handle_job

    node = NodeConfig.load(config)
    try:
        text = job.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"--job: no such file {job}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--job: cannot read {job} as UTF-8 text") from exc
    reply = handle_job(text, node)
    if as_json:
        print_json(reply)
    elif reply["status"] == "ok":
        typer.echo(json.dumps(reply["result"], indent=2, ensure_ascii=False))
    else:
        typer.echo(f"job {reply['job_id']}: {reply['status']}: {reply['reason']}", err=True)
    if reply["status"] == "refused":
        raise typer.Exit(CATALOGUE["forbidden"].exit_code)
    if reply["status"] == "error":
        raise typer.Exit(CATALOGUE["internal_error"].exit_code)


@app.command("serve")
def serve(
    config: Path = ConfigOption,
    superlink: str = typer.Option(
        "127.0.0.1:9092", "--superlink", help="The hub's SuperLink (Fleet API) as HOST:PORT."
    ),
    port: int = typer.Option(
        0, "--port", help="The SuperNode's local runtime port (0: a free one)."
    ),
    work: Path | None = typer.Option(
        None, "--work", help="Flower's home and logs (default: .<name>-flower next to node.toml)."
    ),
    root_ca: Path | None = typer.Option(
        None,
        "--root-ca",
        help="Federation CA certificate: dial with TLS ([transport] superlink_ca).",
    ),
    auth_key: Path | None = typer.Option(
        None, "--auth-key", help="The node's private key for SuperNode auth ([transport] auth_key)."
    ),
) -> None:
    """Run this node as a Flower SuperNode until Ctrl-C: it dials out to the hub, opens no port.

    Every job it receives goes through the same checks as ``node run-job``.
    """
    import time

    from medhaven.federation.node import NodeConfig
    from medhaven.federation.processes import start_supernode, stop_on_sigterm

    node = NodeConfig.load(config)
    stop_on_sigterm()
    where = work or node.base_dir / f".{node.name}-flower"
    svc = start_supernode(config, superlink=superlink, work=where, port=port or None,
                          root_ca=root_ca, auth_key=auth_key)  # fmt: skip
    typer.echo(f"node {node.name}: SuperNode dialling {superlink} (log: {svc.log_path})", err=True)
    try:
        while svc.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        svc.stop()
    if svc.proc.returncode not in (0, -2, -15, None):
        code = svc.flower_exit_code()
        flower = f" (Flower exit code {code}; 305: its key is not registered)" if code else ""
        raise TransportError(f"the SuperNode exited with code {svc.proc.returncode}{flower}")


@app.command("held")
def held(
    config: Path = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print the held results as JSON."),
) -> None:
    """List results waiting for the custodian's release approval."""
    from medhaven.federation.node import NodeConfig, held_jobs

    items = held_jobs(NodeConfig.load(config))
    if as_json:
        print_json(items)
        return
    for it in items:
        typer.echo(f"{it['job_id']}  {it['kind']}  project {it['project']}  held {it['held_at']}")
    if not items:
        typer.echo("no held results", err=True)


@app.command("release")
def release(
    config: Path = ConfigOption,
    job_id: str = typer.Option(..., "--job-id", help="The held job to release."),
) -> None:
    """Release a held result (the custodian approved it): print the reply JSON and audit it."""
    from medhaven.federation.node import NodeConfig, release_held

    print_json(release_held(job_id, NodeConfig.load(config)))


@app.command("reject")
def reject(
    config: Path = ConfigOption,
    job_id: str = typer.Option(..., "--job-id", help="The held job to withhold."),
    reason: str = typer.Option(..., "--reason", help="Why (one line; the hub sees it)."),
) -> None:
    """Withhold a held result: it is deleted, audited, and the hub is answered ``refused``."""
    from medhaven.federation.node import NodeConfig, reject_held

    print_json(reject_held(job_id, NodeConfig.load(config), reason))


@app.command("console-user")
def console_user(
    config: Path = ConfigOption,
    email: str = typer.Option(..., "--email", help="The custodian's email (their login)."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the password from this file's first line."
    ),
) -> None:
    """Create (or reset the password of) a node console account; stored hashed, file 0600."""
    from medhaven.cli.hub_passwords import read_password
    from medhaven.federation.console_users import add_user
    from medhaven.federation.node import NodeConfig

    node = NodeConfig.load(config)
    password = read_password(password_file, confirm=True)
    new = add_user(node.console_users_path, email, password)
    what = "created" if new else "password reset"
    typer.echo(f"console account {email.strip().lower()}: {what} ({node.console_users_path})")


@app.command("console")
def console(
    config: Path = ConfigOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8701, "--port", help="Port to listen on."),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="Listen on a non-loopback address (put TLS in front)."
    ),
) -> None:
    """Serve the custodian's node console (overview, policy, release queue, audit) until Ctrl-C."""
    import ipaddress
    import socket
    import sys

    import uvicorn

    import medhaven.hub.api  # noqa: F401 - loads medhaven.web in the order it needs
    from medhaven.web.console import create_console_app

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        raise InvalidInput(f"--host: {host} is not a loopback address; add --allow-remote")
    with socket.socket() as probe:  # one line, not a stack trace, when the port is taken
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInput(f"--host/--port: cannot listen on {host}:{port}") from exc
    application = create_console_app(config)
    sys.stderr.write(f"MedHaven node console on http://{host}:{port}\n")
    sys.stderr.flush()
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


@app.command("audit-verify")
def audit_verify(
    config: Path = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Walk the node audit log's SHA-256 chain; exit non-zero at the first bad entry."""
    from medhaven.federation.audit import NodeAuditLog
    from medhaven.federation.node import NodeConfig

    result = NodeAuditLog(NodeConfig.load(config).audit_path).verify()
    if as_json:
        print_json(result.as_dict())
    elif result.intact:
        typer.echo(f"node audit log intact: {result.entries} entries")
    if not result.intact:
        raise AuditBroken(
            f"node audit log broken at entry {result.first_bad_seq}: {result.problem}"
        )


__all__ = ["app"]
