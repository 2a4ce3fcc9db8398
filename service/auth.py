"""Who is calling: API keys (Bearer) resolved to a role and what it is bound to; who may see what.

Roles: `submitter` (bound to an institution), `partner` (bound to a profile id), `staff`,
`admin`. A role that may never do something gets 403; a record the caller may not see
gets the same 404 as a record that does not exist.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.deps import RuntimeDep
from service.errors import ApiError, forbidden
from service.keys import find_key
from service.models import NeedRow
from service.schemas import Role

_bearer = HTTPBearer(auto_error=False, scheme_name="ApiKey",
                     description="An API key from `partnermatch keys create`, as `Authorization: Bearer <key>`")
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="partnermatch"'}


@dataclass(frozen=True)
class Caller:
    """The holder of a valid API key."""

    key_id: str
    role: Role
    institution: str | None = None
    profile_id: str | None = None

    @property
    def label(self) -> str:
        """How decisions record who made them."""
        return f"{self.role} key {self.key_id}"


def current_caller(request: Request, runtime: RuntimeDep,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """The caller of this request; 401 without a valid, unrevoked key."""
    if credentials is None or not credentials.credentials:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'", None, UNAUTHORIZED_HEADERS)
    row = find_key(runtime.store, credentials.credentials)
    if row is None:
        raise ApiError(401, "invalid or revoked API key", None, UNAUTHORIZED_HEADERS)
    caller = Caller(row.id, row.role, row.institution, row.profile_id)  # type: ignore[arg-type]
    request.state.caller = caller
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]


class RoleCheck:
    """A dependency admitting only `allowed` roles (403 for the others).

    Async, so FastAPI runs it on the event loop rather than handing it to a thread;
    `admit` is the same check for code that holds a caller already (the web pages).
    """

    def __init__(self, allowed: tuple[Role, ...]) -> None:
        self.allowed = allowed

    def admit(self, caller: Caller) -> Caller:
        """`caller`, or 403 when its role is not allowed."""
        if caller.role not in self.allowed:
            raise forbidden(f"a {caller.role} key may not do this (allowed: {', '.join(self.allowed)})")
        return caller

    async def __call__(self, caller: CurrentCaller) -> Caller:
        return self.admit(caller)


def roles(*allowed: Role) -> RoleCheck:
    """A dependency admitting only `allowed` roles (403 for the others)."""
    return RoleCheck(allowed)


StaffCaller = Annotated[Caller, Depends(roles("staff", "admin"))]
AdminCaller = Annotated[Caller, Depends(roles("admin"))]
NeedWriter = Annotated[Caller, Depends(roles("submitter", "admin"))]
NeedMatchReader = Annotated[Caller, Depends(roles("submitter", "staff", "admin"))]
CounterpartReader = Annotated[Caller, Depends(roles("partner", "staff", "admin"))]
ProfileWriter = Annotated[Caller, Depends(roles("partner", "admin"))]


def can_see_need(caller: Caller, row: NeedRow) -> bool:
    """Staff and admins see every need; submitters their institution's; partners open ones."""
    if caller.role in ("staff", "admin"):
        return True
    if caller.role == "submitter":
        return row.institution == caller.institution
    return row.status == "open"


def can_edit_need(caller: Caller, row: NeedRow) -> bool:
    """Admins edit any need; submitters their institution's."""
    return caller.role == "admin" or (caller.role == "submitter" and row.institution == caller.institution)


def can_edit_profile(caller: Caller, profile_id: str) -> bool:
    """Admins edit any profile; partners their own."""
    return caller.role == "admin" or (caller.role == "partner" and caller.profile_id == profile_id)
