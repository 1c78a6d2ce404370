"""`medhaven hub create-user` bootstraps a hub in a data directory that does not exist yet."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from medhaven.cli.main import app as cli
from medhaven.errors import InvalidInput
from medhaven.hub.db import Database
from medhaven.hub.models import Org
from medhaven.hub.security import verify_password
from medhaven.hub.services import identity


def _create(data_dir: Path, pw: Path, *extra: str) -> object:
    runner = CliRunner(env={"MEDHAVEN_HUB_DATABASE_URL": ""})
    return runner.invoke(
        cli, ["hub", "create-user", "--data-dir", str(data_dir), "--password-file", str(pw), *extra]
    )


def test_create_user_on_a_fresh_data_dir(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("first admin password\nignored second line\n")
    data_dir = tmp_path / "new" / "hub"
    r = _create(
        data_dir,
        pw,
        "--email",
        "Admin@Example.org",
        "--role",
        "admin",
        "--org",
        "MoH",
        "--org-kind",
        "ministry",
        "--json",
    )
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    out = json.loads(r.stdout)  # type: ignore[attr-defined]
    assert out["email"] == "admin@example.org" and out["org_kind"] == "ministry"
    db = Database(f"sqlite:///{data_dir / 'hub.db'}")
    try:
        with db.unit() as s:
            user = identity.find_user(s, "admin@example.org")
            assert user is not None and verify_password(user.password_hash, "first admin password")
            assert [(r.org_id, r.role) for r in user.roles] == [(out["org_id"], "admin")]
    finally:
        db.close()


def test_create_user_refuses_bad_input_without_writing(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("long enough password\n")
    d = tmp_path / "hub"
    base = ["--role", "custodian", "--org", "Hospital A"]
    r = _create(d, pw, "--email", "a@x.org", *base)
    assert isinstance(r.exception, InvalidInput) and "--org-kind" in r.exception.message  # type: ignore[attr-defined]
    assert _create(d, pw, "--email", "a@x.org", *base, "--org-kind", "hospital").exit_code == 0  # type: ignore[attr-defined]
    r = _create(d, pw, "--email", "b@x.org", *base, "--org-kind", "company")
    assert isinstance(r.exception, InvalidInput) and "kind hospital" in r.exception.message  # type: ignore[attr-defined]
    r = _create(d, pw, "--email", "a@x.org", *base)
    assert isinstance(r.exception, InvalidInput) and "exists" in r.exception.message  # type: ignore[attr-defined]
    short = tmp_path / "short"
    short.write_text("short\n")
    r = _create(d, short, "--email", "c@x.org", *base)
    assert isinstance(r.exception, InvalidInput) and "12" in r.exception.message  # type: ignore[attr-defined]
    db = Database(f"sqlite:///{d / 'hub.db'}")
    try:
        with db.unit() as s:
            assert (
                identity.find_user(s, "b@x.org") is None
                and identity.find_user(s, "c@x.org") is None
            )
    finally:
        db.close()


def test_serve_refuses_a_busy_port_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = CliRunner().invoke(
            cli, ["hub", "serve", "--data-dir", str(tmp_path / "d"), "--port", str(port)]
        )
    assert isinstance(r.exception, InvalidInput) and str(port) in r.exception.message
    assert not (tmp_path / "d").exists()


def test_data_dir_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    from medhaven.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    pw = tmp_path / "pw"
    pw.write_text("long enough password\n")
    r = _create(
        blocker / "hub",
        pw,
        "--email",
        "a@x.org",
        "--role",
        "admin",
        "--org",
        "M",
        "--org-kind",
        "ministry",
    )
    assert isinstance(r.exception, ConfigError) and "data directory" in r.exception.message


def test_create_user_marks_a_central_review_board_only_for_ministry_or_institute(
    tmp_path: Path,
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("long enough password\n")
    d = tmp_path / "hub"
    r = _create(
        d, pw, "--email", "c@h.org", "--role", "reviewer", "--org", "Hospital A",
        "--org-kind", "hospital", "--review-board",
    )  # fmt: skip
    assert isinstance(r.exception, InvalidInput) and "review_board" in r.exception.message  # type: ignore[attr-defined]
    r = _create(
        d, pw, "--email", "v@drb.org", "--role", "reviewer", "--org", "National DRB",
        "--org-kind", "research_institute", "--review-board", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert json.loads(r.stdout)["review_board"] is True  # type: ignore[attr-defined]
    db = Database(f"sqlite:///{d / 'hub.db'}")
    try:
        with db.unit() as s:
            # the refused call wrote nothing: neither the hospital nor its reviewer
            assert identity.find_user(s, "c@h.org") is None
            orgs = {o.name: o.review_board for o in s.execute(select(Org)).scalars()}
            assert orgs == {"National DRB": True}
    finally:
        db.close()
