"""Prediction challenges of a course: a task scored at the nodes on a hidden test split.

* The course's instructor or a teaching assistant creates a challenge on datasets the
  course project holds active grants on: the task, ``mode`` (``model``: a model
  specification trained and scored at the nodes; ``predictions``: a prediction file,
  scored only at nodes whose policy says their data are synthetic teaching data), the
  window ``opens_at``..``closes_at``, ``max_daily`` submissions per person and UTC day,
  the public share of the test split and the digits of the score. ``split_seed`` is
  drawn at random at creation; with it every node cuts the same hidden split
  (:mod:`medhaven.prediction.challenge`), so every submission is scored on the same
  persons.
* A member of the course submits while the challenge is open: a ``challenge`` job is
  submitted through :func:`medhaven.hub.services.jobs.submit` in the course project,
  under its grants, so every node, grant, disclosure and audit rule applies unchanged.
* Scores are recorded from the job's released result when it is read (a lazy refresh):
  per node, the AUROC of the public and the private part rounded at the node; combined
  across nodes as the persons-weighted mean of the per-node rounded scores, rounded again.
* The leaderboard ranks each participant's best public score (ties: the earliest). The
  private score is left out of every answer (leaderboard, submissions, the job's result)
  until ``closes_at`` has passed.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from medhaven.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MedHavenError,
    NotFound,
    RateLimited,
)
from medhaven.hub import audit
from medhaven.hub.db import Database
from medhaven.hub.models import (
    Challenge,
    ChallengeSubmission,
    Course,
    CourseMember,
    Job,
    JobStatus,
    User,
)
from medhaven.hub.services import courses
from medhaven.hub.services.common import Principal, now_utc

if TYPE_CHECKING:
    from medhaven.hub.services.jobs import JobRunner

MODES = ("model", "predictions")
PENDING = frozenset({"queued", "running"})
ENDED_WITHOUT = frozenset(
    {JobStatus.FAILED.value, JobStatus.REFUSED.value, JobStatus.CANCELLED.value}
)
MAX_SEED = 2**31 - 1  # an Integer column on every database


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def is_closed(challenge: Challenge, at: dt.datetime | None = None) -> bool:
    """Whether ``closes_at`` has passed (the private scores may be shown)."""
    return _aware(challenge.closes_at) <= (at or now_utc())


def is_open(challenge: Challenge, at: dt.datetime | None = None) -> bool:
    """Whether submissions are taken now."""
    now = at or now_utc()
    return _aware(challenge.opens_at) <= now < _aware(challenge.closes_at)


@dataclass(frozen=True)
class ChallengeCreate:
    """What a challenge's creator gives."""

    course_id: int
    title: str
    mode: str
    task: dict[str, Any]
    dataset_ids: list[int]
    opens_at: dt.datetime
    closes_at: dt.datetime
    description: str = ""
    max_daily: int = 5
    test_fraction: float = 0.3
    public_fraction: float = 0.5
    score_digits: int = 3


def _check_create(body: ChallengeCreate) -> None:
    from medhaven.prediction.task import parse_task

    if body.mode not in MODES:
        raise InvalidInput(f"mode: must be one of {', '.join(MODES)}")
    parse_task(body.task, source="task")
    if not body.title.strip() or len(body.title) > 300:
        raise InvalidInput("title: give 1 to 300 characters")
    if body.opens_at.tzinfo is None or body.closes_at.tzinfo is None:
        raise InvalidInput("opens_at/closes_at: give a timezone (UTC)")
    if body.closes_at <= body.opens_at:
        raise InvalidInput("closes_at: must be after opens_at")
    if not 1 <= body.max_daily <= 100:
        raise InvalidInput("max_daily: must be between 1 and 100")
    if not 0.0 < body.test_fraction < 1.0:
        raise InvalidInput("test_fraction: must be between 0 and 1")
    if not 0.0 < body.public_fraction < 1.0:
        raise InvalidInput("public_fraction: must be between 0 and 1")
    if not 1 <= body.score_digits <= 3:
        raise InvalidInput("score_digits: must be 1, 2 or 3")
    if not body.dataset_ids or len(set(body.dataset_ids)) != len(body.dataset_ids):
        raise InvalidInput("dataset_ids: give one or more distinct datasets")


