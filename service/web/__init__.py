"""The web application: HTML pages for LMIC institutions, UK institutions, programme staff and admins.

`mount_web(app)` adds to the API app: the session cookie middleware, /static, the page
routers and HTML error pages for page requests (API requests keep their JSON errors).

Pages (route names in brackets; every POST form carries a CSRF token):
    /                         (web.home) the role's first page, or sign-in
    /signin, /signout         (web.signin, web.signout)
    /needs, /needs/new, /needs/{id}, /needs/{id}/edit, /needs/{id}/withdraw, /needs/{id}/decisions
    /profile, /profiles/{id}/edit, /counterparts, /profiles/{id}/counterparts, POST /web/preview-areas (JSON)
    /review, /gaps, /gaps.csv, /round, /round/{id}/accept (staff)
    /admin/keys (admin)
A staff "matching round" page mounts its router with a route named `web.round`; the menu
shows it as soon as it exists (see service.web.render.NAV).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response

from service.web import admin, needs, partners, rounds, signin, staff
from service.web.deps import PageError, SignInRequired
from service.web.render import error_page, redirect
from service.web.session import SESSION_COOKIE, SESSION_MAX_AGE, flash, session_secret

__all__ = ["ROUTERS", "STATIC_DIR", "mount_web"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ROUTERS = (signin.router, needs.router, partners.router, staff.router, rounds.router, admin.router)
NOT_PAGES = ("/api/", "/docs", "/redoc", "/openapi.json", "/healthz", "/readyz", "/metrics", "/static/", "/web/")


def is_page_request(request: Request) -> bool:
    """A browser asking for a page (not the API, the probes, static files or the pages' JSON helpers)."""
    return (not request.url.path.startswith(NOT_PAGES)
            and "text/html" in request.headers.get("accept", ""))


def _install_handlers(app: FastAPI) -> None:
    api_http = app.exception_handlers.get(StarletteHTTPException)
    api_validation = app.exception_handlers.get(RequestValidationError)

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, exc.kind)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        target = str(request.app.url_path_for("web.signin"))
        if request.method in ("GET", "HEAD"):
            flash(request, "signin.required")
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return redirect(f"{target}?{urlencode({'next': here})}")
        return redirect(target)

    async def http_error(request: Request, exc: Exception) -> Response:
        if is_page_request(request) and isinstance(exc, StarletteHTTPException):
            return error_page(request, exc.status_code)
        assert api_http is not None
        return await api_http(request, exc)  # type: ignore[no-any-return]

    async def validation_error(request: Request, exc: Exception) -> Response:
        if is_page_request(request):
            return error_page(request, 400)
        assert api_validation is not None
        return await api_validation(request, exc)  # type: ignore[no-any-return]

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(SignInRequired, sign_in_required)
    if api_http is not None:
        app.add_exception_handler(StarletteHTTPException, http_error)
    if api_validation is not None:
        app.add_exception_handler(RequestValidationError, validation_error)


def mount_web(app: FastAPI) -> None:
    """Add the web pages to `app` (call after the API's routers and error handlers are installed)."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_handlers(app)
    app.add_middleware(SessionMiddleware, secret_key=session_secret(app.state.settings),
                       session_cookie=SESSION_COOKIE, max_age=SESSION_MAX_AGE, same_site="lax", https_only=False)
