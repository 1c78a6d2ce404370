"""API schemas, one per purpose: ``*Create`` comes in, only ``*Public`` goes out.

No ``*Public`` model has a field for a password hash, a token hash or a
session secret, so none can leak through a response.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from medhaven.hub.models import Decision, OrgKind, ProjectType, Role

T = TypeVar("T")
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Text = Annotated[str, StringConstraints(max_length=20_000)]
Domain = Literal[
    "person",
    "observation_period",
    "visit",
    "condition",
    "drug",
    "procedure",
    "device",
    "measurement",
    "observation",
    "death",
    "note",
    "specimen",
    "episode",
    "cost",
]
CDM_DOMAINS: tuple[str, ...] = get_args(Domain)
"""The CDM domains a project may ask for (data minimisation), in the order they are listed."""
Scope = Literal["read", "write"]
MAX_ID = 2**31 - 1
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]


class Public(BaseModel):
    """Base of response models (read from ORM objects)."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorBody(BaseModel):
    """The JSON error envelope: a stable code and a one-line message."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """What every failing API call returns."""

    error: ErrorBody


class LoginIn(BaseModel):
    """Email and password."""

    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenCreate(LoginIn):
    """A password grant for an API token."""

    name: Name = "cli"
    scopes: list[Scope] = Field(
        default_factory=lambda: list[Scope](["read", "write"]), min_length=1
    )
    ttl_days: int = Field(default=30, ge=1, le=365)


class TokenIssued(BaseModel):
    """A new API token: the secret is shown once, here, and never again."""

    id: int
    token: str
    scopes: list[str]
    expires_at: dt.datetime


class TokenPublic(Public):
    """An API token without its secret."""

    id: int
    name: str
    scopes: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class SessionIssued(BaseModel):
    """A browser session: the cookie is set; send ``csrf_token`` as X-CSRF-Token on writes."""

    csrf_token: str
    expires_at: dt.datetime


class OrgCreate(BaseModel):
    """A new organisation."""

    name: Name
    kind: OrgKind
    review_board: bool = Field(
        default=False, description="A central review board (ministry or research institute)."
    )


class ReviewBoardIn(BaseModel):
    """Whether an organisation is a central review board."""

    review_board: bool


class OrgPublic(Public):
    """An organisation."""

    id: int
    name: str
    kind: str
    review_board: bool


class RolePublic(Public):
    """A role held in an organisation."""

    org_id: int
    role: str


class RoleGrant(BaseModel):
    """A role to give a user in an organisation."""

    org_id: ObjectId
    role: Role


class ActiveIn(BaseModel):
    """Whether a user may sign in."""

    active: bool


class UserCreate(BaseModel):
    """A new user with a first role."""

    email: Email
    name: Annotated[str, StringConstraints(max_length=200)] = ""
    password: Annotated[str, StringConstraints(min_length=12, max_length=1024)]
    org_id: ObjectId
    role: Role


class UserPublic(Public):
    """A user (no password hash)."""

    id: int
    email: str
    name: str
    active: bool
    roles: list[RolePublic]


class DatasetCreate(BaseModel):
    """What a custodian publishes; counts are true counts, suppressed and rounded on the way in."""

    org_id: ObjectId
    name: Name
    description: Text = ""
    cdm_version: Annotated[str, StringConstraints(max_length=16)] = "5.4"
    domains: list[Domain] = Field(min_length=1)
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    person_count: int = Field(ge=0, le=10**10)
    characterization: dict[str, dict[str, Annotated[int, Field(ge=0, le=10**10)]]] = Field(
        default_factory=dict
    )
    quality_summary: dict[str, Any] = Field(default_factory=dict)
    terms_of_use: Text = ""
    teaching: bool = False
    required_approvals: int = Field(default=1, ge=1, le=10)


class DatasetPublic(Public):
    """A catalogue entry: only published (suppressed and rounded) aggregates."""

    id: int
    org_id: int
    name: str
    description: str
    cdm_version: str
    domains: list[str]
    period_start: dt.date | None
    period_end: dt.date | None
    person_count: int | None
    person_count_marker: str | None
    characterization: dict[str, Any]
    quality_summary: dict[str, Any]
    terms_of_use: str
    teaching: bool
    required_approvals: int
    created_at: dt.datetime
    updated_at: dt.datetime | None
    retired_at: dt.datetime | None


class DatasetUpdate(BaseModel):
    """What a custodian may change on a published dataset; fields left out stay as they are."""

    description: Text | None = None
    terms_of_use: Text | None = None
    teaching: bool | None = None


class RetireIn(BaseModel):
    """Why a dataset is retired."""

    reason: Text = Field(min_length=1)


class ProjectCreate(BaseModel):
    """A new project."""

    title: Name
    purpose: Text = Field(min_length=1)
    type: ProjectType
    org_id: ObjectId | None = None
    ethics_ref: Annotated[str, StringConstraints(max_length=200)] | None = None
    domains: list[Domain] = Field(min_length=1)
    start_date: dt.date
    end_date: dt.date


class ProjectUpdate(BaseModel):
    """What a project lead may change before any access is approved; left-out fields stay."""

    title: Name | None = None
    purpose: Text | None = Field(default=None, min_length=1)
    ethics_ref: Annotated[str, StringConstraints(max_length=200)] | None = None
    domains: list[Domain] | None = Field(default=None, min_length=1)
    start_date: dt.date | None = None
    end_date: dt.date | None = None


class MemberAdd(BaseModel):
    """A user to add to a project."""

    user_id: ObjectId


class ProjectPublic(Public):
    """A project."""

    id: int
    org_id: int
    title: str
    purpose: str
    type: str
    lead_id: int
    ethics_ref: str | None
    domains: list[str]
    start_date: dt.date
    end_date: dt.date
    member_ids: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime | None


class RequestCreate(BaseModel):
    """An access request of a project for datasets."""

    project_id: ObjectId
    dataset_ids: list[ObjectId] = Field(min_length=1, max_length=50)
    justification: Text = Field(min_length=1)


class ReviewCreate(BaseModel):
    """A reviewer's decision: approve with conditions and expiry, or reject with reasons."""

    decision: Decision
    conditions: Text = ""
    reasons: Text = ""
    expires_at: dt.datetime | None = None
    dataset_ids: list[ObjectId] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Datasets decided on; default: every open one you are on the board for.",
    )


