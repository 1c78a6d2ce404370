"""``medhaven characterize dataset|cohort|incidence`` end to end: JSON, Rich tables, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from test_characterize_data import add_cohort, fill_hospital, rows

from medhaven.cdm import open_store
from medhaven.cli.main import main


@dataclass
class Result:
    """What one command run printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """Run ``medhaven characterize ...`` through the real entry point, in this process."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["medhaven", "characterize", *args])
        code: int | str | None = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return Result(int(code or 0), out.out, out.err)

    return run


@pytest.fixture
def hospital_db(store_url: str) -> str:
    """A generated hospital with target cohort 1 (observation periods) and outcome cohort 2."""
    with open_store(store_url) as store:
        fill_hospital(store)
        ops = rows(store, "observation_period",
                   ["person_id", "observation_period_start_date", "observation_period_end_date"])  # fmt: skip
        add_cohort(store, 1, [(o["person_id"], o["observation_period_start_date"],
                               o["observation_period_end_date"]) for o in ops])  # fmt: skip
        visits = rows(store, "visit_occurrence", ["person_id", "visit_start_date"])
        firsts: dict[int, object] = {}
        for v in visits:
            firsts.setdefault(v["person_id"], v["visit_start_date"])
        add_cohort(store, 2, [(p, d + timedelta(days=200), d + timedelta(days=200))  # type: ignore[operator]
                              for p, d in list(firsts.items())[::3]])  # fmt: skip
    return store_url


def test_dataset_json_and_raw_counts(hospital_db: str, cli: Callable[..., Result]) -> None:
    proc = cli("dataset", "--db", hospital_db, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["kind"] == "dataset_characterization" and doc["raw"] is False
    persons = next(s for s in doc["sections"] if s["name"] == "persons")
    assert persons["value"] == 250
    raw = json.loads(cli("dataset", "--db", hospital_db, "--json", "--raw-counts").stdout)
    assert raw["raw"] is True
    yob = next(s for s in raw["sections"] if s["name"] == "persons_by_year_of_birth")
    assert all(e["suppressed"] is False for e in yob["table"]["entries"])
    released = next(s for s in doc["sections"] if s["name"] == "persons_by_year_of_birth")
    small = [e for e in yob["table"]["entries"] if 1 <= e["value"] <= 4]
    assert small  # the generated hospital does have small birth years...
    hidden = {e["label"] for e in released["table"]["entries"] if e["suppressed"]}
    assert {e["label"] for e in small} <= hidden  # ...and none of them is released


def test_cohort_and_incidence_print_rich_tables(
    hospital_db: str, cli: Callable[..., Result]
) -> None:
    proc = cli("cohort", "--db", hospital_db, "--cohort-id", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Persons by age group at index" in proc.stderr
    assert "Most frequent drug concepts in the 365 days before index" in proc.stderr
    proc = cli("incidence", "--db", hospital_db, "--target-id", "1", "--outcome-id", "2",
                "--tar-days", "365")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Incidence by calendar year" in proc.stderr and "rate /1,000 PY" in proc.stderr


def test_incidence_json_reports_time_at_risk(hospital_db: str, cli: Callable[..., Result]) -> None:
    proc = cli("incidence", "--db", hospital_db, "--target-id", "1", "--outcome-id", "2",
                "--tar-days", "365", "--json", "--min-count", "10")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["min_cell_count"] == 10
    assert doc["time_at_risk"]["end"] == "start + 365 days"
    assert [s["name"] for s in doc["strata"]] == ["overall", "age_group", "sex", "calendar_year"]
    for strat in doc["strata"]:
        for r in strat["rows"]:
            assert r["persons"] is None or r["persons"] == 0 or r["persons"] >= 10


def test_unknown_cohort_is_a_one_line_not_found(tmp_path: Path, cli: Callable[..., Result]) -> None:
    db = tmp_path / "cdm.duckdb"
    with open_store(db) as store:
        fill_hospital(store)
    proc = cli("cohort", "--db", str(db), "--cohort-id", "99")
    assert proc.returncode == 5
    assert proc.stderr.strip() == "error: --cohort-id: cohort 99 has no rows in the cohort table"
    proc = cli("incidence", "--db", str(db), "--target-id", "1", "--outcome-id", "2")
    assert proc.returncode == 5 and "--target-id: cohort 1" in proc.stderr
    with open_store(db) as store:
        store.execute("DROP TABLE cohort")
    proc = cli("cohort", "--db", str(db), "--cohort-id", "1", "--json")
    assert proc.returncode == 5 and proc.stdout == ""
    assert (
        proc.stderr.strip() == "error: the CDM store has no cohort table: generate the cohort first"
    )


def test_bad_arguments_exit_with_invalid_input(tmp_path: Path, cli: Callable[..., Result]) -> None:
    missing = tmp_path / "nope.duckdb"
    proc = cli("dataset", "--db", str(missing))
    assert proc.returncode == 2 and "no CDM store at" in proc.stderr
    assert not missing.exists()
    db = tmp_path / "cdm.duckdb"
    with open_store(db) as store:
        fill_hospital(store)
    proc = cli("incidence", "--db", str(db), "--target-id", "1", "--outcome-id", "2",
                "--tar-days", "-3")  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --tar-days: must be 0 or more"
    proc = cli("dataset", "--db", str(db), "--min-count", "0")
    assert proc.returncode == 2 and "--min-count" in proc.stderr


@pytest.mark.slow
def test_entry_point_exits_with_not_found_code_in_a_real_process(tmp_path: Path) -> None:
    db = tmp_path / "cdm.duckdb"
    with open_store(db) as store:
        fill_hospital(store)
    proc = subprocess.run(
        [sys.executable, "-c", "from medhaven.cli.main import main; main()", "characterize",
         "cohort", "--db", str(db), "--cohort-id", "4"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 5
    assert proc.stderr.strip() == "error: --cohort-id: cohort 4 has no rows in the cohort table"
