"""``medhaven cdm check`` end to end: exit codes, the JSON report, the one-line error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from test_checks_builders import CHECKED_TABLES, build, clean_cdm

from medhaven.cdm import open_store
from medhaven.errors import CATALOGUE


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from medhaven.cli.main import main; main()", "cdm", "check", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},  # Rich wraps table cells at 80 columns in a pipe
    )


def _make_db(path: Path, *, broken: bool) -> list[str]:
    data = clean_cdm()
    if broken:
        data["person"][0]["gender_concept_id"] = 8527  # Race concept in a Gender field
        data["visit_occurrence"][0]["visit_end_date"] = data["visit_occurrence"][0][
            "visit_start_date"
        ].replace(year=2001)
    with open_store(path) as store:
        build(store, data)
    return [arg for t in CHECKED_TABLES for arg in ("--table", t)]


def test_clean_cdm_exits_zero_with_a_json_report(tmp_path: Path) -> None:
    db = tmp_path / "cdm.duckdb"
    tables = _make_db(db, broken=False)
    done = _cli("--db", str(db), "--json", *tables)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["summary"]["ok"] is True
    assert doc["summary"]["failed"] == doc["summary"]["errors"] == 0
    assert doc["summary"]["total"] == len(doc["results"]) > 100


def test_failures_exit_with_check_failed_code_and_still_print(tmp_path: Path) -> None:
    db = tmp_path / "cdm.duckdb"
    tables = _make_db(db, broken=True)
    done = _cli("--db", str(db), "--json", *tables)
    assert done.returncode == CATALOGUE["check_failed"].exit_code
    doc = json.loads(done.stdout)
    failed = {(r["check"], r["table"], r["field"]) for r in doc["results"] if r["status"] == "fail"}
    assert failed == {
        ("fkDomain", "person", "gender_concept_id"),
        ("plausibleStartBeforeEnd", "visit_occurrence", "visit_start_date"),
    }
    assert done.stderr.strip().splitlines()[-1].startswith("error: 2 checks failed")

    human = _cli("--db", str(db), *tables)
    assert human.returncode == CATALOGUE["check_failed"].exit_code
    assert "fkDomain" in human.stderr and "person.gender_concept_id" in human.stderr
    assert "2 failed, 0 errors" in human.stderr


def test_missing_duckdb_file_is_a_one_line_error_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nope.duckdb"
    done = _cli("--db", str(db))
    assert done.returncode == CATALOGUE["invalid_input"].exit_code
    assert done.stderr.strip().splitlines() == [
        f"error: no CDM store at {db}: not a DuckDB file or postgresql:// URL"
    ]
    assert not db.exists()
