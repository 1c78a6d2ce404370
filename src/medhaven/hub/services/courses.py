"""Courses and labs: a university's course runs in its own ``education`` project.

* An instructor of a university creates a course (code, title, term, year); the
  course's project is created with it (the instructor leads it). People are
  enrolled by email as students or teaching assistants and become members of
  the project, so their jobs go through the ordinary job service with every
  grant, disclosure, node and audit rule unchanged.
* Teaching datasets are asked for by the instructor with an ordinary access
  request of the course project (only datasets flagged ``teaching``) and
  reviewed as usual; the course's datasets are the project's active grants.
* Labs are checked automatically against **released** values only: a
  ``cohort_count`` or ``characterize`` lab compares the student's released
  person count with the instructor's reference job, a ``train`` lab compares
  each node's released AUROC with a minimum, a ``model_card`` lab is a quiz
  whose key is never shown to students.
* A student has completed the course when every lab has a passed attempt; the
  certificate (:mod:`medhaven.hub.certificates`) is for completed students only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from medhaven.errors import Conflict, Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import (
    AccessRequest,
    Course,
    CourseMember,
    CourseRole,
    Dataset,
    Grant,
    Job,
    JobStatus,
    Lab,
    LabAttempt,
    Org,
    OrgKind,
    Project,
    ProjectMember,
    ProjectType,
    Role,
    User,
)
from medhaven.hub.schemas import RequestCreate
from medhaven.hub.services import access
from medhaven.hub.services.common import Principal, get_or_404, now_utc

LAB_KINDS = ("cohort_count", "characterize", "train", "model_card")
STAFF = frozenset({CourseRole.INSTRUCTOR.value, CourseRole.TA.value})
OVERSEES = frozenset({Role.PROGRAM_OFFICER, Role.ADMIN})
#: job statuses after which a job's result will not change any more (held/partial may)
FINAL = frozenset(
    {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.REFUSED.value,
     JobStatus.CANCELLED.value}
)  # fmt: skip
MAX_QUESTIONS = 50


# ------------------------------------------------------------------ courses


def _university_orgs(session: Session, principal: Principal) -> list[int]:
    orgs = principal.roles.orgs_with(Role.INSTRUCTOR)
    if not orgs:
        return []
    rows = session.execute(
        select(Org.id).where(Org.id.in_(orgs), Org.kind == OrgKind.UNIVERSITY.value)
    ).scalars()
    return sorted(rows)


def create(
    session: Session,
    principal: Principal,
    *,
    code: str,
    title: str,
    term: str,
    year: int,
    org_id: int | None = None,
) -> Course:
    """A course taught by the caller, an instructor of a university; its project comes with it."""
    orgs = _university_orgs(session, principal)
    if org_id is None:
        if len(orgs) != 1:
            raise InvalidInput(
                "org_id: required when you teach at several universities"
                if orgs
                else "org_id: you are not an instructor of any university"
            )
        org_id = orgs[0]
    elif org_id not in orgs:
        raise Forbidden("you are not an instructor of that university")
    code, title, term = code.strip(), title.strip(), term.strip()
    if not code or not title or not term:
        raise InvalidInput("code, title and term: may not be empty")
    taken = session.execute(
        select(Course.id).where(Course.org_id == org_id, Course.code == code, Course.term == term)
    ).first()
    if taken is not None:
        raise Conflict(f"course {code} already exists for term {term}")
    now = now_utc()
    project = Project(
        org_id=org_id,
        title=f"{code} {title} ({term})"[:300],
        purpose=f"Teaching: course {code} {title}, term {term}",
        type=ProjectType.EDUCATION.value,
        lead_id=principal.user_id,
        ethics_ref=None,
        domains=[],
        start_date=dt.date(year, 1, 1),
        end_date=dt.date(year, 12, 31),
        created_at=now,
    )
    project.members.append(ProjectMember(user_id=principal.user_id, added_at=now))
    session.add(project)
    session.flush()
    course = Course(
        org_id=org_id,
        code=code,
        title=title,
        term=term,
        year=year,
        instructor_id=principal.user_id,
        project_id=project.id,
        created_at=now,
    )
    session.add(course)
    session.flush()
    session.add(
        CourseMember(
            course_id=course.id,
            user_id=principal.user_id,
            role=CourseRole.INSTRUCTOR.value,
            enrolled_at=now,
        )
    )
    session.flush()
    audit.record(session, actor=principal.actor, action="project.create",
                 object_type="project", object_id=project.id,
                 details={"org_id": org_id, "type": project.type})  # fmt: skip
    audit.record(session, actor=principal.actor, action="course.create", object_type="course",
                 object_id=course.id, details={"org_id": org_id, "project_id": project.id})  # fmt: skip
    return course


def membership(session: Session, course_id: int, user_id: int) -> CourseMember | None:
    """The user's membership of the course, if any."""
    return session.execute(
        select(CourseMember).where(
            CourseMember.course_id == course_id, CourseMember.user_id == user_id
        )
    ).scalar_one_or_none()


