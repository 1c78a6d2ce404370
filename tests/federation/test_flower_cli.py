"""The transport's command line and helpers on bad input: one line, the right exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from medhaven.cli.main import app
from medhaven.errors import CATALOGUE, TransportError
from medhaven.federation.processes import free_port, submit, write_run_config

runner = CliRunner()


def test_run_config_writer_round_trips_quotes_and_backslashes(tmp_path: Path) -> None:
    values: dict[str, str | int | float] = {
        "job-path": 'C:\\jobs\\a "quoted" name.json',
        "result-path": "/tmp/ünïcode/result.json",
        "min-nodes": 2,
        "timeout": 12.5,
    }
    path = tmp_path / "run.toml"
    write_run_config(path, values)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == values


def test_node_serve_with_a_missing_config_is_one_line_not_found(tmp_path: Path) -> None:
    result = runner.invoke(app, ["node", "serve", "--config", str(tmp_path / "nope.toml")])
    assert result.exit_code != 0
    assert "no such node config file" in str(result.exception)


def test_submit_to_a_superlink_that_is_not_there_is_a_transport_error(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    try:
        submit('{"spec": {}}', superlink=f"127.0.0.1:{port}", timeout=5, wait_nodes=1)
    except TransportError as exc:
        assert "unavailable" in exc.message
        assert "\n" not in exc.message
        assert exc.exit_code == CATALOGUE["transport_error"].exit_code
    else:
        raise AssertionError("submit did not fail")


def test_submit_with_no_job_file_exits_not_found(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["federation", "submit", "--superlink", "127.0.0.1:1", "--job", str(tmp_path / "x")]
    )
    assert result.exit_code != 0
    assert "no such file" in str(result.exception)


def _processes_naming(text: str) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd:
            out.append(int(proc.name))
    return out


def test_node_serve_stopped_by_sigterm_leaves_no_supernode_behind(tmp_path: Path) -> None:
    from medhaven.federation.jobs import generate_hub_keypair

    _, public = generate_hub_keypair(tmp_path / "key")
    config = tmp_path / f"node-{free_port()}" / "node.toml"
    config.parent.mkdir()
    config.write_text(
        f'name = "n1"\ncdm = "cdm.duckdb"\nhub_public_key = "{public}"\n', encoding="utf-8"
    )
    serve = subprocess.Popen(
        [str(Path(sys.executable).parent / "medhaven"), "node", "serve", "--config", str(config),
         "--superlink", f"127.0.0.1:{free_port()}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [
            p for p in _processes_naming(str(config)) if p != serve.pid
        ]:
            time.sleep(0.1)
        supernodes = [p for p in _processes_naming(str(config)) if p != serve.pid]
        assert supernodes, "the SuperNode did not start"
        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and set(supernodes) & set(_processes_naming(str(config))):
            time.sleep(0.1)
        assert not set(supernodes) & set(_processes_naming(str(config)))
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
