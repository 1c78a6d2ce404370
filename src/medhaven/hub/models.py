"""SQLAlchemy 2 models of the hub: organisations, users, roles, tokens, projects, catalogue,
access requests, reviews, grants and the audit chain.

The hub never holds row-level patient data: a dataset row carries only
published (suppressed and rounded) aggregates.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the hub database")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of all hub tables."""

    type_annotation_map = {dt.datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class OrgKind(enum.StrEnum):
    """Kinds of organisation."""

    HOSPITAL = "hospital"
    UNIVERSITY = "university"
    RESEARCH_INSTITUTE = "research_institute"
    COMPANY = "company"
    MINISTRY = "ministry"


class Role(enum.StrEnum):
    """Roles of DESIGN.md, each held within one organisation."""

    CUSTODIAN = "custodian"
    REVIEWER = "reviewer"
    RESEARCHER = "researcher"
    INSTRUCTOR = "instructor"
    STUDENT = "student"
    PROGRAM_OFFICER = "program_officer"
    ADMIN = "admin"


class ProjectType(enum.StrEnum):
    """What a project is for."""

    EDUCATION = "education"
    ACADEMIC = "academic"
    COMMERCIAL = "commercial"


class RequestStatus(enum.StrEnum):
    """Where an access request stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class DatasetStatus(enum.StrEnum):
    """Where one dataset of an access request stands (each is decided on its own)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Decision(enum.StrEnum):
    """One reviewer's decision."""

    APPROVE = "approve"
    REJECT = "reject"


class Org(Base):
    """An organisation: hospital, university, research institute, company or ministry."""

    __tablename__ = "hub_org"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # a central review board: its reviewers may decide on any hospital's datasets
    review_board: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime]


class User(Base):
    """A person; the password is stored only as an argon2id hash."""

    __tablename__ = "hub_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )


