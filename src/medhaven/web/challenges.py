"""Challenge pages: the challenges of your courses, and one challenge (description, task, rules,
your submissions, the submit form, the leaderboard; the private column only after the close).

Each page checks the caller against the permission table entry of the API route it mirrors and
calls the same service (:mod:`medhaven.hub.services.challenges`): the window, the daily limit and
the hidden private scores are the service's own rules.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from medhaven.analytics.cohorts.library import library_names
from medhaven.cli.challenges import parse_predictions
from medhaven.errors import ConfigError, Forbidden, InvalidInput
from medhaven.hub.api.challenges import COMBINED
from medhaven.hub.api.deps import StateDep
from medhaven.hub.models import Course
from medhaven.hub.permissions import V1
from medhaven.hub.services import challenges, courses
from medhaven.hub.services.common import Principal
from medhaven.web.pages import Form, ids, one, writer
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


# -- the instructor's form -------------------------------------------------------------------

FORM_DEFAULTS: dict[str, Any] = {
    "title": "", "description": "", "mode": "model", "task_name": "", "target_cohort": "",
    "outcome_cohort": "", "risk_window_start": "1", "risk_window_end": "365", "opens_at": "",
    "closes_at": "", "max_daily": "5", "test_fraction": "0.3", "public_fraction": "0.5",
    "score_digits": "3", "dataset_ids": [],
}  # fmt: skip
WHEN_FORMAT = "%Y-%m-%dT%H:%M"


def _when(form: dict[str, list[str]], name: str) -> dt.datetime:
    """A ``datetime-local`` field read as UTC."""
    text = one(form, name)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}: a date and time (UTC), e.g. 2026-12-03T09:00") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _number(form: dict[str, list[str]], name: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(one(form, name))
    except ValueError:
        raise InvalidInput(f"{name}: a number") from None


def _day(form: dict[str, list[str]], name: str) -> int:
    value = _number(form, name, int)
    if not -100_000 <= value <= 100_000:
        raise InvalidInput(f"{name}: out of range")
    return int(value)


def create_spec(course_id: int, form: dict[str, list[str]]) -> challenges.ChallengeCreate:
    """The challenge the form asks for (one-line error naming a field; the service checks the
    rest: the window, the limits, the course's grants)."""
    names = library_names()
    for field in ("target_cohort", "outcome_cohort"):
        if one(form, field) not in names:
            raise InvalidInput(f"{field}: pick a cohort from the example library")
    start, end = _day(form, "risk_window_start"), _day(form, "risk_window_end")
    if end < start:
        raise InvalidInput("risk_window_end: must not be before risk_window_start")
    task = {"name": (one(form, "task_name") or one(form, "title"))[:200] or "challenge",
            "target_cohort": one(form, "target_cohort"),
            "outcome_cohort": one(form, "outcome_cohort"),
            "risk_window_start": start, "risk_window_end": end}  # fmt: skip
    chosen = ids(form, "dataset_ids")
    if not chosen:
        raise InvalidInput("dataset_ids: choose at least one of the course's datasets")
    return challenges.ChallengeCreate(
        course_id=course_id, title=one(form, "title"), mode=one(form, "mode"), task=task,
        dataset_ids=chosen, opens_at=_when(form, "opens_at"), closes_at=_when(form, "closes_at"),
        description=one(form, "description")[:20_000],
        max_daily=_number(form, "max_daily", int),
        test_fraction=_number(form, "test_fraction", float),
        public_fraction=_number(form, "public_fraction", float),
        score_digits=_number(form, "score_digits", int),
    )  # fmt: skip


def _new_form(
    request: Request,
    state: StateDep,
    me: Principal,
    course_id: int,
    *,
    values: dict[str, Any],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    with state.db.unit(readonly=True) as session:
        course = courses.get_visible(session, me, course_id)
        if courses.my_role(session, me, course) not in courses.STAFF:
            raise Forbidden(
                "only the course's instructor or teaching assistants may create challenges"
            )
        view = {"id": course.id, "code": course.code, "title": course.title}
        granted = [(d.dataset_id, d.name) for d in courses.datasets(session, course)]
    return render(request, "challenges_new.html", principal=me, status_code=status_code,
                  course=view, granted=granted, library=library_names(), values=values,
                  error=error, modes=challenges.MODES, mode_label=MODE_LABEL)  # fmt: skip


@router.get("/courses/{course_id}/challenges/new", response_class=HTMLResponse)
def challenge_new(course_id: int, request: Request, state: StateDep) -> Response:
    """The form for a new challenge of a course (its instructor or teaching assistants)."""
    me = principal_of(request)
    guard(me, f"POST {V1}/challenges")
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    values = dict(FORM_DEFAULTS, opens_at=now.strftime(WHEN_FORMAT),
                  closes_at=(now + dt.timedelta(days=14)).strftime(WHEN_FORMAT))  # fmt: skip
    return _new_form(request, state, me, course_id, values=values)


@router.post("/courses/{course_id}/challenges", response_class=HTMLResponse)
def challenge_create(course_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Create the challenge through the API's service; a bad field is shown in the form (400)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/challenges")
    values: dict[str, Any] = {k: one(form, k) for k in FORM_DEFAULTS if k != "dataset_ids"}
    values["dataset_ids"] = [v for v in form.get("dataset_ids", []) if v.isdigit()]
    try:
        spec = create_spec(course_id, form)
        with state.db.unit() as session:
            cid = challenges.create(session, me, spec).id
    except InvalidInput as exc:
        return _new_form(request, state, me, course_id, values=values, error=exc.message,
                         status_code=400)  # fmt: skip
    return redirect(f"/challenges/{cid}")
