"""Projects: create, list (your own; all for oversight roles), view, add members."""

from __future__ import annotations

from fastapi import APIRouter

from medhaven.hub.api.convert import project_public
from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, StateDep
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import MemberAdd, Page, ProjectCreate, ProjectPublic, ProjectUpdate
from medhaven.hub.services import projects
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=f"{V1}/projects", tags=["projects"])


@router.get("", response_model=Page[ProjectPublic])
def list_projects(state: StateDep, me: CurrentUser, page: PageDep) -> Page[ProjectPublic]:
    """Projects you may see."""
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(
            session, projects.list_query(me), limit=page.limit, offset=page.offset
        )
        return Page(
            items=[project_public(p) for p in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


@router.post("", response_model=ProjectPublic, status_code=201)
def create(body: ProjectCreate, state: StateDep, me: CurrentUser) -> ProjectPublic:
    """A new project that you lead."""
    with state.db.unit() as session:
        return project_public(projects.create(session, me, body))


@router.get("/{project_id}", response_model=ProjectPublic)
def view(project_id: PathId, state: StateDep, me: CurrentUser) -> ProjectPublic:
    """One project."""
    with state.db.unit(readonly=True) as session:
        return project_public(projects.get_visible(session, me, project_id))


@router.patch("/{project_id}", response_model=ProjectPublic)
def update(
    project_id: PathId, body: ProjectUpdate, state: StateDep, me: CurrentUser
) -> ProjectPublic:
    """Change your project (lead only) while no dataset has been approved for it."""
    with state.db.unit() as session:
        return project_public(projects.update(session, me, project_id, body))


@router.post("/{project_id}/members", response_model=ProjectPublic)
def add_member(
    project_id: PathId, body: MemberAdd, state: StateDep, me: CurrentUser
) -> ProjectPublic:
    """Add a member (project lead only)."""
    with state.db.unit() as session:
        return project_public(projects.add_member(session, me, project_id, body.user_id))


__all__ = ["router"]
