"""Challenge pages: the challenges of your courses, and one challenge (description, task, rules,
your submissions, the submit form, the leaderboard; the private column only after the close).

Each page checks the caller against the permission table entry of the API route it mirrors and
calls the same service (:mod:`medhaven.hub.services.challenges`): the window, the daily limit and
the hidden private scores are the service's own rules.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from medhaven.cli.challenges import parse_predictions
from medhaven.errors import ConfigError, InvalidInput
from medhaven.hub.api.challenges import COMBINED
from medhaven.hub.api.deps import StateDep
from medhaven.hub.models import Course
from medhaven.hub.permissions import V1
from medhaven.hub.services import challenges
from medhaven.web.pages import Form, one, writer
from medhaven.web.render import N_, allowed, guard, principal_of, redirect, render

router = APIRouter(include_in_schema=False)
STATUS_LABEL = {"running": N_("Scoring"), "queued": N_("Scoring"), "scored": N_("Scored"),
                "failed": N_("Not scored")}  # fmt: skip
MODE_LABEL = {"model": N_("Model trained at the hospitals"),
              "predictions": N_("Prediction file (synthetic teaching data)")}  # fmt: skip
DEFAULT_MODEL = json.dumps({"kind": "logistic_l2", "hyperparameters": {}})


def _state(c: Any) -> str:
    return "open" if challenges.is_open(c) else "closed" if challenges.is_closed(c) else "soon"


@router.get("/challenges", response_class=HTMLResponse)
def challenge_list(request: Request, state: StateDep) -> Response:
    """The challenges of your courses."""
    me = principal_of(request)
    guard(me, f"GET {V1}/challenges")
    with state.db.unit(readonly=True) as session:
        rows = list(session.execute(challenges.list_query(me).limit(200)).scalars())
        codes = {c.id: c.code for c in session.query(Course).filter(
            Course.id.in_({r.course_id for r in rows if r.course_id}))}  # fmt: skip
        items = [{"id": c.id, "title": c.title, "course": codes.get(c.course_id or 0, ""),
                  "mode": c.mode, "opens_at": c.opens_at, "closes_at": c.closes_at,
                  "state": _state(c)} for c in rows]  # fmt: skip
    return render(request, "challenges_list.html", principal=me, items=items,
                  mode_label=MODE_LABEL)  # fmt: skip


@router.get("/challenges/{challenge_id}", response_class=HTMLResponse)
def challenge_page(challenge_id: int, request: Request, state: StateDep) -> Response:
    """One challenge: what it asks, its rules, your submissions, the form, the leaderboard."""
    me = principal_of(request)
    guard(me, f"GET {V1}/challenges/{{challenge_id}}")
    with state.db.unit(readonly=True) as session:
        challenges.get_visible(session, me, challenge_id)
    challenges.refresh_all(state.db, challenge_id)  # record the scores of finished jobs
    with state.db.unit(readonly=True) as session:
        c = challenges.get_visible(session, me, challenge_id)
        closed = challenges.is_closed(c)
        course = session.get(Course, c.course_id)
        mine = [challenges.submission_view(s, closed=closed)
                for s in challenges.submissions(session, me, c)]  # fmt: skip
        board = challenges.leaderboard(session, c)
        view = {"id": c.id, "title": c.title, "description": c.description, "mode": c.mode,
                "task": json.dumps(c.task, indent=2, ensure_ascii=False),
                "task_name": c.task.get("name", ""), "opens_at": c.opens_at,
                "closes_at": c.closes_at, "max_daily": c.max_daily,
                "score_digits": c.score_digits, "test_fraction": c.test_fraction,
                "public_fraction": c.public_fraction, "state": _state(c), "closed": closed,
                "course": f"{course.code} {course.title}" if course else "",
                "course_id": c.course_id}  # fmt: skip
    can_submit = view["state"] == "open" and allowed(
        me, f"POST {V1}/challenges/{{challenge_id}}/submissions"
    )
    return render(request, "challenges_challenge.html", principal=me, challenge=view,
                  submissions=mine, board=board, can_submit=can_submit,
                  status_label=STATUS_LABEL, mode_label=MODE_LABEL,
                  combined=COMBINED, default_model=DEFAULT_MODEL)  # fmt: skip


@router.post("/challenges/{challenge_id}/submissions")
def challenge_submit(challenge_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Submit a model specification (JSON) or a predictions CSV pasted into the form."""
    me = writer(request, form)
    guard(me, f"POST {V1}/challenges/{{challenge_id}}/submissions")
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its job-signing key")
    model_text, csv_text = one(form, "model"), one(form, "predictions")
    model = None
    preds = None
    if model_text:
        try:
            model = json.loads(model_text)
        except json.JSONDecodeError:
            raise InvalidInput("model: not JSON") from None
        if not isinstance(model, dict):
            raise InvalidInput("model: must be a JSON object")
    if csv_text:
        preds = parse_predictions(csv_text, source="predictions")
    challenges.submit(state.db, me, state.jobs, challenge_id, model=model, predictions=preds)
    return redirect(f"/challenges/{challenge_id}#mine")
