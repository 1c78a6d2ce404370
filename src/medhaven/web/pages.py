"""The pages: each calls the same hub service the matching API route calls, after the same
role check (the permission table entry of that route), so a page never allows more than the API.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from medhaven.errors import (
    ConflictOfInterest,
    InvalidInput,
    MedHavenError,
    NotFound,
)
from medhaven.hub import audit
from medhaven.hub.api.convert import grant_public, request_public
from medhaven.hub.api.deps import SESSION_COOKIE, StateDep
from medhaven.hub.models import (
    AuditEntry,
    Dataset,
    Job,
    JobStatus,
    Project,
    ProjectType,
    Role,
    User,
)
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import (
    CDM_DOMAINS,
    LoginIn,
    ProjectCreate,
    RequestCreate,
    ReviewCreate,
)
from medhaven.hub.services import access, catalogue, identity, jobs, projects, review
from medhaven.hub.services.common import Principal, paginate
from medhaven.web.i18n import translator
from medhaven.web.render import (
    CSRF_COOKIE,
    N_,
    allowed,
    guard,
    language,
    org_names,
    principal_of,
    redirect,
    render,
)
from medhaven.web.results import result_view

router = APIRouter(include_in_schema=False)
M = TypeVar("M", bound=BaseModel)
MAX_FORM_BYTES = 64_000
PAGE_SIZE = 50
LIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
PREDICTION_KINDS = ("train", "evaluate")  # results shown as per-hospital metrics and plots


async def form_fields(request: Request) -> dict[str, list[str]]:
    """The fields of a URL-encoded form post (no multipart: pages never upload files)."""
    if request.method != "POST":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput("form: too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if body and ctype != "application/x-www-form-urlencoded":
        raise InvalidInput("form: send application/x-www-form-urlencoded")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=200)


Form = Annotated[dict[str, list[str]], Depends(form_fields)]


def one(form: dict[str, list[str]], name: str) -> str:
    """The first value of a form field ("" when absent)."""
    values = form.get(name)
    return values[0].strip() if values else ""


def ids(form: dict[str, list[str]], name: str) -> list[int]:
    """Integer ids of a multi-valued field; a non-number names the field."""
    out = []
    for value in form.get(name, []):
        if not value.strip().isdigit():
            raise InvalidInput(f"{name}: not an id")
        out.append(int(value))
    return out


def build(model: type[M], data: dict[str, Any]) -> M:
    """Validate form data with the API's own schema; the error names the field, not the value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "form"
        raise InvalidInput(f"{where}: {first.get('msg', 'invalid')}"[:300]) from None


def writer(request: Request, form: dict[str, list[str]]) -> Principal:
    """The signed-in user of a form post, checked with the CSRF token of the form."""
    return principal_of(request, csrf=one(form, "csrf_token") or None, unsafe=True)


def _users(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User).where(User.id.in_(sorted(user_ids)))).scalars()
    return {u.id: u.name or u.email for u in rows}


def _dataset_names(session: Session, dataset_ids: set[int]) -> dict[int, str]:
    if not dataset_ids:
        return {}
    rows = session.execute(select(Dataset).where(Dataset.id.in_(sorted(dataset_ids)))).scalars()
    return {d.id: d.name for d in rows}


# -- sign in / out -------------------------------------------------------------------------


def _safe_next(target: str) -> str:
    """A path on this site only: never ``//host`` or ``/\\host`` (browsers read both as a host)."""
    ok = target.startswith("/") and target[1:2] not in {"/", "\\"}
    return target if ok and target.isprintable() and "\\" not in target else "/"


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "/") -> Response:
    """The sign-in form."""
    return render(request, "signin.html", next=_safe_next(next), error=None, email="")


