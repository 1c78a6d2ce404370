"""The node console: a custodian's web pages served AT the hospital, next to the node.

``medhaven node console --config node.toml`` serves: an overview (released
person count, quality checks, the de-identification risk gate's verdict and
the publication file for ``medhaven datasets publish``), the node's policy
(read-only: ``node.toml`` is the source of truth), the release queue (each
held result as tables, with Release and Reject) and the node's audit log
with its chain verified. Node-local accounts only (:mod:`.console_auth`);
every form carries the session's CSRF token; every action is appended to the
node's audit log with the custodian's email as actor. Release happens here,
at the node: the hub only ever receives what a custodian released.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape

from medhaven.errors import CATALOGUE, Forbidden, InvalidInput, MedHavenError, RateLimited
from medhaven.federation.audit import NodeAuditLog
from medhaven.federation.console_users import check_password
from medhaven.federation.node import NodeConfig, held_jobs, reject_held, release_held
from medhaven.hub.ratelimit import LoginLimiter
from medhaven.web.console_auth import SESSION_COOKIE, Session, Sessions, same_token
from medhaven.web.console_facts import (
    NodeFacts,
    compute_facts,
    deid_verdict,
    publication,
    result_tables,
)
from medhaven.web.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, choose_language, translator
from medhaven.web.render import N_, STATUS

NAV = (("/", N_("Overview")), ("/policy", N_("Node policy")),
       ("/queue", N_("Release queue")), ("/audit", N_("Node audit log")))  # fmt: skip
POLICY_HELP = {
    "name": N_("The node's name: jobs must name it as a target."),
    "cdm": N_("Where the node's OMOP CDM is (a DuckDB file or a PostgreSQL URL)."),
    "accepted_kinds": N_("The job kinds this node runs; any other kind is refused."),
    "min_cell_count": N_("Counts below this are suppressed in every released result."),
    "min_train_persons": N_("The fewest persons a training job may use at this node."),
    "rounding": N_("Released counts are rounded to this base (none: not rounded)."),
    "require_release_approval": N_(
        "Results of these kinds wait in the release queue for a custodian (true: every kind)."
    ),
    "hub_public_key": N_("The hub's public key: a job must be signed with its private key."),
    "revoked_grants": N_("Grants listed in this file are refused at once."),
    "audit_log": N_("The node's own audit log (hash-chained JSON lines)."),
    "release_queue": N_("Where held results wait for release."),
    "answered_jobs": N_("The replies already sent, so that a resent job is never run twice."),
    "privacy_budget": N_("The total epsilon that differentially private jobs may spend here."),
    "console_users": N_("The accounts of this console (argon2id hashes, mode 0600)."),
    "deid_report": N_("The de-identification report whose risk gate verdict is published."),
    "transport": N_("How the node dials the hub's SuperLink (TLS CA, authentication key)."),
}
_env = Environment(
    loader=PackageLoader("medhaven.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignIn(Exception):
    """A page that needs a signed-in custodian."""


class Console:
    """The console's state: the node's config file, sessions, login limiter, cached facts."""

    def __init__(self, config_path: Path, *, login_attempts_per_minute: int = 10) -> None:
        self.config_path = config_path
        NodeConfig.load(config_path)  # fail at start, not on the first page
        self.sessions = Sessions()
        self.limiter = LoginLimiter(attempts=login_attempts_per_minute)
        self._facts: NodeFacts | None = None
        self._lock = threading.Lock()

    def config(self) -> NodeConfig:
        """``node.toml`` read again (an edit applies to the next page, as to the next job)."""
        return NodeConfig.load(self.config_path)

    def facts(self, *, refresh: bool = False) -> NodeFacts:
        """The overview's figures, computed once and on request (the checks take seconds)."""
        with self._lock:
            if self._facts is None or refresh or self._facts.problem:
                self._facts = compute_facts(self.config())
            return self._facts


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}


Form = Annotated[dict[str, str], Depends(_form)]


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def _session(request: Request) -> Session:
    c = _console(request)
    s = c.sessions.check(request.cookies.get(SESSION_COOKIE))
    if s is None or s.email not in _accounts(c):
        raise SignIn
    return s


def _accounts(c: Console) -> set[str]:
    from medhaven.federation.console_users import users

    return set(users(c.config().console_users_path))


def _writer(request: Request, form: dict[str, str]) -> Session:
    s = _session(request)
    if not same_token(form.get("csrf_token"), s.csrf):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page")
    return s


def _lang(request: Request) -> str:
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE),
                           request.headers.get("accept-language"))  # fmt: skip


def _render(request: Request, template: str, session: Session | None, status: int = 200,
            **data: Any) -> HTMLResponse:  # fmt: skip
    lang = _lang(request)
    path = request.url.path
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    ctx = {
        "_": translator(lang), "lang": lang, "path": path,
        "languages": [(code, LANGUAGE_NAMES[code], f"{path}?{urlencode([*kept, ('lang', code)])}")
                      for code in LANGUAGES],
        "nav": list(NAV) if session else [], "me": {"name": session.email} if session else None,
        "csrf": session.csrf if session else "", "status_label": STATUS, "role_label": {},
    }  # fmt: skip
    response = HTMLResponse(_env.get_template(template).render({**ctx, **data}), status)
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(LANG_COOKIE, str(chosen), max_age=365 * 24 * 3600, samesite="lax")
    return response


