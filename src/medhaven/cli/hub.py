"""`medhaven hub`: serve the hub, bootstrap users, verify and export the audit chain."""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import typer

from medhaven.cli.common import print_json
from medhaven.cli.hub_passwords import read_password
from medhaven.config import get_settings
from medhaven.errors import AuditBroken, InvalidInput, NotFound
from medhaven.hub.db import Database, database_url
from medhaven.hub.models import OrgKind, Role

app = typer.Typer(
    help="The hub service: serve it, bootstrap users, check its audit log.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hub's tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

DataDirOption = typer.Option(
    None, "--data-dir", help="Hub state directory (default MEDHAVEN_DATA_DIR)."
)
DbUrlOption = typer.Option(
    None,
    "--database-url",
    help="SQLAlchemy URL of the hub database (default MEDHAVEN_HUB_DATABASE_URL or SQLite in the data dir).",
)


def _url(data_dir: Path | None, url: str | None) -> str:
    settings = get_settings()
    return database_url(
        data_dir=data_dir or settings.data_dir, url=url or settings.hub_database_url
    )


def _existing(data_dir: Path | None, url: str | None) -> Database:
    resolved = _url(data_dir, url)
    if (
        resolved.startswith("sqlite:///")
        and not Path(resolved.removeprefix("sqlite:///")).is_file()
    ):
        raise NotFound(f"no hub database in {data_dir or get_settings().data_dir}")
    return Database(resolved)


@app.command()
def serve(
    data_dir: Path | None = DataDirOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8700, "--port", min=0, max=65535, help="Port to listen on."),
    database_url_: str | None = DbUrlOption,
    insecure_cookies: bool = typer.Option(
        False,
        "--insecure-cookies",
        help="Send session cookies over plain HTTP (loopback testing only).",
    ),
    held_poll_seconds: float = typer.Option(
        30.0,
        "--held-poll-seconds",
        min=0,
        help="Ask nodes that held a job's result again this often, in seconds (0: off).",
    ),
) -> None:
    """Run the hub (REST API under /api/v1, OpenAPI at /docs); migrates the database first."""
    import uvicorn

    from medhaven.hub.api import HubConfig, create_app

    with socket.socket() as probe:  # fail with one line before migrating anything
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInput(
                f"--host/--port: cannot listen on {host}:{port} (in use or not local)"
            ) from exc
    settings = get_settings()
    config = HubConfig(
        database_url=_url(data_dir, database_url_),
        min_cell_count=settings.min_cell_count,
        secure_cookies=settings.hub_secure_cookies and not insecure_cookies,
        keys_dir=data_dir or settings.data_dir,  # the job-signing key lives with the hub's data
        superlink=settings.hub_superlink,
        superlink_ca=settings.hub_superlink_ca,
        held_poll_seconds=held_poll_seconds,
    )
    application = create_app(config)
    sys.stderr.write(f"MedHaven hub on http://{host}:{port} (pages /, API /api/v1, docs /docs)\n")
    sys.stderr.flush()
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


