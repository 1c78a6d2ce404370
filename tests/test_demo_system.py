"""``medhaven demo`` as the whole system: real processes, jobs through the hub, reuse, Ctrl-C.

The smoke run's figures are checked against each node store directly (the
library cohort generated with the analytics API, persons counted with SQL),
never against the demo's own output.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from medhaven.analytics import DisclosurePolicy
from medhaven.analytics.cohorts import generate_cohort, library_definition, released_attrition
from medhaven.cdm.store import open_store
from medhaven.demo_data import prepare
from medhaven.demo_hub import seed_hub
from medhaven.demo_system import COUNT_PARAMETERS, read_services
from medhaven.errors import InvalidInput

pytestmark = pytest.mark.slow

MAIN = "from medhaven.cli.main import main; main()"
ARGS = ["--persons", "300", "--hospitals", "3", "--seed", "5"]


def _demo(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", MAIN, "demo", "--out", str(out), *ARGS, *extra]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo-system") / "demo"
    done = subprocess.run(_demo(out, "--smoke", "--json"), capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    doc = json.loads(done.stdout)
    return out, done.returncode, doc


def _mtimes(out: Path) -> dict[str, int]:
    """Modification times of what the first run made: data, node stores, keys, hub database."""
    paths = [*out.glob("extracts/*/cdm.duckdb"), *out.glob("extracts/*/raw/patients.csv"),
             *out.glob("nodes/*/node.toml"), *out.glob("keys/*.key"), out / "demo.json",
             out / "logins.json"]  # fmt: skip
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in paths}


def test_smoke_reports_every_node_up_and_both_jobs_completed(
    smoke: tuple[Path, int, dict[str, Any]],
) -> None:
    out, rc, doc = smoke
    assert rc == 0, doc
    assert doc["ok"] is True
    names = sorted(p.name for p in (out / "nodes").iterdir())
    assert sorted(n["name"] for n in doc["nodes"]) == names and len(names) == 3
    assert {n["status"] for n in doc["nodes"]} == {"up"}
    assert {n["console"] for n in doc["nodes"]} == {"up"}  # a node console per hospital
    assert len({n["console_url"] for n in doc["nodes"]}) == 3
    held = [p.parent.name for p in out.glob("nodes/*/node.toml")
            if 'require_release_approval = ["incidence"]' in p.read_text()]  # fmt: skip
    assert len(held) == 1  # one hospital holds incidence results; count/characterize run
    assert [j["kind"] for j in doc["jobs"]] == ["cohort_count", "characterize"]
    for job in doc["jobs"]:
        assert job["status"] == "completed", job
        assert {v["status"] for v in job["nodes"].values()} == {"ok"}
    assert doc["url"].startswith("http://127.0.0.1:")
    # everything stopped: no service left listed
    assert read_services(out) == []


def test_smoke_count_is_the_sum_of_what_each_node_releases(
    smoke: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _rc, doc = smoke
    count = doc["jobs"][0]["combined"]
    policy = DisclosurePolicy(min_cell_count=5)
    expression = library_definition(COUNT_PARAMETERS["definition"]).expression
    own: dict[str, int | None] = {}
    for node_dir in sorted((out / "nodes").iterdir()):
        with open_store(node_dir / "cdm.duckdb") as store:
            run = generate_cohort(store, expression, cohort_definition_id=901)
            own[node_dir.name] = released_attrition(run, policy)["persons"]["value"]
    shown = [v for v in own.values() if v is not None]
    assert sum(shown) > 0
    assert count["persons"]["value"] == sum(shown)
    assert count["persons"]["lower_bound"] is (len(shown) < len(own))
    assert {n["node"]: n["persons"] for n in count["nodes"]} == {
        k: "suppressed" if v is None else v for k, v in own.items()
    }


def test_smoke_characterization_shows_each_nodes_persons_and_their_sum(
    smoke: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _rc, doc = smoke
    job = doc["jobs"][1]
    assert set(job["per_node"]) == {p.name for p in (out / "nodes").iterdir()}
    total = 0
    for node, result in job["per_node"].items():
        con = duckdb.connect(str(out / "nodes" / node / "cdm.duckdb"), read_only=True)
        try:
            persons = con.execute("SELECT COUNT(*) FROM person").fetchone()
        finally:
            con.close()
        assert persons is not None
        (section,) = [s for s in result["sections"] if s["name"] == "persons"]
        assert section["value"] == persons[0] == 300
        total += persons[0]
    (combined,) = [s for s in job["combined"]["sections"] if s["name"] == "persons"]
    assert (combined["value"], combined["lower_bound"]) == (total, False)


def test_node_stores_are_deidentified_and_keys_and_logins_are_private(
    smoke: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _rc, _doc = smoke
    raw_ids = set()
    for patients in out.glob("extracts/*/raw/patients.csv"):
        with patients.open(encoding="utf-8", newline="") as fh:
            raw_ids.update(row["Id"] for row in csv.DictReader(fh))
    for node_dir in (out / "nodes").iterdir():
        con = duckdb.connect(str(node_dir / "cdm.duckdb"), read_only=True)
        try:
            sources = {
                r[0] for r in con.execute("SELECT person_source_value FROM person").fetchall()
            }
        finally:
            con.close()
        assert len(sources) == 300 and not sources & raw_ids
    for path in [*out.glob("keys/*.key"), out / "logins.json",
                 *out.glob("nodes/*/console-users.json")]:  # fmt: skip
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    logins = json.loads((out / "logins.json").read_text())
    assert sorted(c["node"] for c in logins["consoles"]) == sorted(
        p.name for p in (out / "nodes").iterdir()
    )
    roles = {u["role"] for u in logins["users"]}
    assert roles == {"custodian", "reviewer", "researcher", "student", "instructor",
                     "program_officer", "admin"}  # fmt: skip


def test_a_second_run_reuses_data_keys_and_hub(smoke: tuple[Path, int, dict[str, Any]]) -> None:
    out, _rc, _doc = smoke
    before = _mtimes(out)
    logins = (out / "logins.json").read_text()
    data = prepare(out, seed=5, persons=300, hospitals=3)
    seed, hub_reused = seed_hub(out, data.report.hospitals)
    assert data.reused and hub_reused
    assert _mtimes(out) == before
    assert (out / "logins.json").read_text() == logins
    hub_logins = {k: v for k, v in json.loads(logins).items() if k != "consoles"}
    assert seed.to_dict() == hub_logins  # consoles: the node console accounts (console_logins)


def test_other_parameters_on_the_same_out_are_refused(
    smoke: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _rc, _doc = smoke
    before = _mtimes(out)
    with pytest.raises(InvalidInput, match=r"--persons 300.*--fresh"):
        prepare(out, seed=5, persons=301, hospitals=3)
    done = subprocess.run([sys.executable, "-c", MAIN, "demo", "--out", str(out), "--smoke",
                           "--persons", "301"], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--fresh" in done.stderr
    assert _mtimes(out) == before


def _alive_in_groups(groups: set[int]) -> list[int]:
    """Processes (not zombies) whose process group is one of ``groups``."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp in groups and state != "Z":
            alive.append(int(entry.name))
    return alive


