"""Explanations of a match: shared areas with evidence, shared words, best sentence pair, fit."""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from matcher.rank import PairFeatures
from matcher.schema import LANGUAGES, Need, Profile
from matcher.text import all_stopwords, sentences, stem_words, tokenize

if TYPE_CHECKING:
    from matcher.engine import Analysed

MAX_SENTENCES = 25
# English function words, left out of an explanation's words (they are for people: "our"
# and "after" are not evidence of a match). Retrieval keeps Lucene's 33-word English list
# (matcher.text.stopwords); the French and Portuguese lists are already this thorough.
FUNCTION_WORDS_EN = frozenset({
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves",
    "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their",
    "theirs", "themselves", "us", "what", "which", "who", "whom", "whose", "this", "that", "these", "those", "am",
    "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing",
    "would", "could", "should", "shall", "may", "might", "must", "can", "will", "a", "an", "the", "and", "but",
    "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between",
    "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on",
    "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
    "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own",
    "same", "so", "than", "too", "very", "just", "also", "now", "well", "within", "without", "across", "along",
    "among", "around", "upon", "per", "via", "etc"
})


@cache
def _display_stopwords() -> frozenset[str]:
    """Words never shown as evidence: every language's stop words and English function words."""
    return all_stopwords() | FUNCTION_WORDS_EN


def _evidence(a: Analysed, area: str) -> list[dict[str, Any]]:
    hit = a.areas.get(area)
    if hit is None:
        return []
    return [{"phrase": e.phrase, "start": e.start, "end": e.end, "method": e.method} for e in hit.evidence]


def _stem_tokens(text: str) -> list[tuple[int, frozenset[str], str]]:
    """(start, stems in every language, original word) of each content word of `text`."""
    stops = _display_stopwords()
    toks = [t for t in tokenize(text) if t.text not in stops and len(t.text) > 2 and not t.text.isdigit()]
    words = [t.text for t in toks]
    per_language = [stem_words(words, lang) for lang in LANGUAGES]
    return [(tok.start, frozenset(stems), text[tok.start:tok.end])
            for tok, *stems in zip(toks, *per_language, strict=True)]


def _stem_words(tokens: list[tuple[int, frozenset[str], str]]) -> dict[str, str]:
    """stem -> first original word that produced it (all three languages' stemmers)."""
    out: dict[str, str] = {}
    for _, stems, word in tokens:
        for stem in stems:
            out.setdefault(stem, word)
    return out


def _shared_words(a: dict[str, str], b: dict[str, str], limit: int = 8) -> list[dict[str, str]]:
    pairs: dict[str, dict[str, str]] = {}
    for stem in sorted(a.keys() & b.keys()):  # sorted: the same words whatever the hash seed
        key = a[stem].lower()
        pairs.setdefault(key, {"need": a[stem], "profile": b[stem]})
    return sorted(pairs.values(), key=lambda p: (-len(p["need"]), p["need"].lower()))[:limit]


@dataclass(frozen=True)
class _Sentence:
    start: int
    end: int
    stems: frozenset[str]
    areas: frozenset[str]  # areas with (non-declared) evidence inside the sentence


def _cached(a: Analysed) -> dict[str, Any]:
    if a.explain_cache is None:
        a.explain_cache = {}
    return a.explain_cache


def _record_text_marks(a: Analysed) -> tuple[dict[str, str], list[_Sentence]]:
    """A record's stem -> word map and its first MAX_SENTENCES sentences with their stems, once per record."""
    cache = _cached(a)
    if "stems" not in cache:
        tokens = _stem_tokens(a.text)
        starts = [pos for pos, _, _ in tokens]  # in text order, as the sentences are
        evidence = [(ev.start, area) for area, hit in a.areas.items() for ev in hit.evidence
                    if ev.method != "declared"]
        cache["stems"] = _stem_words(tokens)
        cache["sentences"] = [
            _Sentence(s, e, frozenset().union(*(t[1] for t in tokens[bisect_left(starts, s):bisect_left(starts, e)])),
                      frozenset(area for pos, area in evidence if s <= pos < e))
            for s, e in sentences(a.text)[:MAX_SENTENCES]]
    return cache["stems"], cache["sentences"]


def record_stems(a: Analysed) -> dict[str, str]:
    """stem -> original word of a record's text, computed once per record (until evicted)."""
    return _record_text_marks(a)[0]


def best_sentence_pair(need: Analysed, profile: Analysed, shared: list[str],
                       weights: dict[str, float]) -> dict[str, Any] | None:
    """The need sentence and the profile sentence that show the most of what the two share.

    Pairs are ranked by the shared areas both sentences give evidence of (each weighted by
    its strength on both sides, `weights`), then by the number of words whose stems both
    sentences contain, then by position. None when no pair shares an area or a word.
    (Choosing by evidence, not by sentence-embedding cosine, works across languages - a
    French need's "AVC" sentence pairs with an English profile's "thrombolysis" one - and
    costs no model call.)
    """
    need_stems, need_sentences = _record_text_marks(need)
    profile_stems, profile_sentences = _record_text_marks(profile)
    common = need_stems.keys() & profile_stems.keys()
    wanted = frozenset(shared)

    def marks(said: list[_Sentence]) -> list[tuple[_Sentence, frozenset[str], frozenset[str]]]:
        out = [(s, s.areas & wanted, s.stems & common) for s in said]
        return [m for m in out if m[1] or m[2]]

    best: tuple[float, int] | None = None
    chosen: tuple[_Sentence, _Sentence, frozenset[str], frozenset[str]] | None = None
    profile_marks = marks(profile_sentences)
    for ns, n_areas, n_stems in marks(need_sentences):
        for ps, p_areas, p_stems in profile_marks:
            areas, stems = n_areas & p_areas, n_stems & p_stems
            key = (sum([weights[a] for a in areas]) if areas else 0.0, len(stems))
            if key > (0.0, 0) and (best is None or key > best):
                best, chosen = key, (ns, ps, areas, stems)
    if chosen is None:
        return None
    ns, ps, areas, stems = chosen
    words = sorted({need_stems[s] for s in stems}, key=lambda w: (-len(w), w.lower()))
    return {"need": need.text[ns.start:ns.end], "profile": profile.text[ps.start:ps.end],
            "areas": [a for a in shared if a in areas], "words": words[:8]}


def explain_pair(need: Analysed, profile: Analysed, features: PairFeatures, remaining: int | None) -> dict[str, Any]:
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
        "best_sentence_pair": best_sentence_pair(need, profile, shared, {a: ns[a] * ps[a] for a in shared}),
        "features": {k: round(v, 4) for k, v in features.to_dict().items()},
        "fit": fit,
    }
