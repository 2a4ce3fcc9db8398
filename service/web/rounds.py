"""The staff "matching round" page: propose partners for every open need at once, then accept pairs.

The same service as POST /api/v1/rounds and /rounds/{id}/accept (service.rounds): a round
is kept, shown with its alternates and the reasons some needs got no partner, and staff
accept the pairs they tick (one 'accept' decision each, reason "accepted in round <id>").
"""
from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from matcher.errors import InvalidInputError
from service.deps import RuntimeDep
from service.models import RoundRow
from service.rounds import accept, get_round, latest_rounds, propose
from service.runtime import Runtime
from service.web.deps import CheckedForm, PageError, StaffPage
from service.web.render import page, redirect
from service.web.session import flash

router = APIRouter(include_in_schema=False)
PER_NEED_MAX = 5
EARLIER = 10  # earlier rounds listed


def _names(runtime: Runtime) -> tuple[dict[str, str], dict[str, str]]:
    """Profile id -> name and need id -> institution, for the tables."""
    profiles = {p.id: p.name for p in runtime.store.profiles()}
    needs = {n.id: n.institution for n in runtime.store.needs(status=None)}
    return profiles, needs


def round_view(row: RoundRow, runtime: Runtime) -> dict[str, Any]:
    """A stored round as the page shows it: assignments with names, alternates, reasons."""
    profiles, needs = _names(runtime)
    doc = row.result
    accepted = {tuple(p) for p in row.accepted}
    pairs = []
    for a in doc.get("assignments", []):
        alternates = [{"name": profiles.get(x["profile_id"], x["profile_id"]), "score": x["score"]}
                      for x in doc.get("alternates", {}).get(a["need_id"], [])]
        pairs.append({"need_id": a["need_id"], "institution": needs.get(a["need_id"], ""),
                      "profile_id": a["profile_id"], "profile_name": profiles.get(a["profile_id"], a["profile_id"]),
                      "score": a["score"], "alternates": alternates,
                      "accepted": (a["need_id"], a["profile_id"]) in accepted})
    return {"id": row.id, "state": row.state, "status": doc.get("status"), "scorer": doc.get("scorer", "weights"),
            "params": row.params, "objective": doc.get("objective", 0.0), "pairs": pairs,
            "served": len({p["need_id"] for p in pairs}), "needs": doc.get("counts", {}).get("needs", 0),
            "unassigned": [{**u, "institution": needs.get(u["need_id"], "")} for u in doc.get("unassigned", [])],
            "skipped": [{**s, "institution": needs.get(s["need_id"], "")} for s in doc.get("skipped", [])],
            "created_at": row.created_at, "created_by": row.created_by,
            "pending": sum(not p["accepted"] for p in pairs)}


def _context(runtime: Runtime, shown: RoundRow | None, values: dict[str, Any],
             errors: dict[str, str]) -> dict[str, Any]:
    return {"round": round_view(shown, runtime) if shown is not None else None,
            "earlier": [{"id": r.id, "state": r.state, "created_at": r.created_at,
                         "pairs": len(r.result.get("assignments", []))} for r in latest_rounds(runtime.store, EARLIER)],
            "values": values, "errors": errors, "per_need_max": PER_NEED_MAX, "section": "web.round"}


DEFAULTS = {"per_need": 1, "fair": False, "min_score": 0.0}


@router.get("/round", name="web.round")
def round_page(request: Request, caller: StaffPage, runtime: RuntimeDep,
               round_id: int | None = Query(None, alias="id", ge=1, le=2**31 - 1)) -> Response:
    """The newest round (or ?id=N), the form to propose one, and earlier rounds."""
    shown = get_round(runtime.store, round_id) if round_id is not None else next(
        iter(latest_rounds(runtime.store, 1)), None)
    if round_id is not None and shown is None:
        raise PageError(404)
    return page(request, "round.html", _context(runtime, shown, DEFAULTS, {}))


def _parse(form: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Round parameters from the form, and an error per bad field (keys: per_need, min_score)."""
    values: dict[str, Any] = {"per_need": str(form.get("per_need", "1")).strip(), "fair": form.get("fair") == "on",
                              "min_score": str(form.get("min_score", "0")).strip()}
    errors: dict[str, str] = {}
    try:
        values["per_need"] = int(values["per_need"])
        if not 1 <= values["per_need"] <= PER_NEED_MAX:
            raise ValueError
    except ValueError:
        errors["per_need"] = "round.err_per_need"
    try:
        values["min_score"] = float(values["min_score"].replace(",", "."))
        if not math.isfinite(values["min_score"]):
            raise ValueError
    except ValueError:
        errors["min_score"] = "round.err_min_score"
    return values, errors


@router.post("/round", name="web.round_propose")
def round_propose(request: Request, form: CheckedForm, caller: StaffPage, runtime: RuntimeDep) -> Response:
    """Propose a round with the form's parameters (as POST /api/v1/rounds), then show it."""
    values, errors = _parse(form)
    if errors:
        latest = next(iter(latest_rounds(runtime.store, 1)), None)
        return page(request, "round.html", _context(runtime, latest, values, errors), status=422)
    row = propose(runtime, per_need=values["per_need"], fair=values["fair"], min_score=values["min_score"],
                  created_by=caller.label)
    flash(request, "round.proposed_flash", id=str(row.id))
    return redirect(f"{request.app.url_path_for('web.round')}?id={row.id}")


@router.post("/round/{round_id}/accept", name="web.round_accept")
def round_accept(request: Request, round_id: int, form: CheckedForm, caller: StaffPage,
                 runtime: RuntimeDep) -> Response:
    """Accept the ticked pairs (as POST /api/v1/rounds/{id}/accept with "pairs"); all or nothing."""
    row = get_round(runtime.store, round_id)
    if row is None:
        raise PageError(404)
    pairs = [value.split("|", 1) for value in form.getlist("pair") if isinstance(value, str) and "|" in value]
    error, detail = ("round.none_selected" if not pairs else None), ""
    if error is None:
        try:
            done = accept(runtime, round_id, pairs, caller.label)
        except InvalidInputError as exc:
            error = "round.err_accept"
            detail = str(exc).split(": ", 1)[-1]
        else:
            assert done is not None
            flash(request, "round.accepted_flash", n=str(len(done[1])), id=str(round_id))
            return redirect(f"{request.app.url_path_for('web.round')}?id={round_id}")
    ctx = _context(runtime, row, DEFAULTS, {})
    ctx["accept_error"] = error
    ctx["accept_detail"] = detail
    return page(request, "round.html", ctx, status=422)
