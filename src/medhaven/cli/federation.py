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


@app.command("certs")
def certs(
    out: Path = typer.Option(
        ..., "--out", help="Directory for ca.crt, ca.key, server.pem, server.key."
    ),
    hosts: str = typer.Option(
        "localhost,127.0.0.1",
        "--hosts",
        help="Names and IPs the SuperLink is dialled as (comma-separated).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the file paths as JSON."),
) -> None:
    """Create a private CA and a SuperLink certificate signed by it (keys mode 0600).

    Give every node ``ca.crt``; keep ``ca.key`` and ``server.key`` on the hub.
    """
    from medhaven.federation.tls import generate_certs

    files = generate_certs(out, hosts.split(","))
    doc = {"ca_cert": str(files.ca_cert), "server_cert": str(files.server_cert),
           "server_key": str(files.server_key), "ca_key": str(out / "ca.key")}  # fmt: skip
    if as_json:
        print_json(doc)
    else:
        typer.echo(f"CA certificate (give to every node): {files.ca_cert}")
        typer.echo(f"SuperLink certificate and key: {files.server_cert}, {files.server_key}")


@app.command("node-key")
def node_key(
    out: Path = typer.Option(..., "--out", help="Directory for NAME (private) and NAME.pub."),
    name: str = typer.Option(..., "--name", help="The node's name (file name of the key)."),
    as_json: bool = typer.Option(False, "--json", help="Print the file paths as JSON."),
) -> None:
    """Create a node's ECDSA P-384 key pair (OpenSSH format) for SuperNode authentication.

    The private key stays at the node (node.toml ``[transport] auth_key``);
    the hub registers the public key (``federation register-node``).
    """
    from medhaven.federation.tls import generate_node_key

    private, public = generate_node_key(out, name)
    if as_json:
        print_json({"private_key": str(private), "public_key": str(public)})
    else:
        typer.echo(f"private key (stays at the node): {private}")
        typer.echo(f"public key (register at the hub): {public}")


@app.command("register-node")
def register_node(
    superlink: str = typer.Option(..., "--superlink", help="The SuperLink as HOST:PORT."),
    public_key: Path = typer.Option(..., "--public-key", help="The node's NAME.pub."),
    name: str = typer.Option(..., "--name", help="The node's name."),
    root_ca: Path = typer.Option(..., "--root-ca", help="The federation CA certificate (ca.crt)."),
    work: Path = typer.Option(Path("."), "--work", help="Where Flower's CLI keeps its home."),
    as_json: bool = typer.Option(False, "--json", help="Print Flower's answer as JSON."),
) -> None:
    """Register a node's public key at a SuperLink running with --supernode-auth."""
    from medhaven.federation.processes import register_supernode

    doc = register_supernode(public_key, superlink=superlink, name=name, root_ca=root_ca, work=work)
    if as_json:
        print_json(doc)
    else:
        typer.echo(f"node {name} registered (Flower node id {doc.get('node-id')})")


@app.command("superlink")
def superlink(
    work: Path = typer.Option(..., "--work", help="Flower's home and the SuperLink's log."),
    port: int = typer.Option(9092, "--port", help="Port (Fleet, Control, runtime)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (TLS beyond loopback)."
    ),
    tls_dir: Path | None = typer.Option(
        None, "--tls-dir", help="Serve TLS with ca.crt, server.pem, server.key from this directory."
    ),
    supernode_auth: bool = typer.Option(
        False, "--supernode-auth", help="Admit only registered SuperNodes (needs --tls-dir)."
    ),
) -> None:
    """Run a SuperLink until Ctrl-C: insecure on 127.0.0.1, or with --tls-dir across sites."""
    from medhaven.errors import InvalidInput
    from medhaven.federation.processes import start_superlink, stop_on_sigterm
    from medhaven.federation.tls import TlsFiles

    tls = TlsFiles.in_dir(tls_dir) if tls_dir is not None else None
    if tls is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise InvalidInput(f"--host: {host} is not loopback: give --tls-dir (no insecure network)")
    stop_on_sigterm()
    svc = start_superlink(work, port=port, host=host, tls=tls, supernode_auth=supernode_auth)
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
    root_ca: Path | None = typer.Option(
        None, "--root-ca", help="The federation CA certificate, for a SuperLink serving TLS."
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
                     timeout=timeout, wait_nodes=wait_nodes, nodes_cache=nodes_cache,
                     root_ca=root_ca)  # fmt: skip
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
