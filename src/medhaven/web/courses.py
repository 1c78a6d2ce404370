"""Course pages: the list of your courses, and one course for its staff (people, teaching
datasets, labs, progress) and for its students (labs, attempts, certificate).

Each page checks the caller against the permission table entry of the API route it mirrors and
calls the same service (:mod:`medhaven.hub.services.courses`), so every rule (who may enrol,
the hidden check, own jobs only, released values only) is the service's own. The CSV export
and the certificate are the API routes themselves (they accept the session cookie).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from medhaven.errors import InvalidInput
from medhaven.hub.api.courses import CourseCreate, EnrolBody, LabCreate
from medhaven.hub.api.deps import StateDep
from medhaven.hub.models import Course, Dataset, Job, JobStatus, LabAttempt
from medhaven.hub.permissions import V1
from medhaven.hub.services import courses
from medhaven.hub.services.common import Principal
from medhaven.web.pages import Form, build, ids, one, writer
from medhaven.web.render import N_, allowed, guard, org_names, principal_of, redirect, render

router = APIRouter(include_in_schema=False)
LAB_KIND_LABEL = {
    "cohort_count": N_("Cohort count"),
    "characterize": N_("Characterization"),
    "train": N_("Train a model"),
    "model_card": N_("Model card quiz"),
}
COURSE_ROLE_LABEL = {
    "instructor": N_("Instructor"),
    "teaching_assistant": N_("Teaching assistant"),
    "student": N_("Student"),
}
ATTEMPT_LABEL = {"passed": N_("Passed"), "failed": N_("Failed"), "pending": N_("Pending")}


def _status(a: LabAttempt) -> str:
    return "pending" if a.passed is None else ("passed" if a.passed else "failed")


@router.get("/courses", response_class=HTMLResponse)
def course_list(request: Request, state: StateDep) -> Response:
    """Your courses; a form to create one (instructors)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/courses")
    with state.db.unit(readonly=True) as session:
        rows = list(session.execute(courses.list_query(me).limit(200)).scalars())
        orgs = org_names(session)
        items = [
            {"id": c.id, "code": c.code, "title": c.title, "term": c.term, "year": c.year,
             "org": orgs.get(c.org_id, ""), "closed": c.closed_at is not None,
             "role": courses.my_role(session, me, c)}
            for c in rows
        ]  # fmt: skip
    return render(request, "courses_list.html", principal=me, items=items,
                  can_create=allowed(me, f"POST {V1}/courses"), role_label=COURSE_ROLE_LABEL)  # fmt: skip


@router.post("/courses")
def course_create(request: Request, state: StateDep, form: Form) -> Response:
    """Create a course you teach."""
    me = writer(request, form)
    guard(me, f"POST {V1}/courses")
    year = one(form, "year")
    body = build(CourseCreate, {"code": one(form, "code"), "title": one(form, "title"),
                                "term": one(form, "term"), "year": year or None})  # fmt: skip
    with state.db.unit() as session:
        course = courses.create(session, me, code=body.code, title=body.title, term=body.term,
                                year=body.year)  # fmt: skip
        cid = course.id
    return redirect(f"/courses/{cid}")


def _own_jobs(session: Session, course: Course, me: Principal) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Job)
        .where(Job.project_id == course.project_id, Job.submitted_by == me.user_id)
        .where(Job.status == JobStatus.COMPLETED.value)
        .order_by(Job.id.desc())
        .limit(100)
    ).scalars()
    return [{"id": j.id, "kind": j.kind, "created_at": j.created_at} for j in rows]


