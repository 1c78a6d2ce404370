"""Generated hospitals pass every quality check, on DuckDB and after loading into PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from medhaven.cdm import CdmStore, open_store
from medhaven.cdm.checks import CheckReport, run_checks
from medhaven.cdm.loader import load_cdm
from medhaven.synth.writer import write_hospitals

pytestmark = pytest.mark.slow

SLUGS = ("hanbit-university", "saemmul-general", "pureun-community")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth-checks")
    write_hospitals(d, hospitals=3, persons=400, seed=11)
    return d


def _problems(report: CheckReport) -> list[tuple[str, str, float | None, float]]:
    return [(r.check, r.target, r.percent, r.threshold) for r in report.problems()]


def test_every_generated_hospital_passes_every_check(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(SLUGS)
    for slug in SLUGS:
        with open_store(out / slug / "cdm.duckdb", read_only=True) as store:
            report = run_checks(store)
        assert report.ok, (slug, _problems(report))
        # The checks really measured the vocabulary keys and person completeness.
        fk = report.find("isForeignKey", table="concept_ancestor", field="ancestor_concept_id")
        assert fk.status == "pass" and fk.denominator
        completeness = report.find("measurePersonCompleteness", table="condition_occurrence")
        assert completeness.denominator == 400 and completeness.threshold == 95.0


def test_cdm_check_cli_exits_zero_on_a_generated_hospital(out: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from medhaven.cli.main import main; main()", "cdm", "check",
         "--db", str(out / SLUGS[1] / "cdm.duckdb")],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_generated_hospital_loaded_into_postgres_passes_with_equal_counts(
    out: Path, pg_url: str, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    source = out / SLUGS[0] / "cdm.duckdb"
    counts: dict[str, int] = {}
    con = duckdb.connect(str(source), read_only=True)
    try:
        tables = [
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        ]
        for name in tables:
            n = int(con.execute(f"SELECT COUNT(*) FROM {name}").fetchall()[0][0])
            if n:
                counts[name] = n
                con.execute(f"COPY {name} TO '{export / (name + '.parquet')}' (FORMAT parquet)")
    finally:
        con.close()
    assert {"person", "concept", "concept_ancestor", "measurement"} <= set(counts)

    store: CdmStore = open_store(pg_url)
    try:
        loaded = load_cdm(store, export)
        assert {k: v for k, v in loaded.tables.items() if v} == counts
        assert {name: store.count(name) for name in counts} == counts
        report = run_checks(store)
    finally:
        store.close()
    assert report.ok, _problems(report)
