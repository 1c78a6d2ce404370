"""The node as trust boundary: verify before anything runs, disclosure control at the node, audit.

Runs on a small generated hospital (``medhaven.synth.write_hospitals``), in
DuckDB and copied into PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from conftest import postgres_url
from medhaven.cdm import open_store
from medhaven.cli.main import app
from medhaven.errors import ConfigError, InvalidInput, NotFound
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import (
    NodeConfig,
    handle_job,
    held_jobs,
    reject_held,
    release_held,
)
from medhaven.synth.writer import CDM_FILE, write_hospitals

ALL_KINDS = '["cohort_count", "characterize", "incidence"]'


@pytest.fixture(scope="module")
def hospital_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated hospital as a DuckDB CDM (400 persons)."""
    out = tmp_path_factory.mktemp("hospitals")
    write_hospitals(out, hospitals=1, persons=400, seed=17)
    (db,) = out.glob(f"*/{CDM_FILE}")
    return db


@pytest.fixture(scope="module", params=["duckdb", "postgresql"])
def cdm(
    request: pytest.FixtureRequest, hospital_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The hospital's CDM on each backend (PostgreSQL: copied table by table)."""
    if request.param == "duckdb":
        copy = tmp_path_factory.mktemp("node") / CDM_FILE
        shutil.copy(hospital_db, copy)
        yield str(copy)
        return
    base = postgres_url() or ""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = f"{base}{'&' if '?' in base else '?'}schema={schema}"
    src, dst = open_store(hospital_db, read_only=True), open_store(url)
    try:
        dst.create_schema()
        with dst.transaction():
            for name in sorted(src.table_names()):
                data = src.fetch_arrow(f"SELECT * FROM {name}")
                if data.num_rows:
                    dst.append_arrow(name, data)
    finally:
        src.close()
        dst.close()
    yield url
    import psycopg

    with psycopg.connect(
        base.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    ) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def hub_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ed25519PrivateKey, Path]:
    private, public = generate_hub_keypair(tmp_path_factory.mktemp("hubkeys"))
    return load_private_key(private), public


@dataclass
class Node:
    config: NodeConfig
    key: Ed25519PrivateKey
    dir: Path

    def sign(self, **changes: Any) -> str:
        return sign_job(spec(**changes), self.key, "hub-1").to_json()

    def audit(self) -> list[dict[str, Any]]:
        return NodeAuditLog(self.config.audit_path).entries()


def spec(**changes: Any) -> JobSpec:
    now = dt.datetime.now(dt.UTC)
    base: dict[str, Any] = {
        "job_id": f"job-{uuid.uuid4().hex[:8]}",
        "project": "proj-1",
        "grant_id": "grant-1",
        "kind": "cohort_count",
        "parameters": {"definition": "essential_hypertension", "cohort_id": 3},
        "targets": ["seoul"],
        "expires_at": now + dt.timedelta(hours=1),
        "issued_at": now,
    }
    base.update(changes)
    return JobSpec.model_validate(base)


