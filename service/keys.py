"""API keys: made once, shown once, stored only as a SHA-256 hash; revocable.

Shared by the `partnermatch keys` commands and the admin endpoints under /api/v1/keys.
"""
from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import select

from matcher.errors import InvalidInputError
from service.models import ApiKeyRow, utcnow
from service.schemas import as_utc
from service.store import Store

ROLES = ("submitter", "partner", "staff", "admin")
PREFIX = "pm_"


def hash_key(secret: str) -> str:
    """SHA-256 hex digest of a key's secret (what the store keeps)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def check_binding(role: str, institution: str | None, profile_id: str | None) -> None:
    """A submitter is bound to an institution, a partner to a profile, staff and admins to neither."""
    if role not in ROLES:
        raise InvalidInputError(f"field 'role': {role!r} is not one of {', '.join(ROLES)}")
    if role == "submitter" and not institution:
        raise InvalidInputError("field 'institution': a submitter key needs --institution NAME")
    if role == "partner" and not profile_id:
        raise InvalidInputError("field 'profile_id': a partner key needs --profile ID")
    if role != "submitter" and institution:
        raise InvalidInputError(f"field 'institution': only submitter keys have an institution, not {role}")
    if role != "partner" and profile_id:
        raise InvalidInputError(f"field 'profile_id': only partner keys have a profile, not {role}")


def create_key(store: Store, role: str, institution: str | None = None,
               profile_id: str | None = None) -> tuple[str, ApiKeyRow]:
    """Make a key; return (the secret, shown once; its stored row)."""
    check_binding(role, institution, profile_id)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(id=uuid.uuid4().hex[:12], key_hash=hash_key(secret), role=role, institution=institution,
                    profile_id=profile_id, created_at=utcnow(), revoked_at=None)
    # Key changes do not bump the store version: they never affect the index.
    with store.sessions.begin() as s:
        s.add(row)
    return secret, row


def find_key(store: Store, secret: str) -> ApiKeyRow | None:
    """The live key with this secret, or None."""
    return store.key_by_hash(hash_key(secret))


def get_key(store: Store, key_id: str) -> ApiKeyRow | None:
    """A key by id (revoked or not), or None."""
    with store.read() as s:
        return s.get(ApiKeyRow, key_id)


def revoke_key(store: Store, key_id: str) -> ApiKeyRow | None:
    """Revoke a key (idempotent); None when there is no such key."""
    with store.sessions.begin() as s:
        row = s.get(ApiKeyRow, key_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = utcnow()
        return row


def list_keys(store: Store) -> list[ApiKeyRow]:
    """Every key, oldest first."""
    with store.read() as s:
        return list(s.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)))


def key_dict(row: ApiKeyRow, secret: str | None = None) -> dict[str, Any]:
    """JSON-ready form of a key; the secret only when given (at creation)."""
    out: dict[str, Any] = {"id": row.id, "role": row.role, "institution": row.institution,
                           "profile_id": row.profile_id, "created_at": as_utc(row.created_at).isoformat(),
                           "revoked_at": as_utc(row.revoked_at).isoformat() if row.revoked_at else None}
    return {"key": secret, **out} if secret is not None else out
