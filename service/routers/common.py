"""Helpers the routers share: path parameter types, record views and checks."""
from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Path, Response
from pydantic import BaseModel, ValidationError

from matcher.schema import Need, describe_validation_error
from service.auth import Caller, can_see_need
from service.errors import ApiError, field_from_message, not_found
from service.models import NeedRow, ProfileRow
from service.runtime import Runtime
from service.schemas import NeedPublic, ProfilePublic, as_utc
from service.settings import Settings
from service.store import need_from_row

M = TypeVar("M", bound=BaseModel)
API_PREFIX = "/api/v1"  # routers carry it, so route templates (metrics labels) are full paths
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
NeedId = Annotated[str, Path(pattern=ID_PATTERN, description="a need id, e.g. need-1a2b3c4d")]
ProfileId = Annotated[str, Path(pattern=ID_PATTERN, description="a profile id, e.g. uk-001")]


def check_length(text: str, settings: Settings, field: str) -> None:
    """422 when a statement is longer than settings.max_description_chars."""
    if len(text) > settings.max_description_chars:
        raise ApiError(422, f"field '{field}': at most {settings.max_description_chars} characters, "
                            f"got {len(text)}", field)


def visible_need(runtime: Runtime, caller: Caller, need_id: str) -> NeedRow:
    """The need row if it exists and the caller may see it; else the same 404 either way."""
    row = runtime.store.get_need_row(need_id)
    if row is None or not can_see_need(caller, row):
        raise not_found("need", need_id)
    return row


def need_public(runtime: Runtime, row: NeedRow) -> NeedPublic:
    """The API view of a need row."""
    open_ = row.status == "open"
    return NeedPublic(
        id=row.id, institution=row.institution, country=row.country, language=row.language,
        description=row.description if open_ else None, preferred_modalities=list(row.preferred_modalities),
        clinical_areas=list(row.clinical_areas),
        detected_areas=runtime.detected_areas("need", row.id) if open_ else [],
        status="open" if open_ else "withdrawn", created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
    )


def need_of(row: NeedRow) -> Need:
    """The domain record of an open need row."""
    return need_from_row(row)


def profile_public(runtime: Runtime, row: ProfileRow) -> ProfilePublic:
    """The API view of a profile row, with remaining capacity."""
    used = runtime.engine.capacity_used.get(row.id, 0)
    return ProfilePublic(
        id=row.id, name=row.name, kind=row.kind, country=row.country, region=row.region,
        description=row.description, languages=list(row.languages), capacity=row.capacity,
        remaining_capacity=max(0, row.capacity - used), countries_of_experience=list(row.countries_of_experience),
        modalities=list(row.modalities), clinical_areas=list(row.clinical_areas),
        detected_areas=runtime.detected_areas("profile", row.id),
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
    )


def as_json(body: BaseModel) -> bytes:
    """`body` serialised exactly as FastAPI serialises a route's response model (by alias)."""
    return body.model_dump_json(by_alias=True).encode()


def json_response(content: bytes) -> Response:
    """A response of JSON serialised by the route (`as_json`), sent as it is.

    For sync routes with large bodies (the explained match lists, ~28 KB for ten items):
    FastAPI validates a returned model again, in a second thread hand-off, before it
    serialises it; a returned Response skips both. The route keeps its `response_model`
    for the OpenAPI schema.
    """
    return Response(content, media_type="application/json")


def validated(model: type[M], data: dict[str, Any]) -> M:
    """`model` built from `data`, or a 422 naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message = describe_validation_error(exc)[0]
        raise ApiError(422, message, field_from_message(message)) from exc
