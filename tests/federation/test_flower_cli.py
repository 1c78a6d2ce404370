"""The transport's command line and helpers on bad input: one line, the right exit code."""

from __future__ import annotations

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
