"""`medhaven program ...` against a real hub served over HTTP on loopback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from hub.conftest import World
from hub.test_courses_cli import served  # noqa: F401  # the served-hub fixture
from hub.test_program import _course, _students
from medhaven.cli.main import app as cli
from medhaven.errors import MedHavenError

runner = CliRunner()


def _run(world: World, hub: str, who: str, *args: str) -> tuple[int, str]:
    env = {"MEDHAVEN_HUB_TOKEN": world.tokens[who], "MEDHAVEN_HUB_URL": hub}
    r = runner.invoke(cli, ["program", *args], env=env)
    if isinstance(r.exception, MedHavenError):
        return r.exception.exit_code, f"error: {r.exception.message}\n"
    return r.exit_code, r.output


def test_program_through_the_cli(served: str, world: World, tmp_path: Path) -> None:  # noqa: F811
    _course(world, "instructor", "MAI101", 2026, _students(world, "University U", "cli", 6), done=2)
    code, out = _run(world, served, "officer", "target", "--year", "2026", "--trainees", "12",
                     "--json")  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["trainees"] == 12
    code, out = _run(world, served, "officer", "dashboard", "--year", "2026", "--json",
                     "--csv", str(tmp_path / "csv"))  # fmt: skip
    assert code == 0, out
    rows = json.loads(out)["tables"]["trainees"]["rows"]
    assert rows == [[2026, "University U", 6, "<5", None, None, None],
                    [2026, "total", 6, "<5", 12, 50.0, None]]  # fmt: skip
    files = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert files == [f"program-{t}-2026.csv" for t in
                     ("datasets", "jobs", "nodes", "projects", "trainees")]  # fmt: skip
    got = list(csv.reader((tmp_path / "csv" / "program-trainees-2026.csv").open()))
    assert got[1] == ["2026", "University U", "6", "<5", "", "", ""]
    code, out = _run(world, served, "officer", "dashboard")
    assert code == 0 and "University" in out and "<5" in out
    code, out = _run(world, served, "student", "dashboard")
    assert code != 0 and "error:" in out
