"""``medhaven cohort run`` and ``cohort list`` end to end: files in, JSON out, exit codes."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from test_cohort_support import TinyCdm, correlated, cset, definition, group, item, window

from medhaven.analytics.cohorts import library_names
from medhaven.cdm import open_store


class Proc:
    """What one in-process CLI invocation returned."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _medhaven(capsys: pytest.CaptureFixture[str], *args: str) -> Proc:
    """Run the real entry point (with its error handling) in this process."""
    from medhaven.cli.main import main

    old = sys.argv
    sys.argv = ["medhaven", "cohort", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return Proc(code, out.out, out.err)


def _cdm(target: str) -> None:
    """30 persons with the condition; 2 of them have no drug in the 30 days before."""
    store = open_store(target)
    try:
        cdm = TinyCdm(store)
        cdm.concept(10)
        cdm.concept(20)
        for pid in range(1, 31):
            cdm.person(pid)
            cdm.condition(pid, 10, 100)
            if pid > 2:
                cdm.drug(pid, 20, 90)
    finally:
        store.close()


def _definition(tmp_path: Path) -> Path:
    rule = correlated("DrugExposure", {"CodesetId": 1}, window(30, -1, 0, 1), 2, 1)
    expr = definition(
        [{"ConditionOccurrence": {"CodesetId": 0}}],
        sets=[cset(0, item(10)), cset(1, item(20))],
        rules=[group(crit=[rule])],
    )
    path = tmp_path / "def.json"
    path.write_text(json.dumps(expr))
    return path


def _stage(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(row for row in doc["attrition"] if row["stage"] == name)


def test_run_releases_counts_with_small_exclusions_hidden(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cdm(store_url)
    proc = _medhaven(
        capsys, "run", "--db", store_url, "--definition", str(_definition(tmp_path)), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["raw_counts"] is False
    assert doc["min_cell_count"] == 5
    # Two persons excluded by the rule: never shown, nor derivable from neighbouring stages.
    assert _stage(doc, "rule 0")["persons_excluded"]["value"] is None
    shown = [row["persons"]["value"] for row in doc["attrition"]]
    for a, b in itertools.pairwise(shown):
        if a is not None and b is not None:
            assert a - b == 0 or a - b >= 5
    # The cohort itself (28 persons) is in the cohort table.
    store = open_store(store_url)
    try:
        assert store.scalar("SELECT COUNT(*) FROM cohort WHERE cohort_definition_id = 1") == 28
    finally:
        store.close()


def test_raw_counts_say_so(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _cdm(store_url)
    defn = str(_definition(tmp_path))
    proc = _medhaven(
        capsys, "run", "--db", store_url, "--definition", defn, "--json", "--raw-counts"
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["raw_counts"] is True
    assert "custodian" in doc["note"]
    assert _stage(doc, "rule 0")["persons_excluded"]["value"] == 2
    table = _medhaven(capsys, "run", "--db", store_url, "--definition", defn, "--raw-counts")
    assert "RAW COUNTS" in table.stderr


def test_list_shows_the_library(capsys: pytest.CaptureFixture[str]) -> None:
    proc = _medhaven(capsys, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    names = [d["name"] for d in json.loads(proc.stdout)]
    assert names == library_names()
    assert len(names) >= 5


def test_bad_definitions_exit_non_zero_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "cdm.duckdb")
    _cdm(db)
    bad = tmp_path / "bad.json"
    bad.write_text('{"PrimaryCriteria": {"CriteriaList": [{"DeviceExposure": {}}]}}')
    proc = _medhaven(capsys, "run", "--db", db, "--definition", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "PrimaryCriteria.CriteriaList[0].DeviceExposure is not supported" in proc.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    proc = _medhaven(capsys, "run", "--db", db, "--definition", str(broken))
    assert proc.returncode == 2
    assert "not valid JSON" in proc.stderr
    proc = _medhaven(capsys, "run", "--db", db, "--definition", str(tmp_path / "missing.json"))
    assert proc.returncode == 5
    proc = _medhaven(capsys, "run", "--db", db, "--definition", "no_such_library_cohort")
    assert proc.returncode == 5
    assert "cohort list" in proc.stderr


def test_sql_prints_the_compiled_steps_without_a_store(capsys: pytest.CaptureFixture[str]) -> None:
    proc = _medhaven(capsys, "sql", "--definition", "chronic_kidney_disease")
    assert proc.returncode == 0, proc.stderr
    assert "CREATE TEMP TABLE cohort_codesets AS" in proc.stdout
    assert "JOIN concept_ancestor ca" in proc.stdout
    assert "cohort_final_cohort" in proc.stdout
