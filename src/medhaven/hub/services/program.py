"""The program dashboard: trainees against targets, projects, datasets in use, jobs, nodes.

For program officers and admins only. Counts of people (trainees enrolled and
completed) go through the hub's disclosure rule: a count from 1 to the
minimum cell count minus one is shown as the policy's marker (``"<5"``), and
a year's total is hidden too whenever one of its universities' counts is
(complementary suppression: the total minus the shown counts would give the
hidden one away). Only the total is ever hidden for that reason, so every
count shown is true and every hidden one is bounded only by its marker. Counts of
jobs, projects and datasets are not about people and are shown as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from medhaven.analytics import DisclosurePolicy
from medhaven.errors import Forbidden, InvalidInput, NotFound
from medhaven.hub import audit
from medhaven.hub.models import (
    Course,
    CourseMember,
    CourseRole,
    Dataset,
    Grant,
    Job,
    Org,
    OrgKind,
    ProgramTarget,
    Project,
    ProjectType,
    Role,
)
from medhaven.hub.services.common import Principal, now_utc

TABLES = ("trainees", "projects", "datasets", "jobs", "nodes")
TOTAL = "total"
HIDDEN = "hidden"  # a total hidden so that a small count cannot be recovered from it
Cell = int | float | str | None


@dataclass(frozen=True)
class Table:
    """One dashboard table: column names and rows (a suppressed count is the marker string)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
        }


def require_officer(principal: Principal) -> None:
    """Program officers and admins only."""
    if not (principal.roles.has(Role.PROGRAM_OFFICER) or principal.roles.has(Role.ADMIN)):
        raise Forbidden("only program officers and admins see the program dashboard")


def _check_year(year: int | None) -> None:
    if year is not None and (isinstance(year, bool) or not 2000 <= year <= 2100):
        raise InvalidInput("year: must be between 2000 and 2100")


def set_target(
    session: Session, principal: Principal, *, year: int, trainees: int, org_id: int | None = None
) -> ProgramTarget:
    """Set the program's target of trainees for a year, overall or for one university."""
    require_officer(principal)
    _check_year(year)
    if isinstance(trainees, bool) or not 0 <= trainees <= 1_000_000:
        raise InvalidInput("trainees: must be a whole number from 0 to 1000000")
    if org_id is not None:
        org = session.get(Org, org_id)
        if org is None:
            raise NotFound(f"organisation {org_id} not found")
        if org.kind != OrgKind.UNIVERSITY.value:
            raise InvalidInput(f"org: {org.name} is not a university")
    target = session.execute(
        select(ProgramTarget).where(
            ProgramTarget.year == year,
            ProgramTarget.org_id.is_(None) if org_id is None else ProgramTarget.org_id == org_id,
        )
    ).scalar_one_or_none()
    before = None if target is None else target.trainees
    if target is None:
        target = ProgramTarget(year=year, org_id=org_id, trainees=trainees)
        session.add(target)
    else:
        target.trainees = trainees
    session.flush()
    audit.record(
        session,
        actor=principal.actor,
        action="program.target",
        object_type="program_target",
        object_id=target.id,
        details={"year": year, "org_id": org_id, "trainees": trainees, "before": before},
    )
    return target


def _share(shown: Cell, target: int | None) -> float | None:
    if not isinstance(shown, int) or not target:
        return None
    return round(100.0 * shown / target, 1)


def _released_column(
    counts: dict[str, int], policy: DisclosurePolicy
) -> tuple[dict[str, Cell], Cell]:
    """Each university's count and the year's total, with primary and complementary suppression.

    A count from 1 to the minimum minus one shows the policy's marker (``"<5"``).
    When any university's count is hidden, the total is hidden too (it would give
    the hidden count away by subtraction); it then shows the marker when it is
    small itself, else :data:`HIDDEN`. No university's count is ever hidden for
    a reason other than its own size, so every shown count is the true count.
    """
    cells: dict[str, Cell] = {}
    for label, n in counts.items():
        cells[label] = policy.count_marker if policy.is_sensitive_count(n) else n
    total = sum(counts.values())
    shown_total: Cell = total
    if policy.is_sensitive_count(total):
        shown_total = policy.count_marker
    elif any(isinstance(v, str) for v in cells.values()):
        shown_total = HIDDEN
    return cells, shown_total


