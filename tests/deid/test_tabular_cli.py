"""``medhaven deid tabular`` on the command line: bad input, nothing half-written, both CDM stores."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from medhaven.cdm import open_store
from medhaven.cdm.checks import run_checks
from medhaven.cli.main import main
from medhaven.deid.keys import SiteKey
from medhaven.deid.tabular import deidentify_extract, synthea_profile

PATIENTS = "Id,BIRTHDATE,DEATHDATE,SSN,FIRST,LAST,GENDER,RACE,ETHNICITY,STATE,ZIP"
ENCOUNTERS = "Id,START,STOP,PATIENT,ENCOUNTERCLASS,CODE,DESCRIPTION"


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Done]:
    """Run ``medhaven ARGS`` in this process through the console entry point (exit code, output)."""

    def run(*args: str) -> Done:
        monkeypatch.setattr(sys, "argv", ["medhaven", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Done(code, out.out, out.err)

    return run


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return SiteKey.generate().write(tmp_path / "site.key")


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    src = tmp_path / "raw"
    src.mkdir()
    (src / "patients.csv").write_text(
        f"{PATIENTS}\n"
        "p-1,1950-02-03,,999-12-3456,Mina,Kang,F,asian,nonhispanic,Seoul,03080\n"
        "p-2,1977-08-09,,999-65-4321,Joon,Park,M,asian,nonhispanic,Busan,48100\n",
        encoding="utf-8",
    )
    (src / "encounters.csv").write_text(
        f"{ENCOUNTERS}\n"
        "e-1,2021-01-01T09:00:00Z,2021-01-01T09:30:00Z,p-1,ambulatory,1,Visit\n"
        "e-2,2021-06-01T09:00:00Z,2021-06-03T10:00:00Z,p-2,inpatient,2,Stay\n",
        encoding="utf-8",
    )
    return src


def _args(src: Path, tmp: Path, key: Path, *extra: str) -> list[str]:
    return [
        "deid", "tabular", "--input", str(src), "--output", str(tmp / "out"),
        "--key-file", str(key), "--report", str(tmp / "r.json"), *extra,
    ]  # fmt: skip


def _nothing_written(tmp: Path) -> None:
    assert not (tmp / "out").exists()
    assert not (tmp / "r.json").exists()
    assert not (tmp / "cdm.duckdb").exists()
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".")] == []


def test_cli_writes_files_report_and_cdm(
    cli: Callable[..., Done], extract: Path, tmp_path: Path, key_file: Path
) -> None:
    cdm = tmp_path / "cdm.duckdb"
    done = cli(
        *_args(
            extract, tmp_path, key_file, "--profile", "kr-pseudonym", "--cdm", str(cdm), "--json"
        )
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["profile"] == "kr-pseudonym" and report["rows_in"] == 4
    assert json.loads((tmp_path / "r.json").read_text("utf-8"))["rows_out"] == 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "encounters.csv",
        "patients.csv",
    ]
    with open_store(cdm, read_only=True) as store:
        assert store.count("person") == 2 and store.count("visit_occurrence") == 2


def test_non_utf8_file_names_file_and_row(
    cli: Callable[..., Done], extract: Path, tmp_path: Path, key_file: Path
) -> None:
    with (extract / "encounters.csv").open("ab") as fh:
        fh.write(b"e-3,2021-07-01,2021-07-01,p-1,ambulatory,3,Caf\xe9\n")
    done = cli(*_args(extract, tmp_path, key_file, "--cdm", str(tmp_path / "cdm.duckdb")))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: encounters.csv: not valid UTF-8 (data row 3)"
    _nothing_written(tmp_path)


def test_bad_date_names_row_and_column_never_the_value(
    cli: Callable[..., Done], extract: Path, tmp_path: Path, key_file: Path
) -> None:
    with (extract / "patients.csv").open("a", encoding="utf-8") as fh:
        fh.write("p-3,03/04/1961,,999-00-1111,Ha,Lee,F,asian,nonhispanic,Seoul,03080\n")
    done = cli(*_args(extract, tmp_path, key_file, "--cdm", str(tmp_path / "cdm.duckdb")))
    assert done.returncode == 2
    line = done.stderr.strip()
    assert line.startswith("error: patients.csv: data row 3: column BIRTHDATE is not a date")
    assert "03/04/1961" not in line and "\n" not in line
    _nothing_written(tmp_path)


def test_missing_patient_column_is_refused(
    cli: Callable[..., Done], extract: Path, tmp_path: Path, key_file: Path
) -> None:
    (extract / "encounters.csv").write_text(
        "Id,START,STOP\ne-1,2021-01-01,2021-01-02\n", encoding="utf-8"
    )
    done = cli(*_args(extract, tmp_path, key_file, "--profile", "kr-pseudonym"))
    assert done.returncode == 2
    assert "encounters.csv: no column PATIENT" in done.stderr
    _nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "hl7"], "error: unknown --format 'hl7' (use synthea or csv)"),
        (["--format", "csv"], "error: --format csv needs --mapping M.yaml"),
        (["--profile", "gdpr"], "error: --profile must be safe-harbor or kr-pseudonym"),
        (["--sensitive", "maybe"], "error: --sensitive must be off, flag or withhold"),
    ],
)
def test_bad_options_exit_nonzero_with_one_line(
    cli: Callable[..., Done],
    extract: Path,
    tmp_path: Path,
    key_file: Path,
    extra: list[str],
    message: str,
) -> None:
    done = cli(*_args(extract, tmp_path, key_file, *extra))
    assert done.returncode == 2
    assert done.stderr.strip() == message
    _nothing_written(tmp_path)


def test_wrong_length_key_is_refused(
    cli: Callable[..., Done], extract: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "short.key"
    bad.write_bytes(b"x" * 16)
    done = cli(*_args(extract, tmp_path, bad))
    assert done.returncode == 2
    assert "holds 16 bytes, expected 32" in done.stderr
    _nothing_written(tmp_path)


def test_key_inside_the_extract_is_refused(
    cli: Callable[..., Done], extract: Path, tmp_path: Path
) -> None:
    key = SiteKey.generate().write(extract / "site.key")
    done = cli(*_args(extract, tmp_path, key))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: --key-file must be kept apart from the extract, not inside --input"
    )
    _nothing_written(tmp_path)


def test_existing_output_or_cdm_is_not_overwritten(
    cli: Callable[..., Done], extract: Path, tmp_path: Path, key_file: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine", encoding="utf-8")
    done = cli(*_args(extract, tmp_path, key_file))
    assert done.returncode == 2 and "exists and is not an empty folder" in done.stderr
    assert (tmp_path / "out" / "keep.txt").read_text("utf-8") == "mine"
    cdm = tmp_path / "old.duckdb"
    cdm.write_bytes(b"old")
    other = tmp_path / "second"
    other.mkdir()
    done = cli(*_args(extract, other, key_file, "--cdm", str(cdm)))
    assert done.returncode == 2 and "already exists" in done.stderr
    assert cdm.read_bytes() == b"old"


def test_cdm_on_both_backends_passes_checks(extract: Path, tmp_path: Path, store_url: str) -> None:
    key = SiteKey(b"\x01" * 32)
    deidentify_extract(
        source=extract,
        output=tmp_path / "out",
        key=key,
        profile=synthea_profile("kr-pseudonym"),
        report_path=tmp_path / "r.json",
        cdm=store_url,
    )
    with open_store(store_url) as store:
        assert store.count("person") == 2
        stays = store.fetchall(
            "SELECT visit_end_date - visit_start_date FROM visit_occurrence "
            "ORDER BY visit_source_value"
        )
        assert [int(r[0]) for r in stays] == [0, 2]
        report = run_checks(store)
        assert [(r.check, r.table, r.field) for r in report.results if r.status != "pass"] == []


def _population(src: Path, births: list[str]) -> None:
    """Patients alike in every quasi-identifier but the birth date."""
    src.mkdir()
    lines = [PATIENTS] + [
        f"q-{i},{b},,999-00-{i:04d},N{i},S{i},F,white,nonhispanic,Ohio,44101"
        for i, b in enumerate(births)
    ]
    (src / "patients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_refused_release_gate_and_its_suggestion_are_printed(
    cli: Callable[..., Done], tmp_path: Path, key_file: Path
) -> None:
    # 40 patients, 4 per birth year 1980..1989: k = 4 < 5 as released (years); 5-year
    # bands of the birth year give 2 classes of 20 (k 20, average risk 2/40 = 0.05).
    src = tmp_path / "raw"
    _population(src, [f"{1980 + i // 4}-0{1 + i % 4}-15" for i in range(40)])
    done = cli(*_args(src, tmp_path, key_file, "--reference-date", "2025-01-01"))
    assert done.returncode == 0, done.stderr
    gate = [ln for ln in done.stderr.splitlines() if ln.startswith("release gate")]
    assert len(gate) == 1
    assert gate[0].startswith("release gate patients.csv: refused (k = 4 is below the minimum 5")
    assert "generalisation that reaches it: BIRTHDATE → bands of 5" in gate[0]
    whole = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert whole["release_gate"] == {
        "released": False,
        "refused": {"patients.csv": "BIRTHDATE → bands of 5"},
    }
    rep = whole["risk"]["patients.csv"]
    assert rep["release_gate"]["suggestion_reaches"] == {
        "k": 20,
        "average_risk": 0.05,
        "generalise": {"BIRTHDATE": "bands of 5"},
        "drop": [],
    }


def test_passing_release_gate_is_printed(
    cli: Callable[..., Done], tmp_path: Path, key_file: Path
) -> None:
    src = tmp_path / "raw"
    _population(src, [f"{1980 + i // 20}-01-15" for i in range(40)])  # 2 classes of 20
    done = cli(*_args(src, tmp_path, key_file, "--reference-date", "2025-01-01"))
    assert done.returncode == 0, done.stderr
    assert "release gate patients.csv: passes (k >= 5 and average risk <= 0.05)" in done.stderr
    whole = json.loads((tmp_path / "r.json").read_text("utf-8"))
    assert whole["release_gate"] == {"released": True, "refused": {}}


def test_hardened_cdm_on_both_backends(tmp_path: Path, store_url: str) -> None:
    """90+ pooling, sensitive flags and periods for persons without records, on both stores."""
    src = tmp_path / "raw"
    src.mkdir()
    (src / "patients.csv").write_text(
        f"{PATIENTS}\n"
        "p-1,1920-02-03,,999-12-3456,Mina,Kang,F,asian,nonhispanic,Seoul,03080\n"
        "p-2,1977-08-09,,999-65-4321,Joon,Park,M,asian,nonhispanic,Busan,48100\n"
        "p-3,1999-01-01,,999-65-1111,Ara,Cho,F,asian,nonhispanic,Busan,48100\n",
        encoding="utf-8",
    )
    (src / "encounters.csv").write_text(
        f"{ENCOUNTERS},REASONCODE\n"
        "e-1,2021-01-01T09:00:00Z,2021-01-01T09:30:00Z,p-1,ambulatory,1,Visit,\n"
        "e-2,2021-06-01T09:00:00Z,2021-06-03T10:00:00Z,p-2,inpatient,2,Stay,86406008\n",
        encoding="utf-8",
    )
    ref = dt.date(2025, 1, 1)
    deidentify_extract(
        source=src,
        output=tmp_path / "out",
        key=SiteKey(b"\x01" * 32),
        profile=synthea_profile("safe-harbor", sensitive_mode="flag", reference_date=ref),
        report_path=tmp_path / "r.json",
        cdm=store_url,
    )
    with open_store(store_url) as store:
        report = run_checks(store)
        assert [(r.check, r.table, r.field) for r in report.results if r.status != "pass"] == []
        periods = store.fetchall(
            "SELECT p.year_of_birth, o.observation_period_start_date, "
            "o.observation_period_end_date FROM person p JOIN observation_period o "
            "USING (person_id) ORDER BY p.year_of_birth"
        )
        flags = store.fetchall(
            "SELECT o.value_as_string, o.qualifier_source_value, v.visit_source_value "
            "FROM observation o JOIN visit_occurrence v "
            "ON v.visit_occurrence_id = o.observation_event_id "
            "WHERE o.observation_source_value = 'SENSITIVE_CATEGORY'"
        )
    jan1 = dt.date(2025, 1, 1)
    assert [tuple(r) for r in periods] == [
        (1935, jan1, jan1),  # 90+: every date in the reference year
        (1977, dt.date(2021, 1, 1), dt.date(2021, 1, 1)),
        (1999, dt.date(1999, 1, 1), jan1),  # no record: birth to the reference year
    ]
    assert [tuple(r) for r in flags] == [("hiv", "visit_occurrence", "inpatient")]