def create(session: Session, principal: Principal, body: ChallengeCreate) -> Challenge:
    """A challenge of a course (its instructor or teaching assistants); audited."""
    course = courses.get_visible(session, principal, body.course_id)
    if courses.my_role(session, principal, course) not in courses.STAFF:
        raise Forbidden("only the course's instructor or teaching assistants may create challenges")
    if course.closed_at is not None:
        raise Conflict(f"course {course.id} is closed")
    _check_create(body)
    granted = {d.dataset_id for d in courses.datasets(session, course)}
    for dataset_id in body.dataset_ids:
        if dataset_id not in granted:
            raise InvalidInput(
                f"dataset_ids: dataset {dataset_id} has no active grant in the course's project"
            )
    now = now_utc()
    row = Challenge(course_id=course.id, project_id=course.project_id, title=body.title.strip(),
                    description=body.description, mode=body.mode, task=body.task,
                    dataset_ids=sorted(body.dataset_ids), metric="auroc",
                    test_fraction=body.test_fraction, public_fraction=body.public_fraction,
                    score_digits=body.score_digits, max_daily=body.max_daily,
                    split_seed=secrets.randbelow(MAX_SEED) + 1, opens_at=body.opens_at,
                    closes_at=body.closes_at, created_by=principal.user_id,
                    created_at=now)  # fmt: skip
    session.add(row)
    session.flush()
    audit.record(session, actor=principal.actor, action="challenge.create",
                 object_type="challenge", object_id=row.id,
                 details={"course_id": course.id, "mode": row.mode,
                          "datasets": row.dataset_ids})  # fmt: skip
    return row


def get_visible(session: Session, principal: Principal, challenge_id: int) -> Challenge:
    """A challenge of a course the caller is in (program officers and admins: any)."""
    row = session.get(Challenge, challenge_id)
    if row is None or row.course_id is None:
        raise NotFound(f"challenge {challenge_id} not found")
    try:
        courses.get_visible(session, principal, row.course_id)
    except NotFound:
        raise NotFound(f"challenge {challenge_id} not found") from None
    return row


def list_query(principal: Principal, *, course_id: int | None = None) -> Select[Any]:
    """Challenges of the caller's courses (program officers and admins: all), newest first."""
    stmt = select(Challenge).order_by(Challenge.id.desc())
    if not courses.oversees(principal):
        mine = select(CourseMember.course_id).where(CourseMember.user_id == principal.user_id)
        stmt = stmt.where(Challenge.course_id.in_(mine))
    if course_id is not None:
        stmt = stmt.where(Challenge.course_id == course_id)
    return stmt


def is_staff(session: Session, principal: Principal, challenge: Challenge) -> bool:
    """Whether the caller teaches the challenge's course (or oversees the program)."""
    course = session.get(Course, challenge.course_id)
    role = courses.my_role(session, principal, course) if course else None
    return role in courses.STAFF or (role is None and courses.oversees(principal))


def parameters(challenge: Challenge, submission: Mapping[str, Any]) -> dict[str, Any]:
    """The ``challenge`` job's parameters for one submission (a model spec or predictions)."""
    return {"task": challenge.task,
            "split": {"seed": challenge.split_seed, "test_fraction": challenge.test_fraction,
                      "public_fraction": challenge.public_fraction},
            "score_digits": challenge.score_digits, **submission}  # fmt: skip


def _today_count(session: Session, challenge_id: int, user_id: int, now: dt.datetime) -> int:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(session.execute(
        select(func.count(ChallengeSubmission.id)).where(
            ChallengeSubmission.challenge_id == challenge_id,
            ChallengeSubmission.user_id == user_id,
            ChallengeSubmission.created_at >= start)).scalar_one())  # fmt: skip


def _check_submission(challenge: Challenge, model: Any, predictions: Any) -> dict[str, Any]:
    if challenge.mode == "model":
        if model is None or predictions is not None:
            raise InvalidInput("model: this challenge takes a model specification (no predictions)")
        return {"model": model}
    if predictions is None or model is not None:
        raise InvalidInput("predictions: this challenge takes a predictions file (no model)")
    return {"predictions": predictions}


