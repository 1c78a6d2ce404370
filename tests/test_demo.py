"""``medhaven demo``: figures read back from the node stores, checked against independent SQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from medhaven.cdm import schema
from medhaven.demo import DEMO_COHORTS, EVENT_TABLES, DemoReport, run_demo

MAIN = "from medhaven.cli.main import main; main()"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoReport]:
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, hospitals=3, persons=250, seed=11)


def _counts(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        present = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        return {
            name: int(con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0])  # type: ignore[index]
            for name in schema.tables()
            if name in present
        }
    finally:
        con.close()


def test_every_node_holds_exactly_what_its_hospital_generated(
    demo_run: tuple[Path, DemoReport],
) -> None:
    out, report = demo_run
    assert [h.slug for h in report.hospitals] == sorted(
        (p.name for p in (out / "extracts").iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=[h.slug for h in report.hospitals].index,
    )
    for h in report.hospitals:
        generated = _counts(out / "extracts" / h.slug / "cdm.duckdb")
        loaded = _counts(out / "nodes" / h.slug / "cdm.duckdb")
        loaded.pop("cohort")  # the demo's own analysis writes the example cohorts there
        assert {k: v for k, v in loaded.items() if v} == {k: v for k, v in generated.items() if v}
        assert h.loaded_rows == sum(generated.values())


def test_summary_figures_equal_independent_queries(demo_run: tuple[Path, DemoReport]) -> None:
    out, report = demo_run
    assert len(report.hospitals) == 3
    for h in report.hospitals:
        con = duckdb.connect(str(out / "nodes" / h.slug / "cdm.duckdb"), read_only=True)
        try:
            persons = con.execute("SELECT COUNT(DISTINCT person_id) FROM person").fetchone()
            visits = con.execute("SELECT COUNT(*) FROM visit_occurrence").fetchone()
            events = sum(
                int(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])  # type: ignore[index]
                for t in EVENT_TABLES
            )
            inpatient = con.execute(
                "SELECT person_id, visit_start_date, visit_end_date FROM visit_occurrence "
                "WHERE visit_concept_id = 9201"
            ).df()
        finally:
            con.close()
        assert (h.persons, h.visits, h.events) == (persons[0], visits[0], events)  # type: ignore[index]
        # 30-day readmission recomputed in pandas: another admission 1-30 days after discharge.
        readmitted = 0
        for _, group in inpatient.groupby("person_id"):
            starts = pd.to_datetime(group["visit_start_date"]).to_numpy()
            for end in pd.to_datetime(group["visit_end_date"]).to_numpy():
                gap = (starts - end).astype("timedelta64[D]").astype(int)
                readmitted += bool(((gap >= 1) & (gap <= 30)).any())
        expected = round(readmitted / len(inpatient), 4) if len(inpatient) else 0.0
        assert h.outcomes["readmission_30d"] == pytest.approx(expected, abs=1e-4)


def test_released_cohort_counts_match_the_node_and_hide_small_ones(
    demo_run: tuple[Path, DemoReport],
) -> None:
    out, report = demo_run
    shown_numbers = 0
    for h in report.hospitals:
        assert set(h.cohorts) == set(DEMO_COHORTS)
        con = duckdb.connect(str(out / "nodes" / h.slug / "cdm.duckdb"), read_only=True)
        try:
            for name, cohort_id in DEMO_COHORTS.items():
                row = con.execute(
                    "SELECT COUNT(DISTINCT subject_id) FROM cohort WHERE cohort_definition_id = ?",
                    [cohort_id],
                ).fetchone()
                true_count = int(row[0])  # type: ignore[index]
                shown = h.cohorts[name]
                if 0 < true_count < 5:
                    assert not shown.isdigit(), (h.slug, name)
                if shown.isdigit():
                    shown_numbers += 1
                    assert int(shown) == true_count and (true_count == 0 or true_count >= 5)
        finally:
            con.close()
    assert shown_numbers >= 3  # the older hospitals have sizeable cohorts


def test_hospitals_differ_as_real_hospitals_do(demo_run: tuple[Path, DemoReport]) -> None:
    _, report = demo_run
    per_person = [h.events / h.persons for h in report.hospitals]
    assert max(per_person) > 1.5 * min(per_person)


def test_every_node_passes_the_quality_checks(demo_run: tuple[Path, DemoReport]) -> None:
    _, report = demo_run
    failing = {
        h.slug: (h.checks_failed, h.checks_errors) for h in report.hospitals if not h.checks_ok
    }
    assert failing == {}
    assert report.ok
    assert all(h.checks_passed > 1000 for h in report.hospitals)


@pytest.mark.slow
def test_cli_prints_json_and_writes_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "d"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MAIN,
            "demo",
            "--data-only",
            "--out",
            str(out),
            "--persons",
            "120",
            "--hospitals",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads((out / "demo-summary.json").read_text())
    assert [h["persons"] for h in printed["hospitals"]] == [120, 120]
    assert printed["ok"] is True


@pytest.mark.parametrize("args", [["--persons", "0"], ["--hospitals", "0"]])
def test_bad_arguments_are_one_line_errors(tmp_path: Path, args: list[str]) -> None:
    out = tmp_path / "d"
    done = subprocess.run(
        [sys.executable, "-c", MAIN, "demo", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: --")
    assert not (out / "demo-summary.json").exists()


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_nodes_hold_the_same_figures_as_duckdb_nodes(tmp_path: Path, pg_url: str) -> None:
    base = pg_url.split("?", 1)[0]
    on_duckdb = run_demo(tmp_path / "duck", hospitals=1, persons=120, seed=5)
    on_postgres = run_demo(tmp_path / "pg", hospitals=1, persons=120, seed=5, postgres_url=base)
    try:
        (d,) = on_duckdb.hospitals
        (p,) = on_postgres.hospitals
        assert "schema=demo_" in p.store and "medhaven-test" not in p.store
        assert (p.persons, p.visits, p.events, p.loaded_rows) == (
            d.persons,
            d.visits,
            d.events,
            d.loaded_rows,
        )
        assert p.outcomes == pytest.approx(d.outcomes, abs=1e-4)
        assert (p.checks_failed, p.checks_errors) == (d.checks_failed, d.checks_errors)
    finally:
        import psycopg

        with psycopg.connect(base, autocommit=True) as con:
            con.execute(
                f'DROP SCHEMA IF EXISTS "demo_{on_duckdb.hospitals[0].slug.replace("-", "_")}" CASCADE'
            )
