"""Courses and labs: create, enrol, teaching datasets, labs, attempts, progress, certificate."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from medhaven.errors import ConfigError
from medhaven.hub import certificates
from medhaven.hub.api.deps import CurrentUser, HubState, PageDep, PageParams, PathId, StateDep
from medhaven.hub.models import Course, LabAttempt
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import MAX_ID, Page
from medhaven.hub.services import courses
from medhaven.hub.services.common import Principal, paginate

router = APIRouter(prefix=V1, tags=["courses"])
T = TypeVar("T")
Short = Annotated[str, Field(min_length=1, max_length=32)]


class CourseCreate(BaseModel):
    """A new course, taught by you at your university."""

    model_config = ConfigDict(extra="forbid")
    code: Short
    title: Annotated[str, Field(min_length=1, max_length=300)]
    term: Short
    year: int = Field(ge=2000, le=2100)
    org_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class CoursePublic(BaseModel):
    """A course and your part in it."""

    id: int
    org_id: int
    code: str
    title: str
    term: str
    year: int
    instructor_id: int
    project_id: int
    created_at: dt.datetime
    closed_at: dt.datetime | None
    my_role: str | None = None
    completed_at: dt.datetime | None = None


class EnrolBody(BaseModel):
    """Enrol a person by email."""

    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, Field(min_length=3, max_length=320)]
    role: Literal["student", "teaching_assistant"] = "student"


class MemberPublic(BaseModel):
    """One person of a course."""

    user_id: int
    email: str
    name: str
    role: str
    enrolled_at: dt.datetime
    completed_at: dt.datetime | None


class DatasetsRequest(BaseModel):
    """The instructor's access request for teaching datasets."""

    model_config = ConfigDict(extra="forbid")
    dataset_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=50)
    justification: Annotated[str, Field(min_length=1, max_length=5000)]


class CourseDatasetPublic(BaseModel):
    """A teaching dataset of the course (an active grant of its project)."""

    dataset_id: int
    name: str
    grant_id: int
    expires_at: dt.datetime


class LabCreate(BaseModel):
    """A lab and its automatic check."""

    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, Field(min_length=1, max_length=300)]
    kind: Literal["cohort_count", "characterize", "train", "model_card"]
    instructions: Annotated[str, Field(max_length=20000)] = ""
    check: dict[str, Any]
    position: int | None = Field(default=None, ge=0, le=10_000)


class LabPublic(BaseModel):
    """A lab; ``check`` is shown to the course's staff only, ``questions`` (no key) to all."""

    id: int
    course_id: int
    position: int
    title: str
    kind: str
    instructions: str
    check: dict[str, Any] | None
    questions: list[dict[str, Any]] | None


class AttemptCreate(BaseModel):
    """An attempt: your job in the course project, or the quiz's answers."""

    model_config = ConfigDict(extra="forbid")
    job_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    answers: (
        dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=500)]] | None
    ) = None


class AttemptPublic(BaseModel):
    """One attempt and its verdict (``status``: passed, failed or pending)."""

    id: int
    lab_id: int
    user_id: int
    job_id: int | None
    status: str
    detail: str
    created_at: dt.datetime
    checked_at: dt.datetime | None


class LabProgressPublic(BaseModel):
    """One student's standing on one lab."""

    lab_id: int
    passed: bool
    attempts: int
    pending: int
    last_detail: str


class StudentProgressPublic(BaseModel):
    """One student's standing in the course."""

    user_id: int
    email: str
    name: str
    completed_at: dt.datetime | None
    passed: int
    labs: list[LabProgressPublic]


class ProgressPublic(BaseModel):
    """The course's progress table (a student sees only their own row)."""

    course_id: int
    labs: list[LabPublic]
    students: list[StudentProgressPublic]


class VerifyPublic(BaseModel):
    """Whether a certificate code is valid, and what it certifies when it is."""

    valid: bool
    name: str | None = None
    course: str | None = None
    university: str | None = None
    term: str | None = None
    completed_on: str | None = None
    labs_passed: int | None = None


def course_public(session: Any, me: Principal, course: Course) -> CoursePublic:
    member = courses.membership(session, course.id, me.user_id)
    return CoursePublic(
        id=course.id, org_id=course.org_id, code=course.code, title=course.title,
        term=course.term, year=course.year, instructor_id=course.instructor_id,
        project_id=course.project_id, created_at=course.created_at, closed_at=course.closed_at,
        my_role=member.role if member else None,
        completed_at=member.completed_at if member else None,
    )  # fmt: skip


def attempt_public(a: LabAttempt) -> AttemptPublic:
    status = "pending" if a.passed is None else ("passed" if a.passed else "failed")
    return AttemptPublic(id=a.id, lab_id=a.lab_id, user_id=a.user_id, job_id=a.job_id,
                         status=status, detail=a.detail, created_at=a.created_at,
                         checked_at=a.checked_at)  # fmt: skip


