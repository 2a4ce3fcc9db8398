"""Scoring a (need, profile) pair: relevance (dense + lexical + areas) plus practical fit.

The score is a weighted sum whose parts are reported as the `breakdown`, so the parts
always add up to the score.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol


@dataclass(frozen=True)
class Weights:
    """Hand-set weights of the score's parts (chosen on the dev set; see README)."""

    dense: float = 0.35
    lexical: float = 0.15
    areas: float = 0.40
    language: float = 0.03
    country: float = 0.03
    modality: float = 0.04
    full_capacity: float = 0.10

    def to_dict(self) -> dict[str, float]:
        """Plain dict of the weights."""
        return asdict(self)


@dataclass(frozen=True)
class PairFeatures:
    """Raw features of one pair, each in [0, 1] (dense may be negative)."""

    dense: float
    lexical: float
    areas: float
    language: float
    country: float
    modality: float
    full: float

    def to_dict(self) -> dict[str, float]:
        """Plain dict of the features."""
        # Not dataclasses.asdict: its deep copy was a tenth of a stored-need match's time.
        return {f.name: getattr(self, f.name) for f in fields(self)}


def area_overlap(need_areas: dict[str, float], profile_areas: dict[str, float]) -> float:
    """How well the profile's areas cover the need's, weighted by strength, in [0, 1].

    Coverage of the need's areas, discounted a little for profiles spread over many areas
    (a specialist in the need's area beats a generalist who lists it among ten).
    """
    total = sum(need_areas.values())
    if total <= 0 or not profile_areas:
        return 0.0
    covered = sum(s * profile_areas.get(a, 0.0) for a, s in need_areas.items())
    coverage = covered / total
    focus = sum(profile_areas.get(a, 0.0) for a in need_areas) / sum(profile_areas.values())
    return coverage * (0.75 + 0.25 * focus)


def breakdown(features: PairFeatures, weights: Weights) -> dict[str, float]:
    """Weighted parts of the score, rounded; they sum to the score."""
    parts = {
        "dense": weights.dense * features.dense,
        "lexical": weights.lexical * features.lexical,
        "areas": weights.areas * features.areas,
        "language": weights.language * features.language,
        "country": weights.country * features.country,
        "modality": weights.modality * features.modality,
        "full_capacity": -weights.full_capacity * features.full,
    }
    return {k: round(v, 4) for k, v in parts.items()}


def total(parts: dict[str, Any]) -> float:
    """The score: the sum of the rounded parts."""
    return round(float(sum(parts.values())), 4)


class PairScorer(Protocol):
    """Scores a pair from its features as named parts that add up to the score.

    The hand-set `Weights` are the default (see `breakdown`); a learned reranker
    (models.reranker) is another implementation. `name` identifies it in reports.
    """

    name: str

    def parts(self, features: PairFeatures) -> dict[str, float]:
        """The score's parts, rounded to 4 places; `total(parts)` is the score."""
        ...
