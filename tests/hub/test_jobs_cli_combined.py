"""`medhaven jobs result` on a characterize job (the combined view) and `medhaven jobs cancel`,
against a real hub on loopback (in-process dispatch to the generated hospitals' node code)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from hub.conftest import World
from hub.test_jobs import NODES, Hospitals, _granted, hospitals
from hub.test_jobs_cli import _run, served
from medhaven.errors import CATALOGUE

__all__ = ["hospitals", "served"]


def _table(section: dict[str, Any]) -> dict[str, Any]:
    return {str(e["label"]): e["value"] for e in section["table"]["entries"]}


def test_characterize_result_is_combined_and_rendered(
    served: tuple[str, TestClient], world: World, hospitals: Hospitals
) -> None:
    hub, api = served
    g = _granted(api, world)
    ds = ",".join(str(i) for i in g["datasets"])
    code, out = _run(world, hub, "submit", "--project", str(g["project"]), "--kind",
                     "characterize", "--datasets", ds, "--params",
                     '{"scope": "dataset", "top": 5}', "--wait", "120", "--json")  # fmt: skip
    assert code == 0, out
    job = json.loads(out)
    assert job["status"] == "completed", job
    code, out = _run(world, hub, "result", str(job["id"]), "--json")
    assert code == 0, out
    res = json.loads(out)["result"]
    assert sorted(res["nodes"]) == sorted(NODES)  # each node's released result is kept
    combined = res["combined"]
    assert combined["kind"] == "characterize" and combined["scope"] == "dataset_characterization"
    sex = next(s for s in combined["sections"] if s["name"] == "persons_by_sex")
    per_node = [_table(next(s for s in res["nodes"][n]["sections"]
                            if s["name"] == "persons_by_sex")) for n in NODES]  # fmt: skip
    for e in sex["entries"]:
        shown = [t.get(str(e["label"])) for t in per_node]
        if None in shown:
            assert e["lower_bound"] is True
        else:
            assert e["value"] == sum(shown) and e["lower_bound"] is False
    persons = next(s for s in combined["sections"] if s["name"] == "persons")
    assert persons["value"] == 600  # three hospitals of 200 generated persons, all shown
    code, out = _run(world, hub, "result", str(job["id"]))
    assert code == 0, out
    assert "dataset characterization, combined across nodes" in out
    assert "Persons: 600" in out
    assert "Persons by sex" in out and "female" in out
    female = next(e for e in sex["entries"] if e["label"] == "female")
    assert female["display"] in out


def test_cancel_through_the_cli(served: tuple[str, TestClient], world: World) -> None:
    hub, api = served
    g = _granted(api, world, ["north"])
    code, out = _run(world, hub, "submit", "--project", str(g["project"]), "--kind",
                     "cohort_count", "--datasets", str(g["datasets"][0]), "--params",
                     '{"definition": "essential_hypertension"}', "--wait", "60", "--json")  # fmt: skip
    assert code == 0, out
    job = json.loads(out)
    assert job["status"] == "completed"
    code, out = _run(world, hub, "cancel", str(job["id"]))
    assert code == CATALOGUE["conflict"].exit_code
    assert out == f"error: job {job['id']} is completed: only a queued or running job can be " \
        "cancelled\n"  # fmt: skip
    code, out = _run(world, hub, "cancel", "424242")
    assert code == CATALOGUE["not_found"].exit_code and "job 424242 not found" in out


def test_cancel_a_queued_job_through_the_cli(served: tuple[str, TestClient], world: World) -> None:
    hub, api = served
    g = _granted(api, world, ["north"])
    runner = api.app.state.hub.jobs  # type: ignore[attr-defined]
    dispatcher, runner.dispatcher = runner.dispatcher, None  # this hub now has no SuperLink
    try:
        code, out = _run(world, hub, "submit", "--project", str(g["project"]), "--kind",
                         "cohort_count", "--datasets", str(g["datasets"][0]), "--params",
                         '{"definition": "essential_hypertension"}', "--json")  # fmt: skip
        assert code == 0, out
        job = json.loads(out)
        assert job["status"] == "queued"
        code, out = _run(world, hub, "cancel", str(job["id"]))
        assert code == 0, out
        assert out.splitlines()[0] == f"job {job['id']} (cohort_count): cancelled"
        assert "north: not_sent" in out
    finally:
        runner.dispatcher = dispatcher
