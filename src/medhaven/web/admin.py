"""Administration pages (organisations, users, roles) and the custodians' publishing pages.

Each page checks the caller against the permission table entry of the API route it mirrors and
then calls the same service function that route calls (``identity``, ``catalogue``), so the
self-lockout guard, the custodian rule and the release gate's verdict are the services' own.
"""

from __future__ import annotations

import json
import secrets
from email import policy
from email.parser import BytesParser
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from medhaven.errors import InvalidInput, NotFound
from medhaven.hub.api.deps import StateDep
from medhaven.hub.models import Org, OrgKind, Role, RoleAssignment, User
from medhaven.hub.permissions import V1
from medhaven.hub.schemas import (
    ActiveIn,
    DatasetCreate,
    DatasetUpdate,
    OrgCreate,
    RetireIn,
    ReviewBoardIn,
    RoleGrant,
    UserCreate,
)
from medhaven.hub.services import catalogue, identity
from medhaven.hub.services.common import Principal, paginate
from medhaven.web.pages import PAGE_SIZE, Form, _charts, build, one, writer
from medhaven.web.render import N_, allowed, guard, org_names, principal_of, redirect, render

router = APIRouter(include_in_schema=False)
ORG_KINDS = {
    "hospital": N_("Hospital"),
    "university": N_("University"),
    "research_institute": N_("Research institute"),
    "company": N_("Company"),
    "ministry": N_("Ministry"),
}
MAX_PUBLICATION_BYTES = 2_000_000
INITIAL_PASSWORD_BYTES = 15  # 20 URL-safe characters


# -- organisations -------------------------------------------------------------------------


def people_counts(session: Session) -> dict[str, int]:
    """How many users (and of them deactivated) and organisations: the admin's dashboard."""
    users = session.execute(select(func.count()).select_from(User)).scalar_one()
    inactive = session.execute(
        select(func.count()).select_from(User).where(User.active.is_(False))
    ).scalar_one()
    orgs = session.execute(select(func.count()).select_from(Org)).scalar_one()
    return {"users": int(users), "inactive": int(inactive), "orgs": int(orgs)}


@router.get("/admin/orgs", response_class=HTMLResponse)
def orgs_page(request: Request, state: StateDep) -> Response:
    """Organisations with their kind and number of users; a form to create one (admins)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/users")  # the page counts users: those who may list them
    with state.db.unit(readonly=True) as session:
        per_org = select(
            RoleAssignment.org_id, func.count(func.distinct(RoleAssignment.user_id))
        ).group_by(RoleAssignment.org_id)
        counts = {int(org_id): int(n) for org_id, n in session.execute(per_org).all()}
        items = [
            {"id": o.id, "name": o.name, "kind": o.kind, "review_board": o.review_board,
             "users": counts.get(o.id, 0), "created_at": o.created_at}
            for o in session.execute(select(Org).order_by(Org.name)).scalars()
        ]  # fmt: skip
    return render(
        request, "admin_orgs.html", principal=me, items=items, kinds=[k.value for k in OrgKind],
        can_create=allowed(me, f"POST {V1}/orgs"), org_kind_label=ORG_KINDS,
        can_board=allowed(me, f"POST {V1}/orgs/{{org_id}}/review-board"),
        board_kinds=sorted(k.value for k in identity.BOARD_KINDS),
    )  # fmt: skip


@router.post("/admin/orgs")
def org_create(request: Request, state: StateDep, form: Form) -> Response:
    """Create an organisation (the service of ``POST /api/v1/orgs``)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/orgs")
    body = build(
        OrgCreate,
        {"name": one(form, "name"), "kind": one(form, "kind"),
         "review_board": one(form, "review_board") == "yes"},
    )  # fmt: skip
    with state.db.unit() as session:
        identity.create_org(
            session, name=body.name, kind=body.kind, actor=me.actor, review_board=body.review_board
        )
    return redirect("/admin/orgs")