def trainees(session: Session, policy: DisclosurePolicy, year: int | None) -> Table:
    """Trainees (distinct students) enrolled and completed per university and year, vs target."""
    stmt = (
        select(Course.year, Course.org_id, CourseMember.user_id, CourseMember.completed_at)
        .join(Course, Course.id == CourseMember.course_id)
        .where(CourseMember.role == CourseRole.STUDENT.value)
    )
    if year is not None:
        stmt = stmt.where(Course.year == year)
    enrolled: dict[tuple[int, int], set[int]] = defaultdict(set)
    completed: dict[tuple[int, int], set[int]] = defaultdict(set)
    for y, org_id, user_id, done in session.execute(stmt):
        enrolled[(y, org_id)].add(user_id)
        if done is not None:
            completed[(y, org_id)].add(user_id)
    tstmt = select(ProgramTarget)
    if year is not None:
        tstmt = tstmt.where(ProgramTarget.year == year)
    targets = {(t.year, t.org_id): t.trainees for t in session.execute(tstmt).scalars()}
    names: dict[int, str] = {i: n for i, n in session.execute(select(Org.id, Org.name))}
    keys = set(enrolled) | {(y, o) for (y, o) in targets if o is not None}
    years = sorted({y for y, _ in keys} | {y for (y, o) in targets if o is None})
    rows: list[tuple[Cell, ...]] = []
    for y in years:
        orgs = sorted((o for (yy, o) in keys if yy == y), key=lambda o: names.get(o, ""))
        if orgs:
            labels = {names.get(o, str(o)): o for o in orgs}
            e_cells, e_total = _released_column(
                {k: len(enrolled[(y, o)]) for k, o in labels.items()}, policy
            )
            c_cells, c_total = _released_column(
                {k: len(completed[(y, o)]) for k, o in labels.items()}, policy
            )
            for label, o in labels.items():
                target = targets.get((y, o))
                e, c = e_cells[label], c_cells[label]
                rows.append((y, label, e, c, target, _share(e, target), _share(c, target)))
        else:
            e_total = c_total = 0
        target = targets.get((y, None))
        rows.append((y, TOTAL, e_total, c_total, target, _share(e_total, target),
                     _share(c_total, target)))  # fmt: skip
    columns = ("year", "university", "enrolled", "completed", "target", "enrolled_pct",
               "completed_pct")  # fmt: skip
    return Table("trainees", columns, tuple(rows))


def _year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)


def projects(session: Session, year: int | None) -> Table:
    """Projects by organisation kind (rows) and type (columns); a year: those running in it."""
    stmt = select(Org.kind, Project.type).join(Org, Org.id == Project.org_id)
    if year is not None:
        stmt = stmt.where(
            Project.start_date <= dt.date(year, 12, 31), Project.end_date >= dt.date(year, 1, 1)
        )
    counts = Counter((kind, ptype) for kind, ptype in session.execute(stmt))
    types = [t.value for t in ProjectType]
    rows: list[tuple[Cell, ...]] = []
    for kind in [k.value for k in OrgKind]:
        row = [counts.get((kind, t), 0) for t in types]
        if any(row):
            rows.append((kind, *row, sum(row)))
    col_totals = [sum(counts.get((k.value, t), 0) for k in OrgKind) for t in types]
    rows.append((TOTAL, *col_totals, sum(col_totals)))
    return Table("projects", ("org_kind", *types, TOTAL), tuple(rows))


