"""Explanations of a match: shared areas with evidence, shared words, best sentence pair, fit."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from matcher.encoder import Encoder
from matcher.rank import PairFeatures
from matcher.schema import LANGUAGES, Need, Profile
from matcher.text import all_stopwords, sentences, stem_words, tokenize

if TYPE_CHECKING:
    from matcher.engine import Analysed

MAX_SENTENCES = 25


def _evidence(a: Analysed, area: str) -> list[dict[str, Any]]:
    hit = a.areas.get(area)
    if hit is None:
        return []
    return [{"phrase": e.phrase, "start": e.start, "end": e.end, "method": e.method} for e in hit.evidence]


def _stem_words(text: str) -> dict[str, str]:
    """stem -> first original word that produced it (all three languages' stemmers)."""
    stops = all_stopwords()
    toks = [t for t in tokenize(text) if t.text not in stops and len(t.text) > 2 and not t.text.isdigit()]
    out: dict[str, str] = {}
    for lang in LANGUAGES:
        for tok, stem in zip(toks, stem_words([t.text for t in toks], lang), strict=True):
            out.setdefault(stem, text[tok.start:tok.end])
    return out


def shared_words(need_text: str, profile_text: str, limit: int = 8) -> list[dict[str, str]]:
    """Words of the two texts that share a stem (the lexical evidence), longest first."""
    return _shared_words(_stem_words(need_text), _stem_words(profile_text), limit)


def _shared_words(a: dict[str, str], b: dict[str, str], limit: int = 8) -> list[dict[str, str]]:
    pairs: dict[str, dict[str, str]] = {}
    for stem in a.keys() & b.keys():
        key = a[stem].lower()
        pairs.setdefault(key, {"need": a[stem], "profile": b[stem]})
    return sorted(pairs.values(), key=lambda p: (-len(p["need"]), p["need"].lower()))[:limit]


def best_sentence_pair(need_text: str, profile_text: str, encoder: Encoder) -> dict[str, Any] | None:
    """The most similar (need sentence, profile sentence) pair by embedding cosine."""
    ns = [need_text[s:e] for s, e in sentences(need_text)][:MAX_SENTENCES]
    ps = [profile_text[s:e] for s, e in sentences(profile_text)][:MAX_SENTENCES]
    if not ns or not ps:
        return None
    return _best_pair(ns, encoder.encode(ns, kind="query"), ps, encoder.encode(ps, kind="passage"))


def _cached(a: Analysed) -> dict[str, Any]:
    if a.explain_cache is None:
        a.explain_cache = {}
    return a.explain_cache


def record_stems(a: Analysed) -> dict[str, str]:
    """stem -> original word of a record's text, computed once per record (until evicted)."""
    cache = _cached(a)
    if "stems" not in cache:
        cache["stems"] = _stem_words(a.text)
    stems: dict[str, str] = cache["stems"]
    return stems


def record_sentences(a: Analysed, encoder: Encoder) -> tuple[list[str], NDArray[np.float32]]:
    """A record's first MAX_SENTENCES sentences and their vectors, computed once per record (until evicted).

    Need sentences are encoded as queries and profile sentences as passages, as
    `best_sentence_pair` does.
    """
    cache = _cached(a)
    if "sentence_vectors" not in cache:
        said = [a.text[s:e] for s, e in sentences(a.text)][:MAX_SENTENCES]
        cache["sentences"] = said
        cache["sentence_vectors"] = encoder.encode(said, kind="query" if a.side == "need" else "passage")
    return cache["sentences"], cache["sentence_vectors"]


def _best_pair(ns: list[str], nv: NDArray[np.float32], ps: list[str],
               pv: NDArray[np.float32]) -> dict[str, Any] | None:
    if not ns or not ps:
        return None
    sims = nv @ pv.T
    i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
    return {"need": ns[int(i)], "profile": ps[int(j)], "similarity": round(float(sims[i, j]), 4)}


def explain_pair(need: Analysed, profile: Analysed, features: PairFeatures, remaining: int | None,
                 encoder: Encoder) -> dict[str, Any]:
    """The explanation fields of a match item."""
    ns, ps = need.strengths, profile.strengths
    shared = sorted(set(ns) & set(ps), key=lambda a: (-ns[a] * ps[a], a))
    n_rec = need.record if isinstance(need.record, Need) else None
    p_rec = profile.record if isinstance(profile.record, Profile) else None
    fit: dict[str, Any] = {
        "language": {"need": need.language, "profile": list(p_rec.languages) if p_rec else [],
                     "shared": bool(features.language)},
        "country_experience": {"country": n_rec.country if n_rec else None, "experienced": bool(features.country)},
        "modalities": {
            "preferred": list(n_rec.preferred_modalities) if n_rec else [],
            "offered": list(p_rec.modalities) if p_rec else [],
            "shared": sorted(set(n_rec.preferred_modalities) & set(p_rec.modalities)) if n_rec and p_rec else [],
        },
        "remaining_capacity": remaining,
        "full": remaining == 0,
    }
    return {
        "shared_areas": [
            {"area": a, "need_evidence": _evidence(need, a), "profile_evidence": _evidence(profile, a)}
            for a in shared
        ],
        "need_areas": list(need.areas),
        "profile_areas": list(profile.areas),
        "shared_words": _shared_words(record_stems(need), record_stems(profile)),
        "best_sentence_pair": _best_pair(*record_sentences(need, encoder), *record_sentences(profile, encoder)),
        "features": {k: round(v, 4) for k, v in features.to_dict().items()},
        "fit": fit,
    }