@router.post("/signin", response_class=HTMLResponse)
def signin(request: Request, state: StateDep, form: Form) -> Response:
    """Check the password (the hub's login with lockout) and open a browser session."""
    target = _safe_next(one(form, "next") or "/")
    email = one(form, "email")
    try:
        body = build(LoginIn, {"email": email, "password": one(form, "password") or ""})
        state.limiter.hit(request.client.host if request.client else "unknown")
        with state.db.unit() as session:
            outcome = identity.check_login(session, email=body.email, password=body.password)
        if outcome.error is not None or outcome.user is None:
            err = outcome.error
            raise err if isinstance(err, MedHavenError) else InvalidInput("sign-in failed")
        with state.db.unit() as session:
            _row, cookie, csrf = identity.open_session(session, session.merge(outcome.user))
    except MedHavenError as exc:
        status = 401 if exc.code in {"unauthorized", "invalid_input"} else exc.spec.http_status
        error = (
            N_("Too many attempts. Wait a minute and try again.")
            if exc.code == "rate_limited"
            else N_("The email or password is wrong.")
        )
        return render(
            request, "signin.html", status_code=status, next=target, error=error, email=email
        )
    response = redirect(target)
    max_age = int(identity.SESSION_TTL.total_seconds())
    for name, value in ((SESSION_COOKIE, cookie), (CSRF_COOKIE, csrf)):
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, secure=state.secure_cookies,
            samesite="strict", path="/",
        )  # fmt: skip
    return response


@router.post("/signout")
def signout(request: Request, state: StateDep, form: Form) -> Response:
    """End the browser session."""
    me = writer(request, form)
    with state.db.unit() as session:
        identity.close_session(session, me)
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


# -- dashboard -----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request, state: StateDep) -> Response:
    """The dashboard of what needs the user's attention; the sign-in form for a visitor."""
    if not request.cookies.get(SESSION_COOKIE):
        return render(request, "signin.html", next="/", error=None, email="")
    from medhaven.web.study import held_for_custodian  # the study pages import this module

    me = principal_of(request)
    data: dict[str, Any] = {}
    with state.db.unit(readonly=True) as session:
        if allowed(me, f"POST {V1}/requests/{{request_id}}/reviews"):
            stmt = access.list_requests_query(me, to_review=True)
            rows, total = paginate(session, stmt, limit=5, offset=0)
            data["to_review"] = (rows, total)
        if allowed(me, f"GET {V1}/requests"):
            stmt = access.list_requests_query(me, status="pending")
            if not allowed(me, f"POST {V1}/requests/{{request_id}}/reviews"):
                rows, total = paginate(session, stmt, limit=5, offset=0)
                data["pending"] = (rows, total)
            grants_stmt = access.list_grants_query(me, status="active")
            g_rows, g_total = paginate(session, grants_stmt, limit=5, offset=0)
            data["grants"] = ([grant_public(g) for g in g_rows], g_total)
        if allowed(me, f"POST {V1}/datasets"):  # custodians: their hospital's catalogue entries
            own: list[Dataset] = []
            for org_id in me.roles.orgs_with(Role.CUSTODIAN):
                stmt = catalogue.search_query(q=None, org_id=org_id, domain=None, teaching=None,
                                              cdm_version=None, include_retired=True)  # fmt: skip
                own.extend(session.execute(stmt.limit(50)).scalars())
            data["own_datasets"] = [
                {"id": d.id, "name": d.name, "quality": bool(d.quality_summary),
                 "retired": d.retired_at is not None}
                for d in own
            ]  # fmt: skip
        job_rows, job_total = paginate(session, jobs.list_jobs_query(me), limit=5, offset=0)
        data["jobs"] = (job_rows, job_total)
        held = held_for_custodian(session, me)
        if held is not None:
            data["held"] = held
        proj_rows, proj_total = paginate(session, projects.list_query(me), limit=5, offset=0)
        data["projects"] = (proj_rows, proj_total)
        if allowed(me, f"GET {V1}/users"):  # admins, program officers: users and organisations
            from medhaven.web.admin import people_counts  # the admin pages import this module

            data["people"] = people_counts(session)
        if allowed(me, f"GET {V1}/audit"):
            data["audit_count"] = session.execute(
                select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)
            ).scalar_one_or_none()
        ds_ids = {g.dataset_id for g in data.get("grants", ([], 0))[0]}
        data["datasets"] = _dataset_names(session, ds_ids)
        pids = {p.id for p in proj_rows} | {g.project_id for g in data.get("grants", ([], 0))[0]}
        pids |= {
            r.project_id for key in ("to_review", "pending") for r in data.get(key, ([], 0))[0]
        }
        data["project_titles"] = _project_titles(session, pids)
        roles = sorted(me.roles.all)
    return render(request, "dashboard.html", principal=me, roles=roles, **data)


def _project_titles(session: Session, project_ids: set[int]) -> dict[int, str]:
    if not project_ids:
        return {}
    rows = session.execute(select(Project).where(Project.id.in_(sorted(project_ids)))).scalars()
    return {p.id: p.title for p in rows}


