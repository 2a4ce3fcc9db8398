"""Web sessions: a signed, HttpOnly, SameSite=Lax cookie holding the signed-in key's id and a CSRF token.

The cookie is Starlette's `SessionMiddleware` (itsdangerous `TimestampSigner`); its secret
is `settings.secret_key`, or one generated once under PARTNERMATCH_HOME (mode 0600). The
session stores the key *id*, never the key: every request re-reads the key row, so a
revoked key signs its sessions out at once.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request

from service.auth import Caller
from service.keys import get_key
from service.runtime import Runtime
from service.settings import Settings

SESSION_COOKIE = "pm_session"
SESSION_MAX_AGE = 12 * 60 * 60  # seconds; a session lasts a working day after its last change
SECRET_FILE = "web-secret.key"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def session_secret(settings: Settings) -> str:
    """settings.secret_key, else the secret stored under home (created once, 0600)."""
    if settings.secret_key:
        return settings.secret_key
    settings.home.mkdir(parents=True, exist_ok=True)
    path: Path = settings.home / SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) < 32:
            raise ValueError(f"{path} holds no usable secret (delete it to make a new one)") from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as fh:  # O_EXCL: two processes starting together agree
        fh.write(secret + "\n")
    return secret


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use, also for signed-out visitors)."""
    session: dict[str, Any] = request.session
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    """True when `submitted` is this session's CSRF token (constant-time comparison)."""
    expected = request.session.get("csrf")
    return (isinstance(submitted, str) and isinstance(expected, str) and bool(expected)
            and secrets.compare_digest(submitted.encode(), expected.encode()))


def sign_in(request: Request, key_id: str) -> None:
    """Bind the session to a key; a fresh CSRF token (the signed-out one is not reused)."""
    request.session.clear()
    request.session.update({"key_id": key_id, "csrf": secrets.token_urlsafe(32)})


def sign_out(request: Request) -> None:
    """Forget the key and the CSRF token."""
    request.session.clear()


def session_caller(request: Request, runtime: Runtime) -> Caller | None:
    """The caller bound to this session, or None (signed out, or the key was revoked)."""
    key_id = request.session.get("key_id")
    if not isinstance(key_id, str):
        return None
    row = get_key(runtime.store, key_id)
    if row is None or row.revoked_at is not None:
        request.session.pop("key_id", None)
        return None
    return Caller(row.id, row.role, row.institution, row.profile_id)  # type: ignore[arg-type]


def flash(request: Request, message_key: str, **values: str) -> None:
    """Leave a message (a catalogue key) for the next page shown."""
    request.session["flash"] = {"key": message_key, "values": values}


def pop_flash(request: Request) -> dict[str, Any] | None:
    """The pending message, once."""
    if "flash" not in request.session:
        return None
    value = request.session.pop("flash")
    return value if isinstance(value, dict) else None
