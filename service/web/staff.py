"""Programme staff pages: the review queue of suggested matches, and the gaps dashboard with its CSV export."""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from matcher.engine import MatchEngine
from matcher.schema import AREA_IDS, Need, Profile
from service.deps import RuntimeDep
from service.models import DecisionRow
from service.routers.gaps import compute_gaps
from service.web.charts import gap_charts, gaps_csv
from service.web.deps import StaffPage
from service.web.i18n import Translator
from service.web.render import page, secure, translator
from service.web.views import shared_area_ids

router = APIRouter(include_in_schema=False)
QUEUE_TOP = 3  # suggestions per open need in the queue
NEEDS_PER_PAGE = 10
STATUSES = ("pending", "accepted", "rejected")
STATUS_OF = {"accept": "accepted", "reject": "rejected", "block": "rejected"}  # block: "do not pair" (API)
EXCERPT = 220


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT].rsplit(" ", 1)[0] + " …"


def queue_groups(engine: MatchEngine, latest: dict[tuple[str, str], DecisionRow], t: Translator,
                 filters: dict[str, str]) -> list[dict[str, Any]]:
    """Open needs with their top suggestions and every decided pair, filtered; one group per need."""
    decided: dict[str, set[str]] = {}
    for need_id, profile_id in latest:
        decided.setdefault(need_id, set()).add(profile_id)
    groups = []
    for need_id in engine.ids("need"):
        need = engine.get("need", need_id)
        if need is None or not isinstance(need.record, Need):
            continue
        if filters["country"] and need.record.country != filters["country"]:
            continue
        top = engine.match_need(need_id, QUEUE_TOP, explain=False)
        ranked = list(enumerate(top, 1))
        wanted = decided.get(need_id, set())
        if wanted - {item["profile_id"] for item in top}:  # decided pairs that left the top: find their rank
            full = engine.match_need(need_id, len(engine.ids("profile")), explain=False)
            ranked = [(i, it) for i, it in enumerate(full, 1) if i <= QUEUE_TOP or it["profile_id"] in wanted]
        rows = []
        for rank, item in ranked:
            profile = engine.get("profile", item["profile_id"])
            if profile is None or not isinstance(profile.record, Profile):
                continue
            decision = latest.get((need_id, profile.id))
            status = STATUS_OF[decision.decision] if decision is not None else "pending"
            shared = shared_area_ids(need, profile)
            if (filters["status"] and status != filters["status"]) or (filters["area"] and filters["area"]
                                                                          not in shared):
                continue
            remaining = engine.remaining_capacity(profile)
            rows.append({"rank": rank, "profile_id": profile.id, "profile_name": profile.record.name,
                         "score": item["score"], "status": status, "decision": decision,
                         "chips": [{"label": t.area(a), "tone": i % 6} for i, a in enumerate(shared[:4])],
                         "full": remaining == 0, "remaining": remaining})
        if rows:
            groups.append({"need_id": need_id, "institution": need.record.institution,
                           "country": t.country(need.record.country), "language": need.language,
                           "excerpt": _excerpt(need.text), "rows": rows})
    return groups


@router.get("/review", name="web.review")
def review(request: Request, caller: StaffPage, runtime: RuntimeDep,
           status: str = Query("", max_length=10), country: str = Query("", max_length=2),
           area: str = Query("", max_length=40), page_no: int = Query(1, alias="page", ge=1, le=10_000)) -> Response:
    """Suggested matches to accept or reject, by open need; filter by status, country and area."""
    t = translator(request)
    filters = {"status": status if status in STATUSES else "",
               "country": country.upper() if re.fullmatch(r"[A-Za-z]{2}", country) else "",
               "area": area if area in AREA_IDS else ""}
    latest = runtime.store.latest_decisions()
    with runtime.reading() as engine:
        groups = queue_groups(engine, latest, t, filters)
        countries = sorted({n.record.country for n in (engine.get("need", i) for i in engine.ids("need"))
                            if n is not None and isinstance(n.record, Need)}, key=t.country)
    pages = max(1, -(-len(groups) // NEEDS_PER_PAGE))
    page_no = min(page_no, pages)
    shown = groups[(page_no - 1) * NEEDS_PER_PAGE: page_no * NEEDS_PER_PAGE]
    query = urlencode({k: v for k, v in filters.items() if v})
    return page(request, "review.html", {
        "groups": shown, "pairs": sum(len(g["rows"]) for g in groups), "filters": filters, "statuses": STATUSES,
        "countries": countries, "areas": sorted(AREA_IDS, key=t.area), "page_no": page_no, "pages": pages,
        "top": QUEUE_TOP, "query": query,
        "here": f"{request.url.path}?{urlencode({**{k: v for k, v in filters.items() if v}, 'page': page_no})}",
    })


@router.get("/gaps", name="web.gaps")
def gaps(request: Request, caller: StaffPage, runtime: RuntimeDep) -> Response:
    """Open demand against available supply, by clinical area and by country (as GET /api/v1/gaps)."""
    with runtime.reading() as engine:
        result = compute_gaps(engine)
    return page(request, "gaps.html", {"gaps": result, "charts": gap_charts(result, translator(request))})


@router.get("/gaps.csv", name="web.gaps_csv")
def gaps_export(request: Request, caller: StaffPage, runtime: RuntimeDep) -> Response:
    """The gaps tables as CSV (names in the page's language)."""
    with runtime.reading() as engine:
        result = compute_gaps(engine)
    body = "\ufeff" + gaps_csv(result, translator(request))  # BOM: spreadsheet software reads UTF-8 names right
    return secure(Response(body, media_type="text/csv; charset=utf-8",
                           headers={"Content-Disposition": 'attachment; filename="partnermatch-gaps.csv"'}))
