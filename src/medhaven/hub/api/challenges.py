"""Prediction challenges: create, list, view, submit, your submissions, leaderboard."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from medhaven.errors import ConfigError
from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, StateDep
from medhaven.hub.models import Challenge
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import MAX_ID, Page
from medhaven.hub.services import challenges
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=V1, tags=["challenges"])


class ChallengeBody(BaseModel):
    """A new challenge of a course you teach."""

    model_config = ConfigDict(extra="forbid")
    course_id: int = Field(ge=1, le=MAX_ID)
    title: Annotated[str, Field(min_length=1, max_length=300)]
    description: Annotated[str, Field(max_length=20000)] = ""
    mode: Literal["model", "predictions"] = "model"
    task: dict[str, Any]
    dataset_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=50)
    opens_at: dt.datetime
    closes_at: dt.datetime
    max_daily: int = Field(default=5, ge=1, le=100)
    test_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    public_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)
    score_digits: int = Field(default=3, ge=1, le=3)


class ChallengePublic(BaseModel):
    """A challenge (its split seed is never shown here)."""

    id: int
    course_id: int | None
    project_id: int
    title: str
    description: str
    mode: str
    task: dict[str, Any]
    dataset_ids: list[int]
    metric: str
    test_fraction: float
    public_fraction: float
    score_digits: int
    max_daily: int
    opens_at: dt.datetime
    closes_at: dt.datetime
    is_open: bool
    is_closed: bool


class SubmissionBody(BaseModel):
    """A model specification, or predictions (person id -> probability), per the mode."""

    model_config = ConfigDict(extra="forbid")
    model: dict[str, Any] | None = None
    predictions: dict[Annotated[str, Field(max_length=19)], float] | None = Field(
        default=None, max_length=1_000_000
    )


class SubmissionPublic(BaseModel):
    """A submission; ``private_score`` is present only once the challenge has closed."""

    model_config = ConfigDict(extra="allow")
    id: int
    challenge_id: int
    user_id: int
    job_id: int | None
    status: str
    reason: str | None
    public_score: float | None
    created_at: dt.datetime
    scored_at: dt.datetime | None


class LeaderRow(BaseModel):
    """One participant's best public score; ``private_score`` only after the close."""

    model_config = ConfigDict(extra="allow")
    rank: int
    user_id: int
    name: str
    public_score: float | None
    submission_id: int
    submitted_at: dt.datetime
    submissions: int


class LeaderboardPublic(BaseModel):
    """The leaderboard; ``combined`` says how nodes' scores were combined."""

    challenge_id: int
    closed: bool
    combined: str
    rows: list[LeaderRow]


COMBINED = (
    "per node, AUROC rounded at the node; across nodes, the persons-weighted mean of the "
    "nodes' rounded scores, rounded again"
)


def challenge_public(c: Challenge) -> ChallengePublic:
    return ChallengePublic(
        id=c.id, course_id=c.course_id, project_id=c.project_id, title=c.title,
        description=c.description, mode=c.mode, task=c.task, dataset_ids=list(c.dataset_ids),
        metric=c.metric, test_fraction=c.test_fraction, public_fraction=c.public_fraction,
        score_digits=c.score_digits, max_daily=c.max_daily, opens_at=c.opens_at,
        closes_at=c.closes_at, is_open=challenges.is_open(c), is_closed=challenges.is_closed(c),
    )  # fmt: skip


@router.get("/challenges", response_model=Page[ChallengePublic])
def list_challenges(
    state: StateDep,
    me: CurrentUser,
    page: PageDep,
    course_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[ChallengePublic]:
    """Challenges of your courses (program officers and admins: all), newest first."""
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(session, challenges.list_query(me, course_id=course_id),
                               limit=page.limit, offset=page.offset)  # fmt: skip
        return Page(items=[challenge_public(c) for c in rows], total=total, limit=page.limit,
                    offset=page.offset)  # fmt: skip


@router.post("/challenges", response_model=ChallengePublic, status_code=201)
def create(body: ChallengeBody, state: StateDep, me: CurrentUser) -> ChallengePublic:
    """A challenge of a course you teach, on datasets its project holds grants on."""
    spec = challenges.ChallengeCreate(**body.model_dump())
    with state.db.unit() as session:
        return challenge_public(challenges.create(session, me, spec))


@router.get("/challenges/{challenge_id}", response_model=ChallengePublic)
def view(challenge_id: PathId, state: StateDep, me: CurrentUser) -> ChallengePublic:
    """One challenge."""
    with state.db.unit(readonly=True) as session:
        return challenge_public(challenges.get_visible(session, me, challenge_id))


@router.post(
    "/challenges/{challenge_id}/submissions", response_model=SubmissionPublic, status_code=202
)
def submit(
    challenge_id: PathId, body: SubmissionBody, state: StateDep, me: CurrentUser
) -> SubmissionPublic:
    """Submit (course members, while open; 429 past the daily limit); scored at the nodes."""
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its job-signing key")
    sub = challenges.submit(state.db, me, state.jobs, challenge_id, model=body.model,
                            predictions=body.predictions)  # fmt: skip
    return SubmissionPublic(**challenges.submission_view(sub, closed=False))


@router.get("/challenges/{challenge_id}/submissions", response_model=Page[SubmissionPublic])
def list_submissions(
    challenge_id: PathId, state: StateDep, me: CurrentUser, page: PageDep, everyone: bool = False
) -> Page[SubmissionPublic]:
    """Your submissions (the course's staff with ``everyone``: all), newest first."""
    with state.db.unit(readonly=True) as session:
        challenges.get_visible(session, me, challenge_id)
    challenges.refresh_all(state.db, challenge_id)
    with state.db.unit(readonly=True) as session:
        c = challenges.get_visible(session, me, challenge_id)
        closed = challenges.is_closed(c)
        rows = challenges.submissions(session, me, c, everyone=everyone)
        items = [SubmissionPublic(**challenges.submission_view(s, closed=closed)) for s in rows]
    return Page(items=items[page.offset : page.offset + page.limit], total=len(items),
                limit=page.limit, offset=page.offset)  # fmt: skip


@router.get("/challenges/{challenge_id}/leaderboard", response_model=LeaderboardPublic)
def leaderboard(challenge_id: PathId, state: StateDep, me: CurrentUser) -> LeaderboardPublic:
    """Best public score per participant; the private column only after the close."""
    with state.db.unit(readonly=True) as session:
        challenges.get_visible(session, me, challenge_id)
    challenges.refresh_all(state.db, challenge_id)
    with state.db.unit(readonly=True) as session:
        c = challenges.get_visible(session, me, challenge_id)
        rows = [LeaderRow(**r) for r in challenges.leaderboard(session, c)]
        return LeaderboardPublic(challenge_id=c.id, closed=challenges.is_closed(c),
                                 combined=COMBINED, rows=rows)  # fmt: skip


__all__ = ["router"]
