"""Needs pages: the list, the needs form (new and edit), withdrawal, and a need with its explained candidates.

Staff record decisions from a need's page (and from the review queue) through the same
Runtime.record_decision the API uses.
"""
from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from matcher.errors import InvalidInputError
from matcher.schema import LANGUAGES, MODALITIES
from matcher.text import detect_language
from service.auth import Caller, can_edit_need
from service.deps import RuntimeDep, SettingsDep
from service.models import NeedRow
from service.runtime import Runtime
from service.store import need_from_row
from service.web.deps import (
    CheckedForm,
    NeedWriterPage,
    PageError,
    StaffPage,
    WebCaller,
    sees_need_matches,
    visible_need_row,
)
from service.web.forms import need_form
from service.web.render import page, redirect, translator
from service.web.session import flash
from service.web.signin import safe_next
from service.web.views import card, counterpart_item

router = APIRouter(include_in_schema=False)
TOP = 10
PAGE_SIZE = 50
REASON_MAX = 2000


def _new_id(runtime: Runtime) -> str:
    for _ in range(10):
        candidate = f"need-{uuid.uuid4().hex[:8]}"
        if runtime.store.get_need_row(candidate) is None:
            return candidate
    raise PageError(503)


def _url(request: Request, name: str, **params: str) -> str:
    return str(request.app.url_path_for(name, **params))


