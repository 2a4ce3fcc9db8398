"""Propose one round of partner assignments: maximise total score under capacities.

Score first, assign second (as in openreview-matcher): the caller passes a relevance
matrix; this module encodes capacities, conflicts and ``min_score`` as a min-cost-flow
LP solved by HiGHS (:func:`scipy.optimize.linprog`). Network matrices are totally
unimodular, so a vertex optimum is integral. To scale, the LP is solved on candidate
pairs (each need's and profile's best, plus a maximum matching) and grown by column
generation until no left-out pair has a positive reduced cost, which proves optimality
on the whole matrix. The fair variant finds its threshold by binary search with max flow
(:func:`scipy.sparse.csgraph.maximum_flow`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from matcher.errors import InvalidInputError, PartnermatchError

__all__ = ["Assignment", "RoundResult", "propose_round"]

_TIE_EPS = 1e-6  # tie-break bonus per pair; far below score gaps that mean anything
_EXTRA_CANDIDATES = 8  # pairs per need / profile beyond its capacity in the first LP

BoolMatrix = NDArray[np.bool_]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Assignment:
    """One profile proposed as partner for one need, with its relevance score."""

    need_id: str
    profile_id: str
    score: float


@dataclass(frozen=True)
class RoundResult:
    """Outcome of :func:`propose_round`; lists and dicts are ordered by need id."""

    status: Literal["optimal", "infeasible", "empty"]
    assignments: list[Assignment]  # sorted by (need_id, -score, profile_id)
    alternates: dict[str, list[Assignment]]  # need -> next best eligible, best first
    unassigned: list[dict[str, Any]]  # needs with fewer than per_need partners
    displaced: dict[str, list[dict[str, Any]]]  # need -> its top profile, not given
    objective: float
    min_assigned_score: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready dicts, lists, strings and floats."""
        return {
            "status": self.status,
            "assignments": [asdict(a) for a in self.assignments],
            "alternates": {
                need: [{"profile_id": a.profile_id, "score": a.score} for a in alts]
                for need, alts in self.alternates.items()
            },
            "unassigned": [dict(u) for u in self.unassigned],
            "displaced": {k: [dict(d) for d in v] for k, v in self.displaced.items()},
            "objective": self.objective,
            "min_assigned_score": self.min_assigned_score,
        }


@dataclass(frozen=True)
class _Round:
    """Validated inputs of one round; matrices are (n_needs, n_profiles)."""

    needs: list[str]
    profiles: list[str]
    scores: FloatArray
    caps: IntArray
    conflict: BoolMatrix
    per_need: int
    min_score: float
    n_alternates: int


def propose_round(
    need_ids: Sequence[str],
    profile_ids: Sequence[str],
    scores: NDArray[np.float64],
    capacities: Sequence[int],
    *,
    per_need: int = 1,
    min_score: float = 0.0,
    conflicts: Iterable[tuple[str, str]] = (),
    fair: bool = False,
    n_alternates: int = 3,
) -> RoundResult:
    """Assign profiles to needs maximising total score; scores: (n_needs, n_profiles).

    Each profile takes at most its capacity and each need at most ``per_need`` distinct
    partners; conflicting pairs and pairs scoring below ``min_score`` are never used and
    no need is forced to take a pair. With ``fair=True`` the smallest assigned score is
    maximised first (while serving as many needs as can be served at all), then the
    total score. Ties are broken towards lower need and profile ids.
    """
    rnd = _validate(need_ids, profile_ids, scores, capacities, per_need, min_score, conflicts, n_alternates)
    s, caps = rnd.scores, rnd.caps
    if 0 in s.shape or not caps.any():
        why = "no profiles with remaining capacity"
        unassigned = [{"need_id": nid, "reason": why} for nid in rnd.needs]
        return RoundResult("empty", [], {nid: [] for nid in rnd.needs}, unassigned, {}, 0.0, None)
    eligible = ~rnd.conflict & (s >= min_score) & (caps > 0)[None, :]
    threshold: float | None = None
    assigned = np.zeros_like(eligible)
    if eligible.any():
        w = s + _tie_bonus(s)
        if fair:
            threshold, assigned = _fair_assign(s, w, eligible, caps, per_need)
        else:
            assigned = _solve(w, eligible, caps, per_need)
    return _build_result(rnd, eligible, assigned, threshold)


