"""The catalogue: search (text and filters), view (audited), publish (custodians)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from medhaven.hub import audit
from medhaven.hub.api.convert import dataset_public
from medhaven.hub.api.deps import CurrentUser, PageDep, PathId, QueryId, StateDep
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import (
    DatasetCreate,
    DatasetPublic,
    DatasetUpdate,
    Domain,
    Page,
    RetireIn,
)
from medhaven.hub.services import catalogue
from medhaven.hub.services.common import paginate

router = APIRouter(prefix=f"{V1}/datasets", tags=["catalogue"])


@router.get("", response_model=Page[DatasetPublic])
def search(
    state: StateDep,
    me: CurrentUser,
    page: PageDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in name or description.")
    ] = None,
    org_id: QueryId = None,
    domain: Domain | None = None,
    teaching: bool | None = None,
    cdm_version: Annotated[str | None, Query(max_length=16)] = None,
    include_retired: Annotated[
        bool, Query(description="Also list retired datasets (no longer requestable).")
    ] = False,
) -> Page[DatasetPublic]:
    """Search the catalogue by text and filters."""
    stmt = catalogue.search_query(
        q=q,
        org_id=org_id,
        domain=domain,
        teaching=teaching,
        cdm_version=cdm_version,
        include_retired=include_retired,
    )
    with state.db.unit() as session:
        rows, total = paginate(session, stmt, limit=page.limit, offset=page.offset)
        audit.record(
            session,
            actor=me.actor,
            action="dataset.search",
            object_type="catalogue",
            object_id="-",
            details={"results": total},
        )
        return Page(
            items=[dataset_public(d) for d in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )


@router.post("", response_model=DatasetPublic, status_code=201)
def publish(body: DatasetCreate, state: StateDep, me: CurrentUser) -> DatasetPublic:
    """Publish a dataset for your hospital; counts are suppressed and rounded before storage."""
    with state.db.unit() as session:
        return dataset_public(
            catalogue.publish(session, me, body, min_cell_count=state.min_cell_count)
        )


@router.get("/{dataset_id}", response_model=DatasetPublic)
def view(dataset_id: PathId, state: StateDep, me: CurrentUser) -> DatasetPublic:
    """One catalogue entry."""
    with state.db.unit() as session:
        return dataset_public(catalogue.view(session, me, dataset_id))


@router.patch("/{dataset_id}", response_model=DatasetPublic)
def update(
    dataset_id: PathId, body: DatasetUpdate, state: StateDep, me: CurrentUser
) -> DatasetPublic:
    """Change the description, terms of use or teaching flag (custodians of its hospital)."""
    with state.db.unit() as session:
        return dataset_public(catalogue.update(session, me, dataset_id, body))


@router.post("/{dataset_id}/retire", response_model=DatasetPublic)
def retire(dataset_id: PathId, body: RetireIn, state: StateDep, me: CurrentUser) -> DatasetPublic:
    """Retire a dataset: it can no longer be requested; existing grants keep their expiry."""
    with state.db.unit() as session:
        return dataset_public(catalogue.retire(session, me, dataset_id, body.reason))


__all__ = ["router"]
