"""The FastAPI application: routers under ``/api/v1``, the permission guard, one error handler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from medhaven import __version__
from medhaven.errors import CATALOGUE, MedHavenError
from medhaven.federation.network import NetworkDispatcher
from medhaven.hub.api import (
    audit_routes,
    auth,
    challenges,
    courses,
    datasets,
    grants,
    jobs,
    program,
    projects,
    requests,
    users,
)
from medhaven.hub.api.deps import HubState, authorize
from medhaven.hub.db import Database
from medhaven.hub.permissions import V1
from medhaven.hub.ratelimit import LoginLimiter
from medhaven.hub.schemas import ErrorResponse
from medhaven.hub.services.jobs import Dispatcher, JobRunner
from medhaven.web.render import error_page, is_web_request

log = logging.getLogger(__name__)
API_PREFIX = V1
_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "rate_limited",
}


@dataclass(frozen=True)
class HubConfig:
    """How to run one hub: where its database is and its policy knobs."""

    database_url: str
    min_cell_count: int = 5
    secure_cookies: bool = True
    login_attempts_per_minute: int = 30
    # jobs: the key directory (the hub's data dir) and how jobs reach the nodes; without a
    # key directory jobs cannot be submitted, without a dispatcher they stay queued
    keys_dir: Path | None = None
    superlink: str | None = None
    superlink_ca: Path | None = None  # the federation CA, when the SuperLink serves TLS
    job_dispatcher: Dispatcher | None = None
    held_poll_seconds: float = 30.0  # re-ask nodes that held a result this often; 0: off


def error_json(code: str, message: str) -> JSONResponse:
    """The one JSON error shape, with the status from the catalogue."""
    spec = CATALOGUE[code]
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=spec.http_status)


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    # the message names the field and the rule, never the value that was sent
    return f"{where}: {first.get('msg', 'invalid')}"[:300]


def _install_error_handlers(app: FastAPI) -> None:
    # pages (outside /api) answer with an HTML error page in the user's language instead
    @app.exception_handler(MedHavenError)
    async def _medhaven(request: Request, exc: MedHavenError) -> Response:
        if exc.detail:
            log.info("%s: %s", exc.code, exc.detail)
        if is_web_request(request):
            return error_page(request, exc.code, exc.message)
        return error_json(exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_web_request(request):
            return error_page(request, "invalid_input", _validation_message(exc))
        return error_json("invalid_input", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code)
        if is_web_request(request):
            status = exc.status_code if 400 <= exc.status_code < 600 else 400
            return error_page(request, code or "invalid_input", str(exc.detail)[:200], status)
        if code is None:
            status = exc.status_code if 400 <= exc.status_code < 600 else 400
            return JSONResponse(
                {"error": {"code": "invalid_input", "message": str(exc.detail)[:200]}},
                status_code=status,
            )
        return error_json(code, str(exc.detail)[:200])

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.error("internal error: %s", type(exc).__name__)
        if is_web_request(request):
            return error_page(request, "internal_error", "internal error")
        return error_json("internal_error", "internal error; the operator's log has the detail")


def _job_runner(config: HubConfig, db: Database) -> JobRunner | None:
    if config.keys_dir is None:
        return None
    dispatcher = config.job_dispatcher
    if dispatcher is None and config.superlink:
        # one long-lived Flower run serves every job through a spool in the data dir; it
        # outlives a hub restart, so jobs left running are resumed (federation/network.py)
        dispatcher = NetworkDispatcher(
            config.superlink,
            config.keys_dir / "flower-session",
            root_ca=config.superlink_ca,
        )
    return JobRunner(db, config.keys_dir, dispatcher, held_poll_seconds=config.held_poll_seconds)


def create_app(config: HubConfig, *, database: Database | None = None) -> FastAPI:
    """A hub application; the database is migrated to head when it starts."""
    db = database or Database(config.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runner = _app.state.hub.jobs
        if runner is not None:
            runner.resume()
            runner.start_collector()
        yield
        if runner is not None:
            runner.stop_collector()
        if database is None:
            db.close()

    app = FastAPI(
        title="MedHaven hub",
        version=__version__,
        description="Organisations, projects, the dataset catalogue, access requests, reviews, grants, audit.",
        lifespan=lifespan,
        responses={
            400: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            403: {"model": ErrorResponse},
        },
    )
    app.state.hub = HubState(
        db=db,
        min_cell_count=config.min_cell_count,
        secure_cookies=config.secure_cookies,
        limiter=LoginLimiter(attempts=config.login_attempts_per_minute),
        jobs=_job_runner(config, db),
    )
    for module in (auth, users, datasets, projects, requests, grants, jobs, audit_routes,
                   courses, challenges):  # fmt: skip
        # each router carries the full /api/v1 prefix itself, so the matched route's path is
        # the complete template the permission table is keyed by
        app.include_router(module.router, dependencies=[Depends(authorize)])
    app.include_router(program.router, dependencies=[Depends(authorize)])  # issue 9
    from medhaven.web import mount  # the pages import the hub's API modules

    mount(app)  # the web pages at / (medhaven.web), same services and permission table
    _install_error_handlers(app)
    return app


__all__ = ["API_PREFIX", "HubConfig", "create_app", "error_json"]