@router.post("/admin/orgs/{org_id}/review-board")
def org_review_board(org_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Make an organisation a central review board, or stop it being one."""
    me = writer(request, form)
    guard(me, f"POST {V1}/orgs/{{org_id}}/review-board")
    body = build(ReviewBoardIn, {"review_board": one(form, "review_board")})
    with state.db.unit() as session:
        identity.set_review_board(
            session, org_id=org_id, review_board=body.review_board, actor=me.actor
        )
    return redirect("/admin/orgs")


# -- users ---------------------------------------------------------------------------------


def _roles(user: User, orgs: dict[int, str]) -> list[dict[str, Any]]:
    return sorted(
        ({"org_id": r.org_id, "org": orgs.get(r.org_id, str(r.org_id)), "role": r.role}
         for r in user.roles),
        key=lambda r: (r["org"], r["role"]),
    )  # fmt: skip


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    state: StateDep,
    q: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    """Users and their roles per organisation, searchable; a form to create one (admins)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/users")
    with state.db.unit(readonly=True) as session:
        rows, total = paginate(session, identity.list_users(q or None), limit=PAGE_SIZE,
                               offset=offset)  # fmt: skip
        orgs = org_names(session)
        items = [
            {"id": u.id, "name": u.name, "email": u.email, "active": u.active,
             "roles": _roles(u, orgs)}
            for u in rows
        ]  # fmt: skip
    more = offset + PAGE_SIZE < total
    return render(
        request, "admin_users.html", principal=me, items=items, total=total, q=q, orgs=orgs,
        roles=[r.value for r in Role], can_create=allowed(me, f"POST {V1}/users"),
        next_offset=offset + PAGE_SIZE if more else None,
    )  # fmt: skip


def _user_page(
    request: Request, session: Session, me: Principal, user_id: int, **extra: Any
) -> Response:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    orgs = org_names(session)
    return render(
        request, "admin_user.html", principal=me, orgs=orgs, roles=[r.value for r in Role],
        u={"id": user.id, "name": user.name, "email": user.email, "active": user.active,
           "created_at": user.created_at, "roles": _roles(user, orgs)},
        is_me=user.id == me.user_id,
        can_grant=allowed(me, f"POST {V1}/users/{{user_id}}/roles"),
        can_revoke=allowed(me, f"POST {V1}/users/{{user_id}}/roles/revoke"),
        can_activate=allowed(me, f"POST {V1}/users/{{user_id}}/active"),
        **extra,
    )  # fmt: skip


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(user_id: int, request: Request, state: StateDep) -> Response:
    """One user: roles per organisation; grant, revoke, deactivate (admins)."""
    me = principal_of(request)
    guard(me, f"GET {V1}/users")
    with state.db.unit(readonly=True) as session:
        return _user_page(request, session, me, user_id, initial_password=None)


@router.post("/admin/users", response_class=HTMLResponse)
def user_create(request: Request, state: StateDep, form: Form) -> Response:
    """Create a user with a first role; their initial password is on this page once."""
    me = writer(request, form)
    guard(me, f"POST {V1}/users")
    password = secrets.token_urlsafe(INITIAL_PASSWORD_BYTES)
    body = build(
        UserCreate,
        {"email": one(form, "email"), "name": one(form, "name"), "password": password,
         "org_id": one(form, "org_id"), "role": one(form, "role")},
    )  # fmt: skip
    with state.db.unit() as session:
        user = identity.create_user(
            session, email=body.email, password=body.password, name=body.name,
            org_id=body.org_id, role=body.role, actor=me.actor,
        )  # fmt: skip
        response = _user_page(request, session, me, user.id, initial_password=password)
    response.headers["Cache-Control"] = "no-store"  # the password must not stay in a cache
    return response


def _role_grant(form: dict[str, list[str]]) -> RoleGrant:
    return build(RoleGrant, {"org_id": one(form, "org_id"), "role": one(form, "role")})


@router.post("/admin/users/{user_id}/roles")
def user_add_role(user_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Give the user a role in an organisation."""
    me = writer(request, form)
    guard(me, f"POST {V1}/users/{{user_id}}/roles")
    body = _role_grant(form)
    with state.db.unit() as session:
        identity.add_role(
            session, user_id=user_id, org_id=body.org_id, role=body.role, actor=me.actor
        )
    return redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/roles/revoke")
def user_remove_role(user_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Take a role away (not your own last admin role: the service refuses with 409)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/users/{{user_id}}/roles/revoke")
    body = _role_grant(form)
    with state.db.unit() as session:
        identity.remove_role(
            session, user_id=user_id, org_id=body.org_id, role=body.role, actor=me.actor,
            by_user_id=me.user_id,
        )  # fmt: skip
    return redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/active")
def user_set_active(user_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Deactivate or reactivate the user (not yourself: the service refuses with 409)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/users/{{user_id}}/active")
    body = build(ActiveIn, {"active": one(form, "active")})
    with state.db.unit() as session:
        identity.set_active(
            session, user_id=user_id, active=body.active, actor=me.actor, by_user_id=me.user_id
        )
    return redirect(f"/admin/users/{user_id}")


# -- publishing (custodians) ---------------------------------------------------------------


async def publication_fields(request: Request) -> dict[str, list[str]]:
    """The fields of the publish form: URL-encoded, or multipart with the uploaded file."""
    if request.method != "POST":
        return {}
    body = await request.body()
    if len(body) > MAX_PUBLICATION_BYTES:
        raise InvalidInput(f"publication: larger than {MAX_PUBLICATION_BYTES // 1_000_000} MB")
    ctype = request.headers.get("content-type", "")
    kind = ctype.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded" or not body:
        return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True,
                        max_num_fields=50)  # fmt: skip
    if kind != "multipart/form-data":
        raise InvalidInput("form: send a form (multipart or URL-encoded)")
    head = f"Content-Type: {ctype}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise InvalidInput("form: not a multipart form")
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        if not isinstance(payload, bytes):
            raise InvalidInput(f"{name}: a nested multipart part")
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{name}: not UTF-8 text") from None
        fields.setdefault(name, []).append(text)
    return fields


PublicationForm = Annotated[dict[str, list[str]], Depends(publication_fields)]


def _publication(form: dict[str, list[str]]) -> tuple[DatasetCreate, str]:
    """The publication of the form (the uploaded file, else the pasted text), validated."""
    source, text = "publication_file", one(form, "publication_file")
    if not text:
        source, text = "publication", one(form, "publication")
    if not text:
        raise InvalidInput("publication: upload a file or paste its JSON")
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        raise InvalidInput(f"{source}: not JSON" + (f" (line {line})" if line else "")) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: not a JSON object")
    body = build(DatasetCreate, data)
    return body, json.dumps(data, ensure_ascii=False, sort_keys=True)


def _verdict_view(verdict: dict[str, Any] | None) -> dict[str, Any]:
    if verdict is None:
        return {"state": "none"}
    suggestion = verdict.get("suggestion")
    return {
        "state": "pass" if verdict["released"] else "refused",
        "k": verdict["k"], "k_min": verdict["k_min"],
        "average_risk": verdict["average_risk"], "max_avg_risk": verdict["max_avg_risk"],
        "l_diversity": verdict.get("l_diversity"), "reasons": verdict.get("reasons") or [],
        "suggestion": suggestion if isinstance(suggestion, dict) else None,
    }  # fmt: skip


@router.get("/datasets/publish", response_class=HTMLResponse)
def publish_form(request: Request, state: StateDep) -> Response:
    """Upload or paste a publication file (what ``medhaven datasets publish`` sends)."""
    me = principal_of(request)
    guard(me, f"POST {V1}/datasets")
    with state.db.unit(readonly=True) as session:
        orgs = org_names(session)
    mine = [(i, orgs.get(i, str(i))) for i in me.roles.orgs_with(Role.CUSTODIAN)]
    return render(request, "publish.html", principal=me, my_orgs=mine)


@router.post("/datasets/publish/preview", response_class=HTMLResponse)
def publish_preview(request: Request, state: StateDep, form: PublicationForm) -> Response:
    """What the catalogue will show: released counts, quality summary, the gate's verdict."""
    me = writer(request, form)
    guard(me, f"POST {V1}/datasets")
    body, canonical = _publication(form)
    catalogue.check_publisher(me, body.org_id)
    verdict = catalogue.risk_verdict(body.quality_summary)
    released = catalogue.released_counts(body, min_cell_count=state.min_cell_count)
    with state.db.unit(readonly=True) as session:
        org = org_names(session).get(body.org_id, str(body.org_id))
    quality = {k: v for k, v in body.quality_summary.items() if k != catalogue.RISK_GATE}
    d = {**body.model_dump(), **released, "quality_summary": quality}
    return render(
        request, "publish_preview.html", principal=me, d=d, org=org,
        charts=_charts(released["characterization"]), verdict=_verdict_view(verdict),
        publication=canonical, min_cell_count=state.min_cell_count,
    )  # fmt: skip


@router.post("/datasets/publish")
def publish(request: Request, state: StateDep, form: PublicationForm) -> Response:
    """Publish (the service of ``POST /api/v1/datasets``: it refuses a refused verdict)."""
    me = writer(request, form)
    guard(me, f"POST {V1}/datasets")
    body, _canonical = _publication(form)
    with state.db.unit() as session:
        ds = catalogue.publish(session, me, body, min_cell_count=state.min_cell_count)
        dataset_id = ds.id
    return redirect(f"/datasets/{dataset_id}")


@router.post("/datasets/{dataset_id}/edit")
def dataset_edit(dataset_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Change the description, terms of use and teaching flag (its custodians)."""
    me = writer(request, form)
    guard(me, f"PATCH {V1}/datasets/{{dataset_id}}")
    body = build(
        DatasetUpdate,
        {"description": one(form, "description"), "terms_of_use": one(form, "terms_of_use"),
         "teaching": one(form, "teaching") == "yes"},
    )  # fmt: skip
    with state.db.unit() as session:
        catalogue.update(session, me, dataset_id, body)
    return redirect(f"/datasets/{dataset_id}")


@router.post("/datasets/{dataset_id}/retire")
def dataset_retire(dataset_id: int, request: Request, state: StateDep, form: Form) -> Response:
    """Retire the dataset: no new requests; existing grants keep their expiry."""
    me = writer(request, form)
    guard(me, f"POST {V1}/datasets/{{dataset_id}}/retire")
    body = build(RetireIn, {"reason": one(form, "reason")})
    with state.db.unit() as session:
        catalogue.retire(session, me, dataset_id, body.reason)
    return redirect(f"/datasets/{dataset_id}")


__all__ = ["router"]
