"""Model cards: JSON and HTML (with ROC and calibration plots), and the TRIPOD+AI checklist.

A card is built only from released material: the evaluations of
:func:`medhaven.prediction.evaluate.evaluate` (already under disclosure
control) and the attrition of each site, whose counts are released here with
the same policy. The plots are drawn from the released ROC points and
calibration bins, never from patient-level predictions, so the HTML shows
nothing the JSON does not.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from medhaven import __version__
from medhaven.analytics.policy import DEFAULT_POLICY, DisclosurePolicy
from medhaven.prediction.tripod import checklist

CARD_JSON = "model_card.json"
CARD_HTML = "model_card.html"
TRIPOD_JSON = "tripod_ai.json"

MEASURES = [
    "AUROC with 95% CI (DeLong)",
    "AUPRC (average precision)",
    "Brier score",
    "observed/expected ratio",
    "calibration intercept (calibration-in-the-large, offset logit(p))",
    "calibration slope (logistic regression of the outcome on logit(p))",
    "ICI (lowess, local linear, span 0.75)",
    "ECE (10 equal-width bins)",
    "calibration curve (deciles of predicted risk)",
    "sensitivity, specificity, PPV, NPV at risk thresholds and top-risk fractions",
]

STANDARD_LIMITATIONS = [
    "Counts below the node's minimum cell count are suppressed and metrics of groups with "
    "fewer persons, outcomes or non-outcomes than that minimum are not reported.",
    "Absence of a record is taken as absence of the condition, drug, procedure or "
    "measurement (no imputation); data-capture differences between hospitals shift features.",
    "Performance is measured on the data named here; it is not evidence of clinical "
    "benefit, and the model is not validated for use in care.",
]


def release_attrition(
    attrition: Sequence[Mapping[str, Any]], policy: DisclosurePolicy = DEFAULT_POLICY
) -> list[dict[str, Any]]:
    """Attrition steps with person counts released under ``policy`` (``None`` when suppressed).

    A step is hidden when its count, or the number of persons it removed since
    the last shown step, is sensitive: the difference of two shown steps
    would otherwise give a small count back.
    """
    out: list[dict[str, Any]] = []
    last: int | None = None
    for step in attrition:
        persons = int(step["persons"])
        removed = 0 if last is None else last - persons
        hide = policy.is_sensitive_count(persons) or policy.is_sensitive_count(abs(removed))
        out.append({"step": str(step["step"]),
                    "persons": None if hide else policy.round_count(persons)})  # fmt: skip
        if not hide:
            last = persons
    return out


def build_card(
    *,
    title: str,
    intended_use: Mapping[str, Any],
    task: Mapping[str, Any],
    features: Mapping[str, Any],
    model: Mapping[str, Any],
    sites: Sequence[Mapping[str, Any]],
    evaluation_design: Mapping[str, Any],
    performance: Mapping[str, Any],
    limitations: Sequence[str] = (),
    reporting: Mapping[str, Any] | None = None,
    policy: DisclosurePolicy = DEFAULT_POLICY,
) -> dict[str, Any]:
    """A model card as a JSON-ready dict.

    ``sites`` are ``{"site", "role", "attrition": [{"step", "persons"}]}`` with
    node-internal counts: they are released here. ``performance`` maps
    ``"internal"`` to a released evaluation and ``"external"`` to one
    released evaluation per validation site.
    """
    released_sites = [{"site": str(s["site"]), "role": str(s["role"]),
                       "attrition": release_attrition(s.get("attrition", []), policy)}
                      for s in sites]  # fmt: skip
    internal = performance.get("internal") or {}
    metrics = internal.get("metrics") or {}
    roles = {str(s["role"]) for s in released_sites}
    objective = "development with internal validation" + (
        " and external validation" if "validate" in roles else ""
    )
    summary = (
        f"{title}: {model.get('kind', 'model')} predicting {task.get('outcome_cohort')} "
        f"in {task.get('target_cohort')}; {objective} across {len(released_sites)} site(s)"
        + (f"; internal AUROC {metrics['auroc']:.3f}" if metrics.get("auroc") is not None else "")
    )
    return {
        "schema": "medhaven.model_card/1",
        "title": title,
        "summary": summary,
        "objective": objective,
        "intended_use": dict(intended_use),
        "task": dict(task),
        "features": dict(features),
        "model": dict(model),
        "data": {"sites": released_sites, "min_cell_count": policy.min_cell_count},
        "evaluation_design": {
            **dict(evaluation_design),
            "measures": MEASURES,
            "heterogeneity": "performance per hospital (subgroups and external sites)",
            "fairness": "performance by every recorded sex and age group, and by hospital",
        },
        "performance": dict(performance),
        "limitations": [*STANDARD_LIMITATIONS, *limitations],
        "reporting": dict(reporting or {}),
        "software": {"name": "MedHaven", "version": __version__, "licence": "Apache-2.0"},
    }


def _svg(fig: Any) -> Markup:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return Markup(text[text.index("<svg") :])  # noqa: S704  # drawn here from numbers only


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "medhaven"
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    return fig, ax


def _evaluations(card: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    perf = card.get("performance") or {}
    found: list[tuple[str, Mapping[str, Any]]] = []
    if perf.get("internal"):
        found.append(("internal test", perf["internal"]))
    for site, ev in sorted((perf.get("internal_by_site") or {}).items()):  # federated: per node
        found.append((f"internal test: {site}", ev))
    for site, ev in sorted((perf.get("external") or {}).items()):
        found.append((f"external: {site}", ev))
    return [(name, ev) for name, ev in found if ev.get("released")]


def roc_svg(card: Mapping[str, Any]) -> Markup:
    """The released ROC points of every evaluation in the card, as an inline SVG."""
    return roc_svg_of(_evaluations(card))


def roc_svg_of(evaluations: list[tuple[str, Mapping[str, Any]]]) -> Markup:
    """The ROC points of released evaluations (label, evaluation), as an inline SVG."""
    import matplotlib.pyplot as plt

    fig, ax = _figure()
    for name, ev in evaluations:
        if not ev.get("released"):
            continue
        pts = sorted((p["fpr"], p["tpr"]) for p in ev["roc_curve"])
        ax.plot(
            [x for x, _ in pts],
            [y for _, y in pts],
            marker=".",
            label=f"{name} (AUROC {ev['metrics']['auroc']:.3f})",
        )
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("ROC (released points)")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    svg = _svg(fig)
    plt.close(fig)
    return svg


def calibration_svg(card: Mapping[str, Any]) -> Markup:
    """Observed against predicted risk by decile (released bins only), as an inline SVG."""
    return calibration_svg_of(_evaluations(card))


def calibration_svg_of(evaluations: list[tuple[str, Mapping[str, Any]]]) -> Markup:
    """Observed against predicted risk of released evaluations (label, evaluation), as an SVG."""
    import matplotlib.pyplot as plt

    fig, ax = _figure()
    top = 0.0
    for name, ev in evaluations:
        if not ev.get("released"):
            continue
        bins = ev["calibration_curve"]
        xs = [b["mean_predicted"] for b in bins]
        ys = [b["observed"] for b in bins]
        top = max([top, *xs, *ys])
        ax.plot(xs, ys, marker="o", label=name)
    lim = min(1.0, max(0.05, top * 1.1))
    ax.plot([0, lim], [0, lim], linestyle=":", color="grey")
    ax.set_xlim(0, lim)
    ax.set_ylim(0, lim)
    ax.set_xlabel("mean predicted risk")
    ax.set_ylabel("observed proportion")
    ax.set_title("Calibration by decile of risk")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    svg = _svg(fig)
    plt.close(fig)
    return svg


def render_html(card: Mapping[str, Any], tripod: Mapping[str, Any]) -> str:
    """The card as one self-contained HTML page (autoescaped; plots inline)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("medhaven.prediction", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    template = env.get_template("model_card.html")
    return template.render(card=card, tripod=tripod, evaluations=_evaluations(card),
                           roc=roc_svg(card), calibration=calibration_svg(card),
                           as_json=lambda v: json.dumps(v, indent=1, sort_keys=True))  # fmt: skip


def write_card(card: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write the card JSON, its HTML page and the TRIPOD+AI checklist into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    tripod = checklist(card)
    html = render_html(card, tripod)  # render first: nothing is written if it fails
    paths = {"card": out / CARD_JSON, "html": out / CARD_HTML, "tripod": out / TRIPOD_JSON}
    paths["card"].write_text(json.dumps(card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    paths["html"].write_text(html, encoding="utf-8")
    paths["tripod"].write_text(json.dumps(tripod, indent=2) + "\n", encoding="utf-8")
    return paths


__all__ = [
    "CARD_HTML",
    "CARD_JSON",
    "TRIPOD_JSON",
    "build_card",
    "calibration_svg",
    "calibration_svg_of",
    "release_attrition",
    "render_html",
    "roc_svg",
    "roc_svg_of",
    "write_card",
]
