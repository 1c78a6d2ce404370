"""``medhaven study``: run a patient-level prediction study locally and write its model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from medhaven.cli.common import console, print_json

app = typer.Typer(
    help="Patient-level prediction studies: population, features, model, evaluation, model card.",
    no_args_is_help=True,
)


def _fmt(v: Any) -> str:
    if v is None:
        return "not released"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _show(summary: dict[str, Any]) -> None:
    view = Table("evaluation", "persons", "outcomes", "AUROC", "AUPRC", "Brier", "cal. slope",
                 title=f"study {summary['study']} ({summary['model']})")  # fmt: skip
    rows = [("internal test", summary["internal"])]
    if summary.get("mode") == "federated":  # each node's released held-out evaluation
        rows = [(f"internal test: {site}", ev) for site, ev in summary["internal_by_site"].items()]
    rows += [(f"external: {site}", ev) for site, ev in summary["external"].items()]
    for name, ev in rows:
        view.add_row(name, _fmt(ev["n"]), _fmt(ev["outcomes"]), _fmt(ev["auroc"]),
                     _fmt(ev["auprc"]), _fmt(ev["brier"]), _fmt(ev["calibration_slope"]))  # fmt: skip
    console.print(view)
    if summary.get("mode") == "federated":
        console.print(f"hub jobs {summary['jobs']}: every figure is node-released (each node's "
                      "disclosure control); no pooled internal evaluation in federated mode")  # fmt: skip
    for line in summary.get("unavailable", []):
        console.print(f"unavailable: {line}")
    console.print(f"wrote {', '.join(Path(p).name for p in summary['files'].values())} "
                  f"to {Path(summary['files']['card']).parent} in {summary['wall_seconds']:.1f} s; "
                  "counts and metrics of small groups are not released")  # fmt: skip


def _federated(study: Any, out: Path, hub: str | None, *, as_json: bool) -> None:
    from medhaven.cli.hub_common import client
    from medhaven.prediction.federated_study import run_federated_study

    def say(line: str) -> None:
        if not as_json:
            console.print(line)

    with client(hub) as c:
        result = run_federated_study(study, out, c, on_event=say)
    if as_json:
        print_json(result.summary)
    else:
        _show(result.summary)


@app.command("run")
def run(
    spec: Path = typer.Option(..., "--spec", help="The study spec (JSON): task, model, data."),
    out: Path = typer.Option(Path("study-out"), "--out", help="Folder for the card and model."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
    hub: str | None = typer.Option(
        None, "--hub", help="Hub URL for a federated spec (default: saved login)."
    ),
) -> None:
    """Run a study: train on the 'train' sites, validate at the 'validate' sites, and write
    model_card.json, model_card.html, tripod_ai.json and model.json into --out. A spec with
    "mode": "federated" runs as hub jobs under your hub login (medhaven login)."""
    from medhaven.errors import InvalidInput
    from medhaven.prediction.study import load_spec, run_study

    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out: {out} exists and is not a folder")
    study = load_spec(spec)
    if study.mode == "federated":
        _federated(study, out, hub, as_json=as_json)
        return
    if as_json:
        result = run_study(study, out)
    else:
        with console.status(f"running study {study.name}"):
            result = run_study(study, out)
    if as_json:
        print_json(result.summary)
    else:
        _show(result.summary)


@app.command("compare")
def compare_cmd(
    hospitals: int = typer.Option(3, "--hospitals", help="How many hospitals to generate."),
    persons: int = typer.Option(5000, "--persons", help="Persons per generated hospital."),
    seed: int = typer.Option(1, "--seed", help="Generator, split and model seed."),
    model: list[str] = typer.Option(
        ["logistic_l2"],
        "--model",
        help="logistic_l2, logistic_l1, mlp, lightgbm or xgboost; repeat or comma-separate "
        "for several.",
    ),
    xgb_mode: str = typer.Option(
        "cyclic", "--xgb-mode", help="xgboost: cyclic (nodes take turns) or bagging."
    ),
    transport: str = typer.Option(
        "flower", "--transport", help="flower (real processes on loopback) or in_process."
    ),
    l2: float = typer.Option(1.0, "--l2", help="L2 penalty of the federated Newton fit."),
    l1: float = typer.Option(
        1.0, "--l1", help="logistic_l1: L1 penalty (federated l1; local and pooled C = 1/l1)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Generate hospitals and compare local-only, federated and pooled training on a common
    held-out test set (every hospital's test part together)."""
    from medhaven.errors import InvalidInput
    from medhaven.prediction.compare import check_model, compare

    models = [m.strip() for item in model for m in item.split(",") if m.strip()]
    for m in models:
        check_model(m)
    if xgb_mode not in ("cyclic", "bagging"):
        raise InvalidInput("--xgb-mode: cyclic or bagging")
    docs = []
    for m in models:
        extra = {"xgb_mode": xgb_mode} if m == "xgboost" else None
        if as_json:
            docs.append(compare(hospitals=hospitals, persons=persons, seed=seed, model=m,
                                transport=transport, l2=l2, l1=l1, federated=extra))  # fmt: skip
            continue
        with console.status(f"generating {hospitals} hospitals and training {m} three ways"):
            doc = compare(hospitals=hospitals, persons=persons, seed=seed, model=m,
                          transport=transport, l2=l2, l1=l1, federated=extra)  # fmt: skip
        _show_compare(doc)
    if as_json:
        print_json(docs[0] if len(docs) == 1 else {"comparisons": docs})


def _show_compare(doc: dict[str, Any]) -> None:
    from medhaven.prediction.compare import KEYS

    model, hospitals = doc["model"], doc["hospitals"]
    view = Table("training", "AUROC", "AUPRC", "Brier", "cal. slope", "seconds",
                 title=f"{model} on {hospitals} generated hospitals ({doc['test_persons']} "
                 "test persons)")  # fmt: skip
    for name in ("local", "federated", "pooled"):
        row = doc[name]
        view.add_row(name, *(_fmt(row[k]) for k in KEYS), _fmt(row["wall_seconds"]))
    console.print(view)
    console.print(f"federated / pooled AUROC: {_fmt(doc['federated_pooled_auroc_ratio'])} "
                  f"(transport: {doc['federated']['transport']})")  # fmt: skip
