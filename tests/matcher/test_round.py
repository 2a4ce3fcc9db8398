"""Matching rounds over the engine: scores as ranked, conflicts kept apart, capacities respected."""
from __future__ import annotations

from collections import Counter
from typing import Any

from matcher.engine import MatchEngine
from matcher.round import plan_round, score_matrix


def check_round_doc(doc: dict[str, Any], capacities: dict[str, int], per_need: int,
                    conflicts: set[tuple[str, str]], min_score: float = 0.0) -> None:
    """Every constraint of a round document: capacity, partners per need, conflicts, min_score."""
    pairs = [(a["need_id"], a["profile_id"]) for a in doc["assignments"]]
    assert len(pairs) == len(set(pairs)), "a pair is proposed twice"
    for pid, n in Counter(p for _, p in pairs).items():
        assert n <= capacities.get(pid, 0), f"{pid} over capacity: {n} > {capacities.get(pid, 0)}"
    assert all(n <= per_need for n in Counter(nid for nid, _ in pairs).values())
    assert not set(pairs) & conflicts
    assert all(a["score"] >= min_score for a in doc["assignments"])
    for nid, alts in doc["alternates"].items():
        assert not {(nid, a["profile_id"]) for a in alts} & (conflicts | set(pairs))


def remaining(engine: MatchEngine) -> dict[str, int]:
    return {pid: engine.remaining_capacity(engine.get("profile", pid)) or 0 for pid in engine.ids("profile")}


def test_score_matrix_equals_the_ranking_scores(hashing_engine: MatchEngine) -> None:
    needs, profiles = hashing_engine.ids("need"), hashing_engine.ids("profile")
    scores = score_matrix(hashing_engine, needs, profiles)
    for i, nid in enumerate(needs):
        for item in hashing_engine.match_need(nid, top=len(profiles), explain=False):
            assert scores[i, profiles.index(item["profile_id"])] == item["score"]


def test_round_on_fixture_corpus_gives_each_need_its_own_specialist(hashing_engine: MatchEngine) -> None:
    doc = plan_round(hashing_engine).to_dict()
    check_round_doc(doc, remaining(hashing_engine), 1, set())
    got = {a["need_id"]: a["profile_id"] for a in doc["assignments"]}
    assert got["n-stroke-en"] == "p-stroke" and got["n-stroke-fr"] == "p-stroke-fr"
    assert got["n-maternal-pt"] == "p-maternity" and got["n-equipment-fr"] == "p-equipment"
    assert "p-kidney" not in got.values()  # capacity 0
    assert doc["status"] == "optimal" and doc["scorer"] == "weights"


def test_blocked_and_rejected_pairs_are_never_proposed(hashing_engine: MatchEngine) -> None:
    decisions = {("n-stroke-en", "p-stroke"): "block", ("n-stroke-fr", "p-stroke-fr"): "reject"}
    doc = plan_round(hashing_engine, decisions=decisions, per_need=2).to_dict()
    check_round_doc(doc, remaining(hashing_engine), 2, set(decisions))
    assert doc["conflicts"] == 2
    got = {(a["need_id"], a["profile_id"]) for a in doc["assignments"]}
    assert ("n-stroke-en", "p-stroke-fr") in got and ("n-stroke-fr", "p-stroke") in got


def test_need_with_accepted_partner_is_skipped_and_capacity_is_remaining(hashing_engine: MatchEngine) -> None:
    hashing_engine.capacity_used = {"p-stroke-fr": 1}
    doc = plan_round(hashing_engine, decisions={("n-stroke-fr", "p-stroke-fr"): "accept"}).to_dict()
    assert doc["skipped"] == [{"need_id": "n-stroke-fr", "reason": "already has 1 accepted partner(s)"}]
    check_round_doc(doc, remaining(hashing_engine), 1, set())
    assert "p-stroke-fr" not in {a["profile_id"] for a in doc["assignments"]}


def test_need_with_some_accepted_partners_gets_only_the_rest(hashing_engine: MatchEngine) -> None:
    doc = plan_round(hashing_engine, decisions={("n-stroke-fr", "p-stroke-fr"): "accept"}, per_need=2).to_dict()
    mine = [a for a in doc["assignments"] if a["need_id"] == "n-stroke-fr"]
    assert len(mine) == 1 and mine[0]["profile_id"] != "p-stroke-fr"
    assert all(u["need_id"] != "n-stroke-fr" for u in doc["unassigned"])


def test_min_score_leaves_weak_needs_unassigned_with_a_reason(hashing_engine: MatchEngine) -> None:
    doc = plan_round(hashing_engine, min_score=0.5, fair=True).to_dict()
    check_round_doc(doc, remaining(hashing_engine), 1, set(), 0.5)
    reasons = {u["need_id"]: u["reason"] for u in doc["unassigned"]}
    assert "n-kidney-en" in reasons and "min_score" in reasons["n-kidney-en"]
