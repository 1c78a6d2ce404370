"""Who sees which projects, requests and grants (row-level least privilege).

* reviewers, program officers and admins see everything (the board must see the
  queue; officers run the program dashboard; admins run the hub);
* a custodian sees the requests and grants that involve a dataset published by
  an organisation in which they are custodian, and the projects behind them;
* everybody sees the projects they are a member of, with their requests and grants.

The rules are SQL conditions, so lists are filtered in the database and a
single-object lookup that fails them answers "not found" (it does not reveal
that the object exists).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, or_, select

from medhaven.hub.models import (
    AccessRequest,
    AccessRequestDataset,
    Dataset,
    Grant,
    Project,
    ProjectMember,
    Role,
)
from medhaven.hub.services.common import Principal

T = TypeVar("T")
SEES_ALL = frozenset({Role.REVIEWER, Role.PROGRAM_OFFICER, Role.ADMIN})


def sees_all(principal: Principal) -> bool:
    """Reviewers, program officers and admins see every project, request and grant."""
    return bool(principal.roles.all & SEES_ALL)


def _member_projects(principal: Principal) -> Select[Any]:
    return select(ProjectMember.project_id).where(ProjectMember.user_id == principal.user_id)


def _custodian_datasets(principal: Principal) -> Select[Any] | None:
    orgs = principal.roles.orgs_with(Role.CUSTODIAN)
    if not orgs:
        return None
    return select(Dataset.id).where(Dataset.org_id.in_(orgs))


def _custodian_requests(principal: Principal) -> Select[Any] | None:
    datasets = _custodian_datasets(principal)
    if datasets is None:
        return None
    return select(AccessRequestDataset.request_id).where(
        AccessRequestDataset.dataset_id.in_(datasets)
    )


def project_clause(principal: Principal) -> ColumnElement[bool] | None:
    """Condition on :class:`Project` rows the caller may see; ``None`` means all."""
    if sees_all(principal):
        return None
    clauses: list[ColumnElement[bool]] = [Project.id.in_(_member_projects(principal))]
    requests = _custodian_requests(principal)
    if requests is not None:
        clauses.append(
            Project.id.in_(select(AccessRequest.project_id).where(AccessRequest.id.in_(requests)))
        )
    return or_(*clauses)


def request_clause(principal: Principal) -> ColumnElement[bool] | None:
    """Condition on :class:`AccessRequest` rows the caller may see; ``None`` means all."""
    if sees_all(principal):
        return None
    clauses: list[ColumnElement[bool]] = [AccessRequest.project_id.in_(_member_projects(principal))]
    requests = _custodian_requests(principal)
    if requests is not None:
        clauses.append(AccessRequest.id.in_(requests))
    return or_(*clauses)


def grant_clause(principal: Principal) -> ColumnElement[bool] | None:
    """Condition on :class:`Grant` rows the caller may see; ``None`` means all."""
    if sees_all(principal):
        return None
    clauses: list[ColumnElement[bool]] = [Grant.project_id.in_(_member_projects(principal))]
    datasets = _custodian_datasets(principal)
    if datasets is not None:
        clauses.append(Grant.dataset_id.in_(datasets))
    return or_(*clauses)


def where(stmt: Select[T], clause: ColumnElement[bool] | None) -> Select[T]:
    """``stmt`` narrowed by a visibility clause (unchanged when the caller sees all)."""
    return stmt if clause is None else stmt.where(clause)


__all__ = [
    "SEES_ALL",
    "grant_clause",
    "project_clause",
    "request_clause",
    "sees_all",
    "where",
]
