"""Admin pages: API keys (create: the secret is shown once; revoke)."""
from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from matcher.errors import InvalidInputError
from service.deps import RuntimeDep
from service.errors import field_from_message
from service.keys import ROLES, create_key, list_keys, revoke_key
from service.routers.common import ID_PATTERN
from service.web.deps import AdminPage, CheckedForm, PageError
from service.web.render import page, redirect
from service.web.session import flash

router = APIRouter(include_in_schema=False)
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _keys_page(request: Request, runtime: Any, caller: Any, *, values: dict[str, str] | None = None,
               errors: dict[str, str] | None = None, created: dict[str, str] | None = None,
               status: int = 200) -> Response:
    response = page(request, "keys.html", {
        "keys": list_keys(runtime.store), "roles": ROLES, "values": values or {"role": "submitter"},
        "errors": errors or {}, "created": created, "own_key": caller.key_id,
    }, status=status)
    if created is not None:
        response.headers["Cache-Control"] = "no-store"  # the secret must not linger in caches
    return response


@router.get("/admin/keys", name="web.keys")
def keys_page(request: Request, caller: AdminPage, runtime: RuntimeDep) -> Response:
    """Every key (never a secret) and the form to make one."""
    return _keys_page(request, runtime, caller)


@router.post("/admin/keys", name="web.key_create")
def key_create(request: Request, form: CheckedForm, caller: AdminPage, runtime: RuntimeDep) -> Response:
    """Make a key and show its secret on this response only."""
    values = {k: str(form.get(k, "")).strip() for k in ("role", "institution", "profile_id")}
    errors: dict[str, str] = {}
    if values["profile_id"] and not re.fullmatch(ID_PATTERN, values["profile_id"]):
        errors["profile_id"] = f"field 'profile_id': {values['profile_id']!r} is not a valid id (e.g. uk-001)"
    if len(values["institution"]) > 300:
        errors["institution"] = "field 'institution': at most 300 characters"
    if not errors:
        try:
            secret, row = create_key(runtime.store, values["role"], values["institution"] or None,
                                     values["profile_id"] or None)
        except InvalidInputError as exc:
            errors[field_from_message(str(exc)) or "role"] = str(exc)
        else:
            return _keys_page(request, runtime, caller, created={"key": secret, "id": row.id, "role": row.role},
                              status=201)
    return _keys_page(request, runtime, caller, values=values, errors=errors, status=422)


@router.post("/admin/keys/{key_id}/revoke", name="web.key_revoke")
def key_revoke(request: Request, key_id: str, form: CheckedForm, caller: AdminPage, runtime: RuntimeDep) -> Response:
    """Revoke a key; not the one this session uses (as DELETE /api/v1/keys/{id})."""
    if not KEY_ID.fullmatch(key_id):
        raise PageError(404)
    if key_id == caller.key_id:
        raise PageError(409, "own_key")
    if revoke_key(runtime.store, key_id) is None:
        raise PageError(404)
    flash(request, "keys.revoked_flash", id=key_id)
    return redirect(str(request.app.url_path_for("web.keys")))
