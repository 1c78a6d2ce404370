"""Rendering: the Jinja2 environment, the per-request context, language cookie, error pages."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from medhaven.errors import CATALOGUE, Forbidden, MedHavenError, Unauthorized
from medhaven.hub.api.deps import SESSION_COOKIE, HubState, get_state
from medhaven.hub.models import User
from medhaven.hub.permissions import V1, allowed_roles, require
from medhaven.hub.services import identity
from medhaven.hub.services.common import Principal
from medhaven.web.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, choose_language, translator

log = logging.getLogger(__name__)
CSRF_COOKIE = "medhaven_csrf"
LANG_COOKIE_AGE = 365 * 24 * 3600


def N_(msgid: str) -> str:
    """Mark a msgid for the catalogue test; translated where it is shown."""
    return msgid


STATUS = {
    "pending": N_("Pending"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "active": N_("Active"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "queued": N_("Queued"),
    "running": N_("Running"),
    "completed": N_("Completed"),
    "partial": N_("Partial"),
    "held": N_("Held for release"),
    "failed": N_("Failed"),
    "refused": N_("Refused"),
    "cancelled": N_("Cancelled"),
    "ok": N_("OK"),
}
ROLES = {
    "custodian": N_("Data custodian"),
    "reviewer": N_("Reviewer"),
    "researcher": N_("Researcher"),
    "instructor": N_("Instructor"),
    "student": N_("Student"),
    "program_officer": N_("Program officer"),
    "admin": N_("Administrator"),
}
ERROR_TITLES = {
    400: N_("The form or link has a problem"),
    401: N_("Please sign in"),
    403: N_("You may not open this page"),
    404: N_("Page not found"),
    409: N_("This conflicts with the current state"),
    422: N_("The request could not be processed"),
    429: N_("Too many attempts"),
    500: N_("Something went wrong on our side"),
}
ERROR_HINTS = {
    400: N_("Check what you entered and try again."),
    401: N_("Your session has ended or you are not signed in."),
    403: N_("Your roles do not allow this. Ask an administrator if you think you need it."),
    404: N_("The page or object does not exist, or you may not see it."),
    409: N_("Someone may have changed it already. Reload the page and try again."),
    422: N_("Check what you entered and try again."),
    429: N_("Wait a minute and try again."),
    500: N_("The error was logged for the operator. Try again later."),
}

#: (href, msgid, API route the page mirrors): a link shows when that route's roles allow it
NAV: tuple[tuple[str, str, str], ...] = (
    ("/", N_("Dashboard"), f"GET {V1}/me"),
    ("/datasets", N_("Datasets"), f"GET {V1}/datasets"),
    ("/projects", N_("Projects"), f"GET {V1}/projects"),
    ("/requests", N_("Access requests"), f"GET {V1}/requests"),
    ("/reviews", N_("Review queue"), f"POST {V1}/requests/{{request_id}}/reviews"),
    ("/jobs", N_("Jobs"), f"GET {V1}/jobs"),
    # people who teach or learn
    ("/courses", N_("Courses"), f"POST {V1}/courses/{{course_id}}/members"),
    ("/challenges", N_("Challenges"), f"POST {V1}/challenges/{{challenge_id}}/submissions"),
    ("/admin/users", N_("Users"), f"GET {V1}/users"),
    ("/admin/orgs", N_("Organisations"), f"GET {V1}/users"),
    ("/program", N_("Program"), f"GET {V1}/program/dashboard"),
    ("/audit", N_("Audit log"), f"GET {V1}/audit"),
    ("/profile", N_("Profile"), f"GET {V1}/auth/tokens"),
)

_env = Environment(
    loader=PackageLoader("medhaven.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


_env.filters["when"] = _when


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in user: answered by a redirect to the sign-in."""


def allowed(principal: Principal, key: str) -> bool:
    """Whether the roles of the permission table's entry ``key`` include one of the caller's."""
    method, path = key.split(" ", 1)
    roles = allowed_roles(method, path)
    return bool(roles and principal.roles.all & roles)


def guard(principal: Principal, key: str) -> None:
    """Refuse with :class:`Forbidden` exactly as the API route ``key`` would."""
    method, path = key.split(" ", 1)
    roles = allowed_roles(method, path)
    if roles is None:
        raise Forbidden("this page has no permission entry")
    require(principal.roles, roles, what=key)


def language(request: Request) -> str:
    """The language of this request (``?lang=`` > cookie > Accept-Language > English)."""
    return choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def principal_of(request: Request, *, csrf: str | None = None, unsafe: bool = False) -> Principal:
    """The signed-in user of this browser (the hub's session check), or :class:`SignInRequired`.

    A write (``unsafe``) needs the session's CSRF token, sent as a hidden form field.
    """
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignInRequired
    state = get_state(request)
    try:
        with state.db.unit(readonly=True) as session:
            principal = identity.principal_from_session(session, cookie, csrf, unsafe=unsafe)
    except Unauthorized:
        raise SignInRequired from None
    request.state.principal = principal
    return principal


