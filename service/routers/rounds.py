"""Matching rounds (staff): propose partners for every open need under capacities, then accept pairs."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from service.auth import StaffCaller
from service.deps import RuntimeDep
from service.errors import not_found
from service.rounds import accept, get_round, propose, round_document
from service.routers.common import API_PREFIX
from service.routers.decisions import decision_public
from service.schemas import RoundAccept, RoundAccepted, RoundCreate, RoundPublic

router = APIRouter(prefix=f"{API_PREFIX}/rounds", tags=["rounds"])
RoundId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a round id from POST /rounds")]


@router.post("", status_code=201, response_model=RoundPublic, summary="Propose a matching round")
def new_round(caller: StaffCaller, runtime: RuntimeDep,
              body: Annotated[RoundCreate | None, Body()] = None) -> RoundPublic:
    """Best total score over all open needs under remaining capacities; rejected and blocked pairs never proposed."""
    params = body or RoundCreate()
    row = propose(runtime, per_need=params.per_need, fair=params.fair, min_score=params.min_score,
                  created_by=caller.label)
    return RoundPublic.model_validate(round_document(row))


@router.get("/{round_id}", response_model=RoundPublic, summary="Read a proposed round")
def read_round(round_id: RoundId, caller: StaffCaller, runtime: RuntimeDep) -> RoundPublic:
    """The round as proposed, with the pairs accepted so far."""
    row = get_round(runtime.store, round_id)
    if row is None:
        raise not_found("round", str(round_id))
    return RoundPublic.model_validate(round_document(row))


@router.post("/{round_id}/accept", response_model=RoundAccepted, summary="Accept a round's pairs")
def accept_round(round_id: RoundId, caller: StaffCaller, runtime: RuntimeDep,
                 body: Annotated[RoundAccept | None, Body()] = None) -> RoundAccepted:
    """Records 'accept' (reason "accepted in round <id>") for the pairs given, or all assignments; all or nothing."""
    pairs = body.pairs if body is not None else None
    done = accept(runtime, round_id, [list(p) for p in pairs] if pairs is not None else None, caller.label)
    if done is None:
        raise not_found("round", str(round_id))
    row, decisions = done
    return RoundAccepted(round_id=row.id, state=row.state,  # type: ignore[arg-type]
                         accepted=[list(p) for p in row.accepted], decisions=[decision_public(d) for d in decisions])
