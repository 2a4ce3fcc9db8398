"""Staff decisions on suggested (need, profile) pairs: who decided what, when and why."""
from __future__ import annotations

from fastapi import APIRouter

from service.auth import CurrentCaller, StaffCaller
from service.deps import RuntimeDep
from service.errors import ApiError, forbidden
from service.models import DecisionRow
from service.routers.common import API_PREFIX, NeedId, visible_need
from service.schemas import DecisionCreate, DecisionPublic, DecisionsPublic, as_utc

router = APIRouter(prefix=f"{API_PREFIX}/needs/{{need_id}}/decisions", tags=["decisions"])


def decision_public(row: DecisionRow) -> DecisionPublic:
    """The API view of a decision row."""
    return DecisionPublic(id=row.id, need_id=row.need_id, profile_id=row.profile_id,
                          decision=row.decision, reason=row.reason,  # type: ignore[arg-type]
                          decided_by=row.decided_by, decided_at=as_utc(row.decided_at))


@router.post("", status_code=201, response_model=DecisionPublic, summary="Accept or reject a pair")
def record_decision(need_id: NeedId, body: DecisionCreate, caller: StaffCaller, runtime: RuntimeDep) -> DecisionPublic:
    """Staff (and admins) only; an accept uses one unit of the profile's remaining capacity."""
    row = visible_need(runtime, caller, need_id)
    if row.status != "open":
        raise ApiError(409, f"need {need_id!r} is withdrawn; decisions are closed")
    if runtime.store.get_profile_row(body.profile_id) is None:
        raise ApiError(422, f"field 'profile_id': no profile {body.profile_id!r}", "profile_id")
    decision = runtime.record_decision(need_id, body.profile_id, body.decision, body.reason, caller.label)
    return decision_public(decision)


@router.get("", response_model=DecisionsPublic, summary="Decisions on a need")
def list_decisions(need_id: NeedId, caller: CurrentCaller, runtime: RuntimeDep) -> DecisionsPublic:
    """Staff and admins, or the submitter that owns the need (others' needs: 404)."""
    if caller.role == "partner":
        raise forbidden("a partner key may not read decisions")
    visible_need(runtime, caller, need_id)
    return DecisionsPublic(need_id=need_id, decisions=[decision_public(r) for r in runtime.store.decisions(need_id)])