class RoleAssignment(Base):
    """One role a user holds within one organisation."""

    __tablename__ = "hub_role_assignment"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("hub_org.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A scoped, expiring, revocable API token; only its SHA-256 is stored."""

    __tablename__ = "hub_api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class BrowserSession(Base):
    """A cookie session; the cookie value and the CSRF token are stored only hashed."""

    __tablename__ = "hub_browser_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]


class Dataset(Base):
    """A catalogue entry published by a custodian; aggregates only, already disclosure-checked."""

    __tablename__ = "hub_dataset"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("hub_org.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    cdm_version: Mapped[str] = mapped_column(String(16))
    domains: Mapped[str] = mapped_column(String(400))  # "|condition|drug|": portable LIKE filter
    period_start: Mapped[dt.date | None]
    period_end: Mapped[dt.date | None]
    person_count: Mapped[int | None]  # published value (None when suppressed)
    person_count_marker: Mapped[str | None] = mapped_column(String(16))
    characterization: Mapped[dict[str, Any]]
    quality_summary: Mapped[dict[str, Any]]
    terms_of_use: Mapped[str] = mapped_column(Text, default="")
    teaching: Mapped[bool] = mapped_column(Boolean, default=False)
    required_approvals: Mapped[int] = mapped_column(Integer, default=1)
    published_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    retired_at: Mapped[dt.datetime | None]  # retired: no new requests; grants keep their expiry


class Project(Base):
    """A project: purpose, type, lead, members, ethics reference, domains, dates."""

    __tablename__ = "hub_project"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("hub_org.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    purpose: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(32))
    lead_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    ethics_ref: Mapped[str | None] = mapped_column(String(200))
    domains: Mapped[list[Any]]
    start_date: Mapped[dt.date]
    end_date: Mapped[dt.date]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime | None]
    members: Mapped[list[ProjectMember]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )


class ProjectMember(Base):
    """A user's membership of a project."""

    __tablename__ = "hub_project_member"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("hub_project.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    added_at: Mapped[dt.datetime]


class AccessRequest(Base):
    """A project's request for one or more datasets."""

    __tablename__ = "hub_access_request"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("hub_project.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("hub_org.id"))  # the requesting org
    requested_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    justification: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.PENDING.value)
    required_approvals: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    datasets: Mapped[list[AccessRequestDataset]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )
    reviews: Mapped[list[Review]] = relationship(lazy="selectin", order_by="Review.id")


class AccessRequestDataset(Base):
    """One dataset named in an access request, decided on its own."""

    __tablename__ = "hub_access_request_dataset"
    __table_args__ = (UniqueConstraint("request_id", "dataset_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("hub_access_request.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("hub_dataset.id"), index=True)
    status: Mapped[str] = mapped_column(
        String(16), default=DatasetStatus.PENDING.value, server_default=DatasetStatus.PENDING.value
    )
    required_approvals: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    decided_at: Mapped[dt.datetime | None]


class Review(Base):
    """One reviewer's decision on some datasets of a request: approve (conditions, expiry) or
    reject (reasons). :class:`ReviewDataset` rows say which datasets it covers."""

    __tablename__ = "hub_review"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("hub_access_request.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    decision: Mapped[str] = mapped_column(String(16))
    conditions: Mapped[str] = mapped_column(Text, default="")
    reasons: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime]
    datasets: Mapped[list[ReviewDataset]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="ReviewDataset.dataset_id"
    )


class ReviewDataset(Base):
    """One dataset a review decided on; a reviewer decides on a dataset of a request once."""

    __tablename__ = "hub_review_dataset"
    __table_args__ = (UniqueConstraint("request_id", "dataset_id", "reviewer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("hub_review.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("hub_access_request.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("hub_dataset.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    decision: Mapped[str] = mapped_column(String(16))


class Grant(Base):
    """Access of a project to a dataset, following from an approved request."""

    __tablename__ = "hub_grant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("hub_project.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("hub_dataset.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("hub_access_request.id"))
    conditions: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("hub_user.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """One link of the append-only SHA-256 audit chain."""

    __tablename__ = "hub_audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(50))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, hashed as written
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the chain's last entry; locking it serialises appends."""

    __tablename__ = "hub_audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class JobStatus(enum.StrEnum):
    """Where a federated job stands at the hub."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PARTIAL = "partial"
    HELD = "held"  # ran, but fewer than min_nodes released: the rest wait for their custodian
    FAILED = "failed"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class Job(Base):
    """A federated job: what was asked, the signed spec, per-node status, combined result.

    ``result`` holds only what the nodes released (disclosure-controlled) and
    its combination; never a row-level value.
    """

    __tablename__ = "hub_job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("hub_project.id"), index=True)
    grant_ids: Mapped[list[Any]]
    kind: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]]
    dataset_ids: Mapped[list[Any]]
    targets: Mapped[list[Any]]
    min_nodes: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    node_status: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    signed_job: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[dt.datetime]
    submitted_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class CourseRole(enum.StrEnum):
    """A person's part in one course."""

    INSTRUCTOR = "instructor"
    TA = "teaching_assistant"
    STUDENT = "student"


class Course(Base):
    """A course a university runs on the platform, in one term.

    Its data access is its own ``education`` project (``project_id``): the
    instructor leads it, the course's people are its members, and its teaching
    datasets are the ones that project holds grants on (asked for and reviewed
    like any other access).
    """

    __tablename__ = "hub_course"
    __table_args__ = (UniqueConstraint("org_id", "code", "term"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("hub_org.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    term: Mapped[str] = mapped_column(String(32))  # for example "2027-1"
    year: Mapped[int] = mapped_column(Integer, index=True)
    instructor_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("hub_project.id"), unique=True)
    created_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]


class CourseMember(Base):
    """One person in one course: instructor, teaching assistant or student."""

    __tablename__ = "hub_course_member"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("hub_course.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    enrolled_at: Mapped[dt.datetime]
    completed_at: Mapped[dt.datetime | None]  # every lab of the course passed


class Lab(Base):
    """A guided exercise of a course, with the automatic check of a student's result.

    ``kind`` names what the student does (``cohort_count``, ``characterize``,
    ``train``, ``model_card``); ``check`` is the check's specification (JSON).
    """

    __tablename__ = "hub_lab"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("hub_course.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    instructions: Mapped[str] = mapped_column(Text, default="")
    check: Mapped[dict[str, Any]]
    created_at: Mapped[dt.datetime]


class LabAttempt(Base):
    """One attempt of a student at a lab: the job or answers checked, and the verdict."""

    __tablename__ = "hub_lab_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lab_id: Mapped[int] = mapped_column(ForeignKey("hub_lab.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("hub_job.id"))
    answers: Mapped[dict[str, Any] | None]
    passed: Mapped[bool | None] = mapped_column(Boolean)  # None: not checked yet
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]
    checked_at: Mapped[dt.datetime | None]


class Challenge(Base):
    """A prediction challenge: a task scored on a hidden test set that never leaves the nodes.

    ``mode`` is ``model`` (a model specification trained and scored at the
    nodes) or ``predictions`` (a prediction file, on synthetic teaching data
    only). Scores are rounded to ``score_digits``; the private split's scores
    are shown once ``closes_at`` has passed.
    """

    __tablename__ = "hub_challenge"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("hub_course.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("hub_project.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(16))
    task: Mapped[dict[str, Any]]
    dataset_ids: Mapped[list[Any]]
    metric: Mapped[str] = mapped_column(String(32), default="auroc")
    test_fraction: Mapped[float] = mapped_column(Float, default=0.3)
    public_fraction: Mapped[float] = mapped_column(Float, default=0.5)
    score_digits: Mapped[int] = mapped_column(Integer, default=3)
    max_daily: Mapped[int] = mapped_column(Integer, default=5)
    split_seed: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[dt.datetime]
    closes_at: Mapped[dt.datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("hub_user.id"))
    created_at: Mapped[dt.datetime]


class ChallengeSubmission(Base):
    """One submission to a challenge: what was submitted, its scoring job, its rounded scores."""

    __tablename__ = "hub_challenge_submission"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("hub_challenge.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("hub_user.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("hub_job.id"))
    spec: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    public_score: Mapped[float | None] = mapped_column(Float)
    private_score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime]
    scored_at: Mapped[dt.datetime | None]


class ProgramTarget(Base):
    """The program's target of trainees for one year, overall (``org_id`` null) or per university."""

    __tablename__ = "hub_program_target"
    __table_args__ = (UniqueConstraint("year", "org_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("hub_org.id"))
    trainees: Mapped[int] = mapped_column(Integer)


__all__ = [
    "AccessRequest",
    "AccessRequestDataset",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "Base",
    "BrowserSession",
    "Challenge",
    "ChallengeSubmission",
    "Course",
    "CourseMember",
    "CourseRole",
    "Dataset",
    "DatasetStatus",
    "Decision",
    "Grant",
    "Job",
    "JobStatus",
    "Lab",
    "LabAttempt",
    "Org",
    "OrgKind",
    "ProgramTarget",
    "Project",
    "ProjectMember",
    "ProjectType",
    "RequestStatus",
    "Review",
    "ReviewDataset",
    "Role",
    "RoleAssignment",
    "User",
]
