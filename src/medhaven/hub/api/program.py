"""The program dashboard (program officers and admins): figures, CSV per table, targets."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from medhaven.hub.api.deps import CurrentUser, StateDep
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import MAX_ID
from medhaven.hub.services import program

router = APIRouter(prefix=V1, tags=["program"])
YearQuery = Annotated[int | None, Query(ge=2000, le=2100, description="Only this year.")]
TableName = Literal["trainees", "projects", "datasets", "jobs", "nodes"]


class TargetBody(BaseModel):
    """The program's target of trainees for a year, overall or for one university."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2000, le=2100)
    trainees: int = Field(ge=0, le=1_000_000)
    org_id: int | None = Field(default=None, ge=1, le=MAX_ID)


@router.get("/program/dashboard")
def dashboard(state: StateDep, me: CurrentUser, year: YearQuery = None) -> dict[str, Any]:
    """Every table of the dashboard; counts of people below the minimum cell count hidden."""
    with state.db.unit(readonly=True) as session:
        tables = program.dashboard(session, me, min_cell_count=state.min_cell_count, year=year)
        return {
            "year": year,
            "years": program.years(session),
            "min_cell_count": state.min_cell_count,
            "tables": {k: t.as_dict() for k, t in tables.items()},
        }


@router.get("/program/tables/{table}.csv")
def table_csv(
    table: TableName, state: StateDep, me: CurrentUser, year: YearQuery = None
) -> Response:
    """One table of the dashboard as CSV."""
    with state.db.unit(readonly=True) as session:
        tables = program.dashboard(session, me, min_cell_count=state.min_cell_count, year=year)
    name = f"program-{table}{'' if year is None else f'-{year}'}.csv"
    return Response(
        program.to_csv(tables[table]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/program/targets", status_code=201)
def set_target(body: TargetBody, state: StateDep, me: CurrentUser) -> dict[str, Any]:
    """Set a target (audited)."""
    with state.db.unit() as session:
        t = program.set_target(
            session, me, year=body.year, trainees=body.trainees, org_id=body.org_id
        )
        return {"id": t.id, "year": t.year, "org_id": t.org_id, "trainees": t.trainees}
