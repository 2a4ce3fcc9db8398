"""Matching rounds in the service: propose one over the live engine, keep it, accept its pairs.

Used by the CLI (`partnermatch round`, `partnermatch accept-round`) and the HTTP API
(`/api/v1/rounds`). A proposal reads the store's latest decisions (rejections and
"do not pair" blocks keep pairs apart) and remaining capacities; accepting records one
'accept' decision per pair, in one transaction, with the reason "accepted in round <id>".
Keeping a proposal does not bump the store version: it changes nothing the index or
capacities derive from.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.errors import InvalidInputError
from matcher.round import CONFLICT_DECISIONS, plan_round
from service.models import DecisionRow, RoundRow, utcnow
from service.runtime import Runtime
from service.store import Store

Pair = tuple[str, str]


def propose(runtime: Runtime, *, per_need: int = 1, fair: bool = False, min_score: float = 0.0,
            created_by: str) -> RoundRow:
    """Plan a round over every open need and keep it; return the stored row."""
    with runtime.reading() as engine:
        decisions = {pair: row.decision for pair, row in runtime.store.latest_decisions().items()}
        proposal = plan_round(engine, decisions=decisions, per_need=per_need, fair=fair, min_score=min_score)
    doc = proposal.to_dict()
    with runtime.store.sessions.begin() as s:
        row = RoundRow(created_by=created_by, created_at=utcnow(), updated_at=utcnow(), params=doc["params"],
                       result=doc, state="proposed", accepted=[])
        s.add(row)
        s.flush()
    return row


def get_round(store: Store, round_id: int) -> RoundRow | None:
    """One stored round, or None."""
    with store.read() as s:
        return s.get(RoundRow, round_id)


def latest_rounds(store: Store, limit: int = 20) -> list[RoundRow]:
    """The most recent rounds, newest first."""
    with store.read() as s:
        return list(s.scalars(select(RoundRow).order_by(RoundRow.id.desc()).limit(limit)))


def round_document(row: RoundRow) -> dict[str, Any]:
    """The round as the CLI and the API show it: the solver's document plus id, state and who/when."""
    created = row.created_at.isoformat() if row.created_at is not None else None
    return {"round_id": row.id, **row.result, "state": row.state, "accepted": [list(p) for p in row.accepted],
            "created_by": row.created_by, "created_at": created}


def _pairs_of(row: RoundRow, key: str) -> list[Pair]:
    result = row.result
    if key == "assignments":
        return [(a["need_id"], a["profile_id"]) for a in result.get("assignments", [])]
    return [(nid, a["profile_id"]) for nid, alts in result.get("alternates", {}).items() for a in alts]


def accept(runtime: Runtime, round_id: int, pairs: Sequence[Sequence[str]] | None,
           decided_by: str) -> tuple[RoundRow, list[DecisionRow]] | None:
    """Record 'accept' for `pairs` of the round (default: all its assignments); None when no such round.

    A pair must be one of the round's assignments or alternates, its need still open and
    its latest decision not a rejection or block; all must fit the profiles' remaining
    capacities. Otherwise nothing is recorded (InvalidInputError naming field 'pairs').
    """
    row = get_round(runtime.store, round_id)
    if row is None:
        return None
    proposed = _pairs_of(row, "assignments")
    allowed = set(proposed) | set(_pairs_of(row, "alternates"))
    wanted: list[Pair] = proposed if pairs is None else []
    for item in pairs or ():
        if len(item) != 2 or not all(isinstance(x, str) for x in item):
            raise InvalidInputError(f"field 'pairs': each pair is [need_id, profile_id], got {list(item)!r}")
        wanted.append((item[0], item[1]))
    latest = runtime.store.latest_decisions()
    for nid, pid in wanted:
        if (nid, pid) not in allowed:
            raise InvalidInputError(f"field 'pairs': [{nid!r}, {pid!r}] is not proposed in round {round_id}")
        need = runtime.store.get_need_row(nid)
        if need is None or need.status != "open":
            raise InvalidInputError(f"field 'pairs': need {nid!r} is no longer open")
        last = latest.get((nid, pid))
        if last is not None and last.decision in CONFLICT_DECISIONS:
            raise InvalidInputError(f"field 'pairs': the latest decision on [{nid!r}, {pid!r}] is "
                                    f"{last.decision!r}; decide that pair on /needs/{nid}/decisions instead")
    done = sorted({tuple(p) for p in row.accepted} | set(wanted))  # type: ignore[arg-type]
    state = "accepted" if set(proposed) <= set(done) else "partially_accepted"

    def mark(s: Session) -> None:
        stored = s.get(RoundRow, round_id)
        if stored is not None:
            stored.accepted = [list(p) for p in done]
            stored.state = state
            stored.updated_at = utcnow()

    decisions = runtime.record_decisions(wanted, "accept", f"accepted in round {round_id}", decided_by, also=mark)
    refreshed = get_round(runtime.store, round_id)
    assert refreshed is not None
    return refreshed, decisions