def oversees(principal: Principal) -> bool:
    return bool(principal.roles.all & OVERSEES)


def get_visible(session: Session, principal: Principal, course_id: int) -> Course:
    """A course the caller belongs to (program officers and admins: any); else not found."""
    course = session.get(Course, course_id)
    if course is None or (
        not oversees(principal) and membership(session, course_id, principal.user_id) is None
    ):
        raise NotFound(f"course {course_id} not found")
    return course


def list_query(principal: Principal) -> Select[Any]:
    """Courses the caller belongs to (program officers and admins: all), newest first."""
    stmt = select(Course).order_by(Course.id.desc())
    if oversees(principal):
        return stmt
    mine = select(CourseMember.course_id).where(CourseMember.user_id == principal.user_id)
    return stmt.where(Course.id.in_(mine))


def my_role(session: Session, principal: Principal, course: Course) -> str | None:
    """The caller's role in the course (None: an overseer who is not in it)."""
    member = membership(session, course.id, principal.user_id)
    return member.role if member else None


def _require_staff(session: Session, principal: Principal, course: Course, what: str) -> None:
    if my_role(session, principal, course) not in STAFF:
        raise Forbidden(f"only the course's instructor or teaching assistants may {what}")


def _require_open(course: Course) -> None:
    if course.closed_at is not None:
        raise Conflict(f"course {course.id} is closed")


def enrol(
    session: Session, principal: Principal, course_id: int, *, email: str, role: str
) -> CourseMember:
    """Enrol a person by email as student or teaching assistant (instructor or TA only)."""
    course = get_visible(session, principal, course_id)
    _require_staff(session, principal, course, "enrol people")
    _require_open(course)
    if role not in (CourseRole.STUDENT.value, CourseRole.TA.value):
        raise InvalidInput("role: one of student, teaching_assistant")
    user = session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()
    if user is None or not user.active:
        raise NotFound("email: no active user has that email")
    held = {Role(r.role) for r in user.roles}
    needed = {Role.STUDENT} if role == CourseRole.STUDENT.value else {
        Role.STUDENT, Role.RESEARCHER, Role.INSTRUCTOR}  # fmt: skip
    if not held & needed:
        raise InvalidInput(
            f"email: user {user.id} holds no "
            + (
                "student role"
                if role == CourseRole.STUDENT.value
                else "student, researcher or instructor role"
            )
            + " (an admin grants it first)"
        )
    if membership(session, course.id, user.id) is not None:
        raise Conflict(f"user {user.id} is already in course {course.id}")
    now = now_utc()
    member = CourseMember(course_id=course.id, user_id=user.id, role=role, enrolled_at=now)
    session.add(member)
    project = session.get(Project, course.project_id)
    assert project is not None
    if not any(m.user_id == user.id for m in project.members):
        project.members.append(ProjectMember(user_id=user.id, added_at=now))
    session.flush()
    audit.record(session, actor=principal.actor, action="course.enrol", object_type="course",
                 object_id=course.id, details={"user_id": user.id, "role": role})  # fmt: skip
    return member


def close(session: Session, principal: Principal, course_id: int) -> Course:
    """Close the course (its instructor): no more enrolments, labs or attempts."""
    course = get_visible(session, principal, course_id)
    if course.instructor_id != principal.user_id:
        raise Forbidden("only the course's instructor may close it")
    _require_open(course)
    course.closed_at = now_utc()
    audit.record(session, actor=principal.actor, action="course.close", object_type="course",
                 object_id=course.id)  # fmt: skip
    return course


