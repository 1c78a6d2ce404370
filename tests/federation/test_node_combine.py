"""Combining nodes' released counts: a suppressed or missing node makes the total a lower bound."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from medhaven.federation.combine import combine_counts
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.synth.writer import CDM_FILE, write_hospitals


def _reply(
    node: str, persons: int | None, records: int | None, status: str = "ok"
) -> dict[str, Any]:
    def cell(v: int | None) -> dict[str, Any]:
        return {"value": v, "display": "suppressed" if v is None else str(v)}

    result = {"persons": cell(persons), "records": cell(records)} if status == "ok" else None
    return {"node": node, "job_id": "j", "status": status, "reason": None, "result": result}


def test_all_shown_gives_the_exact_sum() -> None:
    out = combine_counts([_reply("a", 120, 130), _reply("b", 40, 41), _reply("c", 0, 0)])
    assert out["persons"] == {"value": 160, "display": "160", "lower_bound": False}
    assert out["records"]["value"] == 171
    assert out["complete"] is True


def test_a_suppressed_node_makes_the_total_a_marked_lower_bound() -> None:
    out = combine_counts([_reply("a", 120, 130), _reply("b", None, None), _reply("c", 30, None)])
    assert out["persons"] == {"value": 150, "display": ">= 150", "lower_bound": True}
    assert out["records"] == {"value": 130, "display": ">= 130", "lower_bound": True}
    assert [n["persons"] for n in out["nodes"]] == [120, "suppressed", 30]
    assert out["complete"] is False


def test_refused_or_held_nodes_add_nothing_and_are_listed() -> None:
    out = combine_counts([_reply("a", 50, 60), _reply("b", None, None, status="refused"),
                          _reply("c", None, None, status="held")])  # fmt: skip
    assert out["persons"]["value"] == 50 and out["persons"]["lower_bound"]
    assert [n["status"] for n in out["nodes"]] == ["ok", "refused", "held"]
    assert combine_counts([])["persons"]["lower_bound"] is True


def test_three_real_nodes_combine_their_released_counts(tmp_path: Path) -> None:
    """Three nodes (one strict enough to suppress): the total is the sum of what was shown."""
    write_hospitals(tmp_path / "h", hospitals=3, persons=250, seed=3)
    dbs = sorted((tmp_path / "h").glob(f"*/{CDM_FILE}"))
    private, public = generate_hub_keypair(tmp_path / "keys")
    key: Ed25519PrivateKey = load_private_key(private)
    now = dt.datetime.now(dt.UTC)
    names = [f"n{i}" for i in range(3)]
    spec = JobSpec(job_id="fed-1", project="p", grant_id="g", kind="cohort_count",
                   parameters={"definition": "essential_hypertension"}, targets=names,
                   expires_at=now + dt.timedelta(minutes=10), issued_at=now)  # fmt: skip
    wire = sign_job(spec, key, "k").to_json()
    replies = []
    for i, (name, db) in enumerate(zip(names, dbs, strict=True)):
        shutil.copy(public, tmp_path / f"{name}.pem")
        min_cell = 10_000 if i == 2 else 5
        toml = tmp_path / f"{name}.toml"
        toml.write_text(f'name = "{name}"\ncdm = "{db}"\naccepted_kinds = ["cohort_count"]\n'
                        f'hub_public_key = "{name}.pem"\nmin_cell_count = {min_cell}\n')  # fmt: skip
        replies.append(handle_job(wire, NodeConfig.load(toml)))
    assert [r["status"] for r in replies] == ["ok", "ok", "ok"]
    shown = [r["result"]["persons"]["value"] for r in replies]
    assert shown[2] is None and all(isinstance(v, int) and v >= 5 for v in shown[:2])
    out = combine_counts(replies)
    assert out["persons"]["value"] == shown[0] + shown[1]
    assert out["persons"]["display"] == f">= {shown[0] + shown[1]}"
    assert out["nodes"][2]["persons"] == "suppressed"
    assert json.loads(json.dumps(out)) == out  # JSON-ready for the hub


@pytest.mark.parametrize("rounding", [None, 10])
def test_rounding_at_a_node_is_flagged(rounding: int | None) -> None:
    reply = _reply("a", 120, 130)
    reply["result"]["rounding_base"] = rounding
    assert combine_counts([reply])["rounded"] is (rounding is not None)
