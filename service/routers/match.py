"""Ad-hoc matching: ranked profiles for a statement that is not stored."""
from __future__ import annotations

from fastapi import APIRouter, Response

from service.auth import CurrentCaller
from service.deps import RuntimeDep, SettingsDep
from service.routers.common import API_PREFIX, as_json, check_length, json_response
from service.schemas import TextMatchesPublic, TextMatchRequest

router = APIRouter(prefix=API_PREFIX, tags=["match"])


@router.post("/match", response_model=TextMatchesPublic, summary="Rank profiles for an ad-hoc statement")
def match_text(body: TextMatchRequest, caller: CurrentCaller, runtime: RuntimeDep,
               settings: SettingsDep) -> Response:
    """Any role; the text is neither stored nor logged, and its embeddings leave the cache afterwards."""
    check_length(body.text, settings, "text")
    items = runtime.match_text_private(body.text, body.top, body.language)
    reason = None if items else "no UK profiles are stored yet"
    return json_response(as_json(TextMatchesPublic(matches=items, reason=reason)))  # type: ignore[arg-type]
