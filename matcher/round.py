"""A matching round over the engine: score every open need against every profile, then assign.

Score first, assign second: `score_matrix` asks the engine (hand-set weights or a learned
scorer, exactly as `match_need` ranks) for each need's candidates; `plan_round` adds the
conflicts (staff "do not pair" blocks and rejections of that pair, from the latest decision
on each pair) and remaining capacities, and hands the matrix to `propose_round`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from matcher.assign import Assignment, RoundResult, propose_round
from matcher.errors import InvalidInputError

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

__all__ = ["CONFLICT_DECISIONS", "RoundProposal", "plan_round", "score_matrix"]

CONFLICT_DECISIONS = frozenset({"reject", "block"})  # a latest decision that keeps a pair apart
CANDIDATES_PER_NEED = 200  # pairs scored per need; beyond them a pair is not eligible


@dataclass(frozen=True)
class RoundProposal:
    """A proposed round: the solver's result plus what was left out of it and why."""

    result: RoundResult
    skipped: list[dict[str, Any]] = field(default_factory=list)  # needs already served by accepted pairs
    conflicts: int = 0
    scorer: str = "weights"
    params: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The round as a JSON-ready document (the solver's keys plus skipped, conflicts, scorer, params)."""
        return {**self.result.to_dict(), "skipped": [dict(s) for s in self.skipped], "conflicts": self.conflicts,
                "scorer": self.scorer, "params": dict(self.params), "counts": dict(self.counts)}


def score_matrix(engine: MatchEngine, need_ids: Sequence[str], profile_ids: Sequence[str],
                 candidates: int = CANDIDATES_PER_NEED, unscored: float = -1.0) -> NDArray[np.float64]:
    """Scores of needs x profiles, shape (n_needs, n_profiles), as the engine ranks them.

    Each need's best `candidates` profiles get their ranking score; the other pairs get
    `unscored` (the caller keeps it below `min_score`, so they are never eligible).
    """
    column = {pid: j for j, pid in enumerate(profile_ids)}
    scores = np.full((len(need_ids), len(profile_ids)), unscored, dtype=np.float64)
    top = max(1, min(candidates, len(profile_ids)))
    for i, nid in enumerate(need_ids):
        for item in engine.match_need(nid, top=top, explain=False):
            j = column.get(item["profile_id"])
            if j is not None:
                scores[i, j] = item["score"]
    return scores


def plan_round(engine: MatchEngine, *, decisions: Mapping[tuple[str, str], str] | None = None,
               per_need: int = 1, fair: bool = False, min_score: float = 0.0, n_alternates: int = 3,
               candidates: int = CANDIDATES_PER_NEED) -> RoundProposal:
    """Propose partners for every open need the engine holds, under remaining capacities.

    `decisions` maps (need id, profile id) to the latest staff decision on that pair:
    'reject' and 'block' keep the pair apart, 'accept' means it is already made (never
    proposed again, and it counts towards the need's `per_need` partners; needs that have
    them all are skipped).
    """
    if isinstance(min_score, bool) or not isinstance(min_score, int | float) or not math.isfinite(min_score):
        raise InvalidInputError(f"field 'min_score': must be a finite number, got {min_score!r}")
    decisions = decisions or {}
    with engine.scoring(engine.scorer):  # hold the engine steady (and its scorer) for the whole round
        profiles = engine.ids("profile")
        capacities = []
        for pid in profiles:
            analysed = engine.get("profile", pid)
            remaining = engine.remaining_capacity(analysed) if analysed is not None else None
            capacities.append(remaining or 0)
        accepted: dict[str, set[str]] = {}
        for (nid, pid), decision in decisions.items():
            if decision == "accept":
                accepted.setdefault(nid, set()).add(pid)
        needs, skipped = [], []
        for nid in engine.ids("need"):
            have = len(accepted.get(nid, ()))
            if have >= per_need:
                skipped.append({"need_id": nid, "reason": f"already has {have} accepted partner(s)"})
            else:
                needs.append(nid)
        unscored = min_score - 1.0
        scores = score_matrix(engine, needs, profiles, candidates, unscored)
        scorer = engine.scorer_name
    need_set, profile_set = set(needs), set(profiles)
    in_round = sorted((pair, d) for pair, d in decisions.items() if pair[0] in need_set and pair[1] in profile_set)
    conflicts = [pair for pair, d in in_round if d in CONFLICT_DECISIONS]
    already = [pair for pair, d in in_round if d == "accept"]
    result = propose_round(needs, profiles, scores, capacities, per_need=per_need, min_score=min_score,
                           conflicts=conflicts + already, fair=fair, n_alternates=n_alternates)
    result = _fit_to_demand(result, {nid: len(accepted.get(nid, ())) for nid in needs}, per_need, n_alternates)
    params = {"per_need": per_need, "fair": fair, "min_score": min_score, "candidates": candidates}
    counts = {"needs": len(needs), "profiles": len(profiles), "profiles_with_capacity": sum(c > 0 for c in capacities)}
    return RoundProposal(result, skipped, len(conflicts), scorer, params, counts)


def _fit_to_demand(result: RoundResult, accepted: Mapping[str, int], per_need: int, n_alternates: int) -> RoundResult:
    """Keep at most `per_need - accepted[need]` proposals per need, and say so in `unassigned`.

    The solver takes one `per_need` for all needs; a need that already has accepted
    partners keeps only its best proposals, and the rest lead its alternates.
    """
    if not any(accepted.values()):
        return result
    kept: list[Assignment] = []
    dropped: dict[str, list[Assignment]] = {}
    got: dict[str, int] = {}
    for a in result.assignments:  # sorted by (need_id, -score, profile_id)
        if got.get(a.need_id, 0) < per_need - accepted.get(a.need_id, 0):
            kept.append(a)
            got[a.need_id] = got.get(a.need_id, 0) + 1
        else:
            dropped.setdefault(a.need_id, []).append(a)
    alternates = {nid: (dropped.get(nid, []) + alts)[:n_alternates] for nid, alts in result.alternates.items()}
    unassigned = []
    for entry in result.unassigned:
        nid, have = entry["need_id"], accepted.get(entry["need_id"], 0)
        total = got.get(nid, 0) + have
        if have and total >= per_need:
            continue
        if have:
            why = str(entry["reason"]).split(": ", 1)[-1]
            entry = {**entry, "reason": f"{total} of {per_need} partners ({have} accepted before): {why}"}
        unassigned.append(entry)
    scores = [a.score for a in kept]
    return replace(result, assignments=kept, alternates=alternates, unassigned=unassigned,
                   objective=math.fsum(scores), min_assigned_score=min(scores) if scores else None)
