"""Dependencies of the web pages: the signed-in caller, role checks, CSRF-checked forms.

Role checks reuse the API's own role dependencies (service.auth.StaffCaller and friends):
`admit(StaffCaller, caller)` runs the very check the API runs, so a page answers 403
exactly where the API would; records the caller may not see give the same 404 page as
records that do not exist.
"""
from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import Depends, Request
from starlette.datastructures import FormData

from service.auth import (
    AdminCaller,
    Caller,
    CounterpartReader,
    NeedMatchReader,
    NeedWriter,
    ProfileWriter,
    RoleCheck,
    StaffCaller,
    can_see_need,
)
from service.deps import RuntimeDep
from service.errors import ApiError
from service.models import NeedRow
from service.runtime import Runtime
from service.web.session import CSRF_FIELD, CSRF_HEADER, csrf_ok, session_caller


class PageError(Exception):
    """An error page: `kind` names its catalogue strings (error.<kind>.title/body)."""

    def __init__(self, status: int, kind: str | None = None) -> None:
        super().__init__(kind or str(status))
        self.status = status
        self.kind = kind or str(status)


class SignInRequired(Exception):
    """No valid session: the visitor is sent to the sign-in page."""


def page_caller(request: Request, runtime: RuntimeDep) -> Caller:
    """The signed-in caller; SignInRequired otherwise (also when the key was revoked since)."""
    caller = session_caller(request, runtime)
    if caller is None:
        raise SignInRequired()
    request.state.caller = caller
    return caller


WebCaller = Annotated[Caller, Depends(page_caller)]


def admit(api_alias: Any, caller: Caller) -> Caller:
    """Apply one of service.auth's role aliases (e.g. StaffCaller) to `caller`; 403 page where the API says 403."""
    check: RoleCheck = get_args(api_alias)[1].dependency
    try:
        admitted = check.admit(caller)
    except ApiError as exc:
        raise PageError(exc.status) from exc
    return admitted


def _page_roles(api_alias: Any) -> Any:
    def check(caller: WebCaller) -> Caller:
        return admit(api_alias, caller)

    return check


StaffPage = Annotated[Caller, Depends(_page_roles(StaffCaller))]
AdminPage = Annotated[Caller, Depends(_page_roles(AdminCaller))]
NeedWriterPage = Annotated[Caller, Depends(_page_roles(NeedWriter))]
ProfileWriterPage = Annotated[Caller, Depends(_page_roles(ProfileWriter))]
CounterpartPage = Annotated[Caller, Depends(_page_roles(CounterpartReader))]


def may(api_alias: Any, caller: Caller) -> bool:
    """Whether the API would admit `caller` through `api_alias` (to show or hide a page's parts)."""
    try:
        admit(api_alias, caller)
    except PageError:
        return False
    return True


def sees_need_matches(caller: Caller) -> bool:
    """Whether `caller` may see a need's ranked UK candidates (GET /needs/{id}/matches)."""
    return may(NeedMatchReader, caller)


def visible_need_row(runtime: Runtime, caller: Caller, need_id: str) -> NeedRow:
    """The need if it exists and the caller may see it; the same 404 page either way."""
    row = runtime.store.get_need_row(need_id) if len(need_id) <= 64 else None
    if row is None or not can_see_need(caller, row):
        raise PageError(404)
    return row


async def checked_form(request: Request) -> FormData:
    """The posted form, once its CSRF token matches the session's; a 403 page otherwise."""
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        raise PageError(403, "csrf")
    return form


def checked_header(request: Request) -> None:
    """For the pages' JSON helpers: the CSRF token must come in the X-CSRF-Token header."""
    if not csrf_ok(request, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "missing or wrong CSRF token (send the page's token as X-CSRF-Token)")


CheckedForm = Annotated[FormData, Depends(checked_form)]