def _refusal(session: Session, principal: Principal, challenge: Challenge) -> MedHavenError | None:
    """Why a submission is refused now (not open, or the day's limit reached), or None."""
    now = now_utc()
    if now < _aware(challenge.opens_at):
        return Conflict(
            f"challenge {challenge.id} opens at {_aware(challenge.opens_at):%Y-%m-%d %H:%M} UTC"
        )
    if is_closed(challenge, now):
        return Conflict(
            f"challenge {challenge.id} closed at {_aware(challenge.closes_at):%Y-%m-%d %H:%M} UTC"
        )
    if _today_count(session, challenge.id, principal.user_id, now) >= challenge.max_daily:
        return RateLimited(f"you have made {challenge.max_daily} submissions to challenge "
                           f"{challenge.id} today (UTC), its daily limit; try again tomorrow")  # fmt: skip
    return None


def submit(
    db: Database,
    principal: Principal,
    runner: JobRunner,
    challenge_id: int,
    *,
    model: Mapping[str, Any] | None = None,
    predictions: Mapping[str, float] | None = None,
) -> ChallengeSubmission:
    """A course member's submission: checked, then scored at the nodes by a ``challenge`` job."""
    from medhaven.hub.services.jobs import JobRequest

    with db.unit() as session:
        challenge = get_visible(session, principal, challenge_id)
        course = session.get(Course, challenge.course_id)
        if course is None or courses.my_role(session, principal, course) is None:
            raise Forbidden("only the course's people may submit to its challenges")
        what = _check_submission(challenge, model, predictions)
        refused = _refusal(session, principal, challenge)
        if refused is not None:  # the refusal is audited (this transaction commits)
            audit.record(session, actor=principal.actor, action="challenge.refuse",
                         object_type="challenge", object_id=challenge.id,
                         details={"reason": refused.message})  # fmt: skip
        params = parameters(challenge, what)
        project_id, dataset_ids = challenge.project_id, list(challenge.dataset_ids)
    if refused is not None:
        raise refused
    job = runner.submit(principal, JobRequest(project_id=project_id, kind="challenge",
                                              parameters=params, dataset_ids=dataset_ids,
                                              min_nodes=1))  # fmt: skip
    kept = (
        {"model": what["model"]} if "model" in what else {"predictions": len(what["predictions"])}
    )
    with db.unit() as session:
        row = ChallengeSubmission(challenge_id=challenge_id, user_id=principal.user_id,
                                  job_id=job.id, spec=kept, status="running", reason=None,
                                  public_score=None, private_score=None, created_at=now_utc(),
                                  scored_at=None)  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(session, actor=principal.actor, action="challenge.submit",
                     object_type="challenge_submission", object_id=row.id,
                     details={"challenge_id": challenge_id, "job_id": job.id})  # fmt: skip
        return row


def _node_reasons(job: Job) -> str:
    reasons = [f"{n}: {v.get('reason')}" for n, v in (job.node_status or {}).items()
               if v.get("reason")]  # fmt: skip
    return "; ".join(reasons)[:500] or (job.reason or job.status)


def refresh(session: Session, challenge: Challenge) -> int:
    """Record the scores of submissions whose job has finished; returns how many settled."""
    rows = session.execute(
        select(ChallengeSubmission, Job)
        .join(Job, Job.id == ChallengeSubmission.job_id)
        .where(
            ChallengeSubmission.challenge_id == challenge.id,
            ChallengeSubmission.status.in_(PENDING),
        )
    ).all()
    settled = 0
    for sub, job in rows:
        combined = (job.result or {}).get("combined") if isinstance(job.result, dict) else None
        if job.status in (JobStatus.COMPLETED.value, JobStatus.PARTIAL.value):
            public = combined.get("public") if isinstance(combined, dict) else None
            if public is None:
                sub.status, sub.reason = "failed", _node_reasons(job)
            else:
                sub.status, sub.reason = "scored", None
                sub.public_score = float(public)
                private = combined.get("private") if isinstance(combined, dict) else None
                sub.private_score = None if private is None else float(private)
        elif job.status in ENDED_WITHOUT:
            sub.status, sub.reason = "failed", _node_reasons(job)
        else:
            continue
        sub.scored_at = now_utc()
        settled += 1
        audit.record(session, actor="system:challenges", action="challenge.score",
                     object_type="challenge_submission", object_id=sub.id,
                     details={"status": sub.status, "job_id": job.id})  # fmt: skip
    return settled


