"""Model card JSON/HTML and TRIPOD+AI checklist from synthetic predictions."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from medhaven.analytics.policy import DisclosurePolicy
from medhaven.prediction.card import build_card, release_attrition, render_html, write_card
from medhaven.prediction.evaluate import evaluate
from medhaven.prediction.tripod import ITEMS, checklist

# The 2024 statement: 27 topics; these are all its item ids (with sub-items).
TRIPOD_AI_IDS = [
    "1",
    "2",
    "3a",
    "3b",
    "3c",
    "4",
    "5a",
    "5b",
    "6a",
    "6b",
    "6c",
    "7",
    "8a",
    "8b",
    "8c",
    "9a",
    "9b",
    "9c",
    "10",
    "11",
    "12a",
    "12b",
    "12c",
    "12d",
    "12e",
    "12f",
    "12g",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18a",
    "18b",
    "18c",
    "18d",
    "18e",
    "18f",
    "19",
    "20a",
    "20b",
    "20c",
    "21",
    "22",
    "23a",
    "23b",
    "24",
    "25",
    "26",
    "27a",
    "27b",
    "27c",
]


@functools.cache
def _evaluation(seed: int, n: int = 1500) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(-(x - 1.5)))
    y = (rng.random(n) < p).astype(np.int8)
    sex = rng.choice(["female", "male"], size=n).astype("<U10")
    sex[:3] = "unknown"
    return evaluate(y, p, groups={"sex": sex})


def _card(**overrides: object) -> dict:
    args: dict = {
        "title": "Heart failure <script>alert(1)</script>",
        "intended_use": {"context": "research", "population": "adults with hypertension"},
        "task": {
            "target_cohort": "essential_hypertension",
            "outcome_cohort": "heart_failure_admission",
            "risk_window_start": 1,
            "risk_window_end": 365,
            "start_anchor": "cohort start",
            "end_anchor": "cohort start",
        },
        "features": {
            "spec": {"windows": [365]},
            "missing_data": "absent = 0",
            "handling": "binary",
        },
        "model": {
            "kind": "logistic_l2",
            "hyperparameters": {"C": 1.0},
            "features": 40,
            "bundle_sha256": "ab" * 32,
            "output": "probability",
        },
        "sites": [
            {
                "site": "north",
                "role": "train",
                "attrition": [
                    {"step": "target cohort", "persons": 900},
                    {"step": "prior outcome removed", "persons": 3},
                ],
            },
            {
                "site": "south",
                "role": "validate",
                "attrition": [{"step": "target cohort", "persons": 400}],
            },
        ],
        "evaluation_design": {"test_fraction": 0.25, "seed": 1},
        "performance": {"internal": _evaluation(1), "external": {"south": _evaluation(2)}},
    }
    args.update(overrides)
    return build_card(**args)


def test_attrition_counts_released_with_policy() -> None:
    steps = [
        {"step": "a", "persons": 120},
        {"step": "b", "persons": 4},
        {"step": "c", "persons": 0},
    ]
    assert [s["persons"] for s in release_attrition(steps)] == [120, None, 0]
    rounded = release_attrition(steps, DisclosurePolicy(min_cell_count=10, rounding_base=10))
    assert [s["persons"] for s in rounded] == [120, None, 0]
    assert [
        s["persons"] for s in release_attrition(steps, DisclosurePolicy(min_cell_count=200))
    ] == [None, None, 0]


def test_card_json_holds_released_data_only(tmp_path: Path) -> None:
    card = _card()
    paths = write_card(card, tmp_path)
    loaded = json.loads(paths["card"].read_text())
    north = loaded["data"]["sites"][0]["attrition"]
    assert north[1] == {"step": "prior outcome removed", "persons": None}
    assert (
        loaded["performance"]["internal"]["metrics"]["auroc"]
        == card["performance"]["internal"]["metrics"]["auroc"]
    )
    unknown = next(
        r for r in loaded["performance"]["internal"]["subgroups"]["sex"] if r["label"] == "unknown"
    )
    assert unknown["n"] is None and unknown["auroc"] is None
    assert "internal AUROC" in loaded["summary"]


def test_html_is_escaped_and_has_both_plots(tmp_path: Path) -> None:
    card = _card()
    html = write_card(card, tmp_path)["html"].read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<svg") == 2
    auroc = card["performance"]["internal"]["metrics"]["auroc"]
    assert f"{auroc:.3f}" in html
    assert "not released (too few persons or outcomes)" in html  # the 3 'unknown' persons
    assert "external: south" in html


def test_tripod_has_every_2024_item_and_flags_missing() -> None:
    assert [i[0] for i in ITEMS] == TRIPOD_AI_IDS
    result = checklist(_card())
    status = {i["id"]: i["status"] for i in result["items"]}
    assert status["23a"] == "reported" and status["26"] == "reported" and status["5a"] == "reported"
    assert status["17"] == "missing" and "17" in result["missing"]  # ethics: only authors know
    assert status["12f"] == "not_applicable" and status["24"] == "not_applicable"
    assert all(i["status"] in {"reported", "missing", "not_applicable"} for i in result["items"])


def test_tripod_reporting_section_fills_items() -> None:
    card = _card(reporting={"ethics": "approved by REC 24/001", "not_applicable": ["6c"]})
    status = {i["id"]: i["status"] for i in checklist(card)["items"]}
    assert status["17"] == "reported" and status["6c"] == "not_applicable"
    no_perf = _card(performance={})
    status = {i["id"]: i["status"] for i in checklist(no_perf)["items"]}
    assert status["23a"] == "missing" and status["21"] == "missing"


def test_card_without_released_metrics_renders() -> None:
    small = evaluate(np.array([0, 1, 0, 1, 0, 0]), np.array([0.1, 0.8, 0.2, 0.7, 0.3, 0.1]))
    card = _card(performance={"internal": small})
    html = render_html(card, checklist(card))
    assert "internal AUROC" not in card["summary"]
    assert "internal test" not in html  # no released evaluation: no row, no curve
    assert html.count("<svg") == 2


@pytest.mark.parametrize("name", ["model_card.json", "model_card.html", "tripod_ai.json"])
def test_write_card_writes_three_files(tmp_path: Path, name: str) -> None:
    write_card(_card(), tmp_path)
    assert (tmp_path / name).stat().st_size > 100