def _audit(config: NodeConfig, actor: str, outcome: str, reason: str) -> None:
    NodeAuditLog(config.audit_path).append({"outcome": outcome, "reason": reason, "actor": actor})


def create_console_app(config_path: Path, *, login_attempts_per_minute: int = 10) -> FastAPI:
    """The console application for the node configured at ``config_path``."""
    from importlib import resources

    app = FastAPI(title="MedHaven node console", docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.console = Console(config_path, login_attempts_per_minute=login_attempts_per_minute)
    static = resources.files("medhaven.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(SignIn)
    async def _sign_in(request: Request, _exc: SignIn) -> Response:
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(MedHavenError)
    async def _error(request: Request, exc: MedHavenError) -> Response:
        session = _console(request).sessions.check(request.cookies.get(SESSION_COOKIE))
        status = CATALOGUE[exc.code].http_status if exc.code in CATALOGUE else 400
        return _render(request, "console_error.html", session, status, message=exc.message)

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request) -> Response:
        return _render(request, "console_signin.html", None, error=None, email="")

    @app.post("/signin", response_class=HTMLResponse)
    def signin(request: Request, form: Form) -> Response:
        c = _console(request)
        try:
            c.limiter.hit(request.client.host if request.client else "unknown")
        except RateLimited as exc:
            return _render(request, "console_signin.html", None, 429, error=exc.message,
                           email="")  # fmt: skip
        config = c.config()
        email = check_password(config.console_users_path, form.get("email", ""),
                               form.get("password", ""))  # fmt: skip
        if email is None:
            return _render(request, "console_signin.html", None, 401,
                           error=N_("Wrong email or password."), email=form.get("email", ""))  # fmt: skip
        cookie, _s = c.sessions.issue(email)
        _audit(config, email, "console_signin", "signed in to the node console")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict",
                            max_age=8 * 3600)  # fmt: skip
        return response

    @app.post("/signout")
    def signout(request: Request, form: Form) -> Response:
        s = _writer(request, form)
        _audit(_console(request).config(), s.email, "console_signout", "signed out")
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request) -> Response:
        s = _session(request)
        c = _console(request)
        config = c.config()
        facts = c.facts()
        verdict, why = deid_verdict(config)
        return _render(request, "console_overview.html", s, node=config, facts=facts,
                       verdict=verdict, verdict_problem=why,
                       held=len(held_jobs(config)))  # fmt: skip

    @app.post("/refresh")
    def refresh(request: Request, form: Form) -> Response:
        s = _writer(request, form)
        c = _console(request)
        c.facts(refresh=True)
        _audit(c.config(), s.email, "console_refresh", "counted and checked the CDM again")
        return RedirectResponse("/", status_code=303)

    @app.get("/publication.json")
    def publication_file(request: Request, org_id: int = 0) -> Response:
        s = _session(request)
        c = _console(request)
        if org_id < 1:
            raise InvalidInput("org_id: give your organisation's id at the hub (a number)")
        config = c.config()
        doc = publication(config, c.facts(), org_id)
        _audit(config, s.email, "console_publication",
               "downloaded the publication file (released figures only)")  # fmt: skip
        return JSONResponse(doc, headers={
            "Content-Disposition": f'attachment; filename="{config.name}-dataset.json"'})  # fmt: skip

    @app.get("/policy", response_class=HTMLResponse)
    def policy(request: Request) -> Response:
        s = _session(request)
        config = _console(request).config()
        rows = []
        for name in POLICY_HELP:
            value = getattr(config, name)
            shown = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
            rows.append({"field": name, "value": "—" if shown is None else str(shown),
                         "help": POLICY_HELP[name]})  # fmt: skip
        return _render(request, "console_policy.html", s, rows=rows,
                       file=str(_console(request).config_path))  # fmt: skip

    @app.get("/queue", response_class=HTMLResponse)
    def queue(request: Request) -> Response:
        s = _session(request)
        items = []
        for doc in held_jobs(_console(request).config()):
            items.append({**{k: doc.get(k) for k in ("job_id", "kind", "project", "grant_id",
                                                      "held_at")},
                          "tables": result_tables(doc.get("result") or {})})  # fmt: skip
        return _render(request, "console_queue.html", s, items=items)

    @app.post("/queue/release")
    def release(request: Request, form: Form) -> Response:
        s = _writer(request, form)
        release_held(form.get("job_id", ""), _console(request).config(), actor=s.email)
        return RedirectResponse("/queue", status_code=303)

    @app.post("/queue/reject")
    def reject(request: Request, form: Form) -> Response:
        s = _writer(request, form)
        reject_held(form.get("job_id", ""), _console(request).config(), form.get("reason", ""),
                    actor=s.email)  # fmt: skip
        return RedirectResponse("/queue", status_code=303)

    @app.get("/audit", response_class=HTMLResponse)
    def audit(request: Request) -> Response:
        s = _session(request)
        log = NodeAuditLog(_console(request).config().audit_path)
        entries = log.entries()
        return _render(request, "console_audit.html", s, entries=list(reversed(entries[-200:])),
                       total=len(entries), check=log.verify())  # fmt: skip

    return app


__all__ = ["NAV", "POLICY_HELP", "Console", "create_console_app"]
