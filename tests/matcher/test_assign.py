"""Tests for matcher.assign: constraints, optimality, fairness, explanations, validation."""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix

from matcher import assign
from matcher.assign import Assignment, RoundResult, propose_round
from matcher.errors import InvalidInputError

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_assign.py"


def load_bench() -> ModuleType:
    """Import bench/bench_assign.py by path (bench is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_assign", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def random_round(seed: int, n: int, m: int, max_cap: int = 3) -> dict[str, Any]:
    """A random round with conflicts; keyword arguments for propose_round."""
    rng = np.random.default_rng(seed)
    need_ids = [f"n{i:02d}" for i in rng.permutation(n)]  # ids not in index order
    profile_ids = [f"p{j:02d}" for j in rng.permutation(m)]
    conflicts = [(need_ids[i], profile_ids[j]) for i, j in zip(*np.nonzero(rng.random((n, m)) < 0.1), strict=True)]
    return {
        "need_ids": need_ids,
        "profile_ids": profile_ids,
        "scores": np.round(rng.random((n, m)), 3),
        "capacities": [int(c) for c in rng.integers(0, max_cap + 1, m)],
        "per_need": int(rng.integers(1, 3)),
        "min_score": float(rng.choice([0.0, 0.2, 0.4])),
        "conflicts": conflicts,
    }


def check_round(result: RoundResult, kw: dict[str, Any]) -> None:
    """Assert every constraint of the round holds for the result."""
    need_index = {nid: i for i, nid in enumerate(kw["need_ids"])}
    profile_index = {pid: j for j, pid in enumerate(kw["profile_ids"])}
    pairs = [(a.need_id, a.profile_id) for a in result.assignments]
    assert len(pairs) == len(set(pairs)), "a pair was assigned twice"
    per_profile = Counter(p for _, p in pairs)
    for pid, used in per_profile.items():
        assert used <= kw["capacities"][profile_index[pid]], f"{pid} over capacity"
    per_need = Counter(n for n, _ in pairs)
    assert max(per_need.values(), default=0) <= kw["per_need"]
    conflicts = set(kw.get("conflicts", ()))
    for a in result.assignments:
        assert (a.need_id, a.profile_id) not in conflicts
        assert a.score >= kw.get("min_score", 0.0)
        assert a.score == kw["scores"][need_index[a.need_id], profile_index[a.profile_id]]
    assert result.assignments == sorted(result.assignments, key=lambda a: (a.need_id, -a.score, a.profile_id))
    short = {nid for nid in kw["need_ids"] if per_need[nid] < kw["per_need"]}
    assert {u["need_id"] for u in result.unassigned} == short
    assert math.isclose(result.objective, sum(a.score for a in result.assignments))


def eligible_pairs(kw: dict[str, Any]) -> list[tuple[int, int]]:
    """Index pairs that may be assigned: not conflicting, >= min_score, capacity > 0."""
    conflicts = set(kw.get("conflicts", ()))
    return [
        (i, j)
        for i, nid in enumerate(kw["need_ids"])
        for j, pid in enumerate(kw["profile_ids"])
        if (nid, pid) not in conflicts and kw["scores"][i, j] >= kw.get("min_score", 0.0) and kw["capacities"][j] > 0
    ]


def feasible_choices(kw: dict[str, Any]) -> list[list[tuple[int, int]]]:
    """Every subset of eligible pairs that respects per_need and capacities (small rounds only)."""
    pairs, out = eligible_pairs(kw), []
    for mask in itertools.product((False, True), repeat=len(pairs)):
        chosen = [p for p, take in zip(pairs, mask, strict=True) if take]
        needs, profs = Counter(i for i, _ in chosen), Counter(j for _, j in chosen)
        if max(needs.values(), default=0) > kw["per_need"]:
            continue
        if all(used <= kw["capacities"][j] for j, used in profs.items()):
            out.append(chosen)
    return out


def exhaustive_optimum(kw: dict[str, Any]) -> float:
    """Best total score over every feasible subset of eligible pairs."""
    return max(sum(kw["scores"][i, j] for i, j in chosen) for chosen in feasible_choices(kw))


def exhaustive_fair_optimum(kw: dict[str, Any]) -> tuple[int, float | None, float]:
    """(needs served, best minimum score, best total at that minimum) by enumeration."""
    choices = feasible_choices(kw)
    served = max(len({i for i, _ in c}) for c in choices)
    best = [c for c in choices if len({i for i, _ in c}) == served]
    if not served:
        return 0, None, 0.0
    low = max(min(kw["scores"][i, j] for i, j in c) for c in best)
    keep = [c for c in best if min(kw["scores"][i, j] for i, j in c) >= low]
    return served, low, max(sum(kw["scores"][i, j] for i, j in c) for c in keep)


def milp_optimum(
    kw: dict[str, Any], above: float = -np.inf, min_served: int = 0, maximise: str = "score"
) -> float | None:
    """Independent integer program over eligible pairs scoring > ``above``; None if infeasible.

    Variables are one x per pair and one y per need (y <= 1, y <= the need's pairs), so
    ``min_served`` asks for that many needs with a partner; ``maximise`` is "score" or "served".
    """
    pairs = [(i, j) for i, j in eligible_pairs(kw) if kw["scores"][i, j] > above]
    n, m, k = len(kw["need_ids"]), len(kw["profile_ids"]), len(pairs)
    rows = [i for i, _ in pairs] + [n + j for _, j in pairs] + [n + m + i for i, _ in pairs]
    cols = list(range(k)) * 3 + [k + i for i in range(n)] + [k + i for i in range(n)]
    vals = [1.0] * 2 * k + [-1.0] * k + [1.0] * n + [1.0] * n
    rows += [n + m + i for i in range(n)] + [n + m + n] * n
    a = csr_matrix((vals, (rows, cols)), shape=(n + m + n + 1, k + n))
    upper = np.array([kw["per_need"]] * n + list(kw["capacities"]) + [0] * n + [np.inf], dtype=float)
    lower = np.array([-np.inf] * (n + m + n) + [min_served], dtype=float)
    if maximise == "score":
        cost = np.r_[-np.array([kw["scores"][i, j] for i, j in pairs]), np.zeros(n)]
    else:
        cost = np.r_[np.zeros(k), -np.ones(n)]
    res = milp(cost, constraints=LinearConstraint(a, lower, upper), integrality=np.ones(k + n), bounds=Bounds(0, 1))
    return None if res.status != 0 else float(-res.fun)


def three_by_three() -> dict[str, Any]:
    """Greedy takes a-x (0.9) and strands b; the optimum gives x to b."""
    return {
        "need_ids": ["a", "b", "c"],
        "profile_ids": ["x", "y", "z"],
        "scores": np.array([[0.9, 0.8, 0.1], [0.85, 0.2, 0.1], [0.1, 0.3, 0.7]]),
        "capacities": [1, 1, 1],
    }


def test_three_by_three_round_finds_known_optimum() -> None:
    result = propose_round(**three_by_three())
    assert result.status == "optimal"
    assert result.assignments == [Assignment("a", "y", 0.8), Assignment("b", "x", 0.85), Assignment("c", "z", 0.7)]
    assert result.objective == pytest.approx(2.35)
    assert result.min_assigned_score == 0.7
    assert result.unassigned == []


def test_random_rounds_satisfy_every_constraint() -> None:
    for seed in range(40):
        kw = random_round(seed, n=int(5 + seed % 7), m=int(3 + seed % 5))
        for fair in (False, True):
            check_round(propose_round(**kw, fair=fair), kw)


def test_optimum_equals_exhaustive_enumeration_on_small_rounds() -> None:
    for seed in range(30):
        kw = random_round(1000 + seed, n=4, m=3, max_cap=2)
        result = propose_round(**kw)
        assert result.objective == pytest.approx(exhaustive_optimum(kw), abs=1e-4), seed


def test_optimum_equals_milp_when_candidate_pruning_is_active() -> None:
    # 60 needs all preferring the same few profiles: the first candidate set is too
    # small, so column generation must add pairs to reach the optimum.
    rng = np.random.default_rng(7)
    popular = rng.random(50) ** 4
    kw = random_round(7, n=60, m=50)
    kw["scores"] = np.round(0.6 * popular[None, :] + 0.4 * rng.random((60, 50)), 4)
    kw["per_need"], kw["min_score"] = 2, 0.1
    result = propose_round(**kw)
    check_round(result, kw)
    assert result.objective == pytest.approx(milp_optimum(kw), abs=1e-3)


def test_column_generation_reaches_milp_optimum_from_starved_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    # No extra candidates: the first LP sees little more than a maximum matching, so
    # the pricing step has to find the missing pairs, for plain and fair rounds.
    monkeypatch.setattr(assign, "_EXTRA_CANDIDATES", 0)
    for seed in range(8):
        rng = np.random.default_rng(seed)
        kw = random_round(seed, n=40, m=30)
        kw["scores"] = np.round(0.6 * rng.random(30)[None, :] ** 4 + 0.4 * rng.random((40, 30)), 4)
        assert propose_round(**kw).objective == pytest.approx(milp_optimum(kw), abs=1e-3), seed
        fair = propose_round(**kw, fair=True)
        served, low = len({a.need_id for a in fair.assignments}), fair.min_assigned_score
        assert low is not None and served == milp_optimum(kw, maximise="served"), seed
        assert milp_optimum(kw, above=low, min_served=served) is None, seed
        best = milp_optimum(kw, above=low - 1e-9, min_served=served)
        assert fair.objective == pytest.approx(best, abs=1e-3), seed


def test_objective_beats_greedy_on_generated_round_of_200_by_150() -> None:
    bench = load_bench()
    needs, profiles, scores, caps = bench.generate_round(200, 150, seed=3)
    greedy = bench.greedy_round(scores, caps)
    result = propose_round(needs, profiles, scores, caps)
    kw = {"need_ids": needs, "profile_ids": profiles, "scores": scores, "capacities": caps, "per_need": 1}
    check_round(result, kw)
    assert result.objective >= sum(scores[i, j] for i, j in greedy) - 1e-6


def test_fair_round_strictly_raises_minimum_assigned_score() -> None:
    # Best total: a-x (1.0) + b-y (0.2) = 1.2; fair: a-y (0.55) + b-x (0.6) = 1.15.
    kw = {"need_ids": ["a", "b"], "profile_ids": ["x", "y"], "scores": np.array([[1.0, 0.55], [0.6, 0.2]])}
    plain = propose_round(**kw, capacities=[1, 1])
    fair = propose_round(**kw, capacities=[1, 1], fair=True)
    assert [(a.need_id, a.profile_id) for a in plain.assignments] == [("a", "x"), ("b", "y")]
    assert [(a.need_id, a.profile_id) for a in fair.assignments] == [("a", "y"), ("b", "x")]
    assert plain.min_assigned_score == 0.2
    assert fair.min_assigned_score == 0.55
    assert fair.objective == pytest.approx(1.15) and fair.objective < plain.objective


def test_fair_round_equals_exhaustive_max_min_then_total_on_small_rounds() -> None:
    for seed in range(30):
        kw = random_round(2000 + seed, n=4, m=3, max_cap=2)
        served, low, total = exhaustive_fair_optimum(kw)
        result = propose_round(**kw, fair=True)
        assert len({a.need_id for a in result.assignments}) == served, seed
        assert result.min_assigned_score == low, seed
        assert result.objective == pytest.approx(total, abs=1e-4), seed


def test_fair_round_equals_milp_when_candidate_pruning_is_active() -> None:
    rng = np.random.default_rng(8)
    kw = random_round(8, n=60, m=50)
    kw["scores"] = np.round(0.6 * rng.random(50)[None, :] ** 4 + 0.4 * rng.random((60, 50)), 4)
    kw["per_need"], kw["min_score"] = 2, 0.1
    result = propose_round(**kw, fair=True)
    check_round(result, kw)
    served, low = len({a.need_id for a in result.assignments}), result.min_assigned_score
    assert low is not None
    assert served == milp_optimum(kw, maximise="served")
    assert milp_optimum(kw, above=low, min_served=served) is None  # no higher minimum serves as many
    assert result.objective == pytest.approx(milp_optimum(kw, above=low - 1e-9, min_served=served), abs=1e-3)


def test_fair_round_serves_as_many_needs_and_keeps_minimum_on_random_rounds() -> None:
    for seed in range(25):
        kw = random_round(500 + seed, n=8, m=5)
        plain, fair = propose_round(**kw), propose_round(**kw, fair=True)
        served_plain = {a.need_id for a in plain.assignments}
        served_fair = {a.need_id for a in fair.assignments}
        assert len(served_fair) >= len(served_plain), seed
        if len(served_fair) == len(served_plain) and plain.assignments:
            assert fair.min_assigned_score is not None and plain.min_assigned_score is not None
            assert fair.min_assigned_score >= plain.min_assigned_score - 1e-12, seed


def test_alternates_are_next_best_eligible_profiles_best_first() -> None:
    scores = np.array([[0.9, 0.7, 0.7, 0.5, 0.3, 0.95]])
    result = propose_round(
        ["n1"],
        ["p1", "p3", "p2", "p4", "p5", "p6"],
        scores,
        [1] * 6,
        min_score=0.4,
        conflicts=[("n1", "p6")],
        n_alternates=3,
    )
    assert [a.profile_id for a in result.assignments] == ["p1"]
    # p2 and p3 tie at 0.7: lower id first; p6 conflicts and p5 is below min_score
    assert [(a.profile_id, a.score) for a in result.alternates["n1"]] == [("p2", 0.7), ("p3", 0.7), ("p4", 0.5)]


def test_displaced_names_the_needs_that_used_the_top_profile() -> None:
    kw = three_by_three()
    result = propose_round(**kw)
    assert result.displaced == {"a": [{"profile_id": "x", "score": 0.9, "reason": "capacity used by b"}]}
    assert [a.profile_id for a in result.alternates["a"]] == ["x", "z"]
    shared = propose_round(["n1", "n2", "n3"], ["hub", "spoke"], np.array([[0.9, 0.1], [0.8, 0.0], [0.7, 0.3]]), [2, 1])
    assert shared.displaced["n3"] == [{"profile_id": "hub", "score": 0.7, "reason": "capacity used by n1, n2"}]


def test_unassigned_reasons_give_advice_in_plain_words() -> None:
    result = propose_round(
        ["low", "conflicted", "crowded", "ok"],
        ["x", "y"],
        np.array([[0.3, 0.2], [0.9, 0.9], [0.5, 0.0], [0.9, 0.1]]),
        [1, 1],
        min_score=0.4,
        conflicts=[("conflicted", "x"), ("conflicted", "y")],
    )
    reasons = {u["need_id"]: u["reason"] for u in result.unassigned}
    assert reasons == {
        "low": "no eligible partner above min_score 0.40",
        "conflicted": "only conflicting partners",
        "crowded": "all eligible partners at capacity",
    }
    assert result.status == "optimal"


def test_round_where_no_need_can_be_served_is_infeasible_with_advice() -> None:
    result = propose_round(["a", "b"], ["x"], np.array([[0.1], [0.9]]), [2], min_score=0.5, conflicts=[("b", "x")])
    assert result.status == "infeasible"
    assert result.assignments == [] and result.min_assigned_score is None
    assert result.unassigned == [
        {"need_id": "a", "reason": "no eligible partner above min_score 0.50"},
        {"need_id": "b", "reason": "only conflicting partners"},
    ]


def test_need_wanting_two_partners_reports_how_many_it_got() -> None:
    result = propose_round(["a"], ["x", "y"], np.array([[0.9, 0.1]]), [1, 1], per_need=2, min_score=0.5)
    assert [a.profile_id for a in result.assignments] == ["x"]
    assert result.unassigned == [
        {"need_id": "a", "reason": "1 of 2 partners: only 1 eligible partner(s) above min_score 0.50"}
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scores": np.zeros((2, 3))}, "shape"),
        ({"capacities": [1, -1]}, "capacity of 'y' is -1"),
        ({"capacities": [1, 1.5]}, "capacity of 'y' is 1.5"),
        ({"capacities": [1]}, "capacities has 1 entries"),
        ({"per_need": 0}, "per_need is 0"),
        ({"n_alternates": -1}, "n_alternates is -1"),
        ({"min_score": float("nan")}, "min_score is nan"),
        ({"conflicts": [("ghost", "x")]}, "unknown need_id 'ghost'"),
        ({"conflicts": [("a", "nobody")]}, "unknown profile_id 'nobody'"),
        ({"need_ids": ["a", "a"]}, "need_ids must be unique"),
        ({"scores": np.array([[0.1, np.nan], [0.2, 0.3]])}, "scores['a', 'y'] is nan"),
    ],
)
def test_invalid_input_is_refused_naming_the_bad_value(change: dict[str, Any], message: str) -> None:
    kw: dict[str, Any] = {
        "need_ids": ["a", "b"],
        "profile_ids": ["x", "y"],
        "scores": np.full((2, 2), 0.5),
        "capacities": [1, 1],
    }
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("(", r"\(")):
        propose_round(**{**kw, **change})


def test_same_round_twice_gives_identical_output() -> None:
    kw = random_round(11, n=40, m=25)
    first, second = propose_round(**kw), propose_round(**kw)
    assert first == second
    assert json.dumps(first.to_dict()) == json.dumps(second.to_dict())


def test_input_order_does_not_change_the_result() -> None:
    for seed in range(20):
        kw = random_round(300 + seed, n=15, m=8)
        kw["scores"] = np.round(kw["scores"], 1)  # many ties
        rng = np.random.default_rng(seed)
        pi, pj = rng.permutation(15), rng.permutation(8)
        shuffled = {
            **kw,
            "need_ids": [kw["need_ids"][i] for i in pi],
            "profile_ids": [kw["profile_ids"][j] for j in pj],
            "scores": kw["scores"][np.ix_(pi, pj)],
            "capacities": [kw["capacities"][j] for j in pj],
        }
        for fair in (False, True):
            assert propose_round(**kw, fair=fair) == propose_round(**shuffled, fair=fair), seed


def test_equal_scores_are_broken_by_id() -> None:
    result = propose_round(["n2", "n1", "n3"], ["p3", "p1", "p2"], np.full((3, 3), 0.5), [1, 1, 0])
    assert [(a.need_id, a.profile_id) for a in result.assignments] == [("n1", "p1"), ("n2", "p3")]
    assert result.unassigned == [{"need_id": "n3", "reason": "all eligible partners at capacity"}]


def test_empty_inputs_give_empty_status_not_an_error() -> None:
    no_profiles = propose_round(["b", "a"], [], np.zeros((2, 0)), [])
    assert no_profiles.status == "empty"
    assert no_profiles.unassigned == [
        {"need_id": "a", "reason": "no profiles with remaining capacity"},
        {"need_id": "b", "reason": "no profiles with remaining capacity"},
    ]
    no_needs = propose_round([], ["x"], np.zeros((0, 1)), [2])
    assert (no_needs.status, no_needs.assignments, no_needs.unassigned) == ("empty", [], [])
    all_full = propose_round(["a"], ["x"], np.ones((1, 1)), [0])
    assert all_full.status == "empty" and all_full.objective == 0.0


def test_to_dict_is_json_ready() -> None:
    data = json.loads(json.dumps(propose_round(**three_by_three()).to_dict()))
    assert data["status"] == "optimal"
    assert data["assignments"][0] == {"need_id": "a", "profile_id": "y", "score": 0.8}
    assert data["alternates"]["a"] == [{"profile_id": "x", "score": 0.9}, {"profile_id": "z", "score": 0.1}]
    assert data["displaced"]["a"][0]["reason"] == "capacity used by b"
    assert data["objective"] == pytest.approx(2.35) and data["min_assigned_score"] == 0.7


def test_bench_smoke_run_writes_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert load_bench().main(["--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "assign.json").read_text())
    assert [row["size"] for row in report["rows"]] == ["12x10", "30x25"]
    for row in report["rows"]:
        assert row["optimal_objective"] >= row["greedy_objective"] - 1e-6
        assert row["fair_min_score"] >= row["optimal_min_score"] - 1e-9
    assert "opt/greedy" in capsys.readouterr().out