# -- profile and API tokens ----------------------------------------------------------------


def _profile(request: Request, state: StateDep, me: Principal, **extra: Any) -> Response:
    guard(me, f"GET {V1}/auth/tokens")
    with state.db.unit(readonly=True) as session:
        user = session.get(User, me.user_id)
        if user is None:
            raise NotFound("user not found")
        orgs = org_names(session)
        roles = sorted((orgs.get(r.org_id, str(r.org_id)), r.role) for r in user.roles)
        tokens = list(session.execute(identity.tokens_query(me)).scalars())
        now = dt.datetime.now(dt.UTC)
        token_rows = [
            {
                "id": t.id, "name": t.name, "scopes": t.scopes, "created_at": t.created_at,
                "expires_at": t.expires_at, "last_used_at": t.last_used_at,
                "state": "revoked" if t.revoked_at else ("expired" if t.expires_at <= now else "active"),
            }
            for t in tokens
        ]  # fmt: skip
        user_info = {"name": user.name, "email": user.email}
    return render(
        request, "profile.html", principal=me, user=user_info, roles=roles, tokens=token_rows,
        **extra,
    )  # fmt: skip


@router.get("/profile", response_class=HTMLResponse)
def profile(request: Request, state: StateDep) -> Response:
    """Who you are, your roles, your API tokens."""
    return _profile(request, state, principal_of(request), new_token=None)


@router.post("/profile/tokens", response_class=HTMLResponse)
def create_token(request: Request, state: StateDep, form: Form) -> Response:
    """A new API token; its secret is on this page once and never again."""
    me = writer(request, form)
    guard(me, f"GET {V1}/auth/tokens")
    scopes = sorted(set(form.get("scopes", [])))
    name = one(form, "name") or "web"
    ttl_text = one(form, "ttl_days") or "30"
    if not ttl_text.isdigit() or not 1 <= int(ttl_text) <= 365:
        raise InvalidInput("ttl_days: a number of days from 1 to 365")
    if len(name) > 100:
        raise InvalidInput("name: at most 100 characters")
    with state.db.unit() as session:
        user = session.get(User, me.user_id)
        if user is None:
            raise NotFound("user not found")
        row, secret = identity.issue_token(
            session, user=user, name=name, scopes=scopes, ttl=dt.timedelta(days=int(ttl_text))
        )
        issued = {"id": row.id, "name": row.name, "secret": secret}
    return _profile(request, state, me, new_token=issued)


