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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from medhaven.federation.jobs import JobSpec, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.hub.api import HubConfig, create_app
from medhaven.hub.db import Database
from medhaven.hub.models import Job
from medhaven.hub.services import jobs
from medhaven.synth.writer import CDM_FILE, write_hospitals
from medhaven.web.results import poisson_ci
from web.conftest import Seed, sign_in
from web.studies import TASK, grant, store_train_job, train_document

#: node name -> its minimum cell count (the second hides more, so partial rows appear)
NODES = {"north": 5, "south": 11}


@dataclass
class Sites:
    """Two generated hospitals and the key their nodes trust."""

    configs: dict[str, NodeConfig]
    private_key: Path


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Sites:
    return make_sites(tmp_path_factory.mktemp("results-sites"), persons=200)


def make_sites(root: Path, *, persons: int) -> Sites:
    """Two generated hospitals of ``persons`` each; nodes with the floors of ``NODES``."""
    write_hospitals(root / "h", hospitals=2, persons=persons, seed=11)
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
    assert seen_marker, "the strict node (min cell count 11) should hide a stage"
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


def test_dataset_characterization_shows_every_count_section(
    client: TestClient, web_db: Database, world: Seed, sites: Sites
) -> None:
    job_id = run_job(web_db, world, sites, "characterize", {"scope": "dataset", "top": 5})
    result = _stored(web_db, job_id)
    sign_in(client, "researcher")
    page = client.get(f"/jobs/{job_id}").text
    sections = result["combined"]["sections"]
    shown = [s for s in sections if s["type"] in {"count", "table", "concepts"}]
    assert len(shown) >= 4
    for section in shown:
        assert f'id="section-{section["name"]}"' in page
    for section in sections:
        if section["type"] == "distribution":  # percentiles stay in the JSON download
            assert f'id="section-{section["name"]}"' not in page


