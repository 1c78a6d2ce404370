"""The node console in-process: node-local accounts (hashed, 0600), sign-in, CSRF, the release
queue (release and reject through the node's own functions, audited with the custodian's email),
the read-only policy page, the publication file, Korean, and the loopback-only rule."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from medhaven.cli.main import app as cli
from medhaven.errors import InvalidInput
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job, held_jobs
from medhaven.hub.schemas import DatasetCreate
from medhaven.synth.writer import CDM_FILE, write_hospitals
from medhaven.web.console import create_console_app

EMAIL = "custodian@seoul.example"
PASSWORD = "a long custodian passphrase"


def deid_report(k: int, k_min: int, risk: float) -> dict[str, Any]:
    """A de-identification report's risk part, as ``medhaven deid tabular`` writes it."""
    released = k >= k_min and risk <= 0.05
    gate = {"released": released, "k_min": k_min, "max_avg_risk": 0.05, "suggestion": None,
            "reasons": [] if released else [f"k = {k} is below the minimum {k_min}"]}  # fmt: skip
    return {"risk": {"patients.csv": {"records": 200, "k": k, "release_gate": gate,
                                      "prosecutor": {"average": risk, "highest": 1.0}}}}  # fmt: skip


@dataclass
class NodeDir:
    toml: Path
    key: Any
    cdm: Path

    @property
    def config(self) -> NodeConfig:
        return NodeConfig.load(self.toml)

    def hold(self, kind: str = "cohort_count") -> str:
        """Run one signed job at the node (it is held); its job id."""
        now = dt.datetime.now(dt.UTC)
        job_id = f"job-{uuid.uuid4().hex[:8]}"
        spec = JobSpec(job_id=job_id, project="proj-7", grant_id="grant-3", kind=kind,
                       parameters={"definition": "essential_hypertension"}, targets=["seoul"],
                       expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
        reply = handle_job(sign_job(spec, self.key, "hub").to_json(), self.config)
        assert reply["status"] == "held", reply
        return job_id

    def audit(self) -> list[dict[str, Any]]:
        return NodeAuditLog(self.config.audit_path).entries()


@pytest.fixture(scope="module")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("console-h")
    write_hospitals(out, hospitals=1, persons=200, seed=23)
    (db,) = out.glob(f"*/{CDM_FILE}")
    return db


@pytest.fixture
def node(hospital: Path, tmp_path: Path) -> NodeDir:
    private, public = generate_hub_keypair(tmp_path / "hub")
    cdm = tmp_path / "cdm.duckdb"
    cdm.write_bytes(hospital.read_bytes())
    (tmp_path / "deid-report.json").write_text(json.dumps(deid_report(7, 5, 0.02)))
    toml = tmp_path / "node.toml"
    toml.write_text(f'name = "seoul"\ncdm = "cdm.duckdb"\naccepted_kinds = ["cohort_count"]\n'
                    f'hub_public_key = "{public}"\nrequire_release_approval = ["cohort_count"]\n'
                    'deid_report = "deid-report.json"\n')  # fmt: skip
    pw = tmp_path / "pw.txt"
    pw.write_text(PASSWORD + "\n")
    made = CliRunner().invoke(cli, ["node", "console-user", "--config", str(toml), "--email",
                                    EMAIL, "--password-file", str(pw)])  # fmt: skip
    assert made.exit_code == 0, made.output
    return NodeDir(toml, load_private_key(private), cdm)


@pytest.fixture
def client(node: NodeDir) -> TestClient:
    return TestClient(create_console_app(node.toml), base_url="http://127.0.0.1")


def sign_in(client: TestClient) -> str:
    r = client.post("/signin", data={"email": EMAIL, "password": PASSWORD},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/queue").text)
    assert match is not None
    return match.group(1)


def test_the_accounts_file_is_0600_and_holds_only_a_hash(node: NodeDir) -> None:
    path = node.config.console_users_path
    assert path == node.toml.parent / "console-users.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert EMAIL in text and PASSWORD not in text and "$argon2id$" in text
    short = node.toml.parent / "short.txt"
    short.write_text("short\n")
    bad = CliRunner().invoke(cli, ["node", "console-user", "--config", str(node.toml),
                                   "--email", "x@y.example", "--password-file", str(short)])  # fmt: skip
    assert isinstance(bad.exception, InvalidInput)
    assert "x@y.example" not in path.read_text()


def test_sign_in_is_required_and_a_wrong_password_is_refused(
    client: TestClient, node: NodeDir
) -> None:
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/signin"
    r = client.post("/signin", data={"email": EMAIL, "password": "not the passphrase"})
    assert r.status_code == 401 and "Wrong email or password." in r.text
    sign_in(client)
    (entry,) = node.audit()
    assert (entry["outcome"], entry["actor"]) == ("console_signin", EMAIL)


def test_naive_brute_force_is_rate_limited(node: NodeDir) -> None:
    c = TestClient(create_console_app(node.toml, login_attempts_per_minute=3))
    codes = [c.post("/signin", data={"email": EMAIL, "password": f"guess {i}"}).status_code
             for i in range(4)]  # fmt: skip
    assert codes == [401, 401, 401, 429]


def test_release_from_the_queue_is_audited_with_the_custodians_email(
    client: TestClient, node: NodeDir
) -> None:
    job_id = node.hold()
    token = sign_in(client)
    page = client.get("/queue").text
    assert f'id="held-{job_id}"' in page and "proj-7" in page and "grant-3" in page
    (held,) = held_jobs(node.config)
    persons = held["result"]["persons"]["display"]
    assert f"<td>{persons}</td>" in page  # the held figure is shown for the custodian to check
    r = client.post("/queue/release", data={"csrf_token": token, "job_id": job_id},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert held_jobs(node.config) == []
    answered = next(node.config.answered_dir.glob("*.json"))
    reply = json.loads(answered.read_text())["reply"]
    assert reply["status"] == "ok" and reply["result"] == held["result"]
    released = [e for e in node.audit() if e["outcome"] == "released"]
    assert [(e["job_id"], e["actor"]) for e in released] == [(job_id, EMAIL)]
    assert 'id="queue-empty"' in client.get("/queue").text


def test_a_form_without_the_csrf_token_changes_nothing(client: TestClient, node: NodeDir) -> None:
    job_id = node.hold()
    sign_in(client)
    before = node.config.audit_path.read_text()
    for path, extra in (("/queue/release", {}), ("/queue/reject", {"reason": "no"})):
        for token in ({}, {"csrf_token": "forged"}):
            r = client.post(path, data={"job_id": job_id, **extra, **token})
            assert r.status_code == 403, r.text
    assert [h["job_id"] for h in held_jobs(node.config)] == [job_id]
    assert node.config.audit_path.read_text() == before


def test_reject_with_a_reason_answers_refused_and_is_audited(
    client: TestClient, node: NodeDir
) -> None:
    job_id = node.hold()
    token = sign_in(client)
    empty = client.post("/queue/reject", data={"csrf_token": token, "job_id": job_id,
                                               "reason": "  "})  # fmt: skip
    assert empty.status_code == 400 and held_jobs(node.config)
    r = client.post("/queue/reject", data={"csrf_token": token, "job_id": job_id,
                                           "reason": "a cell is too close to the threshold"},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and held_jobs(node.config) == []
    answered = next(node.config.answered_dir.glob("*.json"))
    reply = json.loads(answered.read_text())["reply"]
    assert reply["status"] == "refused" and reply["result"] is None
    assert "a cell is too close to the threshold" in reply["reason"]
    last = node.audit()[-1]
    assert (last["outcome"], last["actor"], last["job_id"]) == ("withheld", EMAIL, job_id)
    gone = client.post("/queue/release", data={"csrf_token": token, "job_id": job_id})
    assert gone.status_code == 404 and "no held result" in gone.text


def test_policy_page_shows_every_field_read_only(client: TestClient, node: NodeDir) -> None:
    sign_in(client)
    page = client.get("/policy").text
    for field in ("min_cell_count", "require_release_approval", "accepted_kinds", "rounding"):
        assert f"<code>{field}</code>" in page
    assert "[&#39;cohort_count&#39;]" in page  # the list of held kinds, as in node.toml
    assert "Counts below this are suppressed" in page and "<form" not in page.split("<main")[1]


def test_overview_counts_and_the_publication_file_are_released_figures(
    client: TestClient, node: NodeDir
) -> None:
    sign_in(client)
    page = client.get("/").text
    with duckdb.connect(str(node.cdm), read_only=True) as con:
        row = con.execute("SELECT COUNT(*) FROM person").fetchone()
    assert row is not None
    persons = int(row[0])
    assert f'<dd id="persons">{persons}</dd>' in page  # 200 >= 5: shown as is (no rounding)
    assert 'id="gate-verdict" class="ok"' in page
    assert client.get("/publication.json").status_code == 400  # org_id is needed
    r = client.get("/publication.json?org_id=4")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    doc = DatasetCreate.model_validate(r.json())  # what `medhaven datasets publish` sends
    assert (doc.org_id, doc.name, doc.person_count) == (4, "seoul", persons)
    gate = doc.quality_summary["risk_gate"]
    assert (gate["released"], gate["k"], gate["k_min"]) == (True, 7, 5)
    assert doc.quality_summary["checks"]["failed"] == 0
    sexes = doc.characterization["persons_by_sex"]
    assert sum(sexes.values()) == persons and min(sexes.values()) >= 5
    assert [e["outcome"] for e in node.audit()][-1] == "console_publication"


def test_a_refused_risk_gate_is_shown_as_refused(client: TestClient, node: NodeDir) -> None:
    (node.toml.parent / "deid-report.json").write_text(json.dumps(deid_report(1, 5, 1.0)))
    sign_in(client)
    page = client.get("/").text
    assert 'id="gate-verdict" class="warning"' in page and "k = 1 is below the minimum 5" in page


def test_korean_pages(client: TestClient, node: NodeDir) -> None:
    node.hold()
    sign_in(client)
    page = client.get("/queue?lang=ko").text
    assert "공개 대기열" in page and "사유 (허브에 전달됨)" in page and 'lang="ko"' in page
    assert "노드 정책" in client.get("/policy").text  # the language is remembered


def test_audit_page_verifies_the_chain(client: TestClient, node: NodeDir) -> None:
    node.hold()
    sign_in(client)
    page = client.get("/audit").text
    assert "The hash chain is intact: 2 entries." in page and EMAIL in page
    lines = node.config.audit_path.read_text().splitlines()
    lines[0] = lines[0].replace('"outcome":"held"', '"outcome":"ok"')
    node.config.audit_path.write_text("\n".join(lines) + "\n")
    assert "The hash chain is broken at entry 1." in client.get("/audit").text


def test_the_console_listens_on_loopback_only_unless_allowed(node: NodeDir) -> None:
    r = CliRunner().invoke(cli, ["node", "console", "--config", str(node.toml), "--host",
                                 "0.0.0.0"])  # fmt: skip
    assert isinstance(r.exception, InvalidInput) and "--allow-remote" in r.exception.message
