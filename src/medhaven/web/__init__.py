"""The web application: server-rendered pages (Jinja2, HTMX) on the hub, in Korean and English.

:func:`mount` adds the pages at ``/`` and the static files at ``/static`` to a hub app; the
JSON API stays under ``/api/v1``. Pages use the hub's session cookie, CSRF token, permission
table and services, so a page never allows more than the API does.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from medhaven.web.admin import router as admin_router
from medhaven.web.card import router as card_router
from medhaven.web.challenges import router as challenges_router
from medhaven.web.courses import router as courses_router
from medhaven.web.pages import router
from medhaven.web.program import router as program_router
from medhaven.web.render import SignInRequired, error_page, is_web_request, sign_in_redirect
from medhaven.web.study import router as study_router


def mount(app: FastAPI) -> None:
    """Serve the pages and their static files from ``app``."""
    static = resources.files("medhaven.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    app.include_router(study_router)  # before the pages: /jobs/N/result.json, not /jobs/{id}
    app.include_router(card_router)  # /jobs/N/card
    app.include_router(courses_router)  # /courses
    app.include_router(challenges_router)  # /challenges
    app.include_router(program_router)  # /program
    app.include_router(admin_router)  # before the pages: /datasets/publish, not /datasets/{id}
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        return sign_in_redirect(request)


__all__ = ["error_page", "is_web_request", "mount"]