def test_incidence_rates_with_ci_by_strata_and_partial_rows(
    client: TestClient, web_db: Database, world: Seed, sites: Sites
) -> None:
    job_id = run_job(web_db, world, sites, "incidence",
                     {"target": "essential_hypertension", "outcome": "acute_respiratory_infection",
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
    assert 'id="stratum-sex"' in page
    shown = [
        r for r in strata["sex"]["rows"] if not r["total"] and r["rate_per_1000py"] is not None
    ]
    assert ("Rate per 1,000 person-years by sex" in page) == bool(shown)  # no chart of nothing


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


# -- the model card of a train job, and its external validation ------------------------------


@pytest.fixture
def hub(web_db: Database, world: Seed, tmp_path: Path) -> Iterator[TestClient]:
    """A hub that can sign jobs (no dispatcher: submitted jobs stay queued)."""
    grant(web_db, world)
    config = HubConfig(database_url=web_db.url, secure_cookies=False, keys_dir=tmp_path / "keys")
    with TestClient(create_app(config, database=web_db), base_url="http://testserver") as c:
        yield c


def _evaluate_job(db: Database, world: Seed, bundle: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """An ``evaluate`` job of ``bundle`` at a third hospital, evaluated by the real evaluation
    code on that hospital's rows and stored by the hub's ``record_result``."""
    from medhaven.analytics.policy import DisclosurePolicy
    from medhaven.prediction.evaluate import evaluate
    from medhaven.prediction.models import TrainedModel
    from prediction.synthetic_sites import make_site

    data = make_site(400, seed=12, shift=0.3, site="hospital-c")
    model = TrainedModel.from_bundle(bundle, source="test")
    ev = evaluate(data.y, model.predict(data), groups=data.subgroups,
                  policy=DisclosurePolicy(min_cell_count=5))  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    with db.unit() as s:
        job = Job(uid=f"e-{uuid.uuid4().hex[:8]}", project_id=world.project_id, grant_ids=[],
                  kind="evaluate", parameters={"task": TASK, "model": bundle},
                  dataset_ids=[world.dataset_id], targets=["hospital-c"], min_nodes=1,
                  status="running", node_status={}, result=None, signed_job="-",
                  expires_at=now + dt.timedelta(hours=1), submitted_by=world.users["researcher"],
                  created_at=now, updated_at=now)  # fmt: skip
        s.add(job)
        s.flush()
        job_id = int(job.id)
    reply = {"kind": "evaluate", "model_sha256": bundle["sha256"], "evaluation": ev}
    jobs.record_result(db, job_id, {"kind": "evaluate", "status": "completed", "nodes": [
        {"node": "hospital-c", "status": "ok", "reason": None, "result": reply}]})  # fmt: skip
    return job_id, ev


def _perf_cells(page: str, site: str) -> list[str]:
    table = page.split('id="card-performance"', 1)[1].split("</table>", 1)[0]
    row = re.search(rf'<th scope="row">{site}</th>(.*?)</tr>', table)
    assert row, site
    return re.findall(r"<td>([^<]*)</td>", row.group(1))


def _auroc(ev: dict[str, Any]) -> str:
    m = ev["metrics"]
    lo, hi = m["auroc_ci"]
    return f"{m['auroc']:.3f} ({lo:.3f}–{hi:.3f})"


def test_model_card_of_a_train_job_with_its_external_validation(
    hub: TestClient, web_db: Database, world: Seed, tmp_path: Path
) -> None:
    doc = train_document(tmp_path)  # real node-training rounds at two hospitals, in process
    job_id = store_train_job(web_db, world, doc)
    bundle = doc["combined"]["model"]
    sign_in(hub, "student")
    assert f'href="/jobs/{job_id}/card"' in hub.get(f"/jobs/{job_id}").text
    page = hub.get(f"/jobs/{job_id}/card").text
    for reply in doc["nodes"]:  # each node's released held-out evaluation, as released
        ev = reply["result"]["evaluation"]
        assert _perf_cells(page, reply["node"])[1:4] == [str(ev["n"]), str(ev["outcomes"]),
                                                         _auroc(ev)]  # fmt: skip
    assert "hospital-c" not in page and page.count("<svg") == 2
    assert bundle["sha256"] in page
    eval_id, ev = _evaluate_job(web_db, world, bundle)
    page = hub.get(f"/jobs/{job_id}/card").text
    assert _perf_cells(page, "hospital-c")[1:4] == [str(ev["n"]), str(ev["outcomes"]), _auroc(ev)]
    assert f'href="/jobs/{eval_id}"' in page
    card = hub.get(f"/jobs/{job_id}/card.json")
    assert card.status_code == 200 and "attachment" in card.headers["content-disposition"]
    body = card.json()
    assert body["schema"] == "medhaven.model_card/1"
    assert body["performance"]["external"] == {"hospital-c": ev}
    assert body["performance"]["internal_by_site"] == {
        r["node"]: r["result"]["evaluation"] for r in doc["nodes"]}  # fmt: skip
    assert body["model"]["bundle_sha256"] == bundle["sha256"]
    assert body["evaluation_design"]["hub"]["jobs"] == {"train": job_id, "evaluate": eval_id}
    tripod = hub.get(f"/jobs/{job_id}/tripod.json").json()
    assert tripod["guideline"] == "TRIPOD+AI (2024)" and len(tripod["items"]) > 40
    assert f"{tripod['reported']} of {len(tripod['items'])} items reported" in page
    evaluate_page = hub.get(f"/jobs/{eval_id}").text  # the evaluate job: metrics and plots
    assert "External evaluation per hospital, as released" in evaluate_page
    assert html.escape(_auroc(ev)) in evaluate_page or _auroc(ev) in evaluate_page
    assert "hospital-c (external)" in evaluate_page
    ko = hub.get(f"/jobs/{job_id}/card?lang=ko").text
    assert "모델 카드" in ko and "Performance</h2>" not in ko
    hub.cookies.clear()
    sign_in(hub, "reviewer")  # not a project member: no card
    assert hub.get(f"/jobs/{job_id}/card").status_code == 404
    assert hub.get(f"/jobs/{job_id}/card.json").status_code == 404


def test_validate_at_another_hospital_submits_an_evaluate_job_of_the_bundle(
    hub: TestClient, web_db: Database, world: Seed, tmp_path: Path
) -> None:
    other = _second_dataset(web_db, world)
    doc = train_document(tmp_path)
    job_id = store_train_job(web_db, world, doc)
    csrf = sign_in(hub, "researcher")
    page = hub.get(f"/jobs/{job_id}/card").text
    assert 'id="validate-form"' in page and "Hospital C registry" in page
    bad = hub.post(f"/jobs/{job_id}/validate",
                   data={"csrf_token": csrf, "dataset_ids": str(world.dataset_id)})  # fmt: skip
    assert bad.status_code == 400 and "the model was trained there" in bad.text
    r = hub.post(f"/jobs/{job_id}/validate", data={"csrf_token": csrf, "dataset_ids": str(other)},
                 follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    with web_db.unit(readonly=True) as s:
        new = s.execute(select(Job).where(Job.kind == "evaluate")).scalar_one()
        assert r.headers["location"] == f"/jobs/{new.id}"
        assert new.parameters == {"task": TASK, "model": doc["combined"]["model"]}
        assert new.dataset_ids == [other] and new.targets == ["Hospital C registry"]
        assert new.status == "queued"


def _second_dataset(db: Database, world: Seed) -> int:
    """Hospital A publishes a second dataset and the project is granted it."""
    from medhaven.hub.schemas import DatasetCreate, RequestCreate, ReviewCreate
    from medhaven.hub.services import access, catalogue

    with db.unit() as s:
        ds = catalogue.publish(
            s, _who(s, world, "custodian"),
            DatasetCreate(org_id=world.orgs["Hospital A"], name="Hospital C registry",
                          description="Heart failure registry", domains=["condition"],
                          period_start=dt.date(2015, 1, 1), period_end=dt.date(2023, 12, 31),
                          person_count=4000, terms_of_use="No re-identification."),
            min_cell_count=5,
        )  # fmt: skip
        ds_id = int(ds.id)
    with db.unit() as s:
        req = access.create_request(
            s, _who(s, world, "researcher"),
            RequestCreate(project_id=world.project_id, dataset_ids=[ds_id],
                          justification="external validation"),
        )  # fmt: skip
        rid = req.id
    with db.unit() as s:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        access.decide(s, _who(s, world, "reviewer"), rid,
                      ReviewCreate(decision="approve", expires_at=expires))  # fmt: skip
    return ds_id


def _who(session: Any, world: Seed, key: str) -> Any:
    from medhaven.hub.models import User
    from medhaven.hub.services import identity
    from medhaven.hub.services.common import Principal

    user = session.get(User, world.users[key])
    return Principal(user.id, identity.roles_of(user), "cli")
