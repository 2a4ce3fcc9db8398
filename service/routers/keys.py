"""API key management (admins): create (the secret is shown once), list, revoke."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from service.auth import AdminCaller
from service.deps import RuntimeDep
from service.errors import ApiError, not_found
from service.keys import create_key, list_keys, revoke_key
from service.models import ApiKeyRow
from service.routers.common import API_PREFIX
from service.schemas import KeyCreate, KeyCreated, KeyPublic, as_utc

router = APIRouter(prefix=f"{API_PREFIX}/keys", tags=["keys"])
KeyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="a key id from GET /keys")]


def key_public(row: ApiKeyRow) -> KeyPublic:
    """The API view of a key (no secret, no hash)."""
    return KeyPublic(id=row.id, role=row.role, institution=row.institution,  # type: ignore[arg-type]
                     profile_id=row.profile_id, created_at=as_utc(row.created_at),
                     revoked_at=as_utc(row.revoked_at) if row.revoked_at else None)


@router.post("", status_code=201, response_model=KeyCreated, summary="Create an API key")
def new_key(body: KeyCreate, caller: AdminCaller, runtime: RuntimeDep) -> KeyCreated:
    """The secret is in this response only; the store keeps its SHA-256."""
    secret, row = create_key(runtime.store, body.role, body.institution, body.profile_id)
    return KeyCreated(key=secret, **key_public(row).model_dump())


@router.get("", response_model=list[KeyPublic], summary="List API keys")
def get_keys(caller: AdminCaller, runtime: RuntimeDep) -> list[KeyPublic]:
    """Every key, revoked ones included, without secrets."""
    return [key_public(r) for r in list_keys(runtime.store)]


@router.delete("/{key_id}", response_model=KeyPublic, summary="Revoke an API key")
def delete_key(key_id: KeyId, caller: AdminCaller, runtime: RuntimeDep) -> KeyPublic:
    """Revoked keys get 401 from then on; an admin cannot revoke the key it is using."""
    if key_id == caller.key_id:
        raise ApiError(409, "this is the key making the request; revoke it with another admin key or the CLI")
    row = revoke_key(runtime.store, key_id)
    if row is None:
        raise not_found("key", key_id)
    return key_public(row)
