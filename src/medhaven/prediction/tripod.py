"""The TRIPOD+AI checklist (Collins et al., BMJ 2024), filled from a model card.

Each of the 2024 statement's items (27 topics, 52 items with their
sub-items) names where in the card it is reported. An item is
``"reported"`` when that card field holds a value, ``"not_applicable"``
when the study said so (``reporting.not_applicable``) or when MedHaven
knows it does not apply (no model updating is done), and ``"missing"``
otherwise. Items that only the authors can report (ethics, funding,
blinding, patient involvement ...) come from the study's free-text
``reporting`` section and are flagged missing until given.

The status says only that the card has something at that place, not that a
reviewer would judge it adequate.
"""

from __future__ import annotations

from typing import Any

# (id, section, title, card field); the card field is a dotted path.
ITEMS: tuple[tuple[str, str, str, str], ...] = (
    ("1", "Title", "Title", "title"),
    ("2", "Abstract", "Abstract", "summary"),
    ("3a", "Introduction", "Background: healthcare context and rationale", "intended_use.context"),
    (
        "3b",
        "Introduction",
        "Background: target population and intended users",
        "intended_use.population",
    ),
    (
        "3c",
        "Introduction",
        "Background: known health inequalities",
        "reporting.health_inequalities",
    ),
    ("4", "Introduction", "Objectives", "objective"),
    ("5a", "Methods", "Data: sources", "data.sites"),
    ("5b", "Methods", "Data: dates of accrual and follow-up", "reporting.dates"),
    ("6a", "Methods", "Participants: setting and centres", "reporting.setting"),
    ("6b", "Methods", "Participants: eligibility criteria", "task.target_cohort"),
    ("6c", "Methods", "Participants: treatments received", "reporting.treatments"),
    ("7", "Methods", "Data preparation", "features"),
    ("8a", "Methods", "Outcome: definition, timing and assessment", "task.outcome_cohort"),
    ("8b", "Methods", "Outcome: qualifications of assessors", "reporting.outcome_assessors"),
    ("8c", "Methods", "Outcome: blinding of outcome assessment", "reporting.outcome_blinding"),
    ("9a", "Methods", "Predictors: choice of initial predictors", "features.spec"),
    ("9b", "Methods", "Predictors: definition and measurement", "features.spec"),
    (
        "9c",
        "Methods",
        "Predictors: qualifications and blinding of assessors",
        "reporting.predictor_blinding",
    ),
    ("10", "Methods", "Sample size", "reporting.sample_size"),
    ("11", "Methods", "Missing data", "features.missing_data"),
    ("12a", "Methods", "Analysis: how data were used (partitioning)", "evaluation_design"),
    ("12b", "Methods", "Analysis: how predictors were handled", "features.handling"),
    ("12c", "Methods", "Analysis: model type, building and tuning", "model"),
    (
        "12d",
        "Methods",
        "Analysis: heterogeneity across clusters",
        "evaluation_design.heterogeneity",
    ),
    ("12e", "Methods", "Analysis: performance measures", "evaluation_design.measures"),
    ("12f", "Methods", "Analysis: model updating", "reporting.model_updating"),
    (
        "12g",
        "Methods",
        "Analysis: how predictions were calculated in evaluation",
        "model.bundle_sha256",
    ),
    ("13", "Methods", "Class imbalance", "reporting.class_imbalance"),
    ("14", "Methods", "Fairness", "evaluation_design.fairness"),
    ("15", "Methods", "Model output", "model.output"),
    ("16", "Methods", "Training versus evaluation data", "data.sites"),
    ("17", "Methods", "Ethical approval", "reporting.ethics"),
    ("18a", "Open science", "Funding", "reporting.funding"),
    ("18b", "Open science", "Conflicts of interest", "reporting.conflicts"),
    ("18c", "Open science", "Protocol", "reporting.protocol"),
    ("18d", "Open science", "Registration", "reporting.registration"),
    ("18e", "Open science", "Data sharing", "reporting.data_sharing"),
    ("18f", "Open science", "Code sharing", "software"),
    (
        "19",
        "Patient and public involvement",
        "Patient and public involvement",
        "reporting.patient_involvement",
    ),
    ("20a", "Results", "Participants: flow and numbers with the outcome", "data.sites"),
    ("20b", "Results", "Participants: characteristics", "performance.internal.subgroups"),
    ("20c", "Results", "Participants: development versus evaluation data", "data.sites"),
    ("21", "Results", "Model development: participants and outcomes per analysis", "performance"),
    ("22", "Results", "Model specification", "model.bundle_sha256"),
    (
        "23a",
        "Results",
        "Model performance with confidence intervals",
        "performance.internal.metrics",
    ),
    ("23b", "Results", "Model performance across subgroups", "performance.internal.subgroups"),
    ("24", "Results", "Model updating", "reporting.model_updating"),
    ("25", "Discussion", "Interpretation", "reporting.interpretation"),
    ("26", "Discussion", "Limitations", "limitations"),
    (
        "27a",
        "Discussion",
        "Usability: handling of poor-quality or missing input",
        "reporting.input_quality",
    ),
    (
        "27b",
        "Discussion",
        "Usability: user interaction and expertise",
        "reporting.user_interaction",
    ),
    (
        "27c",
        "Discussion",
        "Usability: future research and generalisability",
        "reporting.future_research",
    ),
)

# MedHaven never updates (recalibrates, refits) a model after evaluation.
NEVER_APPLICABLE = frozenset({"12f", "24"})


def _lookup(card: dict[str, Any], path: str) -> Any:
    node: Any = card
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list | dict | tuple):
        return len(value) > 0
    return True


def checklist(card: dict[str, Any]) -> dict[str, Any]:
    """The TRIPOD+AI checklist of a card: one entry per item, and the ids of missing items."""
    reporting = card.get("reporting") or {}
    declared = {str(i) for i in reporting.get("not_applicable", [])}
    items: list[dict[str, Any]] = []
    for item_id, section, title, where in ITEMS:
        if item_id in NEVER_APPLICABLE or item_id in declared:
            status = "not_applicable"
        elif _present(_lookup(card, where)):
            status = "reported"
        else:
            status = "missing"
        items.append({"id": item_id, "section": section, "title": title, "status": status,
                      "where": where})  # fmt: skip
    return {
        "guideline": "TRIPOD+AI (2024)",
        "items": items,
        "missing": [i["id"] for i in items if i["status"] == "missing"],
        "reported": sum(1 for i in items if i["status"] == "reported"),
    }


__all__ = ["ITEMS", "checklist"]