def _validate(
    need_ids: Sequence[str],
    profile_ids: Sequence[str],
    scores: NDArray[np.float64],
    capacities: Sequence[int],
    per_need: int,
    min_score: float,
    conflicts: Iterable[tuple[str, str]],
    n_alternates: int,
) -> _Round:
    """Check every argument; raise InvalidInputError naming the bad value."""
    needs, profiles = list(need_ids), list(profile_ids)
    for name, ids in (("need_ids", needs), ("profile_ids", profiles)):
        if not all(isinstance(x, str) for x in ids):
            raise InvalidInputError(f"{name} must be strings; got {[x for x in ids if not isinstance(x, str)][:3]}")
        dupes = sorted(str(k) for k, c in Counter(ids).items() if c > 1)
        if dupes:
            raise InvalidInputError(f"{name} must be unique; repeated: {dupes}")
    shape = (len(needs), len(profiles))
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"scores must be a numeric matrix: {exc}") from exc
    if s.shape != shape and (s.size != 0 or 0 not in shape):
        raise InvalidInputError(f"scores has shape {s.shape}; expected (n_needs, n_profiles) = {shape}")
    s = s.reshape(shape)
    if not np.isfinite(s).all():
        i, j = np.argwhere(~np.isfinite(s))[0]
        raise InvalidInputError(f"scores[{needs[i]!r}, {profiles[j]!r}] is {s[i, j]}; it must be finite")
    if len(capacities) != len(profiles):
        raise InvalidInputError(f"capacities has {len(capacities)} entries; expected {len(profiles)}")
    for pid, c in zip(profiles, capacities, strict=True):
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or c < 0:
            raise InvalidInputError(f"capacity of {pid!r} is {c!r}; must be an int >= 0")
    for name, value, low in (("per_need", per_need, 1), ("n_alternates", n_alternates, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{name} is {value!r}; it must be an int >= {low}")
    if not isinstance(min_score, int | float | np.floating) or not math.isfinite(min_score):
        raise InvalidInputError(f"min_score is {min_score!r}; it must be finite")
    need_index = {nid: i for i, nid in enumerate(needs)}
    profile_index = {pid: j for j, pid in enumerate(profiles)}
    conflict = np.zeros(shape, dtype=np.bool_)
    for pair in conflicts:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise InvalidInputError(f"conflict {pair!r} is not a (need_id, profile_id)")
        nid, pid = pair
        if nid not in need_index:
            raise InvalidInputError(f"conflict names unknown need_id {nid!r}")
        if pid not in profile_index:
            raise InvalidInputError(f"conflict names unknown profile_id {pid!r}")
        conflict[need_index[nid], profile_index[pid]] = True
    caps = np.asarray(capacities, dtype=np.int64).reshape(len(profiles))
    # work in id order, so the solver sees the same problem whatever the input order
    ni = sorted(range(len(needs)), key=needs.__getitem__)
    pj = sorted(range(len(profiles)), key=profiles.__getitem__)
    grid = np.ix_(ni, pj)
    needs, profiles = [needs[i] for i in ni], [profiles[j] for j in pj]
    return _Round(needs, profiles, s[grid], caps[pj], conflict[grid], per_need, float(min_score), n_alternates)


def _tie_bonus(s: FloatArray) -> FloatArray:
    """(n, m) tiny bonus for id-sorted rows and columns: any pair over none, low ids first."""
    n, m = s.shape
    eps = _TIE_EPS * max(1.0, float(np.abs(s).max()))
    r_need = np.arange(n, 0, -1, dtype=np.float64)[:, None] / n  # first id -> 1.0
    r_prof = np.arange(m, 0, -1, dtype=np.float64)[None, :] / m
    # the product term is supermodular, so equal scores pair low ids with low ids
    bonus: FloatArray = eps * (1.0 + (r_need + r_prof + r_need * r_prof) / 3.0)
    return bonus


def _solve(
    w: FloatArray,
    eligible: BoolMatrix,
    caps: IntArray,
    per_need: int,
    min_served: int = 0,
    seed: BoolMatrix | None = None,
) -> BoolMatrix:
    """Maximise the sum of w over chosen eligible pairs; returns the (n, m) choice."""
    n, m = w.shape
    order = np.where(eligible, -w, np.inf)  # ascending = best first
    cand = np.zeros_like(eligible)
    rows, k = np.arange(n)[:, None], min(m, per_need + _EXTRA_CANDIDATES)
    cand[rows, np.argpartition(order, k - 1, axis=1)[:, :k]] = True
    k_prof = min(n, int(caps.max()) + _EXTRA_CANDIDATES)
    cand[np.argpartition(order, k_prof - 1, axis=0)[:k_prof, :], np.arange(m)[None, :]] = True
    # a maximum b-matching in the first set keeps it from starving when scores tie
    cand = (cand & eligible) | _max_served(eligible, caps, per_need)[1]
    if seed is not None:
        cand |= seed
    # a pair must gain more than any tie-break bonus could; smaller gains only reorder ties
    tol = 2 * _TIE_EPS * max(1.0, float(np.abs(w).max()))
    while True:  # column generation: add each need's k pairs that most improve the LP
        chosen, need_dual, prof_dual = _restricted_lp(w, cand, caps, per_need, min_served)
        gain = np.where(~cand & eligible, w - need_dual[:, None] - prof_dual, -np.inf)
        if not (gain > tol).any():
            return chosen
        best = np.argpartition(-gain, k - 1, axis=1)[:, :k]
        cand[rows, best] |= gain[rows, best] > tol


def _restricted_lp(
    w: FloatArray, cand: BoolMatrix, caps: IntArray, per_need: int, min_served: int
) -> tuple[BoolMatrix, FloatArray, FloatArray]:
    """Solve the LP on candidate pairs; return chosen pairs and need/profile prices.

    A min-cost flow: each need's partners are its "first" flow y (<= 1) plus "extra"
    flow z (<= per_need - 1), so ``min_served`` > 0 can ask for sum(y) >= min_served,
    i.e. that many needs served. The flow matrix is totally unimodular, so the vertex
    optimum is integral.
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    n, m = w.shape
    ii, jj = np.nonzero(cand)
    k = ii.size
    flow = sp.csr_matrix(
        (np.r_[np.ones(k), -np.ones(2 * n)], (np.r_[ii, np.arange(n), np.arange(n)], np.arange(k + 2 * n))),
        shape=(n, k + 2 * n),
    )  # per need: sum of its pairs - y - z == 0
    load = sp.csr_matrix((np.ones(k), (jj, np.arange(k))), shape=(m, k + 2 * n))
    b_ub = caps.astype(np.float64)
    if min_served:  # -sum(y) <= -min_served
        served = sp.csr_matrix((-np.ones(n), (np.zeros(n, dtype=int), k + np.arange(n))), shape=(1, k + 2 * n))
        load, b_ub = sp.vstack([load, served]).tocsr(), np.r_[b_ub, -float(min_served)]
    upper = np.r_[np.ones(k + n), np.full(n, per_need - 1.0)]
    cost = np.r_[-w[ii, jj], np.zeros(2 * n)]
    lp = {"A_ub": load, "b_ub": b_ub, "A_eq": flow, "b_eq": np.zeros(n), "bounds": np.c_[np.zeros_like(upper), upper]}
    # interior point (with crossover to a vertex) is far faster than simplex on big rounds with tied scores
    res = linprog(cost, **lp, method="highs-ipm" if k > 5000 else "highs-ds")
    if res.status == 0 and np.abs(res.x - np.round(res.x)).max() > 1e-6:  # crossover gave no vertex
        res = linprog(cost, **lp, method="highs-ds")
    if res.status != 0:
        raise PartnermatchError(f"HiGHS could not solve the round: {res.message}")
    x = res.x[:k] > 0.5  # a vertex optimum is 0 or 1
    chosen = np.zeros_like(cand)
    chosen[ii[x], jj[x]] = True
    need_price = -np.asarray(res.eqlin.marginals, dtype=np.float64)
    profile_price = -np.asarray(res.ineqlin.marginals, dtype=np.float64)[:m]
    return chosen, need_price, profile_price


def _max_served(allowed: BoolMatrix, caps: IntArray, need_cap: int = 1) -> tuple[int, BoolMatrix]:
    """Most pairs that allowed pairs can carry with need_cap per need (max flow), and one way.

    With ``need_cap=1`` this is the number of needs that can be served at all.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import maximum_flow

    n, m = allowed.shape
    ii, jj = np.nonzero(allowed)
    src, sink = n + m, n + m + 1
    rows = np.concatenate([np.full(n, src), ii, n + np.arange(m)])
    cols = np.concatenate([np.arange(n), n + jj, np.full(m, sink)])
    cap = np.concatenate([np.full(n, need_cap), np.ones(ii.size), caps]).astype(np.int32)
    graph = sp.csr_matrix((cap, (rows, cols)), shape=(n + m + 2, n + m + 2))
    res = maximum_flow(graph, src, sink, method="dinic")
    flow = res.flow.tocoo()
    used = (flow.row < n) & (flow.col >= n) & (flow.col < n + m) & (flow.data > 0)
    way = np.zeros_like(allowed)
    way[flow.row[used], flow.col[used] - n] = True
    return int(res.flow_value), way


def _fair_assign(
    s: FloatArray, w: FloatArray, eligible: BoolMatrix, caps: IntArray, per_need: int
) -> tuple[float, BoolMatrix]:
    """Highest threshold that keeps every servable need servable; best total above it."""
    values = np.unique(s[eligible])
    target, _ = _max_served(eligible, caps)
    lo, hi = 0, values.size - 1  # invariant: pairs >= values[lo] serve target needs
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _max_served(eligible & (s >= values[mid]), caps)[0] == target:
            lo = mid
        else:
            hi = mid - 1
    allowed = eligible & (s >= values[lo])
    _, way = _max_served(allowed, caps)  # seeds the LP so serving target is feasible
    return float(values[lo]), _solve(w, allowed, caps, per_need, target, way)


def _build_result(rnd: _Round, eligible: BoolMatrix, assigned: BoolMatrix, threshold: float | None) -> RoundResult:
    """Turn chosen pairs into sorted assignments, alternates and plain-word reasons."""
    s, caps, needs, profiles = rnd.scores, rnd.caps, rnd.needs, rnd.profiles
    full = assigned.sum(axis=0) >= caps
    assignments: list[Assignment] = []
    alternates: dict[str, list[Assignment]] = {}
    unassigned: list[dict[str, Any]] = []
    displaced: dict[str, list[dict[str, Any]]] = {}
    for i in range(len(needs)):  # rows and columns are in id order
        nid = needs[i]
        options = np.flatnonzero(eligible[i])
        ranked = options[np.argsort(-s[i, options], kind="stable")]  # ties: by id
        mine = assigned[i, ranked]
        assignments += [Assignment(nid, profiles[j], float(s[i, j])) for j in ranked[mine]]
        alts = ranked[~mine][: rnd.n_alternates]
        alternates[nid] = [Assignment(nid, profiles[j], float(s[i, j])) for j in alts]
        if ranked.size and not mine[0]:
            top = int(ranked[0])
            if full[top]:
                takers = sorted(needs[t] for t in np.nonzero(assigned[:, top])[0])
                why = "capacity used by " + ", ".join(takers)
            elif threshold is not None and s[i, top] < threshold:
                why = f"below the fairness threshold {threshold:.2f}"
            else:
                why = "a higher total score was reached without this pair"
            entry = {"profile_id": profiles[top], "score": float(s[i, top])}
            displaced[nid] = [{**entry, "reason": why}]
        got = int(mine.sum())
        if got < rnd.per_need:
            rest = ranked[~mine]
            floor = f"above min_score {rnd.min_score:.2f}"
            if ranked.size == 0:
                why = f"no eligible partner {floor}"
                if not ((caps > 0) & ~rnd.conflict[i]).any():
                    why = "only conflicting partners"
            elif rest.size == 0:
                why = f"only {ranked.size} eligible partner(s) {floor}"
            elif full[rest].all():
                why = "all eligible partners at capacity"
            elif threshold is not None and (s[i, rest[~full[rest]]] < threshold).all():
                why = f"open partners score below fairness threshold {threshold:.2f}"
            else:
                why = "partners with capacity left would lower the total score"
            prefix = f"{got} of {rnd.per_need} partners: " if got else ""
            unassigned.append({"need_id": nid, "reason": prefix + why})
    status: Literal["optimal", "infeasible"] = "optimal" if eligible.any() else "infeasible"
    scores = [a.score for a in assignments]
    low = min(scores) if scores else None
    lists = (assignments, alternates, unassigned, displaced)
    return RoundResult(status, *lists, math.fsum(scores), low)
