"""Result pages of cohort count, characterization and incidence jobs (in-process, real SQLite).

The results are made by the real node code (``handle_job`` on generated hospital CDMs, each
under its own disclosure policy) and stored by the hub's ``record_result``; the tests check that
the figures the analytics released appear on the page as released, suppressed cells with their
marker and partial rows marked.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from medhaven.federation.jobs import JobSpec, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.hub.db import Database
from medhaven.hub.models import Job
from medhaven.hub.services import jobs
from medhaven.synth.writer import CDM_FILE, write_hospitals
from medhaven.web.results import poisson_ci
from web.conftest import Seed, sign_in

#: node name -> its minimum cell count (the second hides more, so partial rows appear)
NODES = {"north": 5, "south": 40}


@dataclass
class Sites:
    """Two generated hospitals and the key their nodes trust."""

    configs: dict[str, NodeConfig]
    private_key: Path


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    root = tmp_path_factory.mktemp("results-sites")
    write_hospitals(root / "h", hospitals=2, persons=200, seed=11)
    dbs = sorted((root / "h").glob(f"*/{CDM_FILE}"))
    jobs.hub_signing_key(root / "keys")  # the hub's key pair; nodes trust its public half
    public = jobs.hub_public_key_path(root / "keys")
    configs = {}
    for (name, floor), cdm in zip(NODES.items(), dbs, strict=True):
        toml = root / f"{name}.toml"
        toml.write_text(
            f'name = "{name}"\ncdm = "{cdm}"\nmin_cell_count = {floor}\n'
            'accepted_kinds = ["cohort_count", "characterize", "incidence"]\n'
            f'hub_public_key = "{public}"\n',
            encoding="utf-8",
        )
        configs[name] = NodeConfig.load(toml)
    return Sites(configs, root / "keys")


def run_job(db: Database, world: Seed, sites: Sites, kind: str, params: dict[str, Any]) -> int:
    """Sign ``kind`` with the hub key, run it at both nodes, store it as the hub does."""
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"r-{uuid.uuid4().hex[:10]}", project=str(world.project_id),
                   grant_id="1", kind=kind, parameters=params, targets=list(NODES),
                   expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
    key, key_id = jobs.hub_signing_key(sites.private_key)
    signed = sign_job(spec, key, key_id).to_json()
    dispatch = jobs.in_process_dispatcher(lambda s, n: handle_job(s, sites.configs[n]), list(NODES))
    doc = dispatch(signed, min_nodes=1)
    with db.unit() as s:
        job = Job(uid=spec.job_id, project_id=world.project_id, grant_ids=[], kind=kind,
                  parameters=params, dataset_ids=[world.dataset_id], targets=list(NODES),
                  min_nodes=1, status="running", node_status={}, result=None, signed_job="-",
                  expires_at=now + dt.timedelta(hours=1), submitted_by=world.users["researcher"],
                  created_at=now, updated_at=now)  # fmt: skip
        s.add(job)
        s.flush()
        job_id = int(job.id)
    jobs.record_result(db, job_id, doc)
    return job_id


def _stored(db: Database, job_id: int) -> dict[str, Any]:
    with db.unit(readonly=True) as s:
        job = s.get(Job, job_id)
        assert job is not None and job.result is not None, job and job.status
        return dict(job.result)


def _row(page: str, table_id: str, header: str) -> list[str]:
    """The cells of the row whose header cell is ``header`` in table ``table_id``."""
    table = page[page.index(f'id="{table_id}"') :]
    table = table[: table.index("</table>")]
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        head = re.search(r"<th[^>]*>(.*?)</th>", row, re.S)
        if head and re.sub(r"<.*?>", "", head.group(1)).strip() == header:
            cells = re.findall(r"<td>(.*?)</td>", row)
            return [html.unescape(re.sub(r"<.*?>", "", c)).strip() for c in cells]
    raise AssertionError(f"no row {header!r} in {table_id}")


def test_cohort_count_attrition_per_node_and_combined_as_released(
    client: TestClient, web_db: Database, world: Seed, sites: Sites
) -> None:
    job_id = run_job(web_db, world, sites, "cohort_count", {"definition": "essential_hypertension"})
    result = _stored(web_db, job_id)
    sign_in(client, "researcher")
    page = client.get(f"/jobs/{job_id}").text
    released = result["node_results"]
    assert sorted(released) == sorted(NODES)
    stages = [r["stage"] for r in released["north"]["attrition"]]
    assert len(stages) >= 2
    seen_marker = False
    for i, stage in enumerate(stages):
        cells = _row(page, "attrition", stage)
        shown = [released[n]["attrition"][i]["persons"] for n in sorted(NODES)]
        assert cells[: len(NODES)] == [c["display"] for c in shown]
        seen_marker |= any(c["value"] is None for c in shown)
        if any(c["value"] is None for c in shown):  # a hidden cell: the total is a lower bound
            assert cells[-1].startswith(">= ") and "partial" in cells[-1]
        else:
            assert cells[-1] == str(sum(c["value"] for c in shown))
    assert seen_marker, "the strict node (min cell count 40) should hide a stage"
    assert "suppressed" in page  # the marker as released, never a guessed number
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="bars"') == 1 + len(NODES)
    assert html.escape(result["persons"]["display"]) in page


def test_characterization_table_one_per_node_and_combined(
    client: TestClient, web_db: Database, world: Seed, sites: Sites
) -> None:
    job_id = run_job(web_db, world, sites, "characterize",
                     {"cohort": "essential_hypertension", "top": 5})  # fmt: skip
    result = _stored(web_db, job_id)
    sign_in(client, "researcher")
    page = client.get(f"/jobs/{job_id}").text
    combined = {s["name"]: s for s in result["combined"]["sections"]}
    sex = combined["persons_by_sex"]
    for e in sex["entries"]:
        if e["margin"]:
            continue
        section = page[page.index('id="section-persons_by_sex"') :]
        row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.S)
                   if f">{e['label']}<" in r)  # fmt: skip
        for node in sorted(NODES):
            node_sec = next(s for s in result["nodes"][node]["sections"]
                            if s["name"] == "persons_by_sex")  # fmt: skip
            node_e = next((x for x in node_sec["table"]["entries"]
                           if x["label"] == e["label"] and not x["margin"]), None)  # fmt: skip
            assert f"<td>{node_e['display'] if node_e else '0'}</td>" in row
        assert html.escape(e["display"]) in row
        assert ("partial" in row) == e["lower_bound"]
    concepts = next(s for s in result["combined"]["sections"] if s["type"] == "concepts")
    assert concepts["rows"], "the generated cohort has prior conditions"
    first = concepts["rows"][0]
    assert html.escape(str(first["concept_name"])) in page
    assert html.escape(first["persons"]["display"]) in page
    assert 'id="section-persons_by_age_group"' in page
    assert page.count('class="bars"') >= 3  # age, sex and at least one concept chart
    assert "<script" not in page.split('id="h-result"')[1]  # charts are SVG, no JS library


def test_incidence_rates_with_ci_by_strata_and_partial_rows(
    client: TestClient, web_db: Database, world: Seed, sites: Sites
) -> None:
    job_id = run_job(web_db, world, sites, "incidence",
                     {"target": "essential_hypertension", "outcome": "heart_failure_admission",
                      "tar_days": 3650})  # fmt: skip
    result = _stored(web_db, job_id)
    sign_in(client, "researcher")
    page = client.get(f"/jobs/{job_id}").text
    strata = {s["name"]: s for s in result["combined"]["strata"]}
    assert {"overall", "age_group", "sex"} <= set(strata)
    overall = strata["overall"]["rows"][0]
    section = page[page.index('id="stratum-overall"') :]
    section = section[: section.index("</table>")]
    assert html.escape(overall["persons"]["display"]) in section
    if overall["rate_per_1000py"] is not None:
        lo, hi = poisson_ci(overall["outcomes"]["value"], overall["person_years"]["value"])
        assert f"{overall['rate_per_1000py']:.2f}" in section
        assert f"{lo:.2f}–{hi:.2f}" in section
    partial = [r for s in strata.values() for r in s["rows"] if r["partial"]]
    assert partial, "the strict node hides some strata cells"
    assert page.count('<span class="badge s-partial">') >= len(partial)
    assert "withheld" in page
    assert 'id="stratum-sex"' in page and "Rate per 1,000 person-years by sex" in page


def test_poisson_ci_matches_a_known_interval() -> None:
    # 10 events in 1000 person-years: exact 95% interval 4.795-18.390 per 1,000 (Garwood)
    lo, hi = poisson_ci(10, 1000.0)
    assert round(lo, 2) == 4.80 and round(hi, 2) == 18.39
    assert poisson_ci(0, 100.0)[0] == 0.0


def test_result_page_in_korean(
    client: TestClient, web_db: Database, world: Seed, sites: Sites
) -> None:
    job_id = run_job(web_db, world, sites, "cohort_count", {"definition": "essential_hypertension"})
    sign_in(client, "researcher")
    page = client.get(f"/jobs/{job_id}?lang=ko").text
    assert "합계" in page and "Combined" not in page
    assert "Persons remaining" not in page
