"""``medhaven disclosure check`` and ``budget`` end to end: CSV in, JSON out, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Wire the group into the root app inside the child process only if the root app
# does not have it yet, then run the real entry point with its error handling.
_BOOT = (
    "import importlib; m = importlib.import_module('medhaven.cli.main');"
    "from medhaven.cli.disclosure import app;"
    "names = [g.name for g in m.app.registered_groups];"
    "'disclosure' in names or m.app.add_typer(app, name='disclosure'); m.main()"
)


def _medhaven(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BOOT, "disclosure", *args], capture_output=True, text=True
    )


def test_check_two_way_csv_json(tmp_path: Path) -> None:
    src = tmp_path / "age_by_sex.csv"
    src.write_text("age,F,M,X\n<40,10,3,20\n40-64,8,9,12\n65+,0,6,15\n")
    out = tmp_path / "release.json"
    proc = _medhaven("check", str(src), "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    hidden = {e["label"] for e in doc["entries"] if e["suppressed"]}
    assert hidden == {"<40 | F", "<40 | M", "40-64 | F", "40-64 | M"}
    assert doc["audit"]["all_protected"] is True
    written = json.loads(out.read_text())
    assert all(e["value"] is None for e in written["entries"] if e["suppressed"])
    assert "reason" not in json.dumps(written)


def test_check_rejects_bad_cell_with_one_line_naming_row_and_field(tmp_path: Path) -> None:
    src = tmp_path / "bad.csv"
    src.write_text("age,F,M\n<40,10,3\n40-64,8,secret-value\n")
    proc = _medhaven("check", str(src), "--json")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: bad.csv row 3 field M: not a whole number"
    assert "secret-value" not in proc.stderr


def test_budget_set_and_show(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.sqlite")
    assert _medhaven("budget", "set", "p1", "--epsilon", "1.5", "--ledger", ledger).returncode == 0
    proc = _medhaven("budget", "show", "p1", "--ledger", ledger, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["remaining_epsilon"] == 1.5
    again = _medhaven("budget", "set", "p1", "--epsilon", "9", "--ledger", ledger)
    assert again.returncode == 6 and "already has a budget" in again.stderr
