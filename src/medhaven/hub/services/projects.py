"""Projects: purpose, type, lead, members, ethics reference, CDM domains, dates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from medhaven.errors import Conflict, Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import (
    AccessRequest,
    AccessRequestDataset,
    DatasetStatus,
    Project,
    ProjectMember,
    Role,
    User,
)
from medhaven.hub.schemas import ProjectCreate, ProjectUpdate
from medhaven.hub.services import visibility
from medhaven.hub.services.common import Principal, get_or_404, now_utc
from medhaven.hub.services.visibility import sees_all


def create(session: Session, principal: Principal, data: ProjectCreate) -> Project:
    """A project led by the caller, in an organisation where they are researcher or instructor."""
    orgs = sorted(
        set(principal.roles.orgs_with(Role.RESEARCHER))
        | set(principal.roles.orgs_with(Role.INSTRUCTOR))
    )
    if data.org_id is None:
        if len(orgs) != 1:
            raise InvalidInput("org_id: required when you lead projects in several organisations")
        org_id = orgs[0]
    elif data.org_id in orgs:
        org_id = data.org_id
    else:
        raise Forbidden("you are not a researcher or instructor in that organisation")
    if data.end_date < data.start_date:
        raise InvalidInput("end_date: before start_date")
    project = Project(
        org_id=org_id,
        title=data.title,
        purpose=data.purpose,
        type=data.type.value,
        lead_id=principal.user_id,
        ethics_ref=data.ethics_ref,
        domains=sorted(set(data.domains)),
        start_date=data.start_date,
        end_date=data.end_date,
        created_at=now_utc(),
    )
    project.members.append(ProjectMember(user_id=principal.user_id, added_at=now_utc()))
    session.add(project)
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="project.create",
        object_type="project",
        object_id=project.id,
        details={"org_id": org_id, "type": project.type},
    )
    return project


def is_member(project: Project, user_id: int) -> bool:
    """Whether the user is a member (the lead always is)."""
    return any(m.user_id == user_id for m in project.members)


def get_visible(session: Session, principal: Principal, project_id: int) -> Project:
    """A project the caller may see (see :mod:`.visibility`); others get not-found."""
    stmt = select(Project).where(Project.id == project_id)
    project = session.execute(
        visibility.where(stmt, visibility.project_clause(principal))
    ).scalar_one_or_none()
    if project is None:
        raise NotFound(f"project {project_id} not found")
    return project


def list_query(principal: Principal) -> Select[Any]:
    """The projects the caller may see."""
    stmt = select(Project).order_by(Project.id)
    return visibility.where(stmt, visibility.project_clause(principal))


def update(session: Session, principal: Principal, project_id: int, data: ProjectUpdate) -> Project:
    """Change a project (its lead only) while no dataset has been approved for it."""
    changes = data.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k != "ethics_ref")
    if nulls:
        raise InvalidInput(f"{nulls[0]}: may not be null")
    if not changes:
        raise InvalidInput("give at least one field to change")
    get_visible(session, principal, project_id)
    # the lock orders this against a reviewer approving access (who locks the project too)
    project = session.execute(
        select(Project)
        .where(Project.id == project_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if project.lead_id != principal.user_id:
        raise Forbidden("only the project lead may change the project")
    approved = session.execute(
        select(AccessRequestDataset.id)
        .join(AccessRequest, AccessRequest.id == AccessRequestDataset.request_id)
        .where(
            AccessRequest.project_id == project_id,
            AccessRequestDataset.status == DatasetStatus.APPROVED.value,
        )
        .limit(1)
    ).first()
    if approved is not None:
        raise Conflict(f"project {project_id} already has approved access and cannot be changed")
    start = changes.get("start_date", project.start_date)
    end = changes.get("end_date", project.end_date)
    if end < start:
        raise InvalidInput("end_date: before start_date")
    if "domains" in changes:
        changes["domains"] = sorted(set(changes["domains"]))
    for key, value in changes.items():
        setattr(project, key, value)
    project.updated_at = now_utc()
    audit.record(
        session,
        actor=principal.actor,
        action="project.update",
        object_type="project",
        object_id=project.id,
        details={"fields": sorted(changes)},
    )
    return project


def add_member(session: Session, principal: Principal, project_id: int, user_id: int) -> Project:
    """Add a member; only the project lead may."""
    project = get_visible(session, principal, project_id)
    if project.lead_id != principal.user_id:
        raise Forbidden("only the project lead may add members")
    get_or_404(session, User, user_id, "user")
    if is_member(project, user_id):
        raise Conflict(f"user {user_id} is already a member")
    project.members.append(ProjectMember(user_id=user_id, added_at=now_utc()))
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="project.add_member",
        object_type="project",
        object_id=project.id,
        details={"user_id": user_id},
    )
    return project


__all__ = [
    "add_member",
    "create",
    "get_visible",
    "is_member",
    "list_query",
    "sees_all",
    "update",
]