def members(session: Session, course_id: int) -> list[tuple[CourseMember, User]]:
    """The course's people with their user rows, instructor first then by role and name."""
    rows = session.execute(
        select(CourseMember, User)
        .join(User, User.id == CourseMember.user_id)
        .where(CourseMember.course_id == course_id)
    ).all()
    order = {CourseRole.INSTRUCTOR.value: 0, CourseRole.TA.value: 1, CourseRole.STUDENT.value: 2}
    return sorted(((m, u) for m, u in rows), key=lambda mu: (order.get(mu[0].role, 3), mu[1].email))


# ------------------------------------------------------------------ teaching datasets


def request_datasets(
    session: Session,
    principal: Principal,
    course_id: int,
    *,
    dataset_ids: list[int],
    justification: str,
) -> AccessRequest:
    """The instructor's access request of the course project for teaching datasets."""
    course = get_visible(session, principal, course_id)
    if course.instructor_id != principal.user_id:
        raise Forbidden("only the course's instructor may request its datasets")
    _require_open(course)
    ids = sorted(set(dataset_ids))
    for dataset_id in ids:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {dataset_id} not found")
        if not dataset.teaching:
            raise InvalidInput(
                f"dataset_ids: dataset {dataset_id} is not flagged for teaching by its "
                "custodian; a course may use teaching datasets only (use a research project)"
            )
    body = RequestCreate(project_id=course.project_id, dataset_ids=ids,
                         justification=justification)  # fmt: skip
    return access.create_request(session, principal, body)


@dataclass(frozen=True)
class CourseDataset:
    """A dataset the course project holds an active grant on."""

    dataset_id: int
    name: str
    grant_id: int
    expires_at: dt.datetime


def datasets(session: Session, course: Course) -> list[CourseDataset]:
    """The course's teaching datasets: the project's active grants."""
    now = now_utc()
    rows = session.execute(
        select(Grant, Dataset)
        .join(Dataset, Dataset.id == Grant.dataset_id)
        .where(Grant.project_id == course.project_id, Grant.revoked_at.is_(None))
        .where(Grant.expires_at > now, Grant.granted_at <= now)
        .order_by(Dataset.id)
    ).all()
    return [CourseDataset(d.id, d.name, g.id, g.expires_at) for g, d in rows]


# ------------------------------------------------------------------ labs


def _int_id(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"check.{field}: a positive integer is needed")
    return value


def _reference_job(session: Session, course: Course, job_id: int, kind: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.project_id != course.project_id:
        raise InvalidInput(f"check.reference_job_id: job {job_id} is not a job of this course")
    if job.kind != kind:
        raise InvalidInput(f"check.reference_job_id: job {job_id} is a {job.kind} job, not {kind}")
    return job


def _valid_check(
    session: Session, course: Course, kind: str, check: Mapping[str, Any]
) -> dict[str, Any]:
    if kind in ("cohort_count", "characterize"):
        extra = sorted(set(check) - {"reference_job_id"})
        if extra:
            raise InvalidInput(f"check.{extra[0]}: not a field of a {kind} check")
        ref = _int_id(check.get("reference_job_id"), "reference_job_id")
        _reference_job(session, course, ref, kind)
        return {"reference_job_id": ref}
    if kind == "train":
        extra = sorted(set(check) - {"min_auroc"})
        if extra:
            raise InvalidInput(f"check.{extra[0]}: not a field of a train check")
        value = check.get("min_auroc")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise InvalidInput("check.min_auroc: a number in (0, 1] is needed")
        return {"min_auroc": float(value)}
    questions = check.get("questions")
    if set(check) != {"questions"} or not isinstance(questions, list):
        raise InvalidInput("check.questions: a list of questions is needed (and nothing else)")
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        raise InvalidInput(f"check.questions: between 1 and {MAX_QUESTIONS} questions")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, q in enumerate(questions):
        where = f"check.questions[{i}]"
        if not isinstance(q, dict) or set(q) != {"id", "text", "choices", "answer"}:
            raise InvalidInput(f"{where}: needs exactly id, text, choices, answer")
        qid, text, choices, answer = q["id"], q["text"], q["choices"], q["answer"]
        if not isinstance(qid, str) or not qid or len(qid) > 32 or qid in seen:
            raise InvalidInput(f"{where}.id: a unique name of at most 32 characters")
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"{where}.text: may not be empty")
        if (not isinstance(choices, list) or not 2 <= len(choices) <= 10
                or not all(isinstance(c, str) and c for c in choices)
                or len(set(choices)) != len(choices)):  # fmt: skip
            raise InvalidInput(f"{where}.choices: 2 to 10 different non-empty texts")
        if answer not in choices:
            raise InvalidInput(f"{where}.answer: must be one of its choices")
        seen.add(qid)
        out.append({"id": qid, "text": text.strip(), "choices": list(choices), "answer": answer})
    return {"questions": out}


