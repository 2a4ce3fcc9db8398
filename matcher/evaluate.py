"""Ranking metrics on a labelled set (graded qrels): nDCG@k, recall@k, MRR, hit@1."""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matcher.errors import InvalidInputError

if TYPE_CHECKING:
    from matcher.engine import MatchEngine, Side
    from matcher.rank import PairScorer

Qrels = dict[str, dict[str, int]]
METRICS = ("ndcg@5", "ndcg@10", "recall@10", "mrr", "hit@1")


def read_qrels(path: Path) -> Qrels:
    """Read a TSV of `query_id<TAB>doc_id<TAB>grade` (header line optional)."""
    qrels: Qrels = defaultdict(dict)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"--qrels: cannot read {path}: {exc}") from exc
    for lineno, line in enumerate(lines, start=1):
        parts = line.strip().split("\t")
        if not line.strip() or (lineno == 1 and not parts[-1].strip().lstrip("-").isdigit()):
            continue
        if len(parts) != 3 or not parts[2].strip().lstrip("-").isdigit():
            raise InvalidInputError(f"{path}:{lineno}: expected 'query_id<TAB>doc_id<TAB>grade', got {line!r}")
        qrels[parts[0]][parts[1]] = int(parts[2])
    return dict(qrels)


def reverse_qrels(qrels: Qrels) -> Qrels:
    """Swap queries and documents (need->profile labels become profile->need labels)."""
    out: Qrels = defaultdict(dict)
    for q, docs in qrels.items():
        for d, g in docs.items():
            out[d][q] = g
    return dict(out)