def _gone(find: Callable[[], list[int]], within: float = 20.0) -> list[int]:
    """What ``find`` still lists after waiting up to ``within`` seconds for it to empty."""
    deadline = time.monotonic() + within
    left = find()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = find()
    return left


def test_sigint_stops_every_process(smoke: tuple[Path, int, dict[str, Any]]) -> None:
    out, _rc, _doc = smoke
    before = _mtimes(out)
    expected = sorted(
        [
            "hub",
            "superlink",
            *(f"supernode {p.name}" for p in (out / "nodes").iterdir()),
            *(f"console {p.name}" for p in (out / "nodes").iterdir()),
        ]
    )
    proc = subprocess.Popen(_demo(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    groups: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        services: list[dict[str, Any]] = []
        while time.monotonic() < deadline and proc.poll() is None:
            services = read_services(out)
            if sorted(s["name"] for s in services) == expected:
                break
            time.sleep(0.2)
        groups = {int(s["pgid"]) for s in services}
        assert sorted(s["name"] for s in services) == expected
        assert _alive_in_groups(groups)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:  # the test failed: still clean up what the demo started
            proc.kill()
            proc.wait()
            for group in groups:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
    assert proc.returncode in (0, 130), proc.stderr.read() if proc.stderr else ""
    assert _alive_in_groups(groups) == []
    assert _gone(lambda: _processes_using(out)) == []
    assert read_services(out) == []
    assert _mtimes(out) == before  # the second run reused everything
    assert (out / "run" / "hub.log").is_file()


def _processes_using(out: Path) -> list[int]:
    """Live processes whose command line or working directory is under ``out``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (str(out) in cmdline or cwd.startswith(str(out))):
            found.append(int(entry.name))
    return found


def test_a_failed_start_stops_what_was_started_and_names_the_log(
    smoke: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _rc, _doc = smoke
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(_demo(out, "--smoke", "--json", "--port", str(port)),
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 17, done.stderr
    assert done.stderr.count("\n") == 1 and str(out / "run" / "hub.log") in done.stderr
    doc = json.loads(done.stdout)
    assert doc["ok"] is False and "hub" in doc["error"] and doc["jobs"] == []
    assert _gone(lambda: _processes_using(out)) == []
    assert read_services(out) == []
