"""`medhaven jobs submit|status|result` against a real hub served over HTTP on loopback
(uvicorn in a thread, in-process dispatch to the generated hospitals' node code)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hub.conftest import World
from hub.test_jobs import NODES, Calls, Hospitals, _granted, _own_counts, hospitals
from medhaven.cli.main import app as cli
from medhaven.errors import MedHavenError
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database

__all__ = ["hospitals"]
runner = CliRunner()


@pytest.fixture
def served(db: Database, hospitals: Hospitals) -> Iterator[tuple[str, TestClient]]:
    config = HubConfig(database_url=db.url, secure_cookies=False, keys_dir=hospitals.keys,
                       job_dispatcher=Calls(hospitals).dispatch)  # fmt: skip
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
        with TestClient(application, base_url="http://testserver") as c:
            yield f"http://127.0.0.1:{port}", c
    finally:
        server.should_exit = True
        thread.join(10)


def _run(world: World, hub: str, *args: str) -> tuple[int, str]:
    env = {"MEDHAVEN_HUB_TOKEN": world.tokens["researcher"], "MEDHAVEN_HUB_URL": hub}
    r = runner.invoke(cli, ["jobs", *args], env=env)
    if isinstance(r.exception, MedHavenError):  # what main() prints as one line, and its exit code
        return r.exception.exit_code, f"error: {r.exception.message}\n"
    return r.exit_code, r.output


def test_submit_wait_status_and_result_through_the_cli(
    served: tuple[str, TestClient], world: World, hospitals: Hospitals
) -> None:
    hub, api = served
    g = _granted(api, world)
    ds = ",".join(str(i) for i in g["datasets"])
    code, out = _run(world, hub, "submit", "--project", str(g["project"]), "--kind",
                     "cohort_count", "--datasets", ds, "--params",
                     '{"definition": "essential_hypertension"}', "--wait", "60", "--json")  # fmt: skip
    assert code == 0, out
    job = json.loads(out)
    assert job["status"] == "completed"
    code, out = _run(world, hub, "status", str(job["id"]))
    assert code == 0, out
    assert out.splitlines()[0] == f"job {job['id']} (cohort_count): completed"
    assert sorted(ln.strip() for ln in out.splitlines()[1:]) == sorted(f"{n}: ok" for n in NODES)
    code, out = _run(world, hub, "result", str(job["id"]), "--json")
    assert code == 0, out
    own = _own_counts(hospitals)
    assert json.loads(out)["result"]["persons"] == own["persons"]
    code, out = _run(world, hub, "result", str(job["id"]))
    assert f"persons: {own['persons']['display']}" in out


def test_bad_input_is_one_line_with_a_non_zero_exit(
    served: tuple[str, TestClient], world: World
) -> None:
    hub, api = served
    g = _granted(api, world, ["north"])
    base = ["submit", "--project", str(g["project"]), "--kind", "cohort_count"]
    for args, needle in [
        ([*base, "--datasets", "a,b"], "--datasets: comma-separated dataset ids"),
        ([*base, "--datasets", "1", "--params", "[1]"], "--params: must be a JSON object"),
        ([*base, "--datasets", "1", "--params", "{"], "--params: not JSON"),
        ([*base, "--datasets", "999"], "dataset 999 not found"),
        (["result", "424242"], "job 424242 not found"),
    ]:
        code, out = _run(world, hub, *args)
        assert code != 0, args
        assert needle in out and len(out.strip().splitlines()) == 1, out
