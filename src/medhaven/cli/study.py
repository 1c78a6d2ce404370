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
    rows += [(f"external: {site}", ev) for site, ev in summary["external"].items()]
    for name, ev in rows:
        view.add_row(name, _fmt(ev["n"]), _fmt(ev["outcomes"]), _fmt(ev["auroc"]),
                     _fmt(ev["auprc"]), _fmt(ev["brier"]), _fmt(ev["calibration_slope"]))  # fmt: skip
    console.print(view)
    console.print(f"wrote {', '.join(Path(p).name for p in summary['files'].values())} "
                  f"to {Path(summary['files']['card']).parent} in {summary['wall_seconds']:.1f} s; "
                  "counts and metrics of small groups are not released")  # fmt: skip


@app.command("run")
def run(
    spec: Path = typer.Option(..., "--spec", help="The study spec (JSON): task, model, data."),
    out: Path = typer.Option(Path("study-out"), "--out", help="Folder for the card and model."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Run a study locally: train on the 'train' sites, validate at the 'validate' sites, and
    write model_card.json, model_card.html, tripod_ai.json and model.json into --out."""
    from medhaven.errors import InvalidInput
    from medhaven.prediction.study import load_spec, run_study

    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out: {out} exists and is not a folder")
    study = load_spec(spec)
    if as_json:
        result = run_study(study, out)
    else:
        with console.status(f"running study {study.name}"):
            result = run_study(study, out)
    if as_json:
        print_json(result.summary)
    else:
        _show(result.summary)
