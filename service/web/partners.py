"""UK institution pages: the capability profile form (with a live preview of detected areas) and counterparts."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from matcher.schema import AREA_IDS, LANGUAGES, MODALITIES, Need
from service.auth import Caller, can_edit_profile
from service.deps import RuntimeDep, SettingsDep
from service.errors import ApiError
from service.routers.common import ID_PATTERN
from service.web.deps import CheckedForm, CounterpartPage, PageError, ProfileWriterPage, checked_header
from service.web.forms import PROFILE_KINDS, profile_form
from service.web.render import page, redirect, translator
from service.web.session import flash, session_caller
from service.web.views import card, counterpart_item

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 10


def _own(caller: Caller) -> str:
    if caller.role != "partner" or not caller.profile_id:
        raise PageError(404)  # only a partner key has a profile of its own
    return caller.profile_id


def _check_id(profile_id: str) -> None:
    if not re.fullmatch(ID_PATTERN, profile_id):
        raise PageError(404)


@router.get("/profile", name="web.profile")
def own_profile(request: Request, caller: ProfileWriterPage) -> Response:
    """A partner's own profile form."""
    return redirect(str(request.app.url_path_for("web.profile_edit", profile_id=_own(caller))))


@router.get("/counterparts", name="web.counterparts")
def own_counterparts(request: Request, caller: CounterpartPage) -> Response:
    """A partner's own counterparts."""
    target = str(request.app.url_path_for("web.profile_counterparts", profile_id=_own(caller)))
    query = request.url.query
    return redirect(f"{target}?{query}" if query else target)


def _editable(caller: Caller, profile_id: str) -> None:
    _check_id(profile_id)
    if not can_edit_profile(caller, profile_id):
        raise PageError(403)  # as PUT /api/v1/profiles/{id}: a partner edits only its own


def _profile_page(request: Request, profile_id: str, values: dict[str, Any], errors: dict[str, str],
                  max_chars: int, runtime: Any, status: int = 200) -> Response:
    t = translator(request)
    areas = runtime.detected_areas("profile", profile_id)
    used = runtime.engine.capacity_used.get(profile_id, 0)
    return page(request, "profile_form.html", {
        "section": "web.profile", "profile_id": profile_id, "values": values, "errors": errors,
        "max_chars": max_chars,
        "kinds": PROFILE_KINDS, "languages": LANGUAGES, "modalities": MODALITIES,
        "all_areas": sorted(AREA_IDS, key=t.area), "detected": [{"id": a, "label": t.area(a)} for a in areas],
        "stored": runtime.store.get_profile_row(profile_id) is not None, "used": used,
    }, status=status)


@router.get("/profiles/{profile_id}/edit", name="web.profile_edit")
def profile_edit(request: Request, profile_id: str, caller: ProfileWriterPage, runtime: RuntimeDep,
                 settings: SettingsDep) -> Response:
    """The capability profile form (empty when the profile is not stored yet)."""
    _editable(caller, profile_id)
    row = runtime.store.get_profile_row(profile_id)
    values: dict[str, Any] = {"name": "", "kind": "", "region": "", "description": "", "languages": ["en"],
                              "capacity": "1", "countries": "", "modalities": [], "areas": []}
    if row is not None:
        values = {"name": row.name, "kind": row.kind, "region": row.region, "description": row.description,
                  "languages": list(row.languages), "capacity": str(row.capacity),
                  "countries": ", ".join(row.countries_of_experience), "modalities": list(row.modalities),
                  "areas": list(row.clinical_areas)}
    with runtime.reading():
        return _profile_page(request, profile_id, values, {}, settings.max_description_chars, runtime)


@router.post("/profiles/{profile_id}/edit", name="web.profile_save")
def profile_save(request: Request, profile_id: str, form: CheckedForm, caller: ProfileWriterPage,
                 runtime: RuntimeDep, settings: SettingsDep) -> Response:
    """Validate and save the profile (as PUT /api/v1/profiles/{id}); the index follows."""
    _editable(caller, profile_id)
    result = profile_form(form, translator(request), max_chars=settings.max_description_chars,
                          profile_id=profile_id)
    if not result.ok:
        with runtime.reading():
            return _profile_page(request, profile_id, result.values, result.errors, settings.max_description_chars,
                                 runtime, status=422)
    runtime.upsert_profile(result.record)
    flash(request, "profile.saved")
    return redirect(str(request.app.url_path_for("web.profile_edit", profile_id=profile_id)))