def _me(state: HubState, principal: Principal | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    with state.db.unit(readonly=True) as session:
        user = session.get(User, principal.user_id)
        name = user.name or user.email if user else ""
        email = user.email if user else ""
    return {"id": principal.user_id, "name": name, "email": email}


@dataclass(frozen=True)
class Page:
    """What every template gets besides its own data."""

    request: Request
    lang: str
    principal: Principal | None

    def context(self, state: HubState) -> dict[str, Any]:
        """The shared template context: translation, navigation, language switcher, CSRF."""
        principal = self.principal
        nav = (
            [(href, label) for href, label, key in NAV if allowed(principal, key)]
            if principal
            else []
        )
        path = self.request.url.path
        kept = [(k, v) for k, v in self.request.query_params.multi_items() if k != "lang"]
        switch = {code: f"{path}?{urlencode([*kept, ('lang', code)])}" for code in LANGUAGES}
        return {
            "_": translator(self.lang),
            "lang": self.lang,
            "languages": [(code, LANGUAGE_NAMES[code], switch[code]) for code in LANGUAGES],
            "path": path,
            "nav": nav,
            "me": _me(state, principal),
            "csrf": self.request.cookies.get(CSRF_COOKIE, ""),
            "status_label": STATUS,
            "role_label": ROLES,
        }


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    principal: Principal | None = None,
    **data: Any,
) -> HTMLResponse:
    """Render a page in the request's language; ``?lang=`` is remembered in a cookie."""
    state = get_state(request)
    if principal is None:
        principal = getattr(request.state, "principal", None)
    if principal is None and request.cookies.get(SESSION_COOKIE):
        try:  # an error page of a signed-in user still shows their navigation
            principal = principal_of(request)
        except (SignInRequired, MedHavenError):
            principal = None
    lang = language(request)
    ctx = Page(request, lang, principal).context(state)
    html = _env.get_template(template).render({**ctx, **data})
    response = HTMLResponse(html, status_code=status_code)
    remember_language(request, response)
    return response


def remember_language(request: Request, response: Response) -> None:
    """Keep a language chosen by ``?lang=`` in a cookie for the next pages."""
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, str(chosen), max_age=LANG_COOKIE_AGE, samesite="lax", path="/"
        )


def redirect(url: str) -> RedirectResponse:
    """A 303 after a form post (the browser then GETs ``url``)."""
    return RedirectResponse(url, status_code=303)


def is_web_request(request: Request) -> bool:
    """Whether an error on this request should be an HTML page (not under /api, not the docs)."""
    path = request.url.path
    return not (path.startswith("/api/") or path in {"/docs", "/redoc", "/openapi.json"})


def error_page(request: Request, code: str, message: str, status: int | None = None) -> Response:
    """A page a person understands, in their language; never a stack trace."""
    if code == "unauthorized":
        return sign_in_redirect(request)
    status = status or CATALOGUE[code].http_status
    title = ERROR_TITLES.get(status, ERROR_TITLES[400 if status < 500 else 500])
    hint = ERROR_HINTS.get(status, ERROR_HINTS[400 if status < 500 else 500])
    try:
        return render(
            request, "error.html", status_code=status, title=title, hint=hint, message=message,
            status=status,
        )  # fmt: skip
    except Exception as exc:  # the error page itself failed: a plain page, still no trace
        log.error("error page failed: %s", type(exc).__name__)
        return HTMLResponse("<h1>Error</h1>", status_code=status)


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in page, coming back here afterwards (GET pages only).

    An htmx poll (a fragment) asks the browser to load the sign-in page as a whole page.
    """
    if request.headers.get("hx-request"):
        current = urlsplit(request.headers.get("hx-current-url", "/"))
        target = (current.path or "/") + (f"?{current.query}" if current.query else "")
        url = f"/signin?next={quote(target, safe='')}"
        return Response(status_code=204, headers={"HX-Redirect": url})
    target = request.url.path if request.method == "GET" else "/"
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def org_names(session: Session) -> dict[int, str]:
    """Organisation names by id (they are public in the hub)."""
    from sqlalchemy import select

    from medhaven.hub.models import Org

    return {o.id: o.name for o in session.execute(select(Org).order_by(Org.name)).scalars()}


__all__ = [
    "CSRF_COOKIE",
    "NAV",
    "N_",
    "ROLES",
    "STATUS",
    "SignInRequired",
    "allowed",
    "error_page",
    "guard",
    "is_web_request",
    "language",
    "principal_of",
    "redirect",
    "render",
    "sign_in_redirect",
]
