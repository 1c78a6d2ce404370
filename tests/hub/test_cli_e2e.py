"""End to end: bootstrap a fresh hub from the CLI, boot a real `medhaven hub serve` process, and
walk a researcher's request through review to a grant and on to its expiry, all through the CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from medhaven.cli.main import app as cli

PASSWORD = "a long enough test password"
MEDHAVEN = [sys.executable, "-c", "from medhaven.cli.main import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _medhaven(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDHAVEN_HUB_DATABASE_URL": ""}
    return subprocess.run([*MEDHAVEN, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "does" / "not" / "exist"


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    f = tmp_path / "pw.txt"
    f.write_text(PASSWORD + "\n")
    return f


@pytest.fixture
def hub(data_dir: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "MEDHAVEN_HUB_DATABASE_URL": ""}
    proc = subprocess.Popen(
        [
            *MEDHAVEN,
            "hub",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--insecure-cookies",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"hub did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    # the server's own output never carries a password or a token
    assert PASSWORD not in err and "mht_" not in err


class Cli:
    """Runs `medhaven ...` in-process as one user (own credentials file)."""

    def __init__(self, tmp: Path, who: str, hub: str) -> None:
        self.env = {
            "MEDHAVEN_HUB_CREDENTIALS": str(tmp / f"{who}.json"),
            "MEDHAVEN_HUB_URL": hub,
            "MEDHAVEN_HUB_TOKEN": "",
        }
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Any:
        r = self.runner.invoke(cli, list(args), env=self.env)
        assert r.exit_code == 0, f"{args}: {r.exception!r} {r.output}"
        return json.loads(r.stdout) if "--json" in args else r.stdout


@pytest.mark.slow
def test_request_review_grant_expiry_through_the_cli(
    tmp_path: Path, data_dir: Path, password_file: Path, hub: str
) -> None:
    # bootstrap: a real CLI process creates the data dir, the database and the first user...
    r = _medhaven(
        "hub",
        "create-user",
        "--data-dir",
        str(data_dir),
        "--email",
        "admin@ministry.example",
        "--role",
        "admin",
        "--org",
        "Ministry",
        "--org-kind",
        "ministry",
        "--password-file",
        str(password_file),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert json.loads(r.stdout)["org_kind"] == "ministry"
    # ...and the same command in-process adds the others (cheaper argon2 cost in tests)
    runner = CliRunner(env={"MEDHAVEN_HUB_DATABASE_URL": ""})
    for email, role, org, kind in [
        ("custodian@hospital.example", "custodian", "Seoul General", "hospital"),
        ("researcher@uni.example", "researcher", "Uni", "university"),
        ("reviewer@board.example", "reviewer", "Board", "research_institute"),
    ]:
        r2 = runner.invoke(
            cli,
            [
                "hub",
                "create-user",
                "--data-dir",
                str(data_dir),
                "--email",
                email,
                "--role",
                role,
                "--org",
                org,
                "--org-kind",
                kind,
                "--password-file",
                str(password_file),
                *(["--review-board"] if org == "Board" else []),
            ],
        )
        assert r2.exit_code == 0, r2.output
    custodian, researcher, reviewer = (
        Cli(tmp_path, w, hub) for w in ("custodian", "researcher", "reviewer")
    )
    for who, email in [
        (custodian, "custodian@hospital.example"),
        (researcher, "researcher@uni.example"),
        (reviewer, "reviewer@board.example"),
    ]:
        out = who("login", "--email", email, "--password-file", str(password_file), "--json")
        assert out["scopes"] == ["read", "write"]
        assert oct(Path(out["saved_to"]).stat().st_mode & 0o777) == "0o600"

    me = custodian("datasets", "search", "--json")  # empty catalogue
    assert me["total"] == 0
    orgs = httpx.get(
        f"{hub}/api/v1/orgs",
        headers={
            "Authorization": "Bearer "
            + json.loads(Path(custodian.env["MEDHAVEN_HUB_CREDENTIALS"]).read_text())["token"]
        },
    ).json()
    hospital = next(o["id"] for o in orgs["items"] if o["kind"] == "hospital")
    spec = tmp_path / "dataset.json"
    spec.write_text(
        json.dumps(
            {
                "org_id": hospital,
                "name": "Diabetes cohort",
                "domains": ["condition", "drug"],
                "person_count": 4321,
                "characterization": {"sex": {"female": 2000, "male": 3}},
            }
        )
    )
    ds = custodian("datasets", "publish", str(spec), "--json")
    assert ds["person_count"] == 4320 and ds["characterization"]["sex"]["male"]["marker"] == "<5"

    found = researcher("datasets", "search", "diabetes", "--json")
    assert [d["id"] for d in found["items"]] == [ds["id"]]
    project = researcher(
        "projects",
        "create",
        "--title",
        "HbA1c",
        "--purpose",
        "prediction",
        "--type",
        "academic",
        "--domains",
        "condition,drug",
        "--start",
        "2026-01-01",
        "--end",
        "2027-12-31",
        "--ethics-ref",
        "IRB-1",
        "--json",
    )
    project = researcher("projects", "update", str(project["id"]), "--title", "HbA1c v2", "--json")
    assert project["title"] == "HbA1c v2" and project["updated_at"]
    req = researcher(
        "requests",
        "create",
        "--project",
        str(project["id"]),
        "--datasets",
        str(ds["id"]),
        "--justification",
        "needed for the model",
        "--json",
    )
    assert req["status"] == "pending"

    queue = reviewer("review", "queue", "--json")
    assert [r["id"] for r in queue["items"]] == [req["id"]]
    bad = reviewer.runner.invoke(
        cli,
        ["review", "approve", str(req["id"]), "--days", "1", "--datasets", "x"],
        env=reviewer.env,
    )
    assert type(bad.exception).__name__ == "InvalidInput"
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    decided = reviewer(
        "review",
        "approve",
        str(req["id"]),
        "--conditions",
        "aggregates only",
        "--expires",
        expires.isoformat(),
        "--datasets",
        str(ds["id"]),
        "--json",
    )
    assert decided["status"] == "approved"
    assert [(d["dataset_id"], d["status"]) for d in decided["datasets"]] == [(ds["id"], "approved")]

    grants = researcher("grants", "list", "--json")
    assert [(g["dataset_id"], g["status"]) for g in grants["items"]] == [(ds["id"], "active")]
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    assert researcher("grants", "list", "--status", "active", "--json")["total"] == 0
    expired = researcher("grants", "list", "--status", "expired", "--json")
    assert [g["status"] for g in expired["items"]] == ["expired"]

    # the custodian edits, then retires the dataset: it leaves the catalogue's default search
    edited = custodian(
        "datasets", "update", str(ds["id"]), "--terms", "Cite the hospital.", "--teaching", "--json"
    )
    assert edited["terms_of_use"] == "Cite the hospital." and edited["teaching"] is True
    retired = custodian("datasets", "retire", str(ds["id"]), "--reason", "superseded", "--json")
    assert retired["retired_at"] is not None
    assert researcher("datasets", "search", "diabetes", "--json")["total"] == 0
    assert researcher("datasets", "search", "--include-retired", "--json")["total"] == 1

    # administration over the API: an organisation, a user, and switching a user off
    admin = Cli(tmp_path, "admin", hub)
    admin("login", "--email", "admin@ministry.example", "--password-file", str(password_file))
    org = admin("admin", "create-org", "--name", "Startup", "--kind", "company", "--json")
    board = admin(
        "admin",
        "create-org",
        "--name",
        "National DRB",
        "--kind",
        "research_institute",
        "--review-board",
        "--json",
    )
    assert board["review_board"] is True
    assert (
        admin("admin", "review-board", str(board["id"]), "--off", "--json")["review_board"] is False
    )
    new = admin(
        "admin",
        "create-user",
        "--email",
        "dev@startup.example",
        "--org",
        str(org["id"]),
        "--role",
        "researcher",
        "--password-file",
        str(password_file),
        "--json",
    )
    assert new["roles"] == [{"org_id": org["id"], "role": "researcher"}]
    removed = admin("admin", "remove-role", str(new["id"]), "--org", str(org["id"]),
                    "--role", "researcher", "--json")  # fmt: skip
    assert removed["roles"] == []
    assert admin("admin", "users", "--json")["total"] == 5
    who = researcher("projects", "show", str(project["id"]), "--json")["lead_id"]
    assert admin("admin", "deactivate", str(who), "--json")["active"] is False
    denied = researcher.runner.invoke(cli, ["grants", "list", "--json"], env=researcher.env)
    assert type(denied.exception).__name__ == "Unauthorized"

    r3 = runner.invoke(cli, ["hub", "audit", "verify", "--data-dir", str(data_dir), "--json"])
    assert r3.exit_code == 0, r3.output
    assert json.loads(r3.stdout)["intact"] is True


@pytest.mark.slow
def test_cli_errors_are_one_line_with_exit_codes(
    tmp_path: Path, data_dir: Path, password_file: Path
) -> None:
    r = _medhaven(
        "hub",
        "create-user",
        "--data-dir",
        str(data_dir),
        "--email",
        "a@b.example",
        "--role",
        "admin",
        "--org",
        "Nowhere",
        "--password-file",
        str(password_file),
    )
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "--org-kind" in r.stderr
    r = _medhaven("hub", "audit", "verify", "--data-dir", str(tmp_path / "empty"))
    assert r.returncode == 5 and r.stderr.startswith("error:")
