"""ORM rows to ``*Public`` response models (the only shapes that leave the API)."""

from __future__ import annotations

from medhaven.hub.models import AccessRequest, Dataset, Decision, Grant, Project, Review
from medhaven.hub.schemas import (
    DatasetPublic,
    GrantPublic,
    ProjectPublic,
    RequestDatasetPublic,
    RequestPublic,
    ReviewPublic,
)
from medhaven.hub.services.access import grant_status


def dataset_public(ds: Dataset) -> DatasetPublic:
    """A catalogue entry."""
    return DatasetPublic.model_validate(
        {
            **{c: getattr(ds, c) for c in DatasetPublic.model_fields if c != "domains"},
            "domains": [d for d in ds.domains.split("|") if d],
        }
    )


def project_public(p: Project) -> ProjectPublic:
    """A project with its member ids."""
    fields = {c: getattr(p, c) for c in ProjectPublic.model_fields if c != "member_ids"}
    return ProjectPublic.model_validate(
        {**fields, "member_ids": sorted(m.user_id for m in p.members)}
    )


def review_public(v: Review) -> ReviewPublic:
    """A decision and the datasets it covers."""
    fields = {c: getattr(v, c) for c in ReviewPublic.model_fields if c != "dataset_ids"}
    return ReviewPublic.model_validate(
        {**fields, "dataset_ids": sorted(d.dataset_id for d in v.datasets)}
    )


def request_public(r: AccessRequest) -> RequestPublic:
    """A request with its datasets (each with its own status) and reviews."""
    skip = {"dataset_ids", "datasets", "reviews"}
    fields = {c: getattr(r, c) for c in RequestPublic.model_fields if c not in skip}
    approvals: dict[int, int] = {}
    for v in r.reviews:
        if v.decision == Decision.APPROVE.value:
            for d in v.datasets:
                approvals[d.dataset_id] = approvals.get(d.dataset_id, 0) + 1
    items = sorted(r.datasets, key=lambda d: d.dataset_id)
    return RequestPublic.model_validate(
        {
            **fields,
            "dataset_ids": [d.dataset_id for d in items],
            "datasets": [
                RequestDatasetPublic(
                    dataset_id=d.dataset_id,
                    status=d.status,
                    required_approvals=d.required_approvals,
                    approvals=approvals.get(d.dataset_id, 0),
                    decided_at=d.decided_at,
                )
                for d in items
            ],
            "reviews": [review_public(v) for v in r.reviews],
        }
    )


def grant_public(g: Grant) -> GrantPublic:
    """A grant with its status now."""
    fields = {c: getattr(g, c) for c in GrantPublic.model_fields if c != "status"}
    return GrantPublic.model_validate({**fields, "status": grant_status(g)})


__all__ = ["dataset_public", "grant_public", "project_public", "request_public", "review_public"]