def _teaching_datasets(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(
        select(Dataset.id, Dataset.name)
        .where(Dataset.teaching.is_(True), Dataset.retired_at.is_(None))
        .order_by(Dataset.name)
        .limit(200)
    ).all()
    return [(int(i), str(n)) for i, n in rows]


@router.get("/courses/{course_id}", response_class=HTMLResponse)
def course_page(course_id: int, request: Request, state: StateDep) -> Response:
    """One course: the staff's view (people, datasets, labs, progress) or a student's."""
    me = principal_of(request)
    guard(me, f"GET {V1}/courses/{{course_id}}")
    with state.db.unit() as session:  # looking rechecks pending attempts
        course = courses.get_visible(session, me, course_id)
        role = courses.my_role(session, me, course)
        staff = role in courses.STAFF or (role is None and courses.oversees(me))
        _c, labs, students = courses.progress(session, me, course.id)
        people = [
            {"user_id": u.id, "name": u.name or u.email, "email": u.email, "role": m.role,
             "completed_at": m.completed_at}
            for m, u in courses.members(session, course.id)
            if staff or m.role in courses.STAFF or u.id == me.user_id
        ]  # fmt: skip
        lab_views = [courses.lab_view(lab, staff=staff) for lab in labs]
        mine: dict[int, list[dict[str, Any]]] = {}
        if role == "student":
            rows = session.execute(
                select(LabAttempt)
                .where(LabAttempt.user_id == me.user_id,
                       LabAttempt.lab_id.in_([lab.id for lab in labs]))
                .order_by(LabAttempt.id.desc())
            ).scalars()  # fmt: skip
            for a in rows:
                mine.setdefault(a.lab_id, []).append(
                    {"id": a.id, "job_id": a.job_id, "status": _status(a), "detail": a.detail,
                     "created_at": a.created_at}
                )  # fmt: skip
        own_jobs = _own_jobs(session, course, me) if role == "student" else []
        member = courses.membership(session, course.id, me.user_id)
        datasets = courses.datasets(session, course)
        teaching = _teaching_datasets(session) if me.user_id == course.instructor_id else []
        org = org_names(session).get(course.org_id, "")
        view = {
            "id": course.id, "code": course.code, "title": course.title, "term": course.term,
            "year": course.year, "org": org, "project_id": course.project_id,
            "closed": course.closed_at is not None,
            "completed_at": member.completed_at if member else None,
        }  # fmt: skip
    is_open = not view["closed"]
    return render(
        request, "courses_course.html", principal=me, course=view, role=role, staff=staff,
        people=people, labs=lab_views, students=students, datasets=datasets, teaching=teaching,
        attempts=mine, own_jobs=own_jobs, kind_label=LAB_KIND_LABEL,
        role_label=COURSE_ROLE_LABEL, attempt_label=ATTEMPT_LABEL,
        can_enrol=is_open and role in courses.STAFF,
        can_add_lab=is_open and role in courses.STAFF,
        can_request=is_open and me.user_id == course.instructor_id,
        can_close=is_open and me.user_id == course.instructor_id,
        can_attempt=is_open and role == "student",
        lab_kinds=list(courses.LAB_KINDS),
    )  # fmt: skip


@router.post("/courses/{course_id}/members")
def course_enrol(course_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Enrol a person by email (instructor or teaching assistant)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/courses/{{course_id}}/members")
    body = build(EnrolBody, {"email": one(form, "email"), "role": one(form, "role") or "student"})
    with state.db.unit() as session:
        courses.enrol(session, me, course_id, email=body.email, role=body.role)
    return redirect(f"/courses/{course_id}#people")


@router.post("/courses/{course_id}/datasets")
def course_request(course_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """The instructor's access request for teaching datasets (reviewed as usual)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/courses/{{course_id}}/datasets")
    chosen = ids(form, "dataset_ids")
    if not chosen:
        raise InvalidInput("dataset_ids: choose at least one teaching dataset")
    with state.db.unit() as session:
        req = courses.request_datasets(session, me, course_id, dataset_ids=chosen,
                                       justification=one(form, "justification") or "teaching")  # fmt: skip
        rid = req.id
    return redirect(f"/requests/{rid}")


@router.post("/courses/{course_id}/labs")
def course_add_lab(course_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Add a lab with its check (instructor or teaching assistant)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/courses/{{course_id}}/labs")
    try:
        check = json.loads(one(form, "check") or "{}")
    except json.JSONDecodeError:
        raise InvalidInput("check: not JSON") from None
    if not isinstance(check, dict):
        raise InvalidInput("check: must be a JSON object")
    body = build(LabCreate, {"title": one(form, "title"), "kind": one(form, "kind"),
                             "instructions": one(form, "instructions"), "check": check})  # fmt: skip
    with state.db.unit() as session:
        courses.add_lab(session, me, course_id, title=body.title, kind=body.kind,
                        check=body.check, instructions=body.instructions)  # fmt: skip
    return redirect(f"/courses/{course_id}#labs")


@router.post("/courses/{course_id}/labs/{lab_id}/attempts")
def course_attempt(
    course_id: int, lab_id: int, request: Request, state: StateDep, form: Form
) -> Response:
    """A student's attempt: a finished job of theirs, or the quiz's answers."""
    me = writer(request, form)
    guard(me, f"POST {V1}/courses/{{course_id}}/labs/{{lab_id}}/attempts")
    job = one(form, "job_id")
    answers = {k[2:]: v[0] for k, v in form.items() if k.startswith("q:") and v}
    if job and not job.isdigit():
        raise InvalidInput("job_id: not an id")
    with state.db.unit() as session:
        courses.attempt(session, me, course_id, lab_id, job_id=int(job) if job else None,
                        answers=answers if not job else None)  # fmt: skip
    return redirect(f"/courses/{course_id}#lab-{lab_id}")


@router.post("/courses/{course_id}/close")
def course_close(course_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Close the course (its instructor)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/courses/{{course_id}}/close")
    with state.db.unit() as session:
        courses.close(session, me, course_id)
    return redirect(f"/courses/{course_id}")


__all__ = ["router"]
