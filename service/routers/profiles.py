"""UK capability profiles: upsert, read, list; and counterparts (open needs) for a profile."""
from __future__ import annotations

from fastapi import APIRouter, Response

from matcher.engine import MatchEngine
from matcher.schema import Profile
from service.auth import CounterpartReader, CurrentCaller, ProfileWriter, can_edit_profile
from service.deps import PagingDep, RuntimeDep, SettingsDep, Top
from service.errors import ApiError, forbidden, not_found
from service.routers.common import (
    API_PREFIX,
    ProfileId,
    as_json,
    check_length,
    json_response,
    profile_public,
    validated,
)
from service.schemas import CounterpartsPublic, Page, ProfilePublic, ProfileUpsert

router = APIRouter(prefix=f"{API_PREFIX}/profiles", tags=["profiles"])


@router.put("/{profile_id}", response_model=ProfilePublic, summary="Create or replace a profile",
            responses={201: {"model": ProfilePublic, "description": "Created"}})
def put_profile(profile_id: ProfileId, body: ProfileUpsert, caller: ProfileWriter, runtime: RuntimeDep,
                settings: SettingsDep, response: Response) -> ProfilePublic:
    """Partners keep their own profile; admins any. 201 when created, 200 when replaced."""
    if not can_edit_profile(caller, profile_id):
        raise forbidden(f"a partner key edits only its own profile ({caller.profile_id!r})")
    if body.id is not None and body.id != profile_id:
        raise ApiError(422, f"field 'id': {body.id!r} differs from the URL's {profile_id!r}", "id")
    check_length(body.description, settings, "description")
    profile = validated(Profile, {**body.model_dump(exclude={"id"}), "id": profile_id})
    created = runtime.upsert_profile(profile)
    response.status_code = 201 if created else 200
    row = runtime.store.get_profile_row(profile_id)
    if row is None:  # withdrawn between commit and read cannot happen (profiles are never deleted)
        raise not_found("profile", profile_id)
    return profile_public(runtime, row)


@router.get("", response_model=Page[ProfilePublic], summary="List profiles")
def list_profiles(caller: CurrentCaller, runtime: RuntimeDep, paging: PagingDep) -> Page[ProfilePublic]:
    """Every profile, by id (profiles are visible to every role)."""
    rows, total = runtime.store.profiles_page(paging.limit, paging.offset)
    return Page(items=[profile_public(runtime, r) for r in rows], total=total, limit=paging.limit,
                offset=paging.offset)


@router.get("/{profile_id}", response_model=ProfilePublic, summary="Read a profile")
def get_profile(profile_id: ProfileId, caller: CurrentCaller, runtime: RuntimeDep) -> ProfilePublic:
    """One profile."""
    row = runtime.store.get_profile_row(profile_id)
    if row is None:
        raise not_found("profile", profile_id)
    return profile_public(runtime, row)


def _ranked_needs(engine: MatchEngine, profile_id: str, top: int) -> bytes:
    items = engine.match_profile(profile_id, top)
    reason = None if items else "no open needs are stored yet"
    return as_json(CounterpartsPublic(profile_id=profile_id, matches=items, reason=reason))  # type: ignore[arg-type]


@router.get("/{profile_id}/matches", response_model=CounterpartsPublic, summary="Counterparts for a profile")
def profile_matches(profile_id: ProfileId, caller: CounterpartReader, runtime: RuntimeDep,
                    top: Top = 10) -> Response:
    """Ranked open needs a profile could meet; partners see only their own profile's (cached like need matches)."""
    if caller.role == "partner" and caller.profile_id != profile_id:
        raise forbidden(f"a partner key sees only its own profile's counterparts ({caller.profile_id!r})")
    if runtime.store.get_profile_row(profile_id) is None:
        raise not_found("profile", profile_id)
    with runtime.reading() as engine:
        if engine.get("profile", profile_id) is None:
            raise not_found("profile", profile_id)
        body = runtime.cached(("profile matches", profile_id, top), lambda: _ranked_needs(engine, profile_id, top))
    return json_response(body)
