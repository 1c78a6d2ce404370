"""`medhaven challenge`: prediction challenges of a course: create, list, show, submit, leaderboard."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from medhaven.cli.common import print_json
from medhaven.cli.hub_common import HubOption, JsonOption, client, show
from medhaven.errors import InvalidInput, NotFound

app = typer.Typer(help="Prediction challenges scored at the nodes on a hidden test split.",
                  no_args_is_help=True)  # fmt: skip
COLUMNS = ("id", "course_id", "title", "mode", "opens_at", "closes_at", "is_open")
MAX_ROWS = 1_000_000


def _json_file(path: Path, option: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{option}: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{option}: {path}: cannot read the file", detail=str(exc)) from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option}: {path}: not JSON (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{option}: {path}: must be a JSON object")
    return value


def read_predictions(path: Path) -> dict[str, float]:
    """A predictions CSV file (:func:`parse_predictions`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"--predictions: {path}: no such file") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(
            f"--predictions: {path}: cannot read the file", detail=str(exc)
        ) from None
    return parse_predictions(text, source=str(path))


def parse_predictions(text: str, *, source: str) -> dict[str, float]:
    """Predictions CSV text: a header ``person_id,probability``, then one row per person.

    Any fault is one line naming the source, the row (the header is row 1) and the field.
    """
    out: dict[str, float] = {}
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader, [])]
        if header != ["person_id", "probability"]:
            raise InvalidInput(f"{source}: row 1: the header must be person_id,probability")
        for row_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2:
                raise InvalidInput(f"{source}: row {row_no}: 2 fields expected, {len(row)} found")
            pid, value = row[0].strip(), row[1].strip()
            if not pid.isdigit() or len(pid) > 19:
                raise InvalidInput(f"{source}: row {row_no}: person_id: not a whole number")
            try:
                p = float(value)
            except ValueError:
                raise InvalidInput(f"{source}: row {row_no}: probability: not a number") from None
            if not math.isfinite(p) or not 0.0 <= p <= 1.0:
                raise InvalidInput(f"{source}: row {row_no}: probability: not in [0, 1]")
            key = str(int(pid))
            if key in out:
                raise InvalidInput(f"{source}: row {row_no}: person_id: listed twice")
            if len(out) >= MAX_ROWS:
                raise InvalidInput(f"{source}: row {row_no}: more than {MAX_ROWS} rows")
            out[key] = p
    except csv.Error as exc:
        raise InvalidInput(f"{source}: row {reader.line_num}: not CSV ({exc})") from None
    if not out:
        raise InvalidInput(f"{source}: no predictions")
    return out


@app.command("list")
def list_challenges(
    course_id: int | None = typer.Option(None, "--course", help="Only this course's."),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:
    """Challenges of your courses."""
    with client(hub) as c:
        show(c.challenges(course_id=course_id), as_json=as_json, fields=COLUMNS)


@app.command("create")
def create(
    spec: Path = typer.Option(
        ..., "--spec", dir_okay=False,
        help="JSON: course_id, title, description, mode (model|predictions), task, dataset_ids, "
        "opens_at, closes_at (ISO 8601 with a zone), max_daily, test_fraction, public_fraction, "
        "score_digits.",
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:  # fmt: skip
    """Create a challenge of a course you teach (instructor or teaching assistant)."""
    body = _json_file(spec, "--spec")
    with client(hub) as c:
        show(c.create_challenge(body), as_json=as_json)


@app.command("show")
def show_one(challenge_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """One challenge and your submissions."""
    with client(hub) as c:
        out = {"challenge": c.challenge(challenge_id),
               "submissions": c.challenge_submissions(challenge_id)["items"]}  # fmt: skip
    if as_json:
        print_json(out)
        return
    ch = out["challenge"]
    con = Console()
    state = "open" if ch["is_open"] else "closed" if ch["is_closed"] else "not open yet"
    con.print(f"[bold]{ch['title']}[/bold] (course {ch['course_id']}, {ch['mode']}, {state}): "
              f"{ch['opens_at']} .. {ch['closes_at']} UTC, at most {ch['max_daily']} a day, "
              f"AUROC to {ch['score_digits']} digits")  # fmt: skip
    if ch["description"]:
        con.print(ch["description"])
    table = Table("submission", "job", "status", "public", "private", "reason",
                  title="Your submissions")  # fmt: skip
    for s in out["submissions"]:
        private = s.get("private_score")
        table.add_row(str(s["id"]), str(s["job_id"]), s["status"], _score(s["public_score"]),
                      "(after the close)" if "private_score" not in s else _score(private),
                      s["reason"] or "")  # fmt: skip
    con.print(table)


def _score(value: Any) -> str:
    return "" if value is None else str(value)


@app.command("submit")
def submit(
    challenge_id: int = typer.Option(..., "--challenge", help="The challenge's id."),
    model: Path | None = typer.Option(
        None, "--model", dir_okay=False,
        help='A model specification (JSON): {"kind": "logistic_l2", "hyperparameters": {}}.',
    ),
    predictions: Path | None = typer.Option(
        None, "--predictions", dir_okay=False,
        help="A CSV person_id,probability (synthetic teaching data only).",
    ),
    hub: str | None = HubOption,
    as_json: bool = JsonOption,
) -> None:  # fmt: skip
    """Submit a model or predictions; the nodes score it (see `challenge show`)."""
    if (model is None) == (predictions is None):
        raise InvalidInput("give exactly one of --model and --predictions")
    spec = None if model is None else _json_file(model, "--model")
    preds = None if predictions is None else read_predictions(predictions)
    with client(hub) as c:
        out = c.submit_challenge(challenge_id, model=spec, predictions=preds)
    if as_json:
        print_json(out)
        return
    typer.echo(f"submission {out['id']}: {out['status']} (job {out['job_id']})")


@app.command("leaderboard")
def leaderboard(challenge_id: int, hub: str | None = HubOption, as_json: bool = JsonOption) -> None:
    """Best public score per participant; the private column once the challenge has closed."""
    with client(hub) as c:
        out = c.leaderboard(challenge_id)
    if as_json:
        print_json(out)
        return
    cols = ["rank", "name", "public", "submissions", "first at"]
    if out["closed"]:
        cols.insert(3, "private")
    table = Table(*cols, title=f"Challenge {challenge_id}")
    for r in out["rows"]:
        cells = [str(r["rank"]), r["name"], _score(r["public_score"]), str(r["submissions"]),
                 str(r["submitted_at"])]  # fmt: skip
        if out["closed"]:
            cells.insert(3, _score(r.get("private_score")))
        table.add_row(*cells)
    con = Console()
    con.print(table)
    con.print(f"Combined across nodes: {out['combined']}.")
