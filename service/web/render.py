"""Rendering pages: the Jinja2 environment, the common page context, error pages, security headers."""
from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.routing import NoMatchFound

from service.auth import Caller
from service.schemas import as_utc
from service.web.i18n import LANG_COOKIE, LANG_NAMES, LANGS, Translator, choose_language
from service.web.session import CSRF_FIELD, csrf_token, pop_flash

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# Pages load only their own CSS and JS; no inline script; forms post back to this site only.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# Navigation per role: (route name, catalogue key). Entries whose route is not mounted are
# left out, so a page added later (the staff "matching round" at route name "web.round")
# appears in the menu as soon as its router is included.
NAV: dict[str, list[tuple[str, str]]] = {
    "submitter": [("web.needs", "nav.needs_mine"), ("web.need_new", "nav.need_new")],
    "partner": [("web.counterparts", "nav.counterparts"), ("web.profile", "nav.profile")],
    "staff": [("web.review", "nav.review"), ("web.round", "nav.round"), ("web.gaps", "nav.gaps"),
              ("web.needs", "nav.needs_all")],
    "admin": [("web.keys", "nav.keys"), ("web.review", "nav.review"), ("web.round", "nav.round"),
              ("web.gaps", "nav.gaps"), ("web.needs", "nav.needs_all")],
}
HOME = {"submitter": "web.needs", "partner": "web.counterparts", "staff": "web.review", "admin": "web.keys"}


def _date(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d") if value else ""


def _datetime(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC") if value else ""


@lru_cache(maxsize=8)
def static_url(name: str) -> str:
    """/static/<name>?v=<content hash>: browsers may cache it for good, a new release changes the URL."""
    path = TEMPLATES_DIR.parent / "static" / name
    return f"/static/{name}?v={hashlib.sha256(path.read_bytes()).hexdigest()[:10]}"


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The page templates (service/templates), autoescaped."""
    t = Jinja2Templates(directory=str(TEMPLATES_DIR))
    t.env.trim_blocks = True
    t.env.lstrip_blocks = True
    t.env.filters["date"] = _date
    t.env.filters["datetime"] = _datetime
    t.env.globals["static_url"] = static_url
    return t


def path_of(request: Request, name: str) -> str | None:
    """The path of the app's route named `name`, or None when no such route is mounted."""
    try:
        return str(request.app.url_path_for(name))
    except NoMatchFound:
        return None


def nav_for(request: Request, caller: Caller | None, section: str | None = None) -> list[dict[str, Any]]:
    """The caller's menu: mounted pages only; current: the `section` route, else the longest parent path."""
    if caller is None:
        return []
    here = request.url.path
    items = [{"name": name, "href": href, "key": key, "current": False}
             for name, key in NAV.get(caller.role, []) if (href := path_of(request, name)) is not None]
    matches = [i for i in items if i["name"] == section] or [
        i for i in items if here == i["href"] or here.startswith(i["href"] + "/")]
    if matches:
        max(matches, key=lambda i: len(i["href"]))["current"] = True
    return items


def home_path(request: Request, caller: Caller) -> str:
    """Where a role lands after signing in."""
    return str(request.app.url_path_for(HOME[caller.role]))


def translator(request: Request) -> Translator:
    """The request's interface language."""
    return Translator(choose_language(request)[0])


def secure(response: Response) -> Response:
    """Add the pages' security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _with_lang(request: Request, code: str) -> str:
    """This page's path and query with ?lang=code (a relative link)."""
    url = request.url.include_query_params(lang=code)
    return f"{url.path}?{url.query}"


def who(request: Request, caller: Caller | None) -> str:
    """Whom the session speaks for: the institution, the UK profile's name, or nothing (staff, admins)."""
    if caller is None:
        return ""
    if caller.institution:
        return caller.institution
    runtime = request.app.state.runtime
    if caller.profile_id and runtime is not None:
        row = runtime.store.get_profile_row(caller.profile_id)
        return row.name if row is not None else caller.profile_id
    return ""


def page(request: Request, template: str, context: dict[str, Any] | None = None, *,
         caller: Caller | None = None, status: int = 200) -> HTMLResponse:
    """Render `template` with the common context: t (translator), caller, nav, CSRF token, flash, languages."""
    lang, remember = choose_language(request)
    caller = caller if caller is not None else getattr(request.state, "caller", None)
    ctx: dict[str, Any] = {
        "t": Translator(lang), "lang": lang, "caller": caller, "who": who(request, caller),
        "nav": nav_for(request, caller, (context or {}).get("section")),
        "csrf_field": CSRF_FIELD, "csrf": csrf_token(request), "flash": pop_flash(request),
        "ui_languages": [{"code": c, "name": LANG_NAMES[c], "current": c == lang, "href": _with_lang(request, c)}
                      for c in LANGS],
        **(context or {}),
    }
    response = templates().TemplateResponse(request, template, ctx, status_code=status)
    if remember:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    secure(response)
    return response


def redirect(url: str) -> RedirectResponse:
    """303 See Other: the browser follows with a GET (after a form post)."""
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, kind: str | None = None) -> HTMLResponse:
    """The error page for `status` (kind picks the message: '404', '403', 'csrf', ...)."""
    kind = kind or (str(status) if status in (400, 403, 404, 503) else "400")
    return page(request, "error.html", {"kind": kind, "status": status}, status=status)