def ndcg(ranked: list[str], labels: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain at k with gain 2^grade - 1."""
    dcg = sum((2 ** labels.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in labels.values() if g > 0), reverse=True)[:k]
    idcg = sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def query_metrics(ranked: list[str], labels: Mapping[str, int]) -> dict[str, float]:
    """Every metric in METRICS for one query."""
    relevant = {d for d, g in labels.items() if g > 0}
    first = next((i for i, d in enumerate(ranked) if d in relevant), None)
    return {
        "ndcg@5": ndcg(ranked, labels, 5),
        "ndcg@10": ndcg(ranked, labels, 10),
        "recall@10": len(relevant & set(ranked[:10])) / len(relevant) if relevant else 0.0,
        "mrr": 1.0 / (first + 1) if first is not None else 0.0,
        "hit@1": 1.0 if ranked[:1] and ranked[0] in relevant else 0.0,
    }


def evaluate(rank: Callable[[str], list[str]], qrels: Qrels,
             groups: Mapping[str, str] | None = None) -> dict[str, dict[str, float]]:
    """Mean metrics overall ('all') and per group (e.g. language) over the labelled queries."""
    per_group: dict[str, list[dict[str, float]]] = defaultdict(list)
    for q in sorted(qrels):
        if not any(g > 0 for g in qrels[q].values()):
            continue
        m = query_metrics(rank(q), qrels[q])
        per_group["all"].append(m)
        if groups and q in groups:
            per_group[groups[q]].append(m)
    return {
        g: {**{k: sum(m[k] for m in ms) / len(ms) for k in METRICS}, "queries": float(len(ms))}
        for g, ms in per_group.items()
    }


def _bm25_ranker(engine: MatchEngine, side: Side, target: Side) -> Callable[[str], list[str]]:
    def rank(qid: str) -> list[str]:
        query = engine.get(side, qid)
        if query is None:
            return []
        scores = engine.lexical(target).scores(query.terms)
        return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))][:50]
    return rank


def area_detection_metrics(engine: MatchEngine, labels: Mapping[str, Mapping[str, list[str]]]) -> dict[str, Any]:
    """Precision/recall/F1 of detected areas (declared areas excluded) against hand labels, per area and micro."""
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    for side_key, side in (("needs", "need"), ("profiles", "profile")):
        for rid, gold in labels.get(side_key, {}).items():
            rec = engine.get(side, rid)  # type: ignore[arg-type]
            if rec is None:
                continue
            found = {a for a in rec.main_areas if rec.areas[a].evidence}
            for a in found & set(gold):
                tp[a] += 1
            for a in found - set(gold):
                fp[a] += 1
            for a in set(gold) - found:
                fn[a] += 1
    per_area = {}
    for a in sorted(set(tp) | set(fp) | set(fn)):
        p = tp[a] / (tp[a] + fp[a]) if tp[a] + fp[a] else 0.0
        r = tp[a] / (tp[a] + fn[a]) if tp[a] + fn[a] else 0.0
        per_area[a] = {"precision": p, "recall": r, "support": tp[a] + fn[a]}
    t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
    p = t / (t + f_p) if t + f_p else 0.0
    r = t / (t + f_n) if t + f_n else 0.0
    return {"micro": {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0},
            "per_area": per_area}


def run_evaluation(engine: MatchEngine, qrels_path: Path, reverse: bool = False,
                   areas_path: Path | None = None,
                   scorers: Mapping[str, PairScorer | None] | None = None) -> dict[str, Any]:
    """Metrics for our ranker and BM25-only in the same run, overall and per need language.

    `scorers` adds a row per named scorer (None: the hand-set weights), e.g. a learned
    reranker next to "ours" (the engine as it is configured).
    """
    qrels = read_qrels(qrels_path)
    side: Side = "need"
    target: Side = "profile"
    if reverse:
        qrels, side, target = reverse_qrels(qrels), "profile", "need"
    missing = sorted(q for q in qrels if engine.get(side, q) is None)
    if len(missing) == len(qrels):
        raise InvalidInputError(f"none of the {len(qrels)} labelled {side}s of {qrels_path} is in the store; "
                                "ingest the records first")
    qrels = {q: d for q, d in qrels.items() if q not in missing}
    groups: dict[str, str] = {}
    if not reverse:
        for q in qrels:
            rec = engine.get("need", q)
            if rec is not None:
                groups[q] = rec.language

    def ours(qid: str) -> list[str]:
        fn = engine.match_profile if reverse else engine.match_need
        key = "need_id" if reverse else "profile_id"
        return [it[key] for it in fn(qid, top=50, explain=False)]

    report: dict[str, Any] = {
        "direction": "profile->needs" if reverse else "need->profiles",
        "skipped_queries": missing,
        "ours": evaluate(ours, qrels, groups),
        "bm25": evaluate(_bm25_ranker(engine, side, target), qrels, groups),
        "scorers": {"ours": engine.scorer_name},
    }
    for name, scorer in (scorers or {}).items():
        with engine.scoring(scorer):
            report[name] = evaluate(ours, qrels, groups)
            report["scorers"][name] = engine.scorer_name
    if areas_path is not None:
        import json

        report["areas"] = area_detection_metrics(engine, json.loads(areas_path.read_text(encoding="utf-8")))
    return report


def format_report(report: dict[str, Any]) -> str:
    """A readable table of an evaluation report."""
    lines = [f"direction: {report['direction']}"]
    header = f"{'ranker':<8} {'group':<6} {'n':>4} " + " ".join(f"{m:>9}" for m in METRICS)
    lines.append(header)
    extra = [k for k in report.get("scorers", {}) if k != "ours"]
    for ranker in ("ours", *extra, "bm25"):
        for group, m in sorted(report[ranker].items(), key=lambda kv: (kv[0] != "all", kv[0])):
            lines.append(f"{ranker:<8} {group:<6} {int(m['queries']):>4} " +
                         " ".join(f"{m[k]:>9.3f}" for k in METRICS))
    gain = report["ours"]["all"]["ndcg@10"] - report["bm25"]["all"]["ndcg@10"]
    lines.append(f"nDCG@10 gain over BM25-only: {gain:+.3f}")
    if "scorers" in report:
        lines.append("scoring: " + ", ".join(f"{k} = {v}" for k, v in report["scorers"].items()))
    for name in extra:
        delta = report[name]["all"]["ndcg@10"] - report["ours"]["all"]["ndcg@10"]
        lines.append(f"nDCG@10 {name} vs ours: {delta:+.3f}")
    if "areas" in report:
        micro = report["areas"]["micro"]
        lines.append(f"area detection (micro): precision {micro['precision']:.3f} recall {micro['recall']:.3f} "
                     f"F1 {micro['f1']:.3f}")
    if report["skipped_queries"]:
        lines.append(f"skipped (not in store): {', '.join(report['skipped_queries'])}")
    return "\n".join(lines)
