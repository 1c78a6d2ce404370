"""``medhaven cdm load`` as a user runs it: exit codes, one-line errors, ``--json``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from load_helpers import MEAS_HEADER, MEAS_ROWS, good_source, write_csv

from medhaven.cdm import open_store

MEDHAVEN = Path(sys.executable).parent / "medhaven"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MEDHAVEN), "cdm", "load", *args], capture_output=True, text=True, timeout=120
    )


def test_load_json_report(store_url: str, tmp_path: Path) -> None:
    src = good_source(tmp_path / "src")
    done = _run("--db", store_url, "--source", str(src), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tables"] == {"person": 3, "measurement": 4}
    assert report["total_rows"] == 7
    assert "medhaven-test" not in report["store"]  # the password is never printed
    with open_store(store_url) as store:
        assert store.count("person") == 3 and store.count("measurement") == 4


def test_bad_source_exits_non_zero_with_one_line(store_url: str, tmp_path: Path) -> None:
    src = good_source(tmp_path / "src")
    rows = list(MEAS_ROWS)
    rows[1] = rows[1].replace("2020-02-03", "2020-02-31")
    write_csv(src / "MEASUREMENT.csv", MEAS_HEADER, rows)
    done = _run("--db", store_url, "--source", str(src))
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.endswith("\n") and done.stderr.count("\n") == 1
    assert done.stderr == (
        "error: MEASUREMENT.csv data row 2, field measurement_date: "
        "not a date (expected YYYY-MM-DD)\n"
    )
    assert "2020-02-31" not in done.stderr
    with open_store(store_url) as store:
        assert store.table_names() == set()


def test_table_output_and_unknown_source(tmp_path: Path) -> None:
    db = str(tmp_path / "cdm.duckdb")
    done = _run("--db", db, "--source", str(good_source(tmp_path / "src")))
    assert done.returncode == 0
    assert "measurement" in done.stderr and "7 rows in 2 tables" in done.stderr
    missing = _run("--db", db, "--source", str(tmp_path / "absent"))
    assert missing.returncode == 3
    assert missing.stderr.startswith("error: ") and missing.stderr.count("\n") == 1


def test_unreachable_postgres_is_a_store_error(tmp_path: Path) -> None:
    src = good_source(tmp_path / "src")
    done = _run("--db", "postgresql://u:secret-pw@127.0.0.1:9/none", "--source", str(src))
    assert done.returncode == 4
    assert done.stderr.startswith("error: cannot connect to PostgreSQL")
    assert "secret-pw" not in done.stderr and done.stderr.count("\n") == 1
