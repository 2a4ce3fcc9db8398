"""Needs: submit, read, edit, withdraw, list; and ranked profiles for a need."""
from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from matcher.engine import MatchEngine
from matcher.schema import Need
from matcher.text import detect_language
from service.auth import Caller, CurrentCaller, NeedMatchReader, NeedWriter, can_edit_need
from service.deps import PagingDep, RuntimeDep, SettingsDep, Top
from service.errors import ApiError, not_found
from service.routers.common import (
    API_PREFIX,
    NeedId,
    as_json,
    check_length,
    json_response,
    need_of,
    need_public,
    validated,
    visible_need,
)
from service.runtime import Runtime
from service.schemas import MatchesPublic, NeedCreate, NeedPublic, NeedUpdate, Page

router = APIRouter(prefix=f"{API_PREFIX}/needs", tags=["needs"])


def limit_submissions(request: Request, caller: Caller) -> None:
    """settings.submissions_per_minute valid submissions per key; 429 with Retry-After beyond it."""
    retry_after = request.app.state.limiter.hit(caller.key_id)
    if retry_after is not None:
        raise ApiError(429, f"too many submissions with this key; retry in {retry_after} s", None,
                       {"Retry-After": str(retry_after)})


def _new_id(runtime: Runtime) -> str:
    for _ in range(10):
        candidate = f"need-{uuid.uuid4().hex[:8]}"
        if runtime.store.get_need_row(candidate) is None:
            return candidate
    raise ApiError(503, "could not allocate a need id; retry")


@router.post("", status_code=201, response_model=NeedPublic, summary="Submit a needs statement")
def create_need(body: NeedCreate, caller: NeedWriter, runtime: RuntimeDep, settings: SettingsDep,
                request: Request, response: Response) -> NeedPublic:
    """The need belongs to the key's institution; 201 only once it is committed to the store."""
    limit_submissions(request, caller)  # here, after validation: only well-formed submissions count
    if caller.role == "submitter":
        if body.institution is not None and body.institution != caller.institution:
            raise ApiError(403, "a submitter key submits needs for its own institution only", "institution")
        institution = caller.institution
    elif body.institution is None:
        raise ApiError(422, "field 'institution': required when an admin key submits a need", "institution")
    else:
        institution = body.institution
    check_length(body.description, settings, "description")
    data = body.model_dump(exclude={"institution", "allow_duplicate"})
    data.update(id=_new_id(runtime), institution=institution,
                language=body.language or detect_language(body.description))
    need = validated(Need, data)
    duplicate = None if body.allow_duplicate else runtime.duplicate_of(need)
    if duplicate is not None:
        link = f"{API_PREFIX}/needs/{duplicate[0]}"
        raise ApiError(409, f"an open need of {institution!r} says nearly the same ({duplicate[0]}, similarity "
                            f"{duplicate[1]:.2f}); edit that one, or resubmit with \"allow_duplicate\": true",
                       None, extra={"duplicate_of": duplicate[0], "link": link})
    runtime.submit_need(need)
    response.headers["Location"] = f"{API_PREFIX}/needs/{need.id}"
    return need_public(runtime, visible_need(runtime, caller, need.id))


@router.get("", response_model=Page[NeedPublic], summary="List the needs the caller may see")
def list_needs(caller: CurrentCaller, runtime: RuntimeDep, paging: PagingDep,
               status: Annotated[Literal["open", "withdrawn"] | None, Query()] = None) -> Page[NeedPublic]:
    """Submitters: their institution's; partners: open needs; staff and admins: all."""
    institution = caller.institution if caller.role == "submitter" else None
    if caller.role == "partner":
        if status == "withdrawn":
            return Page(items=[], total=0, limit=paging.limit, offset=paging.offset)
        status = "open"
    rows, total = runtime.store.needs_page(institution=institution, status=status,
                                           limit=paging.limit, offset=paging.offset)
    return Page(items=[need_public(runtime, r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{need_id}", response_model=NeedPublic, summary="Read a need")
def get_need(need_id: NeedId, caller: CurrentCaller, runtime: RuntimeDep) -> NeedPublic:
    """404 when it does not exist or the caller may not see it."""
    return need_public(runtime, visible_need(runtime, caller, need_id))


@router.patch("/{need_id}", response_model=NeedPublic, summary="Edit an open need")
def update_need(need_id: NeedId, body: NeedUpdate, caller: NeedWriter, runtime: RuntimeDep,
                settings: SettingsDep) -> NeedPublic:
    """Changes the given fields; the index follows, and the old text leaves the embedding cache."""
    row = visible_need(runtime, caller, need_id)
    if not can_edit_need(caller, row):
        raise not_found("need", need_id)
    if row.status != "open":
        raise ApiError(409, f"need {need_id!r} is withdrawn and cannot be edited")
    changes = body.model_dump(exclude_unset=True)
    if "description" in changes:
        check_length(changes["description"], settings, "description")
    previous = need_of(row)
    need = validated(Need, {**previous.model_dump(), **changes})
    runtime.submit_need(need, previous=previous)
    return need_public(runtime, visible_need(runtime, caller, need_id))


@router.delete("/{need_id}", response_model=NeedPublic, summary="Withdraw a need")
def withdraw_need(need_id: NeedId, caller: NeedWriter, runtime: RuntimeDep) -> NeedPublic:
    """Status 'withdrawn'; its text is erased and its vectors leave the index, the cache and snapshots."""
    row = visible_need(runtime, caller, need_id)
    if not can_edit_need(caller, row):
        raise not_found("need", need_id)
    if row.status == "open":
        runtime.withdraw_need(need_of(row))
    return need_public(runtime, visible_need(runtime, caller, need_id))


def _ranked_profiles(engine: MatchEngine, need_id: str, top: int) -> bytes:
    items = engine.match_need(need_id, top)
    reason = None if items else "no UK profiles are stored yet"
    return as_json(MatchesPublic(need_id=need_id, matches=items, reason=reason))  # type: ignore[arg-type]


@router.get("/{need_id}/matches", response_model=MatchesPublic, summary="Ranked profiles for a need")
def need_matches(need_id: NeedId, caller: NeedMatchReader, runtime: RuntimeDep, top: Top = 10) -> Response:
    """Ranked, explained UK profiles for one of the caller's needs (kept until the next write; service.results)."""
    row = visible_need(runtime, caller, need_id)
    if row.status != "open":
        return json_response(as_json(MatchesPublic(need_id=need_id, matches=[], reason="the need is withdrawn")))
    with runtime.reading() as engine:
        if engine.get("need", need_id) is None:
            raise not_found("need", need_id)
        body = runtime.cached(("need matches", need_id, top), lambda: _ranked_profiles(engine, need_id, top))
    return json_response(body)