def write_config(directory: Path, cdm: str, public: Path, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "node.toml"
    path.write_text(
        f'name = "seoul"\ncdm = "{cdm}"\naccepted_kinds = {ALL_KINDS}\n'
        f'hub_public_key = "{public}"\nrevoked_grants = "revoked.txt"\n{extra}',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def node(cdm: str, hub_keys: tuple[Ed25519PrivateKey, Path], tmp_path: Path) -> Node:
    key, public = hub_keys
    return Node(NodeConfig.load(write_config(tmp_path, cdm, public)), key, tmp_path)


def cohort_rows(cdm: str, cohort_id: int) -> int:
    store = open_store(cdm)
    try:
        if "cohort" not in store.table_names():
            return 0
        return int(
            store.scalar(f"SELECT COUNT(*) FROM cohort WHERE cohort_definition_id = {cohort_id}")
        )
    finally:
        store.close()


def shown_counts(doc: Any) -> list[int]:
    """Every integer count a released document shows (suppressed ones are None)."""
    out: list[int] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in {"value", "persons", "outcomes", "records"} and type(v) is int:
                out.append(v)
            else:
                out.extend(shown_counts(v))
    elif isinstance(doc, list):
        for v in doc:
            out.extend(shown_counts(v))
    return out


# --- running jobs -------------------------------------------------------------------------


def test_cohort_count_equals_the_nodes_own_cohort_run(node: Node) -> None:
    reply = handle_job(node.sign(job_id="job-count"), node.config)
    assert reply["status"] == "ok", reply["reason"]
    assert (reply["node"], reply["job_id"], reply["reason"]) == ("seoul", "job-count", None)
    # the node wrote the cohort it counted; its size is the released person count
    persons = reply["result"]["persons"]["value"]
    store = open_store(node.config.cdm)
    try:
        distinct = store.scalar(
            "SELECT COUNT(DISTINCT subject_id) FROM cohort WHERE cohort_definition_id = 3"
        )
    finally:
        store.close()
    assert persons == distinct and persons >= 5
    cli = CliRunner().invoke(
        app,
        ["cohort", "run", "--db", node.config.cdm, "--definition", "essential_hypertension",
         "--cohort-id", "3", "--min-count", "5", "--json"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    got = {k: v for k, v in reply["result"].items() if k not in {"kind", "rounding_base"}}
    assert got == expected
    (entry,) = node.audit()
    assert (entry["job_id"], entry["outcome"], entry["kind"]) == ("job-count", "ok", "cohort_count")


def test_small_cells_never_leave_the_node(node: Node, cdm: str) -> None:
    first = handle_job(node.sign(), node.config)
    true_size = first["result"]["persons"]["value"]
    strict = node.config.model_copy(update={"min_cell_count": true_size + 1})
    reply = handle_job(node.sign(), strict)
    assert reply["status"] == "ok"
    result = reply["result"]
    assert result["min_cell_count"] == true_size + 1  # the node's policy, not the hub's
    assert result["persons"] == {"value": None, "display": "suppressed"}
    assert all(c == 0 or c > true_size for c in shown_counts(result))
    assert str(true_size) not in json.dumps(result["persons"])


@pytest.mark.parametrize(
    "parameters",
    [{"scope": "dataset", "top": 5}, {"cohort": "essential_hypertension", "cohort_id": 4}],
    ids=["dataset", "cohort"],
)
def test_characterize_releases_only_counts_at_or_above_the_nodes_minimum(
    node: Node, parameters: dict[str, Any]
) -> None:
    config = node.config.model_copy(update={"min_cell_count": 25})
    reply = handle_job(node.sign(kind="characterize", parameters=parameters), config)
    assert reply["status"] == "ok", reply["reason"]
    counts = shown_counts(reply["result"]["sections"])
    assert counts and all(c == 0 or c >= 25 for c in counts)
    assert any(s.get("suppressed") or "suppressed" in json.dumps(s)
               for s in reply["result"]["sections"])  # fmt: skip


def test_incidence_job_runs_with_the_nodes_policy(node: Node) -> None:
    params = {"target": "essential_hypertension", "outcome": "atrial_fibrillation_anticoagulated",
              "tar_days": 365, "target_id": 5, "outcome_id": 6}  # fmt: skip
    config = node.config.model_copy(update={"min_cell_count": 20})
    reply = handle_job(node.sign(kind="incidence", parameters=params), config)
    assert reply["status"] == "ok", reply["reason"]
    result = reply["result"]
    assert result["min_cell_count"] == 20
    overall = result["strata"][0]["rows"][0]
    assert overall["persons"] == cohort_rows_distinct(node.config.cdm, 5)
    assert all(c == 0 or c >= 20 for c in shown_counts(result["strata"]))


def cohort_rows_distinct(cdm: str, cohort_id: int) -> int:
    store = open_store(cdm)
    try:
        return int(store.scalar(
            f"SELECT COUNT(DISTINCT subject_id) FROM cohort WHERE cohort_definition_id = {cohort_id}"
        ))  # fmt: skip
    finally:
        store.close()


# --- refusals -----------------------------------------------------------------------------


def _altered(node: Node) -> str:
    wire = json.loads(node.sign(job_id="job-refused"))
    wire["spec"]["parameters"]["cohort_id"] = 78
    return json.dumps(wire)


def _unsigned(node: Node) -> str:
    wire = json.loads(node.sign(job_id="job-refused"))
    wire["signature"] = ""
    return json.dumps(wire)


def _wrong_key(node: Node) -> str:
    return sign_job(spec(job_id="job-refused", parameters={"definition": "essential_hypertension",
                    "cohort_id": 77}), Ed25519PrivateKey.generate(), "hub-1").to_json()  # fmt: skip


def _signed(**changes: Any) -> Any:
    def make(node: Node) -> str:
        base = {"job_id": "job-refused",
                "parameters": {"definition": "essential_hypertension", "cohort_id": 77}}  # fmt: skip
        return node.sign(**{**base, **changes})

    return make


PAST = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
REFUSALS = {
    "altered": (_altered, "signature"),
    "unsigned": (_unsigned, "signature"),
    "wrong_key": (_wrong_key, "signature"),
    "expired": (_signed(expires_at=PAST, issued_at=PAST - dt.timedelta(hours=1)), "expired"),
    "other_node": (_signed(targets=["busan"]), "not a target"),
    "unaccepted_kind": (_signed(kind="incidence"), "does not accept incidence"),
    "revoked_grant": (_signed(grant_id="grant-revoked"), "revoked"),
    "one_of_its_grants_revoked": (_signed(grant_id="grant-ok,grant-revoked"), "revoked"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_jobs_are_audited_and_nothing_runs(node: Node, case: str) -> None:
    make, why = REFUSALS[case]
    (node.dir / "revoked.txt").write_text("# pushed by the hub\ngrant-revoked\n")
    config = node.config
    if case == "unaccepted_kind":
        config = config.model_copy(update={"accepted_kinds": ["cohort_count"]})
    before = cohort_rows(config.cdm, 77) + cohort_rows(config.cdm, 78)
    reply = handle_job(make(node), config)
    assert reply["status"] == "refused"
    assert why in reply["reason"] and "\n" not in reply["reason"]
    assert reply["result"] is None and reply["job_id"] == "job-refused"
    assert cohort_rows(config.cdm, 77) + cohort_rows(config.cdm, 78) == before == 0
    (entry,) = node.audit()
    assert (entry["job_id"], entry["outcome"], entry["reason"]) == (
        "job-refused", "refused", reply["reason"]
    )  # fmt: skip


def test_unparseable_job_is_refused_and_audited(node: Node) -> None:
    reply = handle_job('{"spec": "nonsense"}', node.config)
    assert reply["status"] == "refused" and reply["job_id"] is None
    assert node.audit()[0]["outcome"] == "refused"


def test_a_grant_is_not_revoked_when_the_list_is_missing(node: Node) -> None:
    assert not (node.dir / "revoked.txt").exists()
    assert handle_job(node.sign(grant_id="grant-revoked"), node.config)["status"] == "ok"


def test_bad_parameters_are_an_error_naming_the_field(node: Node) -> None:
    reply = handle_job(node.sign(parameters={"definition": "x", "cohort_idd": 1}), node.config)
    assert reply["status"] == "error"
    assert "parameters.cohort_idd" in reply["reason"]
    reply = handle_job(node.sign(kind="characterize", parameters={}), node.config)
    assert reply["status"] == "error" and "exactly one" in reply["reason"]
    assert [e["outcome"] for e in node.audit()] == ["error", "error"]


def test_a_definition_string_is_never_read_as_a_file(node: Node, tmp_path: Path) -> None:
    secret = tmp_path / "local.json"
    secret.write_text(json.dumps({"PrimaryCriteria": {}}))
    reply = handle_job(node.sign(parameters={"definition": str(secret)}), node.config)
    assert reply["status"] == "error"
    assert "no library cohort" in reply["reason"]


# --- release approval ---------------------------------------------------------------------


def test_release_approval_holds_the_result_until_the_custodian_releases_it(node: Node) -> None:
    config = node.config.model_copy(update={"require_release_approval": True})
    reply = handle_job(node.sign(job_id="job-held"), config)
    assert reply["status"] == "held" and reply["result"] is None
    assert "custodian" in reply["reason"]
    (queued,) = held_jobs(config)
    assert queued["job_id"] == "job-held"
    released = release_held("job-held", config)
    assert released["status"] == "ok"
    assert released["result"] == queued["result"]
    assert released["result"]["persons"]["value"] >= 5
    assert held_jobs(config) == []
    assert [e["outcome"] for e in node.audit()] == ["held", "released"]
    with pytest.raises(NotFound):
        release_held("job-held", config)


def test_a_kind_list_holds_only_those_kinds(node: Node, tmp_path: Path) -> None:
    public = node.config.hub_public_key
    config = NodeConfig.load(write_config(tmp_path / "list", node.config.cdm, public,
                                          'require_release_approval = ["incidence"]\n'))  # fmt: skip
    assert config.holds("incidence") and not config.holds("cohort_count")
    count = handle_job(node.sign(job_id="job-count-free"), config)
    assert count["status"] == "ok" and count["result"]["persons"]["value"] >= 5
    params = {"target": "essential_hypertension", "outcome": "chronic_kidney_disease"}
    inc = handle_job(node.sign(job_id="job-inc-held", kind="incidence", parameters=params), config)
    assert (inc["status"], inc["result"]) == ("held", None)
    assert [h["job_id"] for h in held_jobs(config)] == ["job-inc-held"]


@pytest.mark.parametrize(
    ("value", "field_text"),
    [('["incidence", "count_everything"]', "require_release_approval"),
     ('["train"]', "train cannot be held")],
)  # fmt: skip
def test_an_unknown_or_train_kind_in_the_approval_list_is_a_one_line_error(
    tmp_path: Path, hub_keys: tuple[Ed25519PrivateKey, Path], value: str, field_text: str
) -> None:
    _key, public = hub_keys
    path = write_config(tmp_path, "cdm.duckdb", public, f"require_release_approval = {value}\n")
    with pytest.raises(ConfigError) as exc:
        NodeConfig.load(path)
    assert field_text in exc.value.message and "\n" not in exc.value.message


def test_reject_deletes_the_held_result_and_a_resend_is_refused_with_the_reason(
    node: Node,
) -> None:
    config = node.config.model_copy(update={"require_release_approval": True})
    wire = node.sign(job_id="job-reject")
    assert handle_job(wire, config)["status"] == "held"
    with pytest.raises(InvalidInput):
        reject_held("job-reject", config, "two\nlines")
    assert len(held_jobs(config)) == 1  # a bad reason changes nothing
    reply = reject_held("job-reject", config, "cell sizes too close to the threshold",
                        actor="custodian@seoul.example")  # fmt: skip
    assert reply["status"] == "refused" and reply["result"] is None
    assert "cell sizes too close to the threshold" in reply["reason"]
    assert held_jobs(config) == [] and not any(config.queue_dir.iterdir())
    again = handle_job(wire, config)
    assert again == reply  # the answered record now says refused; nothing re-ran
    last = node.audit()[-2]
    assert (last["outcome"], last["reason"]) == (
        "withheld",
        "cell sizes too close to the threshold",
    )
    assert last["actor"] == "custodian@seoul.example"
    assert NodeAuditLog(config.audit_path).verify().intact
    with pytest.raises(NotFound):
        reject_held("job-reject", config, "again")
    with pytest.raises(NotFound):
        release_held("job-reject", config)


def test_reject_cli(node: Node) -> None:
    toml = node.dir / "node.toml"
    toml.write_text(toml.read_text() + "require_release_approval = true\n")
    config = NodeConfig.load(toml)
    handle_job(node.sign(job_id="job-cli-reject"), config)
    runner = CliRunner()
    base = ["node", "reject", "--config", str(toml), "--job-id", "job-cli-reject"]
    out = runner.invoke(app, [*base, "--reason", "not for this project"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["status"] == "refused"
    missing = runner.invoke(app, [*base, "--reason", "again"])
    assert isinstance(missing.exception, NotFound)  # main() turns it into its exit code
    assert "no held result" in missing.exception.message


# --- audit chain --------------------------------------------------------------------------


def test_audit_chain_verifies_and_detects_tampering(node: Node) -> None:
    for case in ("expired", "other_node"):
        handle_job(REFUSALS[case][0](node), node.config)
    handle_job(node.sign(job_id="job-ok"), node.config)
    log = NodeAuditLog(node.config.audit_path)
    assert log.verify().intact and log.verify().entries == 3
    lines = node.config.audit_path.read_text().splitlines()
    assert "grant-1" in lines[0] and "essential" not in "".join(lines)
    edited = lines.copy()
    edited[1] = edited[1].replace('"outcome":"refused"', '"outcome":"ok"')
    node.config.audit_path.write_text("\n".join(edited) + "\n")
    bad = log.verify()
    assert not bad.intact and bad.first_bad_seq == 2 and "modified" in (bad.problem or "")
    node.config.audit_path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    gone = log.verify()
    assert not gone.intact and gone.first_bad_seq == 2
    node.config.audit_path.write_text("\n".join(lines) + "\n")
    assert log.verify().intact


# --- config and CLI -----------------------------------------------------------------------


def test_config_errors_are_one_line(
    tmp_path: Path, hub_keys: tuple[Ed25519PrivateKey, Path]
) -> None:
    _key, public = hub_keys
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "seoul"\ncdm = [\n')
    with pytest.raises(ConfigError) as exc:
        NodeConfig.load(bad)
    assert "not valid TOML" in exc.value.message and "\n" not in exc.value.message
    missing = write_config(tmp_path / "m", "cdm.duckdb", tmp_path / "nope.pem")
    with pytest.raises(NotFound) as nf:
        NodeConfig.load(missing)
    assert "nope.pem" in nf.value.message
    unknown = write_config(tmp_path / "u", "cdm.duckdb", public, "min_cell = 3\n")
    with pytest.raises(ConfigError) as uk:
        NodeConfig.load(unknown)
    assert "min_cell" in uk.value.message
    kinds = write_config(tmp_path / "k", "cdm.duckdb", public, "").read_text()
    (tmp_path / "k" / "node.toml").write_text(kinds.replace("incidence", "train_anything"))
    with pytest.raises(ConfigError):
        NodeConfig.load(tmp_path / "k" / "node.toml")
    with pytest.raises(NotFound):
        NodeConfig.load(tmp_path / "absent.toml")


def test_relative_paths_are_relative_to_the_config(
    tmp_path: Path, hub_keys: tuple[Ed25519PrivateKey, Path]
) -> None:
    _key, public = hub_keys
    shutil.copy(public, tmp_path / "hub.pem")
    config = NodeConfig.load(write_config(tmp_path / "n", "data/cdm.duckdb", Path("../hub.pem")))
    assert config.cdm == str((tmp_path / "n" / "data" / "cdm.duckdb").resolve())
    assert config.audit_path == (tmp_path / "n").resolve() / "seoul-audit.jsonl"
    assert config.min_cell_count == 5 and config.require_release_approval is False


def test_run_job_cli(node: Node) -> None:
    job = node.dir / "job.json"
    job.write_text(node.sign(job_id="job-cli"))
    runner = CliRunner()
    args = ["node", "run-job", "--config", str(node.dir / "node.toml"), "--job", str(job), "--json"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["status"] == "ok"
    job.write_text(_altered(node))
    refused = runner.invoke(app, args)
    assert refused.exit_code == 10
    assert json.loads(refused.stdout)["status"] == "refused"
    verify = runner.invoke(app, ["node", "audit-verify", "--config", str(node.dir / "node.toml")])
    assert verify.exit_code == 0 and "2 entries" in verify.stdout


# --- retries ------------------------------------------------------------------------------


def test_a_resent_job_gets_the_same_reply_without_running_again(node: Node) -> None:
    wire = node.sign(job_id="job-twice", parameters={"definition": "essential_hypertension",
                                                     "cohort_id": 9})  # fmt: skip
    first = handle_job(wire, node.config)
    assert first["status"] == "ok"
    store = open_store(node.config.cdm)
    try:
        store.execute("DELETE FROM cohort WHERE cohort_definition_id = 9")
    finally:
        store.close()
    again = handle_job(wire, node.config)
    assert again == first
    assert cohort_rows(node.config.cdm, 9) == 0  # not generated a second time
    assert [e["outcome"] for e in node.audit()] == ["ok", "repeated"]
    other = handle_job(node.sign(job_id="job-twice"), node.config)
    assert other["status"] == "refused" and "already used" in other["reason"]


def test_a_resent_held_job_gets_the_result_once_released(node: Node) -> None:
    config = node.config.model_copy(update={"require_release_approval": True})
    wire = node.sign(job_id="job-held-2")
    assert handle_job(wire, config)["status"] == "held"
    assert handle_job(wire, config)["status"] == "held"
    released = release_held("job-held-2", config)
    assert handle_job(wire, config) == released


def test_a_node_that_lost_its_hub_key_answers_error_and_runs_nothing(
    cdm: str, hub_keys: tuple[Ed25519PrivateKey, Path], tmp_path: Path
) -> None:
    key, public = hub_keys
    shutil.copy(public, tmp_path / "hub.pem")
    config = NodeConfig.load(write_config(tmp_path, cdm, tmp_path / "hub.pem"))
    (tmp_path / "hub.pem").unlink()
    node = Node(config, key, tmp_path)
    reply = handle_job(node.sign(job_id="job-nokey", parameters={
        "definition": "essential_hypertension", "cohort_id": 77}), config)  # fmt: skip
    assert reply["status"] == "error" and "hub.pem" in reply["reason"]
    assert cohort_rows(cdm, 77) == 0
    assert node.audit()[0]["outcome"] == "error"
