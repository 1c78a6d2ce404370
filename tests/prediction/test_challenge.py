"""``challenge`` jobs at a node: the hidden split, scoring of a model or of predictions, what
the reply holds (never a label), the node's refusals; combination across nodes."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.errors import InvalidInput
from medhaven.federation.combine import combine
from medhaven.federation.jobs import JobSpec, generate_hub_keypair, load_private_key, sign_job
from medhaven.federation.node import NodeConfig, handle_job
from medhaven.prediction.challenge import (
    NOT_SYNTHETIC,
    ChallengeParams,
    assign_parts,
    check_parameters,
    score,
)
from medhaven.synth.writer import CDM_FILE, write_hospitals

from .synthetic_sites import make_site

TASK = {"name": "hf", "target_cohort": "essential_hypertension",
        "outcome_cohort": "heart_failure_admission",
        "features": {"windows": [365], "counts": False, "measurement_values": False}}  # fmt: skip
# on the generated hospitals, about one in nine persons of this population has the outcome
CKD = {**TASK, "outcome_cohort": "chronic_kidney_disease"}
POLICY = DisclosurePolicy(min_cell_count=5, rounding_base=None)


def _oracle_part(pid: int, seed: int, test: float, public: float) -> str:
    """The split as the docs state it (written here independently of the module)."""
    h = hmac.new(str(seed).encode(), str(pid).encode(), hashlib.sha256).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    return "public" if u < test * public else "private" if u < test else "train"


def _params(**over: Any) -> ChallengeParams:
    body: dict[str, Any] = {"task": TASK, "split": {"seed": 7, "test_fraction": 0.4,
                                                    "public_fraction": 0.5},
                            "score_digits": 3, **over}  # fmt: skip
    return check_parameters(body)


def test_split_is_per_seed_and_person_and_matches_the_documented_hmac() -> None:
    ids = np.arange(1000, 3000, dtype=np.int64)
    split = _params(model={"kind": "logistic_l2"}).split
    parts = assign_parts(ids, split)
    assert parts.tolist() == [_oracle_part(i, 7, 0.4, 0.5) for i in ids.tolist()]
    # a person's part does not depend on who else is in the population
    assert assign_parts(ids[::-1], split).tolist() == parts[::-1].tolist()
    assert 0.35 < float(np.mean(parts != "train")) < 0.45
    other = assign_parts(ids, split.model_copy(update={"seed": 8}))
    assert other.tolist() != parts.tolist()


def test_predictions_are_scored_on_the_hidden_parts_rounded() -> None:
    data = make_site(1200, seed=3)
    ids = np.arange(1, 1201, dtype=np.int64) * 11
    rng = np.random.default_rng(0)
    probs = np.clip(0.3 * data.y + 0.7 * rng.random(data.rows), 0, 1)
    p = _params(predictions={str(i): float(v) for i, v in zip(ids, probs, strict=True)},
                score_digits=2)  # fmt: skip
    doc = score(p, data, ids, policy=POLICY, synthetic=True, min_train=10)
    truth = np.array([_oracle_part(int(i), 7, 0.4, 0.5) for i in ids])
    for part in ("public", "private"):
        rows = truth == part
        assert doc[part]["auroc"] == round(roc_auc_score(data.y[rows], probs[rows]), 2)
        assert doc[part]["persons"] == int(rows.sum())
        assert doc[part]["outcomes"] == int(data.y[rows].sum())
    assert doc["mode"] == "predictions" and doc["score_digits"] == 2
    # no label, no probability, no person id in the reply
    text = json.dumps(doc)
    assert str(int(ids[5])) not in text and "label" not in text
    # a test person without a prediction: one line, no score
    del p.predictions[str(int(ids[truth != "train"][0]))]  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="1 test rows have no prediction"):
        score(p, data, ids, policy=POLICY, synthetic=True, min_train=10)


def test_predictions_refused_on_real_data_and_small_parts_not_scored() -> None:
    data = make_site(300, seed=4)
    ids = np.arange(1, 301, dtype=np.int64)
    p = _params(predictions={str(i): 0.5 for i in ids.tolist()})
    with pytest.raises(InvalidInput) as exc:
        score(p, data, ids, policy=POLICY, synthetic=False, min_train=10)
    assert exc.value.message == NOT_SYNTHETIC
    strict = DisclosurePolicy(min_cell_count=200, rounding_base=None)
    with pytest.raises(InvalidInput, match="public test part holds fewer than 200"):
        score(_params(model={"kind": "logistic_l2"}), data, ids, policy=strict, synthetic=False,
              min_train=10)  # fmt: skip


def test_parameters_are_strict() -> None:
    with pytest.raises(InvalidInput, match="exactly one of"):
        _params()
    with pytest.raises(InvalidInput, match="score_digits"):
        _params(model={"kind": "logistic_l2"}, score_digits=4)
    with pytest.raises(InvalidInput, match=r"parameters\.predictions"):
        _params(predictions={"12": 1.5})
    with pytest.raises(InvalidInput, match="no hyperparameter 'depth'"):
        _params(model={"kind": "logistic_l2", "hyperparameters": {"depth": 2}})


def test_combined_score_is_the_persons_weighted_mean() -> None:
    def reply(node: str, pub: float, n_pub: int, priv: float, n_priv: int) -> dict[str, Any]:
        return {"node": node, "status": "ok", "result": {"kind": "challenge", "score_digits": 3,
                "public": {"auroc": pub, "persons": n_pub, "outcomes": 20},
                "private": {"auroc": priv, "persons": n_priv, "outcomes": 20}}}  # fmt: skip

    doc = combine("challenge", [reply("a", 0.8, 300, 0.7, 100), reply("b", 0.6, 100, 0.9, 300),
                                {"node": "c", "status": "refused", "reason": "no"}])  # fmt: skip
    assert doc is not None
    assert doc["public"] == round((0.8 * 300 + 0.6 * 100) / 400, 3) == 0.75
    assert doc["private"] == round((0.7 * 100 + 0.9 * 300) / 400, 3) == 0.85
    assert doc["public_persons"] == 400 and doc["nodes"][2]["reason"] == "no"


# ------------------------------------------------------------ a real node on a real CDM


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("challenge-node")
    write_hospitals(root / "h", hospitals=1, persons=1500, seed=5)
    cdm = next((root / "h").glob(f"*/{CDM_FILE}"))
    private, public = generate_hub_keypair(root / "key")
    configs = {}
    for name, synthetic in (("real", False), ("teach", True)):
        d = root / name
        d.mkdir()
        (d / "node.toml").write_text(
            f'name = "{name}"\ncdm = "{cdm}"\naccepted_kinds = ["challenge"]\n'
            f'hub_public_key = "{public}"\nmin_train_persons = 20\n'
            f"synthetic_teaching = {'true' if synthetic else 'false'}\n", encoding="utf-8")  # fmt: skip
        configs[name] = NodeConfig.load(d / "node.toml")
    return {"configs": configs, "key": load_private_key(private)}


def _signed(node: dict[str, Any], target: str, params: dict[str, Any]) -> str:
    now = dt.datetime.now(dt.UTC)
    spec = JobSpec(job_id=f"c-{uuid.uuid4().hex[:10]}", project="p", grant_id="g",
                   kind="challenge", parameters=params, targets=[target],
                   expires_at=now + dt.timedelta(hours=1), issued_at=now)  # fmt: skip
    return sign_job(spec, node["key"], "k").to_json()


def test_a_node_scores_a_model_the_same_twice_and_refuses_predictions_on_real_data(
    node: dict[str, Any],
) -> None:
    params = {"task": CKD, "split": {"seed": 99, "test_fraction": 0.5, "public_fraction": 0.5},
              "score_digits": 3, "model": {"kind": "logistic_l2"}}  # fmt: skip
    first = handle_job(_signed(node, "real", params), node["configs"]["real"])
    assert first["status"] == "ok", first["reason"]
    again = handle_job(_signed(node, "real", params), node["configs"]["real"])  # a new job id
    assert again["result"] == first["result"]
    result = first["result"]
    assert set(result) == {"kind", "metric", "score_digits", "mode", "public", "private"}
    for part in ("public", "private"):
        assert set(result[part]) == {"auroc", "persons", "outcomes"}
        auc = result[part]["auroc"]
        assert 0.0 <= auc <= 1.0 and auc == round(auc, 3)
        assert result[part]["persons"] >= 5 and result[part]["outcomes"] >= 5
    preds = {"task": CKD, "split": params["split"], "predictions": {"1": 0.5}}
    refused = handle_job(_signed(node, "real", preds), node["configs"]["real"])
    assert refused["status"] == "error" and refused["reason"] == NOT_SYNTHETIC
    assert refused["result"] is None
    # at the teaching node the same file is read, and a missing test person is named by count
    teach = handle_job(_signed(node, "teach", preds), node["configs"]["teach"])
    assert teach["status"] == "error" and "test rows have no prediction" in teach["reason"]


def test_node_toml_without_the_flag_is_not_synthetic(tmp_path: Path) -> None:
    _private, public = generate_hub_keypair(tmp_path / "k")
    (tmp_path / "node.toml").write_text(f'name = "n"\ncdm = "x.duckdb"\nhub_public_key = '
                                        f'"{public}"\n', encoding="utf-8")  # fmt: skip
    assert NodeConfig.load(tmp_path / "node.toml").synthetic_teaching is False