@router.post("/profile/tokens/{token_id}/revoke")
def revoke_token(token_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Revoke one of your tokens."""
    me = writer(request, form)
    guard(me, f"DELETE {V1}/auth/tokens/{{token_id}}")
    with state.db.unit() as session:
        identity.revoke_token(session, me, token_id)
    return redirect("/profile")


# -- catalogue -----------------------------------------------------------------------------


@router.get("/datasets", response_class=HTMLResponse)
def datasets(
    request: Request,
    state: StateDep,
    q: Annotated[str, Query(max_length=200)] = "",
    domain: str = "",
    org_id: str = "",
    teaching: str = "",
    include_retired: str = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Search the catalogue by text and filters (audited like the API's search)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/datasets")
    if domain and domain not in CDM_DOMAINS:
        raise InvalidInput("domain: not a CDM domain")
    if org_id and not org_id.isdigit():
        raise InvalidInput("org_id: not an id")
    if teaching not in {"", "yes", "no"}:
        raise InvalidInput("teaching: yes or no")
    stmt = catalogue.search_query(
        q=q or None,
        org_id=int(org_id) if org_id else None,
        domain=domain or None,  # type: ignore[arg-type]
        teaching=None if not teaching else teaching == "yes",
        cdm_version=None,
        include_retired=bool(include_retired),
    )
    with state.db.unit() as session:
        rows, total = paginate(session, stmt, limit=PAGE_SIZE, offset=offset)
        audit.record(
            session, actor=me.actor, action="dataset.search", object_type="catalogue",
            object_id="-", details={"results": total},
        )  # fmt: skip
        orgs = org_names(session)
        items = [_dataset_row(d) for d in rows]
    filters = {"q": q, "domain": domain, "org_id": org_id, "teaching": teaching,
               "include_retired": include_retired}  # fmt: skip
    return render(
        request, "datasets.html", principal=me, items=items, total=total, orgs=orgs,
        domains=CDM_DOMAINS, filters=filters, next_url=_next_url(filters, offset, total),
    )  # fmt: skip


def _next_url(filters: dict[str, str], offset: int, total: int) -> str | None:
    """The next page of a list with the same filters, if there is one."""
    if offset + PAGE_SIZE >= total:
        return None
    kept = {k: v for k, v in filters.items() if v}
    return "?" + urlencode({**kept, "offset": offset + PAGE_SIZE})


def _dataset_row(d: Dataset) -> dict[str, Any]:
    return {
        "id": d.id, "org_id": d.org_id, "name": d.name, "description": d.description,
        "cdm_version": d.cdm_version, "domains": [x for x in d.domains.split("|") if x],
        "period_start": d.period_start, "period_end": d.period_end,
        "person_count": d.person_count, "person_count_marker": d.person_count_marker,
        "characterization": d.characterization, "quality_summary": d.quality_summary,
        "terms_of_use": d.terms_of_use, "teaching": d.teaching,
        "required_approvals": d.required_approvals, "retired_at": d.retired_at,
    }  # fmt: skip


def _charts(characterization: dict[str, Any]) -> list[dict[str, Any]]:
    """Each characterization section as bars: label, released value or marker, width in %."""
    charts = []
    for section, cells in characterization.items():
        if not isinstance(cells, dict):
            continue
        bars: list[dict[str, Any]] = []
        values: list[int | None] = []
        for label, cell in cells.items():
            value = cell.get("value") if isinstance(cell, dict) else cell
            marker = cell.get("marker") if isinstance(cell, dict) else None
            values.append(value if isinstance(value, int) else None)
            bars.append({"label": str(label), "value": values[-1], "marker": marker})
        top = max((v for v in values if v is not None), default=0)
        for bar, v in zip(bars, values, strict=True):
            bar["width"] = round(100 * v / top) if top and v is not None else 0
        charts.append({"section": str(section), "bars": bars})
    return charts


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset(dataset_id: int, request: Request, state: StateDep) -> Response:
    """One catalogue entry: description, characterization charts, quality summary."""
    me = principal_of(request)
    guard(me, f"GET {V1}/datasets/{{dataset_id}}")
    with state.db.unit() as session:
        d = _dataset_row(catalogue.view(session, me, dataset_id))
        orgs = org_names(session)
        my_projects = (
            [(p.id, p.title) for p in session.execute(projects.list_query(me)).scalars()
             if projects.is_member(p, me.user_id)]
            if allowed(me, f"POST {V1}/requests") else []
        )  # fmt: skip
    can_edit = (  # its custodians (the service's rule), while it is not retired
        allowed(me, f"PATCH {V1}/datasets/{{dataset_id}}")
        and me.roles.has(Role.CUSTODIAN, d["org_id"]) and d["retired_at"] is None
    )  # fmt: skip
    return render(
        request, "dataset.html", principal=me, d=d, org=orgs.get(d["org_id"], ""),
        charts=_charts(d["characterization"]), my_projects=my_projects, can_edit=can_edit,
    )  # fmt: skip


# -- projects ------------------------------------------------------------------------------


@router.get("/projects", response_class=HTMLResponse)
def project_list(request: Request, state: StateDep) -> Response:
    """Projects you may see; a form to create one (project leads)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/projects")
    with state.db.unit(readonly=True) as session:
        rows = list(session.execute(projects.list_query(me).limit(200)).scalars())
        orgs = org_names(session)
        leads = _users(session, {p.lead_id for p in rows})
    return render(
        request, "projects.html", principal=me, items=rows, orgs=orgs, leads=leads,
        can_create=allowed(me, f"POST {V1}/projects"), types=[t.value for t in ProjectType],
        domains=CDM_DOMAINS, today=dt.date.today(),
    )  # fmt: skip


@router.post("/projects")
def project_create(request: Request, state: StateDep, form: Form) -> Response:
    """Create a project that you lead."""
    me = writer(request, form)
    guard(me, f"POST {V1}/projects")
    body = build(
        ProjectCreate,
        {
            "title": one(form, "title"), "purpose": one(form, "purpose"),
            "type": one(form, "type"), "ethics_ref": one(form, "ethics_ref") or None,
            "domains": form.get("domains", []), "start_date": one(form, "start_date"),
            "end_date": one(form, "end_date"),
        },
    )  # fmt: skip
    with state.db.unit() as session:
        project = projects.create(session, me, body)
        pid = project.id
    return redirect(f"/projects/{pid}")


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(project_id: int, request: Request, state: StateDep) -> Response:
    """One project: members, its requests and grants; forms for members and access requests."""
    me = principal_of(request)
    guard(me, f"GET {V1}/projects/{{project_id}}")
    with state.db.unit(readonly=True) as session:
        p = projects.get_visible(session, me, project_id)
        members = _users(session, {m.user_id for m in p.members})
        orgs = org_names(session)
        reqs: list[Any] = []
        grants: list[Any] = []
        if allowed(me, f"GET {V1}/requests"):
            reqs = [
                request_public(r)
                for r in session.execute(access.list_requests_query(me, project_id=p.id)).scalars()
            ]
            grants = [
                grant_public(g)
                for g in session.execute(access.list_grants_query(me, project_id=p.id)).scalars()
            ]
        ds_names = _dataset_names(
            session, {g.dataset_id for g in grants} | {i for r in reqs for i in r.dataset_ids}
        )
        requestable = [
            (d.id, d.name) for d in session.execute(catalogue.search_query(
                q=None, org_id=None, domain=None, teaching=None, cdm_version=None,
                include_retired=False).limit(200)).scalars()
        ]  # fmt: skip
        project = {
            "id": p.id, "title": p.title, "purpose": p.purpose, "type": p.type,
            "org": orgs.get(p.org_id, ""), "lead": members.get(p.lead_id, str(p.lead_id)),
            "lead_id": p.lead_id, "ethics_ref": p.ethics_ref, "domains": p.domains,
            "start_date": p.start_date, "end_date": p.end_date,
        }  # fmt: skip
        member = projects.is_member(p, me.user_id)
    return render(
        request, "project.html", principal=me, p=project, members=members, requests=reqs,
        grants=grants, ds_names=ds_names, requestable=requestable,
        can_add_member=me.user_id == project["lead_id"]
        and allowed(me, f"POST {V1}/projects/{{project_id}}/members"),
        can_request=member and allowed(me, f"POST {V1}/requests"),
        can_study=member and allowed(me, f"POST {V1}/jobs"),
    )  # fmt: skip


@router.post("/projects/{project_id}/members")
def project_add_member(project_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Add a member by email (project lead only)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/projects/{{project_id}}/members")
    email = one(form, "email")
    with state.db.unit() as session:
        user = identity.find_user(session, email) if email else None
        if user is None:
            raise NotFound("email: no user with that email")
        projects.add_member(session, me, project_id, user.id)
    return redirect(f"/projects/{project_id}")


# -- access requests -----------------------------------------------------------------------


@router.get("/requests", response_class=HTMLResponse)
def request_list(request: Request, state: StateDep, status: str = "") -> Response:
    """Access requests you may see and where each stands."""
    me = principal_of(request)
    guard(me, f"GET {V1}/requests")
    if status and status not in {"pending", "approved", "rejected", "withdrawn"}:
        raise InvalidInput("status: pending, approved, rejected or withdrawn")
    with state.db.unit(readonly=True) as session:
        stmt = access.list_requests_query(me, status=status or None).limit(200)
        rows = [request_public(r) for r in session.execute(stmt).scalars()]
        titles = _project_titles(session, {r.project_id for r in rows})
        ds_names = _dataset_names(session, {i for r in rows for i in r.dataset_ids})
    return render(
        request, "requests.html", principal=me, items=rows, titles=titles, ds_names=ds_names,
        status=status,
    )  # fmt: skip


@router.post("/requests")
def request_create(request: Request, state: StateDep, form: Form) -> Response:
    """Ask for access to datasets for one of your projects."""
    me = writer(request, form)
    guard(me, f"POST {V1}/requests")
    project_id = one(form, "project_id")
    body = build(
        RequestCreate,
        {"project_id": project_id, "dataset_ids": ids(form, "dataset_ids"),
         "justification": one(form, "justification")},
    )  # fmt: skip
    with state.db.unit() as session:
        req = access.create_request(session, me, body)
        rid = req.id
    return redirect(f"/requests/{rid}")


def _request_view(session: Session, me: Principal, request_id: int) -> dict[str, Any]:
    r = access.get_request(session, me, request_id)
    pub = request_public(r)
    project = session.get(Project, r.project_id)
    conflict = None
    try:
        review.check_conflict_of_interest(session, me, r)
    except ConflictOfInterest as exc:
        conflict = exc.message
    people = _users(session, {r.requested_by} | {v.reviewer_id for v in pub.reviews})
    datasets = {d.id: d for d in session.execute(
        select(Dataset).where(Dataset.id.in_(pub.dataset_ids))).scalars()}  # fmt: skip
    orgs = org_names(session)
    return {
        "r": pub,
        "project": {
            "id": project.id, "title": project.title, "purpose": project.purpose,
            "type": project.type, "ethics_ref": project.ethics_ref, "domains": project.domains,
            "start_date": project.start_date, "end_date": project.end_date,
            "members": len(project.members),
        } if project else None,
        "requesting_org": orgs.get(r.org_id, ""),
        "people": people,
        "datasets": {i: {"name": d.name, "org": orgs.get(d.org_id, ""),
                         "domains": [x for x in d.domains.split("|") if x]}
                     for i, d in datasets.items()},
        "conflict": conflict,
    }  # fmt: skip


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(request_id: int, request: Request, state: StateDep) -> Response:
    """One request, each dataset's status and the reviews; the decision form for reviewers."""
    me = principal_of(request)
    guard(me, f"GET {V1}/requests/{{request_id}}")
    with state.db.unit(readonly=True) as session:
        view = _request_view(session, me, request_id)
    can_review = (
        allowed(me, f"POST {V1}/requests/{{request_id}}/reviews")
        and view["r"].status == "pending"
        and view["conflict"] is None
    )
    default_expiry = dt.date.today() + dt.timedelta(days=365)
    return render(
        request, "request.html", principal=me, can_review=can_review,
        default_expiry=default_expiry, **view,
    )  # fmt: skip


@router.post("/requests/{request_id}/withdraw")
def request_withdraw(request_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Withdraw a pending request."""
    me = writer(request, form)
    guard(me, f"POST {V1}/requests/{{request_id}}/withdraw")
    with state.db.unit() as session:
        access.withdraw(session, me, request_id)
    return redirect(f"/requests/{request_id}")


@router.get("/reviews", response_class=HTMLResponse)
def review_queue(request: Request, state: StateDep) -> Response:
    """Your review queue; pending requests you may not decide show a conflict of interest."""
    me = principal_of(request)
    guard(me, f"POST {V1}/requests/{{request_id}}/reviews")
    with state.db.unit(readonly=True) as session:
        queue = list(session.execute(access.list_requests_query(me, to_review=True)).scalars())
        queued = {r.id for r in queue}
        conflicted = []
        pending = access.list_requests_query(me, status="pending").limit(200)
        for r in session.execute(pending).scalars():
            if r.id in queued:
                continue
            try:
                review.check_conflict_of_interest(session, me, r)
            except ConflictOfInterest as exc:
                conflicted.append((request_public(r), exc.message))
        items = [request_public(r) for r in queue]
        titles = _project_titles(
            session, {r.project_id for r in items} | {r.project_id for r, _ in conflicted}
        )
        orgs = org_names(session)
        req_orgs = {r.id: orgs.get(r.org_id, "") for r in queue}
        ds_names = _dataset_names(session, {i for r in items for i in r.dataset_ids})
    return render(
        request, "reviews.html", principal=me, items=items, conflicted=conflicted,
        titles=titles, req_orgs=req_orgs, ds_names=ds_names,
    )  # fmt: skip


@router.post("/requests/{request_id}/reviews")
def request_decide(request_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Approve with conditions and an expiry, or reject with reasons."""
    me = writer(request, form)
    guard(me, f"POST {V1}/requests/{{request_id}}/reviews")
    decision = one(form, "decision")
    expires = one(form, "expires_on")
    expires_at = None
    if decision == "approve":
        try:
            day = dt.date.fromisoformat(expires)
        except ValueError:
            raise InvalidInput("expires_on: a date (YYYY-MM-DD)") from None
        expires_at = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
    chosen = ids(form, "dataset_ids")
    body = build(
        ReviewCreate,
        {"decision": decision, "conditions": one(form, "conditions"),
         "reasons": one(form, "reasons"), "expires_at": expires_at,
         "dataset_ids": chosen or None},
    )  # fmt: skip
    with state.db.unit() as session:
        access.decide(session, me, request_id, body)
    return redirect(f"/requests/{request_id}")


# -- jobs ----------------------------------------------------------------------------------


@router.get("/jobs", response_class=HTMLResponse)
def job_list(request: Request, state: StateDep) -> Response:
    """Jobs of your projects, newest first; the list refreshes while some are running."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs")
    with state.db.unit(readonly=True) as session:
        rows = list(session.execute(jobs.list_jobs_query(me).limit(100)).scalars())
        titles = _project_titles(session, {j.project_id for j in rows})
    live = any(j.status in LIVE for j in rows)
    return render(request, "jobs.html", principal=me, items=rows, titles=titles, live=live)


def _job_view(session: Session, me: Principal, job_id: int) -> dict[str, Any]:
    from medhaven.web.study import train_view  # the study pages import this module

    job: Job = jobs.get_job(session, me, job_id)
    result = None
    if job.result is not None and job.status in {"completed", "partial"}:
        result = jobs.get_result(session, me, job_id)
    return {
        "job": {
            "id": job.id, "kind": job.kind, "status": job.status, "reason": job.reason,
            "project_id": job.project_id, "node_status": job.node_status or {},
            "targets": job.targets, "created_at": job.created_at, "updated_at": job.updated_at,
            "parameters": job.parameters,
        },
        "live": job.status in LIVE,
        "result": result,
        "train": train_view(result, external=job.kind == "evaluate")
        if result is not None and job.kind in PREDICTION_KINDS else None,
        "tables": _result_tables(result)
        if result is not None and job.kind not in PREDICTION_KINDS else [],
    }  # fmt: skip


def _is_cell(value: Any) -> bool:
    return isinstance(value, dict) and ("value" in value or "display" in value)


def _cell(value: Any) -> str:
    """One released value as text: its display form, its value or its suppression marker."""
    if value is None:
        return "—"
    if _is_cell(value):
        if value.get("display") is not None:
            return str(value["display"])
        inner, marker = value.get("value"), value.get("marker")
        return str(marker) if inner is None and marker else _cell(inner)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)[:200]
    return str(value)


def _rows_table(title: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(dict.fromkeys(c for row in rows for c in row))
    body = [[_cell(row.get(c)) for c in columns] for row in rows[:200]]
    return {"title": title, "columns": columns, "rows": body}


def _sections(
    sections: list[dict[str, Any]], *, scalars_into: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Sections (or strata) of a combined result: one table each; a single count is a row."""
    out: list[dict[str, Any]] = []
    for section in sections:
        title = str(section.get("title") or section.get("name") or "")
        rows = section.get("entries", section.get("rows"))
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            out.append(_rows_table(title, rows))
        elif _is_cell(section):
            if not scalars_into or scalars_into[0]["columns"]:
                scalars_into.insert(0, {"title": "", "columns": [], "rows": []})
            scalars_into[0]["rows"].append((title, _cell(section)))
    return out


def _result_tables(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A released result as tables: its scalars, then one table per list of rows or section."""
    combined = result.get("combined") if isinstance(result.get("combined"), dict) else result
    assert isinstance(combined, dict)
    tables: list[dict[str, Any]] = []
    scalars = [
        (str(k), _cell(v))
        for k, v in combined.items()
        if not isinstance(v, (dict, list)) or _is_cell(v) or not v
    ]
    if scalars:
        tables.append({"title": "", "columns": [], "rows": scalars})
    for key, value in combined.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            if any("rows" in x or "entries" in x for x in value):
                tables.extend(_sections(value, scalars_into=tables))  # characterize, incidence
                continue
            tables.append(_rows_table(str(key), value))
        elif isinstance(value, dict) and value and not _is_cell(value):
            pairs = [(str(k), _cell(v)) for k, v in list(value.items())[:200]]
            tables.append({"title": str(key), "columns": [], "rows": pairs})
        elif isinstance(value, list) and value:
            tables.append({"title": str(key), "columns": [], "rows": [(str(key), _cell(value))]})
    return tables


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: int, request: Request, state: StateDep) -> Response:
    """One job: each node's status (live while it runs) and the released, combined result."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}")
    with state.db.unit(readonly=True) as session:
        view = _job_view(session, me, job_id)
        titles = _project_titles(session, {view["job"]["project_id"]})
    result = view["result"]
    view["rv"] = (
        None
        if result is None
        else result_view(view["job"]["kind"], result, translator(language(request)))
    )
    held = [n for n, v in view["job"]["node_status"].items() if v.get("status") == "held"]
    can_collect = bool(held) and view["job"]["status"] in jobs.COLLECTABLE
    can_collect = can_collect and allowed(me, f"POST {V1}/jobs/{{job_id}}/collect")
    return render(request, "job.html", principal=me, titles=titles, can_collect=can_collect, **view)


@router.post("/jobs/{job_id}/collect")
def job_collect(job_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Ask the hospitals that held this job's result again ("Check for released results")."""
    me = writer(request, form)
    guard(me, f"POST {V1}/jobs/{{job_id}}/collect")
    if state.jobs is None:
        raise NotFound("this hub runs no jobs")
    state.jobs.collect(me, job_id)
    return redirect(f"/jobs/{job_id}")


@router.get("/jobs/{job_id}/status", response_class=HTMLResponse)
def job_status(job_id: int, request: Request, state: StateDep) -> Response:
    """The per-node status fragment that the job page polls while the job runs."""
    me = principal_of(request)
    guard(me, f"GET {V1}/jobs/{{job_id}}")
    with state.db.unit(readonly=True) as session:
        view = _job_view(session, me, job_id)
    response = render(request, "_job_status.html", principal=me, **view)
    if not view["live"] and request.headers.get("hx-request"):
        response.headers["HX-Refresh"] = "true"  # finished: reload once to show the result
    return response


# -- audit ---------------------------------------------------------------------------------


def _audit_query(actor: str, action: str, object_type: str) -> Any:
    stmt = select(AuditEntry).order_by(AuditEntry.seq)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    return stmt


Short = Annotated[str, Query(max_length=100)]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    state: StateDep,
    actor: Short = "",
    action: Short = "",
    object_type: Short = "",
    verify: str = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """The audit log: filter, verify the chain, export."""
    me = principal_of(request)
    guard(me, f"GET {V1}/audit")
    with state.db.unit(readonly=True) as session:
        stmt = _audit_query(actor, action, object_type)
        rows, total = paginate(session, stmt, limit=PAGE_SIZE, offset=offset)
        entries = [
            {"seq": e.seq, "at": e.at, "actor": e.actor, "action": e.action,
             "object": f"{e.object_type} {e.object_id}", "details": e.details[:300],
             "hash": e.hash[:12]}
            for e in rows
        ]  # fmt: skip
        checked = None
        if verify:
            guard(me, f"GET {V1}/audit/verify")
            checked = audit.verify(session).as_dict()
    filters = {"actor": actor, "action": action, "object_type": object_type}
    return render(
        request, "audit.html", principal=me, entries=entries, total=total, filters=filters,
        checked=checked, next_url=_next_url(filters, offset, total),
        export_query=urlencode({k: v for k, v in filters.items() if v}),
    )  # fmt: skip


@router.get("/audit/export")
def audit_export(
    request: Request,
    state: StateDep,
    format: str = "csv",
    actor: Short = "",
    action: Short = "",
    object_type: Short = "",
) -> Response:
    """The (filtered) audit log as CSV or JSON Lines."""
    me = principal_of(request)
    guard(me, f"GET {V1}/audit")
    if format not in {"csv", "jsonl"}:
        raise InvalidInput("format: csv or jsonl")
    with state.db.unit(readonly=True) as session:
        rows = [
            {"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
             "object_type": e.object_type, "object_id": e.object_id, "details": e.details,
             "prev_hash": e.prev_hash, "hash": e.hash}
            for e in session.execute(_audit_query(actor, action, object_type)).scalars()
        ]  # fmt: skip
    return StreamingResponse(
        _export_lines(rows, format),
        media_type="text/csv" if format == "csv" else "application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="audit.{format}"'},
    )


def _export_lines(rows: list[dict[str, Any]], fmt: str) -> Iterator[str]:
    if fmt == "jsonl":
        for row in rows:
            yield json.dumps({**row, "details": json.loads(row["details"])}, ensure_ascii=False)
            yield "\n"
        return
    buffer = io.StringIO()
    out = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["seq"])
    out.writeheader()
    for row in rows:
        out.writerow(row)
    yield buffer.getvalue()


__all__ = ["router"]