def _page(items: list[T], page: PageParams) -> Page[T]:
    """One page of a list built in memory (a course's people, labs, attempts are few)."""
    return Page(items=items[page.offset : page.offset + page.limit], total=len(items),
                limit=page.limit, offset=page.offset)  # fmt: skip


def _is_staff(session: Any, me: Principal, course: Course) -> bool:
    role = courses.my_role(session, me, course)
    return role in courses.STAFF or (role is None and courses.oversees(me))


def _key(state: HubState) -> bytes:
    if state.jobs is None:
        raise ConfigError("this hub has no data directory for its certificate secret")
    return certificates.secret(state.jobs.keys_dir)


@router.get("/courses", response_model=Page[CoursePublic])
def list_courses(state: StateDep, me: CurrentUser, page: PageDep) -> Page[CoursePublic]:
    """Courses you are in (program officers and admins: all)."""
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(
            session, courses.list_query(me), limit=page.limit, offset=page.offset
        )
        items = [course_public(session, me, c) for c in rows]
        return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/courses", response_model=CoursePublic, status_code=201)
def create(body: CourseCreate, state: StateDep, me: CurrentUser) -> CoursePublic:
    """A new course (and its education project) taught by you."""
    with state.db.unit() as session:
        course = courses.create(session, me, code=body.code, title=body.title, term=body.term,
                                year=body.year, org_id=body.org_id)  # fmt: skip
        return course_public(session, me, course)


@router.get("/courses/{course_id}", response_model=CoursePublic)
def view(course_id: PathId, state: StateDep, me: CurrentUser) -> CoursePublic:
    """One course."""
    with state.db.unit(readonly=True) as session:
        return course_public(session, me, courses.get_visible(session, me, course_id))


@router.post("/courses/{course_id}/close", response_model=CoursePublic)
def close(course_id: PathId, state: StateDep, me: CurrentUser) -> CoursePublic:
    """Close the course (its instructor)."""
    with state.db.unit() as session:
        return course_public(session, me, courses.close(session, me, course_id))


@router.get("/courses/{course_id}/members", response_model=Page[MemberPublic])
def list_members(
    course_id: PathId, state: StateDep, me: CurrentUser, page: PageDep
) -> Page[MemberPublic]:
    """The course's people (students see the staff and themselves)."""
    with state.db.unit(readonly=True) as session:
        course = courses.get_visible(session, me, course_id)
        staff = _is_staff(session, me, course)
        items = [
            MemberPublic(
                user_id=u.id,
                email=u.email,
                name=u.name,
                role=m.role,
                enrolled_at=m.enrolled_at,
                completed_at=m.completed_at,
            )
            for m, u in courses.members(session, course.id)
            if staff or m.role in courses.STAFF or u.id == me.user_id
        ]
        return _page(items, page)


@router.post("/courses/{course_id}/members", response_model=MemberPublic, status_code=201)
def enrol(course_id: PathId, body: EnrolBody, state: StateDep, me: CurrentUser) -> MemberPublic:
    """Enrol a person by email (instructor or teaching assistant)."""
    with state.db.unit() as session:
        m = courses.enrol(session, me, course_id, email=body.email, role=body.role)
        u = courses.get_user(session, m.user_id)
        return MemberPublic(user_id=u.id, email=u.email, name=u.name, role=m.role,
                            enrolled_at=m.enrolled_at, completed_at=m.completed_at)  # fmt: skip


@router.get("/courses/{course_id}/datasets", response_model=Page[CourseDatasetPublic])
def list_datasets(
    course_id: PathId, state: StateDep, me: CurrentUser, page: PageDep
) -> Page[CourseDatasetPublic]:
    """The course's teaching datasets (active grants of its project)."""
    with state.db.unit(readonly=True) as session:
        course = courses.get_visible(session, me, course_id)
        items = [CourseDatasetPublic(**d.__dict__) for d in courses.datasets(session, course)]
        return _page(items, page)


@router.post("/courses/{course_id}/datasets", status_code=201)
def request_datasets(
    course_id: PathId, body: DatasetsRequest, state: StateDep, me: CurrentUser
) -> dict[str, Any]:
    """Ask for teaching datasets: an access request of the course project, reviewed as usual."""
    with state.db.unit() as session:
        req = courses.request_datasets(session, me, course_id, dataset_ids=body.dataset_ids,
                                       justification=body.justification)  # fmt: skip
        return {"request_id": req.id, "project_id": req.project_id, "status": req.status,
                "dataset_ids": [d.dataset_id for d in req.datasets]}  # fmt: skip