def refresh_all(db: Database, challenge_id: int) -> None:
    """:func:`refresh` in its own transaction (before a read)."""
    with db.unit() as session:
        row = session.get(Challenge, challenge_id)
        if row is not None:
            refresh(session, row)


def submission_view(sub: ChallengeSubmission, *, closed: bool) -> dict[str, Any]:
    """One submission as shown; ``private_score`` only once the challenge has closed."""
    doc: dict[str, Any] = {"id": sub.id, "challenge_id": sub.challenge_id,
                           "user_id": sub.user_id, "job_id": sub.job_id, "status": sub.status,
                           "reason": sub.reason, "public_score": sub.public_score,
                           "created_at": sub.created_at, "scored_at": sub.scored_at}  # fmt: skip
    if closed:
        doc["private_score"] = sub.private_score
    return doc


def submissions(
    session: Session, principal: Principal, challenge: Challenge, *, everyone: bool = False
) -> list[ChallengeSubmission]:
    """The caller's submissions (staff with ``everyone``: all), newest first."""
    stmt = select(ChallengeSubmission).where(ChallengeSubmission.challenge_id == challenge.id)
    if not (everyone and is_staff(session, principal, challenge)):
        stmt = stmt.where(ChallengeSubmission.user_id == principal.user_id)
    return list(session.execute(stmt.order_by(ChallengeSubmission.id.desc())).scalars())


def leaderboard(session: Session, challenge: Challenge) -> list[dict[str, Any]]:
    """Each participant's best public score, best first (ties: the earliest submission);
    ``private_score`` (of that submission) only once the challenge has closed."""
    closed = is_closed(challenge)
    rows = session.execute(
        select(ChallengeSubmission, User)
        .join(User, User.id == ChallengeSubmission.user_id)
        .where(
            ChallengeSubmission.challenge_id == challenge.id, ChallengeSubmission.status == "scored"
        )
        .order_by(ChallengeSubmission.created_at, ChallengeSubmission.id)
    ).all()
    best: dict[int, tuple[ChallengeSubmission, User]] = {}
    counts: dict[int, int] = {}
    for sub, user in rows:
        counts[sub.user_id] = counts.get(sub.user_id, 0) + 1
        held = best.get(sub.user_id)
        if held is None or (sub.public_score or 0.0) > (held[0].public_score or 0.0):
            best[sub.user_id] = (sub, user)
    ordered = sorted(best.values(),
                     key=lambda su: (-(su[0].public_score or 0.0), su[0].created_at, su[0].id))  # fmt: skip
    out = []
    for rank, (sub, user) in enumerate(ordered, start=1):
        doc: dict[str, Any] = {"rank": rank, "user_id": user.id, "name": user.name,
                               "public_score": sub.public_score, "submission_id": sub.id,
                               "submitted_at": sub.created_at,
                               "submissions": counts[user.id]}  # fmt: skip
        if closed:
            doc["private_score"] = sub.private_score
        out.append(doc)
    return out


def redact_result(session: Session, job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """A ``challenge`` job's result without its private scores unless its challenge has closed
    (a challenge job not made by a submission never shows them)."""
    if job.kind != "challenge":
        return result
    challenge = session.execute(
        select(Challenge)
        .join(ChallengeSubmission, ChallengeSubmission.challenge_id == Challenge.id)
        .where(ChallengeSubmission.job_id == job.id)
    ).scalar_one_or_none()
    if challenge is not None and is_closed(challenge):
        return result
    out = dict(result)
    combined = out.get("combined")
    if isinstance(combined, dict):
        combined = {k: v for k, v in combined.items() if not k.startswith("private")}
        combined["nodes"] = [{k: v for k, v in n.items() if k != "private"}
                             for n in combined.get("nodes", []) if isinstance(n, dict)]  # fmt: skip
        out["combined"] = combined
    nodes = out.get("nodes")
    if isinstance(nodes, dict):
        out["nodes"] = {n: ({k: v for k, v in r.items() if k != "private"}
                            if isinstance(r, dict) else r) for n, r in nodes.items()}  # fmt: skip
    return out


__all__ = [
    "MODES",
    "ChallengeCreate",
    "create",
    "get_visible",
    "is_closed",
    "is_open",
    "is_staff",
    "leaderboard",
    "list_query",
    "parameters",
    "redact_result",
    "refresh",
    "refresh_all",
    "submission_view",
    "submissions",
    "submit",
]
