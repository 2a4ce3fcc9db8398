"""Train a `LogisticReranker` on staff decisions and decide whether it replaces the current scorer.

Each decided pair (latest decision per pair: 'accept' = 1, 'reject' = 0; 'block' says
"do not pair" for reasons outside the match and is left out) gets the engine's features,
with `full` cleared (capacity at decision time is not recorded, and accepts themselves
fill capacity, so the flag would leak the label). Decisions are split by need: a quarter
of the needs are held back, the model is fitted on the rest, and both it and the current
scorer (hand-set weights or the previous reranker) are scored on the held-back decisions
by ROC AUC. The artifact is promoted (used by the engine) only when it beats the current
one there, in at least PROMOTE_WINS of bootstrap resamples of the held-back needs; the
saved model is then refitted on all decisions.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from matcher.rank import PairFeatures, PairScorer, Weights, breakdown, total
from models.reranker import LogisticReranker

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

MIN_DECISIONS = 30  # below this the engine keeps the hand-set weights (no model is trained)
HELD_BACK = 0.25
# Promotion needs the reranker's held-back AUC above the current scorer's in this share of
# bootstrap resamples of the held-back needs: a handful of needs is weak evidence.
PROMOTE_WINS = 0.9
RESAMPLES = 200
LABELS = {"accept": 1, "reject": 0}


@dataclass
class Examples:
    """Decided pairs with their features and labels (1 = accepted)."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    features: list[PairFeatures] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def subset(self, keep: list[int]) -> Examples:
        """The examples at positions `keep`."""
        return Examples([self.pairs[i] for i in keep], [self.features[i] for i in keep],
                        [self.labels[i] for i in keep])


@dataclass
class TrainingResult:
    """What `train_reranker` did: a model (None when there were too few decisions) and its manifest."""

    status: str  # "trained" | "too_few_decisions"
    model: LogisticReranker | None
    manifest: dict[str, Any]


def decision_examples(engine: MatchEngine, decisions: Mapping[tuple[str, str], str]) -> Examples:
    """Features and labels of accepted and rejected pairs the engine holds both sides of, by (need, profile)."""
    out = Examples()
    by_need: dict[str, list[tuple[str, int]]] = {}
    for (nid, pid), decision in sorted(decisions.items()):
        if decision in LABELS:
            by_need.setdefault(nid, []).append((pid, LABELS[decision]))
    for nid, decided in by_need.items():
        feats = engine.pair_features(nid, [pid for pid, _ in decided])
        for pid, label in decided:
            if pid in feats:
                out.pairs.append((nid, pid))
                out.features.append(replace(feats[pid], full=0.0))
                out.labels.append(label)
    return out


def scorer_scores(scorer: PairScorer | None, features: list[PairFeatures]) -> np.ndarray:
    """Scores of `scorer` (None: the hand-set weights) for pairs, shape (n_pairs,)."""
    weights = Weights()
    return np.array([total(scorer.parts(f) if scorer is not None else breakdown(f, weights)) for f in features])


def _auc(labels: list[int], scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores)) if len(set(labels)) == 2 else None


def _bootstrap_wins(held: Examples, new: np.ndarray, old: np.ndarray, random_state: int) -> float:
    """Share of resamples of the held-back needs (with replacement) where `new` has the higher AUC."""
    rows_of: dict[str, list[int]] = {}
    for i, (nid, _) in enumerate(held.pairs):
        rows_of.setdefault(nid, []).append(i)
    needs = sorted(rows_of)
    rng = np.random.default_rng(random_state)
    wins = valid = 0
    for _ in range(RESAMPLES):
        rows = [i for k in rng.integers(0, len(needs), len(needs)) for i in rows_of[needs[k]]]
        labels = [held.labels[i] for i in rows]
        a, b = _auc(labels, new[rows]), _auc(labels, old[rows])
        if a is not None and b is not None:
            valid += 1
            wins += a > b
    return wins / valid if valid else 0.0


def _split(ex: Examples, held_back: float, random_state: int) -> tuple[list[int], list[int]]:
    """Train / held-back positions, split by need, both with accepts and rejects (else all in train)."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = [n for n, _ in ex.pairs]
    for attempt in range(20):
        splitter = GroupShuffleSplit(n_splits=1, test_size=held_back, random_state=random_state + attempt)
        train, test = next(splitter.split(np.zeros(len(groups)), ex.labels, groups))
        if {ex.labels[i] for i in train} == {0, 1} and {ex.labels[i] for i in test} == {0, 1}:
            return sorted(train.tolist()), sorted(test.tolist())
    return list(range(len(groups))), []


def train_reranker(engine: MatchEngine, decisions: Mapping[tuple[str, str], str], *,
                   current: PairScorer | None = None, encoder: str | None = None,
                   min_decisions: int = MIN_DECISIONS, held_back: float = HELD_BACK, random_state: int = 0,
                   params: Mapping[str, Any] | None = None) -> TrainingResult:
    """Fit a reranker on decisions, evaluate it against `current` on held-back needs, refit on all."""
    import sklearn

    ex = decision_examples(engine, decisions)
    n_accept = sum(ex.labels)
    data = {"decisions": len(ex.labels), "accepts": n_accept, "rejects": len(ex.labels) - n_accept,
            "needs": len({n for n, _ in ex.pairs}), "profiles": len({p for _, p in ex.pairs})}
    manifest: dict[str, Any] = {"encoder": encoder or engine.encoder.name, "data": data,
                                "min_decisions": min_decisions, "sklearn_version": sklearn.__version__,
                                "numpy_version": np.__version__}
    if len(ex.labels) < min_decisions or len(set(ex.labels)) < 2:
        why = (f"{len(ex.labels)} accept/reject decisions on pairs the engine holds; at least {min_decisions}, "
               "both accepts and rejects, are needed: the engine keeps its current scoring")
        return TrainingResult("too_few_decisions", None, {**manifest, "promoted": False, "reason": why})
    params = dict(params or {}, random_state=random_state)
    train, test = _split(ex, held_back, random_state)
    evaluation: dict[str, Any] = {"metric": "roc_auc", "held_back_decisions": len(test),
                                  "held_back_needs": len({ex.pairs[i][0] for i in test}),
                                  "baseline_scorer": current.name if current is not None else "weights"}
    if test:
        fitted = LogisticReranker(**params).fit(ex.subset(train).features, ex.subset(train).labels)
        held = ex.subset(test)
        new, old = fitted.decision_function(held.features), scorer_scores(current, held.features)
        evaluation["reranker"], evaluation["baseline"] = _auc(held.labels, new), _auc(held.labels, old)
        wins = _bootstrap_wins(held, new, old, random_state)
        evaluation.update(resampled_wins=round(wins, 3), wins_needed=PROMOTE_WINS,
                          beats_baseline=bool(evaluation["reranker"] > evaluation["baseline"]))
        evaluation["promote"] = evaluation["beats_baseline"] and wins >= PROMOTE_WINS
    else:
        evaluation.update(reranker=None, baseline=None, beats_baseline=False, promote=False,
                          note="no split by need left both accepts and rejects on each side")
    model = LogisticReranker(**params).fit(ex.features, ex.labels)
    manifest.update(evaluation=evaluation, promoted=evaluation["promote"], params=model.get_params(),
                    fitted_on="all decisions (the evaluation fitted on the others first)")
    return TrainingResult("trained", model, manifest)