@router.get("/courses/{course_id}/labs", response_model=Page[LabPublic])
def list_labs(
    course_id: PathId, state: StateDep, me: CurrentUser, page: PageDep
) -> Page[LabPublic]:
    """The course's labs in order (the check is shown to staff only)."""
    with state.db.unit(readonly=True) as session:
        course = courses.get_visible(session, me, course_id)
        staff = _is_staff(session, me, course)
        items = [
            LabPublic(**courses.lab_view(lab, staff=staff))
            for lab in courses.labs(session, course.id)
        ]
        return _page(items, page)


@router.post("/courses/{course_id}/labs", response_model=LabPublic, status_code=201)
def add_lab(course_id: PathId, body: LabCreate, state: StateDep, me: CurrentUser) -> LabPublic:
    """Add a lab with its check (instructor or teaching assistant)."""
    with state.db.unit() as session:
        lab = courses.add_lab(session, me, course_id, title=body.title, kind=body.kind,
                              check=body.check, instructions=body.instructions,
                              position=body.position)  # fmt: skip
        return LabPublic(**courses.lab_view(lab, staff=True))


@router.post(
    "/courses/{course_id}/labs/{lab_id}/attempts", response_model=AttemptPublic, status_code=201
)
def make_attempt(
    course_id: PathId, lab_id: PathId, body: AttemptCreate, state: StateDep, me: CurrentUser
) -> AttemptPublic:
    """Submit an attempt (students): checked at once, or pending until the job finishes."""
    with state.db.unit() as session:
        row = courses.attempt(session, me, course_id, lab_id, job_id=body.job_id,
                              answers=body.answers)  # fmt: skip
        return attempt_public(row)


@router.get("/courses/{course_id}/labs/{lab_id}/attempts", response_model=Page[AttemptPublic])
def list_attempts(
    course_id: PathId, lab_id: PathId, state: StateDep, me: CurrentUser, page: PageDep
) -> Page[AttemptPublic]:
    """Attempts at a lab (yours; staff see everyone's); pending ones are checked again first."""
    with state.db.unit() as session:
        rows = courses.attempts(session, me, course_id, lab_id)
        return _page([attempt_public(a) for a in rows], page)


def _progress(state: HubState, me: Principal, course_id: int) -> ProgressPublic:
    with state.db.unit() as session:
        course, labs, students = courses.progress(session, me, course_id)
        staff = _is_staff(session, me, course)
        return ProgressPublic(
            course_id=course.id,
            labs=[LabPublic(**courses.lab_view(lab, staff=staff)) for lab in labs],
            students=[
                StudentProgressPublic(
                    user_id=s.user_id,
                    email=s.email,
                    name=s.name,
                    completed_at=s.completed_at,
                    passed=s.passed,
                    labs=[LabProgressPublic(**p.__dict__) for p in s.labs],
                )
                for s in students
            ],
        )


@router.get("/courses/{course_id}/progress", response_model=ProgressPublic)
def progress(course_id: PathId, state: StateDep, me: CurrentUser) -> ProgressPublic:
    """Per student per lab: passed, attempts, last detail (a student: their own row)."""
    return _progress(state, me, course_id)


@router.get("/courses/{course_id}/progress.csv")
def progress_csv(course_id: PathId, state: StateDep, me: CurrentUser) -> Response:
    """The progress table as CSV (one row per student per lab)."""
    with state.db.unit() as session:
        course, labs, students = courses.progress(session, me, course_id)
        text = courses.progress_csv(labs, students)
        name = f"course-{course.id}-progress.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.post("/courses/{course_id}/recheck", response_model=ProgressPublic)
def recheck(course_id: PathId, state: StateDep, me: CurrentUser) -> ProgressPublic:
    """Check pending attempts again now, and answer the progress table."""
    return _progress(state, me, course_id)


@router.get("/courses/{course_id}/certificate")
def certificate(course_id: PathId, state: StateDep, me: CurrentUser) -> Response:
    """Your certificate (PDF) once you completed the course; 409 before."""
    key = _key(state)
    with state.db.unit() as session:
        facts = certificates.own_facts(session, me, course_id)
    code = certificates.code_of(facts, key)
    pdf = certificates.render_pdf(facts, code)
    name = f"certificate-{facts.course_code}-{facts.term}.pdf".replace(" ", "_")
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Certificate-Code": code})  # fmt: skip


@router.get("/certificates/verify", response_model=VerifyPublic)
def verify(
    state: StateDep, me: CurrentUser, code: Annotated[str, Query(min_length=3, max_length=64)]
) -> VerifyPublic:
    """Whether a certificate's verification code is valid, and what it certifies."""
    key = _key(state)
    with state.db.unit(readonly=True) as session:
        facts = certificates.verify(session, code, key)
    if facts is None:
        return VerifyPublic(valid=False)
    return VerifyPublic(valid=True, name=facts.name,
                        course=f"{facts.course_code} {facts.course_title}",
                        university=facts.university, term=facts.term,
                        completed_on=facts.completed_on, labs_passed=facts.labs_passed)  # fmt: skip


__all__ = ["router"]
