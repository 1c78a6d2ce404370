"""Combining characterize and incidence results across nodes: never un-suppress a cell.

Node results are built with the real disclosure control (``suppress_counts``)
or taken from real nodes (``handle_job``); expected values are computed here
from the true counts, never by the combining code.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medhaven.analytics import DisclosurePolicy, one_way, suppress_counts
from medhaven.federation.combine import combine, combine_characterize, combine_incidence
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.synth.writer import CDM_FILE, write_hospitals

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LABELS = ("a", "b", "c", "d")
count = st.one_of(st.integers(0, 6), st.integers(5, 80))


def _ok(node: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"node": node, "job_id": "j", "status": "ok", "reason": None, "result": result}


def _table_section(true: list[int], min_cell: int) -> dict[str, Any]:
    policy = DisclosurePolicy(min_cell_count=min_cell)
    released = suppress_counts(one_way(dict(zip(LABELS, true, strict=True))), policy)
    return {"name": "by_group", "title": "Persons by group", "type": "table",
            "row_title": "group", "col_title": None, "table": released.to_json()}  # fmt: skip


def _characterization(persons: int | None, table: dict[str, Any], rows: list[dict[str, Any]]
                      ) -> dict[str, Any]:  # fmt: skip
    return {"kind": "cohort_characterization", "raw": False, "min_cell_count": 5,
            "rounding_base": None, "cohort": "c1",
            "sections": [
                {"name": "persons", "title": "Persons", "type": "count", "value": persons,
                 "display": str(persons) if persons is not None else "suppressed",
                 "suppressed": persons is None},
                table,
                {"name": "prior_condition", "title": "Conditions", "type": "concepts",
                 "top": 20, "rows": rows}]}  # fmt: skip


def _entries(section: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(e["label"]): e for e in section["entries"]}


@SETTINGS
@given(st.lists(st.tuples(st.lists(count, min_size=4, max_size=4), st.sampled_from([3, 5, 11])),
                min_size=1, max_size=4))  # fmt: skip
def test_no_combined_cell_reveals_a_hidden_value_and_complete_cells_are_sums(
    nodes: list[tuple[list[int], int]],
) -> None:
    sections = [_table_section(true, min_cell) for true, min_cell in nodes]
    replies = [_ok(f"n{i}", _characterization(sum(t), s, []))
               for i, ((t, _m), s) in enumerate(zip(nodes, sections, strict=True))]  # fmt: skip
    out = combine_characterize(replies)
    combined = _entries(next(s for s in out["sections"] if s["name"] == "by_group"))
    for label in (*LABELS, "total"):
        shown = [_entries_raw(s)[label] for s in sections]
        cell = combined[label]
        if any(v is None for v in shown):
            # hidden somewhere: only a lower bound, exactly the sum of what was published,
            # so subtracting the published figures leaves 0, never the hidden value
            assert cell["lower_bound"] is True
            assert cell["display"] == f">= {cell['value']}"
            assert cell["value"] == sum(v for v in shown if v is not None)
        else:
            idx = LABELS.index(label) if label != "total" else None
            true = sum(t[idx] if idx is not None else sum(t) for t, _m in nodes)
            assert cell == {"label": label, "margin": label == "total", "value": true,
                            "display": str(true), "lower_bound": False}  # fmt: skip
    hidden_any = any(e["value"] is None for s in sections for e in s["table"]["entries"])
    assert out["complete"] is (not hidden_any)


@SETTINGS
@given(st.lists(st.tuples(count, count, st.booleans()), min_size=1, max_size=4))
def test_incidence_rates_only_from_complete_figures(rows: list[tuple[int, int, bool]]) -> None:
    replies = []
    true_p = true_o = 0
    true_y = 0.0
    hidden = False
    for i, (persons, outcomes, hide) in enumerate(rows):
        outcomes = min(outcomes, persons)
        years = round(persons * 1.5, 2)
        true_p, true_o, true_y = true_p + persons, true_o + outcomes, true_y + years
        hidden = hidden or hide
        row = {"label": "total", "total": False, "persons": persons,
               "outcomes": None if hide else outcomes, "person_years": years,
               "proportion_pct": None, "rate_per_1000py": None}  # fmt: skip
        replies.append(_ok(f"n{i}", {"kind": "incidence", "target": "t", "outcome": "o",
                                     "rounding_base": None,
                                     "strata": [{"name": "overall", "rows": [row]}]}))  # fmt: skip
    out = combine_incidence(replies)
    (row,) = out["strata"][0]["rows"]
    assert row["persons"]["value"] == true_p and not row["persons"]["lower_bound"]
    assert abs(row["person_years"]["value"] - round(true_y, 2)) < 1e-6
    if hidden:
        assert row["outcomes"]["lower_bound"] is True
        assert row["outcomes"]["value"] == sum(
            min(o, p) for p, o, h in rows if not h
        )  # only what was shown
        assert row["proportion_pct"] is None and row["rate_per_1000py"] is None
        assert row["partial"] is True and out["complete"] is False
    else:
        assert row["outcomes"]["value"] == true_o
        assert row["proportion_pct"] == (round(100.0 * true_o / true_p, 3) if true_p else None)
        assert row["partial"] is False and out["complete"] is True


def test_concept_unlisted_at_a_node_is_a_lower_bound_without_percent() -> None:
    table = _table_section([10, 10, 10, 10], 5)
    a = _characterization(40, table, [
        {"concept_id": 1, "concept_name": "X", "persons": 20, "records": 30, "percent": 50.0},
        {"concept_id": 2, "concept_name": "Y", "persons": 8, "records": 8, "percent": 20.0}])  # fmt: skip
    b = _characterization(40, table, [
        {"concept_id": 1, "concept_name": "X", "persons": 10, "records": None, "percent": 25.0}])  # fmt: skip
    out = combine_characterize([_ok("a", a), _ok("b", b)])
    concepts = {r["concept_id"]: r for r in
                next(s for s in out["sections"] if s["type"] == "concepts")["rows"]}  # fmt: skip
    x, y = concepts[1], concepts[2]
    assert x["persons"] == {"value": 30, "display": "30", "lower_bound": False}
    assert x["percent"] == 37.5  # 30 of 80, both complete
    assert x["records"] == {"value": 30, "display": ">= 30", "lower_bound": True}  # hidden at b
    assert y["persons"] == {"value": 8, "display": ">= 8", "lower_bound": True}
    assert y["percent"] is None and y["partial"] is True
    assert out["complete"] is False
    persons = next(s for s in out["sections"] if s["name"] == "persons")
    assert persons["value"] == 80 and persons["lower_bound"] is False


def test_a_node_without_a_result_makes_every_cell_a_lower_bound() -> None:
    table = _table_section([10, 10, 10, 10], 5)
    refused = {"node": "b", "job_id": "j", "status": "refused", "reason": "the grant has been "
               "revoked", "result": None}  # fmt: skip
    out = combine("characterize", [_ok("a", _characterization(40, table, [])), refused])
    assert out is not None
    assert all(e["lower_bound"] for e in _entries(out["sections"][1]).values())
    assert out["sections"][0]["display"] == ">= 40"
    assert out["nodes"][1] == {"node": "b", "status": "refused",
                               "reason": "the grant has been revoked"}  # fmt: skip
    assert combine("characterize", [])["complete"] is False  # type: ignore[index]


def _nodes(tmp_path: Path, min_cells: list[int]) -> tuple[str, list[NodeConfig], str]:
    write_hospitals(tmp_path / "h", hospitals=len(min_cells), persons=150, seed=11)
    dbs = sorted((tmp_path / "h").glob(f"*/{CDM_FILE}"))
    private, public = generate_hub_keypair(tmp_path / "keys")
    names = [f"n{i}" for i in range(len(min_cells))]
    configs = []
    for name, db, m in zip(names, dbs, min_cells, strict=True):
        shutil.copy(public, tmp_path / f"{name}.pem")
        toml = tmp_path / f"{name}.toml"
        toml.write_text(f'name = "{name}"\ncdm = "{db}"\n'
                        'accepted_kinds = ["characterize", "incidence"]\n'
                        f'hub_public_key = "{name}.pem"\nmin_cell_count = {m}\n')  # fmt: skip
        configs.append(NodeConfig.load(toml))
    return str(private), configs, ",".join(names)


def _job(private: str, names: str, kind: str, params: dict[str, Any], job_id: str) -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=job_id, project="p", grant_id="g", kind=kind,  # type: ignore[arg-type]
                   parameters=params, targets=names.split(","),
                   expires_at=now + dt.timedelta(minutes=10), issued_at=now)  # fmt: skip
    return sign_job(spec, load_private_key(Path(private)), "k").to_json()


def test_real_nodes_characterization_and_incidence_combine(tmp_path: Path) -> None:
    private, configs, names = _nodes(tmp_path, [5, 40])
    wire = _job(private, names, "characterize", {"cohort": "essential_hypertension", "top": 5},
                "c-1")  # fmt: skip
    replies = [handle_job(wire, c) for c in configs]
    assert [r["status"] for r in replies] == ["ok", "ok"]
    out = combine_characterize(replies)
    assert out["scope"] == "cohort_characterization"
    by_name = {s["name"]: s for s in out["sections"]}
    node_sections = [{s["name"]: s for s in r["result"]["sections"]} for r in replies]
    sex = _entries(by_name["persons_by_sex"])
    for label, cell in sex.items():
        shown = [_entries_raw(ns["persons_by_sex"])[label] for ns in node_sections]
        if None in shown:
            assert cell["lower_bound"] and cell["value"] == sum(v for v in shown if v is not None)
        else:
            assert cell["value"] == sum(shown) and not cell["lower_bound"]
    # the strict node (min 40) hides more: at least one cell somewhere is only a bound
    assert out["complete"] is False
    assert json.loads(json.dumps(out)) == out

    wire = _job(private, names, "incidence",
                {"target": "essential_hypertension", "outcome": "chronic_kidney_disease"}, "i-1")  # fmt: skip
    replies = [handle_job(wire, c) for c in configs]
    assert [r["status"] for r in replies] == ["ok", "ok"], replies
    inc = combine_incidence(replies)
    overall = inc["strata"][0]["rows"][0]
    node_rows = [r["result"]["strata"][0]["rows"][0] for r in replies]
    if all(r["persons"] is not None for r in node_rows):
        assert overall["persons"]["value"] == sum(r["persons"] for r in node_rows)
    assert {s["name"] for s in inc["strata"]} == {s["name"] for s in replies[0]["result"]["strata"]}


def _entries_raw(section: dict[str, Any]) -> dict[str, int | None]:
    return {str(e["label"]): e["value"] for e in section["table"]["entries"]}