@router.post("/web/preview-areas", name="web.preview_areas")
async def preview_areas(request: Request, runtime: RuntimeDep, settings: SettingsDep) -> JSONResponse:
    """The clinical areas detected in a draft text, for the forms' live preview; nothing is stored or logged."""
    if session_caller(request, runtime) is None:
        raise ApiError(401, "sign in first")
    checked_header(request)
    try:
        body = await request.json()
    except ValueError as exc:
        raise ApiError(422, "field 'text': the body must be JSON {\"text\": ...}", "text") from exc
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise ApiError(422, "field 'text': a string is required", "text")
    if len(text) > settings.max_description_chars:
        raise ApiError(422, f"field 'text': at most {settings.max_description_chars} characters", "text")
    t = translator(request)
    hits = runtime.engine.detector.detect(text) if text.strip() else {}
    return JSONResponse({"areas": [{"id": a, "label": t.area(a), "evidence": [e.phrase for e in h.evidence][:3]}
                                   for a, h in hits.items()]},
                        headers={"Cache-Control": "no-store"})


@router.get("/profiles/{profile_id}/counterparts", name="web.profile_counterparts")
def counterparts(request: Request, profile_id: str, caller: CounterpartPage, runtime: RuntimeDep,
                 country: str = Query("", max_length=2), area: str = Query("", max_length=40),
                 language: str = Query("", max_length=2),
                 page_no: int = Query(1, alias="page", ge=1, le=10_000)) -> Response:
    """Open needs ranked for a profile, explained, filtered by country, clinical area and language."""
    _check_id(profile_id)
    if caller.role == "partner" and caller.profile_id != profile_id:
        raise PageError(403)  # as GET /api/v1/profiles/{id}/matches
    t = translator(request)
    row = runtime.store.get_profile_row(profile_id)
    if row is None:
        if caller.role == "partner":
            return page(request, "counterparts.html", {"missing": True, "profile_id": profile_id,
                                                       "section": "web.counterparts"})
        raise PageError(404)
    filters = {"country": country.upper() if re.fullmatch(r"[A-Za-z]{2}", country) else "",
               "area": area if area in AREA_IDS else "", "language": language if language in LANGUAGES else ""}
    cards: list[dict[str, Any]] = []
    with runtime.reading() as engine:
        profile = engine.get("profile", profile_id)
        if profile is None:
            raise PageError(404)
        needs = {nid: engine.get("need", nid) for nid in engine.ids("need")}
        ranked = engine.match_profile(profile_id, max(1, len(needs)), explain=False) if needs else []
        kept = []
        for item in ranked:
            need = needs.get(item["need_id"])
            record = need.record if need is not None else None
            if need is None or not isinstance(record, Need):
                continue
            if ((filters["country"] and record.country != filters["country"])
                    or (filters["area"] and filters["area"] not in need.areas)
                    or (filters["language"] and need.language != filters["language"])):
                continue
            kept.append((item, need))
        pages = max(1, -(-len(kept) // PAGE_SIZE))
        page_no = min(page_no, pages)
        start = (page_no - 1) * PAGE_SIZE
        for rank, (item, need) in enumerate(kept[start:start + PAGE_SIZE], start + 1):
            explained = counterpart_item(engine, profile_id, need.id) or item
            cards.append(card(explained, t, need=need, profile=profile, rank=rank))
        countries = sorted({n.record.country for n in needs.values() if n and isinstance(n.record, Need)},
                           key=t.country)
        areas = sorted({a for n in needs.values() if n for a in n.areas}, key=t.area)
    return page(request, "counterparts.html", {
        "section": "web.counterparts", "missing": False, "profile": row, "profile_id": profile_id, "cards": cards,
        "filters": filters, "total": len(kept), "page_no": page_no, "pages": pages, "countries": countries,
        "areas": areas,
        "languages": LANGUAGES, "query": urlencode({k: v for k, v in filters.items() if v}),
        "remaining": max(0, row.capacity - runtime.engine.capacity_used.get(profile_id, 0)),
    })