@app.command("create-user")
def create_user(
    email: str = typer.Option(..., "--email", help="The new user's email (their login)."),
    role: Role = typer.Option(..., "--role", help="Role within the organisation."),
    org: str = typer.Option(..., "--org", help="Organisation name; created if it does not exist."),
    org_kind: OrgKind | None = typer.Option(None, "--org-kind", help="Kind of a new organisation."),
    review_board: bool = typer.Option(
        False,
        "--review-board",
        help="Make the organisation a central review board (ministry or research institute).",
    ),
    name: str = typer.Option("", "--name", help="Display name."),
    password_file: Path | None = typer.Option(
        None,
        "--password-file",
        help="Read the password from this file's first line (else prompt twice).",
    ),
    data_dir: Path | None = DataDirOption,
    database_url_: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json", help="Print the new user as JSON."),
) -> None:
    """Create a user (and their organisation) directly in the hub database, e.g. the first admin."""
    from sqlalchemy import select

    from medhaven.hub.models import Org
    from medhaven.hub.services import identity
    from medhaven.hub.services.common import SYSTEM_ACTOR

    password = read_password(password_file, confirm=True)
    db = Database(_url(data_dir, database_url_))
    try:
        with db.unit() as s:
            existing = s.execute(select(Org).where(Org.name == org)).scalar_one_or_none()
            if existing is None and org_kind is None:
                raise InvalidInput(
                    f"organisation {org!r} does not exist: give --org-kind to create it"
                )
            if existing is not None and org_kind is not None and existing.kind != org_kind.value:
                raise InvalidInput(
                    f"organisation {org!r} exists with kind {existing.kind}, not {org_kind.value}"
                )
            if identity.find_user(s, email) is not None:
                raise InvalidInput(f"a user with email {email} exists already")
            organisation = existing or identity.create_org(
                s, name=org, kind=org_kind or OrgKind.HOSPITAL, actor=SYSTEM_ACTOR
            )
            if review_board:
                identity.set_review_board(
                    s, org_id=organisation.id, review_board=True, actor=SYSTEM_ACTOR
                )
            user = identity.create_user(
                s,
                email=email,
                password=password,
                name=name,
                org_id=organisation.id,
                role=role,
                actor=SYSTEM_ACTOR,
            )
            out = {
                "user_id": user.id,
                "email": user.email,
                "org_id": organisation.id,
                "org_kind": organisation.kind,
                "review_board": organisation.review_board,
                "role": role.value,
            }
    finally:
        db.close()
    if as_json:
        print_json(out)
    else:
        typer.echo(
            f"user {out['user_id']} ({email}) is {role.value} in {org} (org {out['org_id']})"
        )


@app.command("keygen")
def keygen(
    out: Path = typer.Option(..., "--out", help="Folder for the key pair (created if missing)."),
    as_json: bool = typer.Option(False, "--json", help="Print the key paths and key id as JSON."),
) -> None:
    """Create the hub's Ed25519 job-signing key pair (private PEM mode 0600, public PEM for nodes)."""
    from medhaven.federation.jobs import generate_hub_keypair, key_id_of, load_public_key

    private, public = generate_hub_keypair(out)
    doc = {"private_key": str(private), "public_key": str(public),
           "key_id": key_id_of(load_public_key(public))}  # fmt: skip
    if as_json:
        print_json(doc)
    else:
        typer.echo(f"hub key {doc['key_id']}: private {private} (keep secret), public {public}")


@audit_app.command("verify")
def audit_verify(
    data_dir: Path | None = DataDirOption,
    database_url_: str | None = DbUrlOption,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Walk the SHA-256 chain: exit 0 when intact, else name the first modified/removed/reordered entry."""
    from medhaven.hub import audit

    db = _existing(data_dir, database_url_)
    try:
        with db.unit() as s:
            result = audit.verify(s)
    finally:
        db.close()
    if as_json:
        print_json(result.as_dict())
    elif result.intact:
        typer.echo(f"audit chain intact: {result.entries} entries")
    if not result.intact:
        raise AuditBroken(f"audit chain broken at entry {result.first_bad_seq}: {result.problem}")


@audit_app.command("export")
def audit_export(
    out: Path = typer.Option(
        ..., "--out", help="JSON-lines file to write ('-' for standard output)."
    ),
    data_dir: Path | None = DataDirOption,
    database_url_: str | None = DbUrlOption,
) -> None:
    """Write every audit entry as one JSON object per line, in chain order."""
    from medhaven.hub import audit

    db = _existing(data_dir, database_url_)
    try:
        with db.unit() as s:
            if str(out) == "-":
                for row in audit.export_rows(s):
                    sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
                return
            out.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
            count = 0
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    for row in audit.export_rows(s):
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                        count += 1
                os.replace(tmp, out)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    finally:
        db.close()
    typer.echo(f"{count} audit entries written to {out}", err=True)


__all__ = ["app", "audit_app"]