def add_lab(
    session: Session,
    principal: Principal,
    course_id: int,
    *,
    title: str,
    kind: str,
    check: Mapping[str, Any],
    instructions: str = "",
    position: int | None = None,
) -> Lab:
    """A lab of the course (instructor or TA) with its automatic check."""
    course = get_visible(session, principal, course_id)
    _require_staff(session, principal, course, "add labs")
    _require_open(course)
    if kind not in LAB_KINDS:
        raise InvalidInput(f"kind: one of {', '.join(LAB_KINDS)}")
    if not title.strip():
        raise InvalidInput("title: may not be empty")
    spec = _valid_check(session, course, kind, check)
    if position is None:
        last = (
            session.execute(
                select(Lab.position).where(Lab.course_id == course.id).order_by(Lab.position.desc())
            )
            .scalars()
            .first()
        )
        position = 1 if last is None else last + 1
    lab = Lab(course_id=course.id, position=position, title=title.strip(), kind=kind,
              instructions=instructions, check=spec, created_at=now_utc())  # fmt: skip
    session.add(lab)
    session.flush()
    audit.record(session, actor=principal.actor, action="course.lab_add", object_type="lab",
                 object_id=lab.id, details={"course_id": course.id, "kind": kind})  # fmt: skip
    return lab


def labs(session: Session, course_id: int) -> list[Lab]:
    """The course's labs in order."""
    return list(
        session.execute(
            select(Lab).where(Lab.course_id == course_id).order_by(Lab.position, Lab.id)
        ).scalars()
    )


def lab_view(lab: Lab, *, staff: bool) -> dict[str, Any]:
    """A lab as the caller may see it: students never see the check (nor the quiz's key)."""
    out: dict[str, Any] = {"id": lab.id, "course_id": lab.course_id, "position": lab.position,
                           "title": lab.title, "kind": lab.kind,
                           "instructions": lab.instructions, "check": None, "questions": None}  # fmt: skip
    if staff:
        out["check"] = lab.check
    if lab.kind == "model_card":
        out["questions"] = [
            {"id": q["id"], "text": q["text"], "choices": q["choices"]}
            for q in lab.check.get("questions", [])
        ]
    return out


def get_lab(
    session: Session, principal: Principal, course_id: int, lab_id: int
) -> tuple[Course, Lab]:
    """A lab of a course the caller may see."""
    course = get_visible(session, principal, course_id)
    lab = session.get(Lab, lab_id)
    if lab is None or lab.course_id != course.id:
        raise NotFound(f"lab {lab_id} not found")
    return course, lab


# ------------------------------------------------------------------ checks


@dataclass(frozen=True)
class Verdict:
    """The result of checking an attempt: passed (None: not yet checkable) and why."""

    passed: bool | None
    detail: str


def _person_count(job: Job) -> dict[str, Any] | None:
    """The released combined person count of a cohort_count or characterize job."""
    result = job.result or {}
    if job.kind == "cohort_count":
        cell = result.get("persons")
        return cell if isinstance(cell, dict) else None
    combined = result.get("combined")
    sections = combined.get("sections") if isinstance(combined, dict) else None
    for s in sections if isinstance(sections, list) else []:
        if isinstance(s, dict) and s.get("name") == "persons":
            return s
    return None


def _shown(cell: Mapping[str, Any]) -> str:
    display = cell.get("display")
    return str(display) if display is not None else str(cell.get("value"))