@router.get("/needs", name="web.needs")
def needs_list(request: Request, caller: WebCaller, runtime: RuntimeDep,
               page_no: int = Query(1, alias="page", ge=1, le=100_000)) -> Response:
    """What GET /api/v1/needs shows this caller: its institution's needs, open ones (partners) or all."""
    institution = caller.institution if caller.role == "submitter" else None
    status = "open" if caller.role == "partner" else None
    rows, total = runtime.store.needs_page(institution=institution, status=status, limit=PAGE_SIZE,
                                           offset=(page_no - 1) * PAGE_SIZE)
    accepted: dict[str, int] = {}
    for (need_id, _profile), decision in runtime.store.latest_decisions().items():
        if decision.decision == "accept":
            accepted[need_id] = accepted.get(need_id, 0) + 1
    with runtime.reading():
        items = [{"row": r, "areas": runtime.detected_areas("need", r.id)[:3] if r.status == "open" else [],
                  "accepted": accepted.get(r.id, 0)} for r in rows]
    title = {"submitter": "needs.title_mine", "partner": "needs.title_open"}.get(caller.role, "needs.title_all")
    pages = max(1, -(-total // PAGE_SIZE))
    return page(request, "needs.html", {"items": items, "total": total, "title": title, "page_no": page_no,
                                        "pages": pages, "can_submit": caller.role in ("submitter", "admin")})


def _form_page(request: Request, caller: Caller, values: dict[str, Any], errors: dict[str, str],
               max_chars: int, need_id: str | None = None, status: int = 200) -> Response:
    t = translator(request)
    return page(request, "need_form.html", {
        "values": values, "errors": errors, "need_id": need_id, "max_chars": max_chars,
        "countries": t.countries(), "languages": LANGUAGES, "modalities": MODALITIES,
        "ask_institution": caller.role == "admin" and need_id is None,
    }, status=status)


@router.get("/needs/new", name="web.need_new")
def need_new(request: Request, caller: NeedWriterPage, runtime: RuntimeDep, settings: SettingsDep) -> Response:
    """The needs form; the country defaults to that of the institution's latest need."""
    country = ""
    if caller.institution:
        rows, _ = runtime.store.needs_page(institution=caller.institution, limit=500)
        if rows:
            country = max(rows, key=lambda r: r.created_at).country
    values = {"description": "", "language": "", "country": country, "modalities": [], "institution": ""}
    return _form_page(request, caller, values, {}, settings.max_description_chars)


@router.post("/needs/new", name="web.need_create")
def need_create(request: Request, form: CheckedForm, caller: NeedWriterPage, runtime: RuntimeDep,
                settings: SettingsDep) -> Response:
    """Validate, store and index the need (as POST /api/v1/needs does), then show its candidates."""
    t = translator(request)
    result = need_form(form, t, max_chars=settings.max_description_chars, need_id=_new_id(runtime),
                       institution=caller.institution if caller.role == "submitter" else None,
                       detect=detect_language)
    if result.ok:
        retry_after = request.app.state.limiter.hit(caller.key_id)
        if retry_after is not None:
            result.errors["description"] = t("err.rate", s=retry_after)
    if not result.ok:
        return _form_page(request, caller, result.values, result.errors, settings.max_description_chars, status=422)
    runtime.submit_need(result.record)
    flash(request, "flash.need_created")
    return redirect(_url(request, "web.need", need_id=result.record.id))


def _editable(runtime: Runtime, caller: Caller, need_id: str) -> NeedRow:
    row = visible_need_row(runtime, caller, need_id)
    if not can_edit_need(caller, row):
        raise PageError(404)  # as the API: others' needs do not exist for this caller
    if row.status != "open":
        raise PageError(409, "withdrawn")
    return row


@router.get("/needs/{need_id}/edit", name="web.need_edit")
def need_edit(request: Request, need_id: str, caller: NeedWriterPage, runtime: RuntimeDep,
              settings: SettingsDep) -> Response:
    """The needs form, filled in."""
    row = _editable(runtime, caller, need_id)
    values = {"description": row.description, "language": row.language, "country": row.country,
              "modalities": list(row.preferred_modalities), "institution": row.institution}
    return _form_page(request, caller, values, {}, settings.max_description_chars, need_id=need_id)


@router.post("/needs/{need_id}/edit", name="web.need_update")
def need_update(request: Request, need_id: str, form: CheckedForm, caller: NeedWriterPage, runtime: RuntimeDep,
                settings: SettingsDep) -> Response:
    """Save the edited need; the index follows and the old text leaves the embedding cache (as PATCH)."""
    row = _editable(runtime, caller, need_id)
    previous = need_from_row(row)
    result = need_form(form, translator(request), max_chars=settings.max_description_chars, need_id=need_id,
                       institution=row.institution, detect=detect_language)
    if not result.ok:
        return _form_page(request, caller, result.values, result.errors, settings.max_description_chars,
                          need_id=need_id, status=422)
    need = result.record.model_copy(update={"clinical_areas": previous.clinical_areas})
    runtime.submit_need(need, previous=previous)
    flash(request, "flash.need_updated")
    return redirect(_url(request, "web.need", need_id=need_id))


@router.post("/needs/{need_id}/withdraw", name="web.need_withdraw")
def need_withdraw(request: Request, need_id: str, form: CheckedForm, caller: NeedWriterPage,
                  runtime: RuntimeDep) -> Response:
    """Withdraw: the text is erased and leaves the index (as DELETE /api/v1/needs/{id})."""
    row = visible_need_row(runtime, caller, need_id)
    if not can_edit_need(caller, row):
        raise PageError(404)
    if row.status == "open":
        runtime.withdraw_need(need_from_row(row))
    flash(request, "flash.need_withdrawn")
    return redirect(_url(request, "web.needs"))


def need_context(request: Request, runtime: Runtime, caller: Caller, row: NeedRow) -> dict[str, Any]:
    """Everything the need page shows this caller."""
    t = translator(request)
    is_open = row.status == "open"
    latest = {p: d for (n, p), d in runtime.store.latest_decisions().items() if n == row.id}
    cards: list[dict[str, Any]] = []
    own: dict[str, Any] | None = None
    with runtime.reading() as engine:
        need = engine.get("need", row.id) if is_open else None
        areas = list(need.areas) if need is not None else []
        if need is not None and sees_need_matches(caller):
            for rank, item in enumerate(engine.match_need(row.id, TOP), 1):
                profile = engine.get("profile", item["profile_id"])
                if profile is not None:
                    cards.append(card(item, t, need=need, profile=profile, rank=rank,
                                      decision=latest.get(profile.id)))
        elif need is not None and caller.role == "partner" and caller.profile_id:
            item = counterpart_item(engine, caller.profile_id, row.id)
            profile = engine.get("profile", caller.profile_id)
            if item is not None and profile is not None:
                own = card(item, t, need=need, profile=profile, rank=0)
    history = runtime.store.decisions(row.id) if caller.role != "partner" else []
    names = {p.id: p.name for p in runtime.store.profiles()} if history else {}
    return {"row": row, "areas": areas, "cards": cards, "own": own, "history": history, "profile_names": names,
            "can_edit": is_open and can_edit_need(caller, row), "can_decide": is_open and caller.role in
            ("staff", "admin"), "sees_matches": sees_need_matches(caller), "decide_errors": {},
            "decide_values": {}}


@router.get("/needs/{need_id}", name="web.need")
def need_page(request: Request, need_id: str, caller: WebCaller, runtime: RuntimeDep) -> Response:
    """The need as written, its areas, its ranked candidates explained, their decisions and the history."""
    row = visible_need_row(runtime, caller, need_id)
    return page(request, "need.html", need_context(request, runtime, caller, row))


@router.post("/needs/{need_id}/decisions", name="web.decide")
def decide(request: Request, need_id: str, form: CheckedForm, caller: StaffPage, runtime: RuntimeDep) -> Response:
    """Accept or reject a candidate with a reason (as POST /api/v1/needs/{id}/decisions)."""
    t = translator(request)
    row = visible_need_row(runtime, caller, need_id)
    profile_id, decision, reason = (str(form.get(k, "")).strip() for k in ("profile_id", "decision", "reason"))
    profile = runtime.store.get_profile_row(profile_id) if profile_id else None
    error = None
    if row.status != "open":
        error = t("err.withdrawn")
    elif profile is None or decision not in ("accept", "reject"):
        error = t("err.choice")
    elif not reason:
        error = t("err.required")
    elif len(reason) > REASON_MAX or "\x00" in reason:
        error = t("err.too_long", max=REASON_MAX, n=len(reason))
    else:
        try:
            runtime.record_decision(need_id, profile_id, decision, reason, caller.label)
        except InvalidInputError:
            error = t("err.capacity")
    if error is not None:
        ctx = need_context(request, runtime, caller, row)
        ctx["decide_errors"] = {profile_id: error}
        ctx["decide_values"] = {profile_id: reason}
        return page(request, "need.html", ctx, status=422)
    assert profile is not None
    flash(request, f"flash.decided_{decision}", profile=profile.name, need=need_id)
    next_value = form.get("next")
    target = safe_next(next_value if isinstance(next_value, str) else None)
    return redirect(target or f"{_url(request, 'web.need', need_id=need_id)}#cand-{profile_id}")
