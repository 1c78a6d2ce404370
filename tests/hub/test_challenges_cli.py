"""`medhaven challenge ...` against a real hub over HTTP on loopback with real nodes in process."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import update
from typer.testing import CliRunner

from hub.conftest import World
from hub.test_challenges import NODES, SEED, TASK, Sites, _course, _later, sites  # noqa: F401
from medhaven.cli.challenges import read_predictions
from medhaven.cli.main import app as cli
from medhaven.errors import InvalidInput, MedHavenError
from medhaven.federation.node import handle_job
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import Challenge
from medhaven.hub.services import jobs

runner = CliRunner()


@pytest.fixture
def served(db: Database, sites: Sites) -> Iterator[str]:  # noqa: F811
    dispatch = jobs.in_process_dispatcher(
        lambda signed, node: handle_job(signed, sites.configs[node]), NODES
    )
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=sites.keys,
                       job_dispatcher=dispatch)  # fmt: skip
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
    r = runner.invoke(cli, ["challenge", *args], env=env)
    if isinstance(r.exception, MedHavenError):  # what main() prints as one line, and its exit code
        return r.exception.exit_code, f"error: {r.exception.message}\n"
    return r.exit_code, r.output


def test_challenge_through_the_cli(served: str, world: World, tmp_path: Path, db: Database) -> None:
    with httpx.Client(base_url=served) as http:
        course = _course(http, world, ["student"])  # type: ignore[arg-type]
    spec = tmp_path / "challenge.json"
    spec.write_text(json.dumps({"course_id": course["id"], "title": "Predict CKD", "task": TASK,
                                "dataset_ids": list(course["datasets"].values()),
                                "opens_at": _later(hours=-1), "closes_at": _later(days=3),
                                "test_fraction": 0.6, "max_daily": 2}), encoding="utf-8")  # fmt: skip
    code, out = _run(world, served, "instructor", "create", "--spec", str(spec), "--json")
    assert code == 0, out
    cid = json.loads(out)["id"]
    with db.unit() as session:  # the random seed pinned: every part of the split holds outcomes
        session.execute(update(Challenge).where(Challenge.id == cid).values(split_seed=SEED))
    code, out = _run(world, served, "student", "list", "--json")
    assert code == 0 and [c["id"] for c in json.loads(out)["items"]] == [cid]
    model = tmp_path / "model.json"
    model.write_text('{"kind": "logistic_l2"}', encoding="utf-8")
    code, out = _run(world, served, "student", "submit", "--challenge", str(cid), "--model",
                     str(model))  # fmt: skip
    assert code == 0 and out.startswith("submission "), out
    deadline = time.monotonic() + 120
    while True:
        code, out = _run(world, served, "student", "show", str(cid), "--json")
        subs = json.loads(out)["submissions"]
        if subs[0]["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert subs[0]["status"] == "scored", subs
    code, out = _run(world, served, "student", "leaderboard", str(cid), "--json")
    board = json.loads(out)
    assert code == 0 and board["rows"][0]["public_score"] == subs[0]["public_score"]
    assert "private_score" not in board["rows"][0] and not board["closed"]
    code, out = _run(world, served, "student", "leaderboard", str(cid))
    assert code == 0 and "student" in out and "private" not in out
    # a model challenge refuses a predictions file; a bad file is one line naming row and field
    bad = tmp_path / "bad.csv"
    bad.write_text("person_id,probability\n12,0.4\n13,high\n", encoding="utf-8")
    code, out = _run(world, served, "student", "submit", "--challenge", str(cid),
                     "--predictions", str(bad))  # fmt: skip
    assert code != 0 and out == f"error: {bad}: row 3: probability: not a number\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("person,p\n1,0.5\n", "row 1: the header must be person_id,probability"),
        ("person_id,probability\n1,0.5\nx1,0.2\n", "row 3: person_id: not a whole number"),
        ("person_id,probability\n1,1.5\n", "row 2: probability: not in [0, 1]"),
        ("person_id,probability\n1,0.5\n1,0.4\n", "row 3: person_id: listed twice"),
        ("person_id,probability\n1,0.5,9\n", "row 2: 2 fields expected, 3 found"),
        ("person_id,probability\n", "no predictions"),
    ],
)
def test_a_malformed_predictions_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as exc:
        read_predictions(path)
    assert exc.value.message == f"{path}: {message}" and "\n" not in exc.value.message


def test_a_predictions_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("person_id,probability\n7,0.25\n\n0012,1\n", encoding="utf-8")
    assert read_predictions(path) == {"7": 0.25, "12": 1.0}