class ReviewPublic(Public):
    """A decision on a request."""

    id: int
    reviewer_id: int
    decision: str
    dataset_ids: list[int]
    conditions: str
    reasons: str
    expires_at: dt.datetime | None
    decided_at: dt.datetime


class RequestDatasetPublic(BaseModel):
    """Where one dataset of a request stands."""

    dataset_id: int
    status: str
    required_approvals: int
    approvals: int
    decided_at: dt.datetime | None


class RequestPublic(Public):
    """An access request with its reviews."""

    id: int
    project_id: int
    org_id: int
    requested_by: int
    justification: str
    status: str
    required_approvals: int
    dataset_ids: list[int]
    datasets: list[RequestDatasetPublic]
    reviews: list[ReviewPublic]
    created_at: dt.datetime
    decided_at: dt.datetime | None


class GrantPublic(Public):
    """Access of a project to a dataset; ``status`` is active, expired or revoked now."""

    id: int
    project_id: int
    dataset_id: int
    request_id: int
    conditions: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    status: str


class RevokeIn(BaseModel):
    """Why a grant is revoked."""

    reason: Text = Field(min_length=1)


class AuditPublic(BaseModel):
    """One audit entry."""

    seq: int
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerifyPublic(BaseModel):
    """The result of verifying the chain."""

    intact: bool
    entries: int
    first_bad_seq: int | None
    problem: str | None


JobKindName = Literal["cohort_count", "characterize", "incidence", "train", "evaluate"]


class JobCreate(BaseModel):
    """A federated job to run under the project's active grants."""

    model_config = ConfigDict(extra="forbid")

    project_id: int = Field(ge=1, le=MAX_ID)
    kind: JobKindName
    parameters: dict[str, Any] = Field(default_factory=dict)
    dataset_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=100)
    min_nodes: int = Field(default=1, ge=1, le=100)
    ttl_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)


class JobPublic(Public):
    """A job as the hub holds it: what was asked, where, its status and each node's."""

    id: int
    uid: str
    project_id: int
    grant_ids: list[int]
    kind: str
    parameters: dict[str, Any]
    dataset_ids: list[int]
    targets: list[str]
    min_nodes: int
    status: str
    reason: str | None
    node_status: dict[str, Any]
    expires_at: dt.datetime
    submitted_by: int
    created_at: dt.datetime
    updated_at: dt.datetime


class JobResultPublic(BaseModel):
    """The combined, released result of a completed or partial job."""

    id: int
    status: str
    node_status: dict[str, Any]
    result: dict[str, Any]


__all__ = [
    "CDM_DOMAINS",
    "MAX_ID",
    "ActiveIn",
    "AuditPublic",
    "AuditVerifyPublic",
    "DatasetCreate",
    "DatasetPublic",
    "DatasetUpdate",
    "ErrorResponse",
    "GrantPublic",
    "JobCreate",
    "JobKindName",
    "JobPublic",
    "JobResultPublic",
    "LoginIn",
    "MemberAdd",
    "ObjectId",
    "OrgCreate",
    "OrgPublic",
    "Page",
    "ProjectCreate",
    "ProjectPublic",
    "ProjectUpdate",
    "RequestCreate",
    "RequestDatasetPublic",
    "RequestPublic",
    "RetireIn",
    "ReviewBoardIn",
    "ReviewCreate",
    "ReviewPublic",
    "RevokeIn",
    "RoleGrant",
    "SessionIssued",
    "TokenCreate",
    "TokenIssued",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
]
