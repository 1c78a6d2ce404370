"""``medhaven synth`` end to end: layout, manifest, CDM contents, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from medhaven.cdm import schema
from medhaven.cli.main import app

MAIN = "from medhaven.cli.main import main; main()"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_synth_writes_manifest_and_one_cdm_per_hospital(tmp_path: Path) -> None:
    out = tmp_path / "hospitals"
    result = CliRunner().invoke(
        app,
        [
            "synth",
            "--hospitals",
            "2",
            "--persons",
            "150",
            "--seed",
            "4",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    manifest = json.loads((out / "hospitals.json").read_text())
    assert printed == manifest
    assert manifest["seed"] == 4 and manifest["persons"] == 150
    assert [h["slug"] for h in manifest["hospitals"]] == ["hanbit-university", "saemmul-general"]
    for h in manifest["hospitals"]:
        assert h["name_ko"] and h["name_en"] and h["profile"]
        db = out / h["cdm"]
        assert db == out / h["slug"] / "cdm.duckdb" and db.is_file()
        con = duckdb.connect(str(db), read_only=True)
        try:
            names = {
                r[0]
                for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
            }
            assert set(schema.tables()) <= names
            assert con.execute("SELECT COUNT(*) FROM person").fetchone() == (150,)
            assert h["rows"]["person"] == 150
            src = con.execute("SELECT cdm_source_name, cdm_version FROM cdm_source").fetchall()
            assert src == [(f"{h['name_en']} (synthetic)", "v5.4")]
            assert con.execute(
                "SELECT COUNT(*) FROM concept WHERE concept_id = 9201"
            ).fetchone() == (1,)
        finally:
            con.close()
    # nothing half-written is left beside the hospitals
    assert sorted(p.name for p in out.iterdir()) == [
        "hanbit-university",
        "hospitals.json",
        "saemmul-general",
    ]


def test_rerun_with_same_seed_gives_identical_data(tmp_path: Path) -> None:
    def dump(out: Path) -> list[tuple[object, ...]]:
        con = duckdb.connect(str(out / "hanbit-university" / "cdm.duckdb"), read_only=True)
        try:
            return (
                con.execute("SELECT * FROM measurement ORDER BY measurement_id").fetchall()
                + con.execute("SELECT * FROM visit_occurrence ORDER BY 1").fetchall()
            )
        finally:
            con.close()

    runner = CliRunner()
    for d in ("a", "b"):
        r = runner.invoke(
            app,
            [
                "synth",
                "--hospitals",
                "1",
                "--persons",
                "100",
                "--seed",
                "9",
                "--out",
                str(tmp_path / d),
            ],
        )
        assert r.exit_code == 0, r.output
    assert dump(tmp_path / "a") == dump(tmp_path / "b")


def test_bad_arguments_give_one_line_errors(tmp_path: Path) -> None:
    r = _run("synth", "--hospitals", "0", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["error: --hospitals: must be at least 1"]
    r = _run("synth", "--persons", "-5", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --persons: must be at least 1"
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = _run("synth", "--persons", "10", "--out", str(blocker))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "is not a directory" in r.stderr
    assert not (tmp_path / "x").exists()


def test_help_describes_the_layout() -> None:
    result = CliRunner().invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    assert "hospitals.json" in result.output and "--raw" in result.output


def test_raw_flag_writes_raw_extract_beside_the_cdm(tmp_path: Path) -> None:
    out = tmp_path / "h"
    r = CliRunner().invoke(
        app, ["synth", "--hospitals", "1", "--persons", "40", "--out", str(out), "--raw"]
    )
    assert r.exit_code == 0, r.output
    manifest = json.loads((out / "hospitals.json").read_text())
    raw = out / manifest["hospitals"][0]["raw"]
    assert (raw / "patients.csv").is_file()
    with (raw / "patients.csv").open() as f:
        assert sum(1 for _ in f) == 41  # header + one row per person
