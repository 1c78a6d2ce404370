"""``medhaven deid risk`` and ``deid keygen`` end to end: files in, JSON out, exit codes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pycanon.anonymity import k_anonymity, l_diversity

from medhaven.deid.keys import SiteKey
from medhaven.deid.risk_input import read_table
from medhaven.errors import InvalidInput

FRAME = pd.DataFrame(
    {
        "age": [30, 30, 30, 30, 30, 41, 41, 41, 41, 41] * 4,
        "sex": ["F"] * 20 + ["M"] * 20,
        "zip": ["01234"] * 40,
        "dx": ["flu", "hiv", "copd", "flu", "flu"] * 8,
        "name": ["Alice Example"] * 40,
    }
)


def _medhaven(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from medhaven.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
    )


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "cohort.csv"
    FRAME.to_csv(path, index=False)
    return path


def test_risk_json_agrees_with_pycanon_and_gate_passes(csv_file: Path, tmp_path: Path) -> None:
    parquet = tmp_path / "cohort.parquet"
    FRAME.to_parquet(parquet)
    for path in (csv_file, parquet):
        proc = _medhaven(
            "deid", "risk", "--input", str(path), "--quasi", "age,sex,zip", "--sensitive", "dx",
            "--json", "--max-risk", "0.2",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["report"]["k"] == k_anonymity(FRAME, ["age", "sex", "zip"]) == 10
        assert out["report"]["l_diversity"] == l_diversity(FRAME, ["age", "sex", "zip"], ["dx"])
        assert out["report"]["population"] == "sample assumed to be the population"
        assert out["release"]["released"] is True


def test_gate_refusal_exits_non_zero_with_verdict_in_json(csv_file: Path) -> None:
    proc = _medhaven("deid", "risk", "--input", str(csv_file), "--quasi", "age,sex", "--k", "11",
                     "--sensitive", "dx", "--json")  # fmt: skip
    assert proc.returncode == 7
    verdict = json.loads(proc.stdout)["release"]
    assert verdict["released"] is False and verdict["k"] == 10
    assert proc.stderr.strip().splitlines()[-1].startswith("error: release refused")


def test_population_file_is_used(csv_file: Path, tmp_path: Path) -> None:
    pop = tmp_path / "pop.csv"
    pd.concat([FRAME] * 3).to_csv(pop, index=False)
    proc = _medhaven("deid", "risk", "--input", str(csv_file), "--quasi", "age,sex",
                     "--population", str(pop), "--json", "--max-risk", "0.5")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)["report"]
    assert report["population"] == "given"
    assert report["journalist"]["highest"] == pytest.approx(1 / 30)
    assert report["prosecutor"]["highest"] == pytest.approx(1 / 10)


@pytest.mark.parametrize(
    ("content", "quasi", "expected"),
    [
        (b"", "age", "the file is empty"),
        (b"age,sex\n", "age", "has no data rows"),
        (b"age,sex\n30,F\n", "age,postcode", "no column 'postcode'"),
        (b"age,sex\n30,F\n31,\xc0\xafM\n", "age,sex", "line 3 is not valid UTF-8"),
    ],
)
def test_bad_input_is_one_line_naming_the_file(
    tmp_path: Path, content: bytes, quasi: str, expected: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    proc = _medhaven("deid", "risk", "--input", str(path), "--quasi", quasi)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "in.csv" in lines[0]


def test_malformed_csv_error_does_not_quote_cells(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("age,sex\n30,F\n31,M,Alice Secret\n")
    with pytest.raises(InvalidInput) as info:
        read_table(path, ["age", "sex"])
    assert "Alice" not in str(info.value) and info.value.detail is None


def test_csv_keeps_written_values(csv_file: Path) -> None:
    frame = read_table(csv_file, ["zip", "age"])
    assert list(frame.columns) == ["zip", "age"]
    assert frame["zip"].iloc[0] == "01234"  # leading zero kept: read as text


def test_keygen_writes_0600_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "site.key"
    proc = _medhaven("deid", "keygen", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    key = SiteKey.load(out)
    assert info["fingerprint"] == key.fingerprint
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_bytes()
    assert raw.hex() not in proc.stdout + proc.stderr
    again = _medhaven("deid", "keygen", "--out", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert out.read_bytes() == raw
    forced = _medhaven("deid", "keygen", "--out", str(out), "--force")
    assert forced.returncode == 0 and out.read_bytes() != raw


def test_help_explains_commands() -> None:
    proc = _medhaven("deid", "risk", "--help")
    assert proc.returncode == 0 and "--population" in proc.stdout and "--quasi" in proc.stdout
