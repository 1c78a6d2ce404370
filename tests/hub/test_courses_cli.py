"""`medhaven course ...` against a real hub served over HTTP on loopback (uvicorn in a thread)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner

from hub.conftest import World
from hub.test_courses import QUIZ
from medhaven.cli.main import app as cli
from medhaven.errors import MedHavenError
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database

runner = CliRunner()


@pytest.fixture
def served(db: Database, tmp_path: Path) -> Iterator[str]:
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=tmp_path / "keys")
    application = create_app(config, database=db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _run(world: World, hub: str, who: str, *args: str) -> tuple[int, str]:
    env = {"MEDHAVEN_HUB_TOKEN": world.tokens[who], "MEDHAVEN_HUB_URL": hub}
    r = runner.invoke(cli, ["course", *args], env=env)
    if isinstance(r.exception, MedHavenError):  # what main() prints as one line, and its exit code
        return r.exception.exit_code, f"error: {r.exception.message}\n"
    return r.exit_code, r.output


def test_course_through_the_cli(served: str, world: World, tmp_path: Path) -> None:
    hub = served
    code, out = _run(world, hub, "instructor", "create", "--code", "MAI101", "--title",
                     "Medical AI 101", "--term", "2026-2", "--year", "2026", "--json")  # fmt: skip
    assert code == 0, out
    course = json.loads(out)
    cid = str(course["id"])
    code, out = _run(world, hub, "instructor", "enrol", cid, "student@example.org")
    assert code == 0, out
    code, out = _run(world, hub, "instructor", "lab-add", cid, "--title", "Model card quiz",
                     "--kind", "model_card", "--check", json.dumps(QUIZ), "--json")  # fmt: skip
    assert code == 0, out
    lab = str(json.loads(out)["id"])
    code, out = _run(world, hub, "student", "show", cid, "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert [m["role"] for m in shown["members"]] == ["instructor", "student"]
    assert shown["labs"][0]["check"] is None and shown["labs"][0]["questions"][0]["id"] == "q1"
    code, out = _run(world, hub, "student", "list", "--json")
    assert code == 0 and [c["code"] for c in json.loads(out)["items"]] == ["MAI101"]
    code, out = _run(world, hub, "student", "attempt", cid, lab, "--answers",
                     '{"q1": "calibration", "q2": "no"}')  # fmt: skip
    assert code == 0, out
    assert out.strip().endswith("failed: 1 of 2 answers are right")
    code, out = _run(world, hub, "student", "certificate", cid, "-o", str(tmp_path / "c.pdf"))
    assert code != 0 and "not completed yet" in out and len(out.strip().splitlines()) == 1
    code, out = _run(world, hub, "student", "attempt", cid, lab, "--answers",
                     '{"q1": "discrimination", "q2": "no"}', "--json")  # fmt: skip
    assert code == 0 and json.loads(out)["status"] == "passed"
    csv_path = tmp_path / "progress.csv"
    code, out = _run(world, hub, "instructor", "progress", cid, "--csv", str(csv_path))
    assert code == 0, out
    assert "student@example.org" in out and "1/1" in out
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("email,name,lab_position,lab_title,passed,attempts")
    assert lines[1].startswith("student@example.org,student,1,Model card quiz,yes,2,0,")
    pdf = tmp_path / "cert.pdf"
    code, out = _run(world, hub, "student", "certificate", cid, "-o", str(pdf), "--json")
    assert code == 0, out
    got = json.loads(out)
    assert pdf.read_bytes().startswith(b"%PDF") and got["bytes"] == pdf.stat().st_size
    code, out = _run(world, hub, "officer", "verify", got["code"], "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out = _run(world, hub, "officer", "verify", "1-00000000000000000000", "--json")
    assert code == 0 and json.loads(out)["valid"] is False
    # bad input: one line, non-zero exit
    for who, args, needle in [
        ("instructor", ["lab-add", cid, "--title", "t", "--kind", "quiz", "--check", "{}"],
         "--kind: one of"),
        ("instructor", ["lab-add", cid, "--title", "t", "--kind", "train", "--check", "{"],
         "--check: not JSON"),
        ("student", ["attempt", cid, lab], "give exactly one of --job and --answers"),
        ("student", ["show", "424242"], "course 424242 not found"),
    ]:  # fmt: skip
        code, out = _run(world, hub, who, *args)
        assert code != 0, args
        assert needle in out and len(out.strip().splitlines()) == 1, out