def _jobs(session: Session, year: int | None) -> list[Job]:
    stmt = select(Job).order_by(Job.id)
    if year is not None:
        start, end = _year_bounds(year)
        stmt = stmt.where(and_(Job.created_at >= start, Job.created_at < end))
    return list(session.execute(stmt).scalars())


def datasets(session: Session, jobs: list[Job], at: dt.datetime) -> Table:
    """Datasets with active grants: how many grants and projects, and jobs on them in the period."""
    active = session.execute(
        select(Grant.dataset_id, Grant.project_id).where(
            Grant.revoked_at.is_(None), Grant.expires_at > at, Grant.granted_at <= at
        )
    ).all()
    grants_of: Counter[int] = Counter(d for d, _ in active)
    projects_of: dict[int, set[int]] = defaultdict(set)
    for d, p in active:
        projects_of[d].add(p)
    job_count: Counter[int] = Counter()
    for job in jobs:
        for d in set(job.dataset_ids or []):
            job_count[int(d)] += 1
    rows: list[tuple[Cell, ...]] = []
    if grants_of:
        found = session.execute(
            select(Dataset.id, Dataset.name, Org.name)
            .join(Org, Org.id == Dataset.org_id)
            .where(Dataset.id.in_(sorted(grants_of)))
            .order_by(Dataset.id)
        ).all()
        for d, name, org in found:
            rows.append((d, name, org, grants_of[d], len(projects_of[d]), job_count.get(d, 0)))
    columns = ("dataset_id", "dataset", "organisation", "active_grants", "projects", "jobs")
    return Table("datasets", columns, tuple(rows))


def jobs_by_month(jobs: list[Job]) -> Table:
    """Jobs per month (of submission) by kind and status."""
    counts = Counter((j.created_at.strftime("%Y-%m"), j.kind, j.status) for j in jobs)
    rows = tuple((m, k, s, n) for (m, k, s), n in sorted(counts.items()))
    return Table("jobs", ("month", "kind", "status", "jobs"), rows)


def nodes(jobs: list[Job]) -> Table:
    """Per node: jobs sent to it and each outcome (its status in ``Job.node_status``)."""
    counts: Counter[tuple[str, str]] = Counter()
    for job in jobs:
        status = job.node_status or {}
        for node in job.targets or []:
            entry = status.get(node) or {}
            counts[(str(node), str(entry.get("status", "unknown")))] += 1
    rows = tuple((node, outcome, n) for (node, outcome), n in sorted(counts.items()))
    return Table("nodes", ("node", "outcome", "jobs"), rows)


def dashboard(
    session: Session, principal: Principal, *, min_cell_count: int, year: int | None = None
) -> dict[str, Table]:
    """Every table of the dashboard (for one year when ``year`` is given)."""
    require_officer(principal)
    _check_year(year)
    policy = DisclosurePolicy(min_cell_count=min_cell_count)
    jobs = _jobs(session, year)
    return {
        "trainees": trainees(session, policy, year),
        "projects": projects(session, year),
        "datasets": datasets(session, jobs, now_utc()),
        "jobs": jobs_by_month(jobs),
        "nodes": nodes(jobs),
    }


def years(session: Session) -> list[int]:
    """Years with courses or targets (for the year filter)."""
    found = set(session.execute(select(Course.year)).scalars())
    found |= set(session.execute(select(ProgramTarget.year)).scalars())
    return sorted(found)


def to_csv(table: Table) -> str:
    """One table as CSV text (header row, then rows; a suppressed count is its marker)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow("" if v is None else v for v in row)
    return out.getvalue()


def from_dict(data: dict[str, Any]) -> Table:
    """A table from its JSON form (as the API sends it)."""
    return Table(
        str(data["name"]),
        tuple(str(c) for c in data["columns"]),
        tuple(tuple(r) for r in data["rows"]),
    )


__all__ = [
    "HIDDEN",
    "TABLES",
    "TOTAL",
    "Table",
    "dashboard",
    "from_dict",
    "require_officer",
    "set_target",
    "to_csv",
    "years",
]