def _not_ready(job: Job, who: str) -> Verdict | None:
    """None when the job has its final result; else the verdict saying why it cannot be checked."""
    if job.status == JobStatus.COMPLETED.value and job.result is not None:
        return None
    if job.status in FINAL:
        return Verdict(False, f"{who} job {job.id} ended {job.status}: there is no result to check")
    return Verdict(None, f"{who} job {job.id} is {job.status}; checked again when it completes")


def _cohort_definition(job: Job) -> str:
    return json.dumps(job.parameters.get("cohort"), sort_keys=True)


def _check_count(session: Session, lab: Lab, job: Job) -> Verdict:
    ref = session.get(Job, int(lab.check["reference_job_id"]))
    if ref is None:
        return Verdict(False, "the lab's reference job no longer exists")
    waiting = _not_ready(ref, "the reference")
    if waiting is not None:
        return Verdict(None if waiting.passed is None else False, waiting.detail)
    if lab.kind == "characterize" and _cohort_definition(job) != _cohort_definition(ref):
        return Verdict(False, "the cohort definition differs from the reference's")
    mine, theirs = _person_count(job), _person_count(ref)
    if theirs is None:
        return Verdict(False, "the reference job released no person count")
    if mine is None:
        return Verdict(False, "your job released no person count")
    if _shown(mine) != _shown(theirs):
        return Verdict(False, f"the released count {_shown(mine)} differs from the reference")
    return Verdict(True, f"the released count {_shown(mine)} matches the reference")


def _check_train(lab: Lab, job: Job) -> Verdict:
    floor = float(lab.check["min_auroc"])
    nodes = (job.result or {}).get("nodes")
    nodes = nodes if isinstance(nodes, dict) else {}
    low: list[str] = []
    for node in sorted(job.targets):
        reply = nodes.get(node)
        ev = reply.get("evaluation") if isinstance(reply, dict) else None
        metrics = ev.get("metrics") if isinstance(ev, dict) and ev.get("released") else None
        auroc = metrics.get("auroc") if isinstance(metrics, dict) else None
        if isinstance(auroc, bool) or not isinstance(auroc, int | float):
            return Verdict(False, f"node {node} released no AUROC")
        if auroc < floor:
            low.append(f"the released AUROC {auroc:.3f} at node {node} is below {floor:.3f}")
    if low:
        return Verdict(False, low[0])
    return Verdict(True, f"the released AUROC is at least {floor:.3f} at every node")


def _check_quiz(lab: Lab, answers: Mapping[str, Any]) -> Verdict:
    questions = lab.check.get("questions", [])
    right = sum(1 for q in questions if answers.get(q["id"]) == q["answer"])
    if right == len(questions):
        return Verdict(True, f"all {right} answers are right")
    return Verdict(False, f"{right} of {len(questions)} answers are right")


def evaluate(session: Session, lab: Lab, attempt: LabAttempt) -> Verdict:
    """Check one attempt against its lab (released values only)."""
    if lab.kind == "model_card":
        return _check_quiz(lab, attempt.answers or {})
    job = session.get(Job, attempt.job_id) if attempt.job_id is not None else None
    if job is None:
        return Verdict(False, "the attempt's job no longer exists")
    waiting = _not_ready(job, "your")
    if waiting is not None:
        return waiting
    if lab.kind == "train":
        return _check_train(lab, job)
    return _check_count(session, lab, job)


def _apply(session: Session, lab: Lab, attempt: LabAttempt, actor: str) -> None:
    verdict = evaluate(session, lab, attempt)
    attempt.detail = verdict.detail[:500]
    if verdict.passed is None:
        return
    attempt.passed = verdict.passed
    attempt.checked_at = now_utc()
    session.flush()
    audit.record(session, actor=actor, action="course.attempt_check", object_type="lab_attempt",
                 object_id=attempt.id, details={"lab_id": lab.id, "passed": verdict.passed})  # fmt: skip
    if verdict.passed:
        _update_completion(session, lab.course_id, attempt.user_id)


