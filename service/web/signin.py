"""Signing in with an API key (turned into a session cookie), signing out, and the home redirect."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from service.deps import RuntimeDep
from service.keys import find_key
from service.web.deps import CheckedForm
from service.web.render import home_path, page, redirect
from service.web.session import flash, session_caller, sign_in, sign_out

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site (no scheme, host or protocol-relative trick), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if target.startswith(("/signin", "/signout")) or any(ord(c) < 32 for c in target):
        return None
    return target[:2000]


@router.get("/", name="web.home")
def home(request: Request, runtime: RuntimeDep) -> Response:
    """Signed in: the role's first page; signed out: the sign-in page."""
    caller = session_caller(request, runtime)
    return redirect(home_path(request, caller) if caller else str(request.app.url_path_for("web.signin")))


@router.get("/signin", name="web.signin")
def signin_form(request: Request, runtime: RuntimeDep,
                next_: Annotated[str | None, Query(alias="next")] = None) -> Response:
    """The sign-in form (a signed-in visitor goes straight on)."""
    caller = session_caller(request, runtime)
    if caller is not None:
        return redirect(safe_next(next_) or home_path(request, caller))
    return page(request, "signin.html", {"next": safe_next(next_) or "", "error": None})


@router.post("/signin", name="web.signin_post")
def signin(request: Request, form: CheckedForm, runtime: RuntimeDep) -> Response:
    """Check the key; on success bind the session to it (a new CSRF token) and go on."""
    key = form.get("key", "")
    key = key.strip() if isinstance(key, str) else ""
    next_value = form.get("next")
    target = safe_next(next_value if isinstance(next_value, str) else None)
    row = find_key(runtime.store, key) if key and len(key) <= 200 else None
    if row is None:
        error = "err.required" if not key else "signin.invalid"
        return page(request, "signin.html", {"next": target or "", "error": error},
                    status=422 if not key else 401)
    sign_in(request, row.id)
    caller = session_caller(request, runtime)
    assert caller is not None
    return redirect(target or home_path(request, caller))


@router.post("/signout", name="web.signout")
def signout(request: Request, form: CheckedForm) -> Response:
    """Forget the session."""
    sign_out(request)
    flash(request, "signin.signed_out")
    return redirect(str(request.app.url_path_for("web.signin")))
