"""The one place that maps errors to HTTP responses.

Every error body has the same shape: {"detail": str, "field": str | null}; validation
errors add "errors": [{"field", "message"}, ...]. Mapping:

    matcher.errors.InvalidInputError    -> 422 (field taken from "field 'x': ..." in the message)
    matcher.errors.NotFoundError        -> 404
    matcher.errors.ModelUnavailableError, SnapshotError -> 503
    fastapi RequestValidationError      -> 422 naming the field
    ApiError(status, ...)               -> status (401, 403, 404, 409, 429 from routes and auth)
    (413 for oversize bodies comes from service.middleware.BodyLimitMiddleware, same shape)
    sqlalchemy OperationalError         -> 503 (store unreachable or busy), IntegrityError -> 409
"""
from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher.errors import (
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    PartnermatchError,
    SnapshotError,
)

log = logging.getLogger("partnermatch")
_FIELD = re.compile(r"field '([^']+)'")
_LOCATIONS = {"body", "query", "path", "header", "cookie"}


class ApiError(Exception):
    """An HTTP error chosen by a route or dependency, with the field it is about."""

    def __init__(self, status: int, detail: str, field: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field
        self.headers = headers
        self.extra = extra or {}  # more keys of the body, e.g. "duplicate_of" on a 409


def error_response(status: int, detail: str, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """A JSON error response in the common shape."""
    return JSONResponse({"detail": detail, "field": field, **extra}, status_code=status, headers=headers)


def not_found(kind: str, record_id: str) -> ApiError:
    """404 for a record that does not exist or that the caller may not see (the same answer for both)."""
    return ApiError(404, f"{kind} {record_id!r} not found", None)


def forbidden(detail: str) -> ApiError:
    """403 for something the caller's role may never do."""
    return ApiError(403, detail, None)


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """'description' from ('body', 'description'); 'body' for the body as a whole."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:] if len(parts) > 1 and not parts[1].isdigit() else parts[:1]
    return ".".join(parts) or "body"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        field = field_of(err.get("loc", ()))
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif err.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        out.append({"field": field, "message": msg})
    return out


def field_from_message(message: str) -> str | None:
    """The field named as "field 'x'" in a domain error message, if any."""
    m = _FIELD.search(message)
    return m.group(1) if m else None


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on `app`."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.field, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the rejected input: it may be a needs statement with personal details.
        errors = _validation_errors(exc)
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        return error_response(422, f"field '{first['field']}': {first['message']}", first["field"], errors=errors)

    @app.exception_handler(PartnermatchError)
    async def _domain(_: Request, exc: PartnermatchError) -> JSONResponse:
        message = str(exc)
        if isinstance(exc, InvalidInputError):
            return error_response(422, message, field_from_message(message))
        if isinstance(exc, NotFoundError):
            return error_response(404, message)
        if isinstance(exc, ModelUnavailableError | SnapshotError):
            return error_response(503, message, headers={"Retry-After": "30"})
        log.error("unexpected partnermatch error: %s", type(exc).__name__)
        return error_response(500, "internal error")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, str(exc.detail), None, headers)

    @app.exception_handler(OperationalError)
    async def _store_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.error("store unavailable: %s", type(exc.orig).__name__ if exc.orig else "OperationalError")
        return error_response(503, "the store is unavailable or busy; retry shortly", headers={"Retry-After": "5"})

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return error_response(409, "a concurrent write changed this record; retry the request")