def _update_completion(session: Session, course_id: int, user_id: int) -> None:
    member = membership(session, course_id, user_id)
    if member is None or member.completed_at is not None:
        return
    lab_ids = {lab.id for lab in labs(session, course_id)}
    passed = set(
        session.execute(
            select(LabAttempt.lab_id).where(
                LabAttempt.user_id == user_id,
                LabAttempt.passed.is_(True),
                LabAttempt.lab_id.in_(lab_ids),
            )
        ).scalars()
    )
    if lab_ids and lab_ids <= passed:
        member.completed_at = now_utc()
        audit.record(session, actor="system:courses", action="course.complete",
                     object_type="course", object_id=course_id, details={"user_id": user_id})  # fmt: skip


def attempt(
    session: Session,
    principal: Principal,
    course_id: int,
    lab_id: int,
    *,
    job_id: int | None = None,
    answers: Mapping[str, Any] | None = None,
) -> LabAttempt:
    """A student's attempt: their own job in the course project, or the quiz's answers.

    Checked at once when the job has finished; else ``pending`` (``passed`` None) and
    checked again when looked at (:func:`recheck`).
    """
    course, lab = get_lab(session, principal, course_id, lab_id)
    if my_role(session, principal, course) != CourseRole.STUDENT.value:
        raise Forbidden("only the course's students make attempts")
    _require_open(course)
    if lab.kind == "model_card":
        if answers is None or job_id is not None:
            raise InvalidInput("answers: a quiz is answered with answers, not a job")
        known = {q["id"]: q["choices"] for q in lab.check.get("questions", [])}
        for key, value in answers.items():
            if key not in known:
                raise InvalidInput(f"answers.{key}: not a question of this lab")
            if value not in known[key]:
                raise InvalidInput(f"answers.{key}: not one of the question's choices")
        kept: dict[str, Any] | None = dict(answers)
    else:
        if job_id is None or answers is not None:
            raise InvalidInput("job_id: a job is needed for this lab (and no answers)")
        job = session.get(Job, job_id)
        if job is None or job.project_id != course.project_id:
            raise InvalidInput(f"job_id: job {job_id} is not a job of this course's project")
        if job.submitted_by != principal.user_id:
            raise Forbidden(f"job {job_id} is not your own job")
        if job.kind != lab.kind:
            raise InvalidInput(
                f"job_id: job {job_id} is a {job.kind} job; this lab needs {lab.kind}"
            )
        kept = None
    row = LabAttempt(lab_id=lab.id, user_id=principal.user_id, job_id=job_id, answers=kept,
                     passed=None, detail="", created_at=now_utc())  # fmt: skip
    session.add(row)
    session.flush()
    audit.record(session, actor=principal.actor, action="course.attempt", object_type="lab_attempt",
                 object_id=row.id, details={"lab_id": lab.id, "job_id": job_id})  # fmt: skip
    _apply(session, lab, row, principal.actor)
    return row


def recheck(session: Session, course_id: int, *, user_id: int | None = None) -> int:
    """Check again the pending attempts of the course (of one user); returns how many settled."""
    stmt = (
        select(LabAttempt, Lab)
        .join(Lab, Lab.id == LabAttempt.lab_id)
        .where(Lab.course_id == course_id, LabAttempt.passed.is_(None))
        .order_by(LabAttempt.id)
    )
    if user_id is not None:
        stmt = stmt.where(LabAttempt.user_id == user_id)
    settled = 0
    for row, lab in session.execute(stmt).all():
        _apply(session, lab, row, "system:courses")
        settled += row.passed is not None
    return settled


def attempts(
    session: Session, principal: Principal, course_id: int, lab_id: int
) -> list[LabAttempt]:
    """Attempts at a lab: a student's own; staff and overseers see everyone's (rechecked first)."""
    course, lab = get_lab(session, principal, course_id, lab_id)
    role = my_role(session, principal, course)
    own = role == CourseRole.STUDENT.value or (role is None and not oversees(principal))
    recheck(session, course.id, user_id=principal.user_id if own else None)
    stmt = select(LabAttempt).where(LabAttempt.lab_id == lab.id).order_by(LabAttempt.id)
    if own:
        stmt = stmt.where(LabAttempt.user_id == principal.user_id)
    return list(session.execute(stmt).scalars())


# ------------------------------------------------------------------ progress


@dataclass(frozen=True)
class LabProgress:
    """One student's standing on one lab."""

    lab_id: int
    passed: bool
    attempts: int
    pending: int
    last_detail: str


@dataclass(frozen=True)
class StudentProgress:
    """One student's standing in the course."""

    user_id: int
    email: str
    name: str
    completed_at: dt.datetime | None
    labs: list[LabProgress]

    @property
    def passed(self) -> int:
        """How many labs are passed."""
        return sum(1 for lab in self.labs if lab.passed)


def progress(
    session: Session, principal: Principal, course_id: int
) -> tuple[Course, list[Lab], list[StudentProgress]]:
    """Per student per lab: passed, attempts, last detail; pending attempts are checked first.

    Staff and overseers see every student; a student sees only themself.
    """
    course = get_visible(session, principal, course_id)
    role = my_role(session, principal, course)
    staff = role in STAFF or (role is None and oversees(principal))
    recheck(session, course.id, user_id=None if staff else principal.user_id)
    course_labs = labs(session, course.id)
    people = [(m, u) for m, u in members(session, course.id)
              if m.role == CourseRole.STUDENT.value and (staff or u.id == principal.user_id)]  # fmt: skip
    ids = [u.id for _m, u in people]
    rows = list(
        session.execute(
            select(LabAttempt)
            .where(LabAttempt.lab_id.in_([lab.id for lab in course_labs]),
                   LabAttempt.user_id.in_(ids))
            .order_by(LabAttempt.id)
        ).scalars()
    ) if ids and course_labs else []  # fmt: skip
    out: list[StudentProgress] = []
    for member, user in people:
        per_lab = []
        for lab in course_labs:
            mine = [a for a in rows if a.user_id == user.id and a.lab_id == lab.id]
            per_lab.append(
                LabProgress(
                    lab_id=lab.id,
                    passed=any(a.passed is True for a in mine),
                    attempts=len(mine),
                    pending=sum(1 for a in mine if a.passed is None),
                    last_detail=mine[-1].detail if mine else "",
                )
            )
        out.append(StudentProgress(user.id, user.email, user.name, member.completed_at, per_lab))
    return course, course_labs, out


def _cell(value: str) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def progress_csv(course_labs: list[Lab], students: list[StudentProgress]) -> str:
    """The progress table as CSV: one row per student per lab."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["email", "name", "lab_position", "lab_title", "passed", "attempts",
                     "pending", "last_detail", "course_completed_at"])  # fmt: skip
    titles = {lab.id: (lab.position, lab.title) for lab in course_labs}
    for s in students:
        for p in s.labs:
            position, title = titles[p.lab_id]
            writer.writerow([_cell(s.email), _cell(s.name), position, _cell(title),
                             "yes" if p.passed else "no", p.attempts, p.pending,
                             _cell(p.last_detail),
                             s.completed_at.isoformat() if s.completed_at else ""])  # fmt: skip
    return buf.getvalue()


def seed_course(
    session: Session,
    *,
    instructor: Principal,
    student_emails: list[str],
    dataset_ids: list[int] | None = None,
    code: str = "MAI101",
    title: str = "Medical AI 101",
    term: str = "2026-2",
    year: int = 2026,
) -> Course:
    """A demo course (for a demo seed): the course, its students, and (when ``dataset_ids``
    are given) the instructor's access request for them. Labs need a reference job, so the
    caller adds them once one has run (:func:`add_lab`)."""
    course = create(session, instructor, code=code, title=title, term=term, year=year)
    for email in student_emails:
        enrol(session, instructor, course.id, email=email, role=CourseRole.STUDENT.value)
    if dataset_ids:
        request_datasets(session, instructor, course.id, dataset_ids=dataset_ids,
                         justification=f"Teaching datasets of {code} {title}")  # fmt: skip
    return course


def get_user(session: Session, user_id: int) -> User:
    """A user row (for views)."""
    return get_or_404(session, User, user_id, "user")


__all__ = [
    "LAB_KINDS",
    "STAFF",
    "CourseDataset",
    "LabProgress",
    "StudentProgress",
    "Verdict",
    "add_lab",
    "attempt",
    "attempts",
    "close",
    "create",
    "datasets",
    "enrol",
    "evaluate",
    "get_lab",
    "get_visible",
    "lab_view",
    "labs",
    "list_query",
    "members",
    "membership",
    "my_role",
    "oversees",
    "progress",
    "progress_csv",
    "recheck",
    "request_datasets",
    "seed_course",
]
