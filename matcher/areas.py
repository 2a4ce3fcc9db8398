"""Clinical-area detection: vocabulary matching (en/fr/pt) plus embedding similarity.

Vocabulary terms match accent-, case- and inflection-tolerantly: a term's content words
are Snowball-stemmed in the term's own language and must all occur, in any order, within
a small window of the text's content words stemmed the same way. Abbreviations match
case-sensitively as whole words. With an encoder, each sentence is also compared with
every vocabulary term so that unlisted phrasings are still found (as ESCO skill
extractors do); those hits are weaker and marked `method="semantic"`.
"""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from matcher.encoder import Encoder
from matcher.errors import InvalidInputError
from matcher.schema import AREA_IDS, LANGUAGES
from matcher.text import sentences, stem_words, stopwords, tokenize


# Slots: a loaded service holds ~15 of these per record (100k profiles: 1.5M objects).
@dataclass(frozen=True, slots=True)
class Evidence:
    """A phrase of the text that shows an area, with its offsets [start, end)."""

    phrase: str
    start: int
    end: int
    term: str
    method: Literal["vocabulary", "abbreviation", "semantic", "declared"]
    weight: float


@dataclass(frozen=True, slots=True)
class AreaHit:
    """One detected area: its strength in (0, 1] and the evidence for it."""

    area: str
    strength: float
    evidence: tuple[Evidence, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "area": self.area,
            "strength": round(self.strength, 4),
            "evidence": [
                {"phrase": e.phrase, "start": e.start, "end": e.end, "term": e.term, "method": e.method}
                for e in self.evidence
            ],
        }


@dataclass(frozen=True)
class Vocabulary:
    """Area id -> names, abbreviations and terms per language."""

    names: dict[str, dict[str, str]]
    abbreviations: dict[str, list[str]]
    terms: dict[str, dict[str, list[str]]]

    def term_count(self, area: str) -> int:
        """Number of terms and abbreviations listed for `area`."""
        return len(self.abbreviations[area]) + sum(len(v) for v in self.terms[area].values())


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """Read the vocabulary JSON (default: the packaged data/vocabulary.json) and check it."""
    if path is None:
        from data import VOCABULARY_PATH

        path = VOCABULARY_PATH
    raw = json.loads(path.read_text(encoding="utf-8"))
    areas = raw.get("areas", {})
    missing = sorted(set(AREA_IDS) - set(areas))
    unknown = sorted(set(areas) - set(AREA_IDS))
    if missing or unknown:
        raise InvalidInputError(f"vocabulary {path}: missing areas {missing}, unknown areas {unknown}")
    return Vocabulary(
        names={a: areas[a]["names"] for a in AREA_IDS},
        abbreviations={a: list(areas[a].get("abbreviations", [])) for a in AREA_IDS},
        terms={a: {lang: list(areas[a]["terms"].get(lang, [])) for lang in LANGUAGES} for a in AREA_IDS},
    )


def _longest_first(hits: list[tuple[str, Evidence]]) -> list[tuple[str, Evidence]]:
    """Drop hits inside a longer hit ('sepsis' inside 'neonatal sepsis'), whatever its area."""
    kept = []
    for area, ev in hits:
        inside = any(
            o.start <= ev.start and ev.end <= o.end and (o.end - o.start) > (ev.end - ev.start)
            for _, o in hits
        )
        if not inside:
            kept.append((area, ev))
    return kept


@dataclass
class _Term:
    area: str
    text: str
    stems: tuple[str, ...]


def _strength(weights: list[float]) -> float:
    """Combine evidence weights: 1 - prod(1 - w); one full hit gives 0.6, more approach 1."""
    remaining = 1.0
    for w in weights:
        remaining *= 1.0 - 0.6 * w
    return 1.0 - remaining


@dataclass
class AreaDetector:
    """Finds clinical areas in a text. Call `fit()` before `detect()`.

    Parameters: `vocabulary` (default: packaged), `encoder` for the semantic layer (None
    turns it off), `semantic_threshold` the cosine a sentence needs to a vocabulary term,
    `window_slack` extra content words allowed between a term's words.
    """

    vocabulary: Vocabulary | None = None
    encoder: Encoder | None = None
    semantic_threshold: float = 0.62
    window_slack: int = 2
    terms_: dict[str, dict[str, list[_Term]]] = field(init=False, repr=False, default_factory=dict)
    abbreviation_re_: re.Pattern[str] | None = field(init=False, repr=False, default=None)
    abbreviation_area_: dict[str, str] = field(init=False, repr=False, default_factory=dict)
    term_matrix_: NDArray[np.float32] | None = field(init=False, repr=False, default=None)
    term_list_: list[_Term] = field(init=False, repr=False, default_factory=list)

    def fit(self) -> AreaDetector:
        """Compile the vocabulary (and embed its terms when an encoder is set)."""
        vocab = self.vocabulary or load_vocabulary()
        self.vocabulary = vocab
        self.terms_ = {lang: defaultdict(list) for lang in LANGUAGES}
        self.term_list_ = []
        for area in AREA_IDS:
            for lang in LANGUAGES:
                stops = stopwords(lang)
                for term in vocab.terms[area][lang]:
                    words = [t.text for t in tokenize(term) if t.text not in stops]
                    stems = tuple(s for s in stem_words(words, lang) if len(s) >= 2)
                    if not stems:
                        continue
                    entry = _Term(area, term, stems)
                    self.terms_[lang][stems[0]].append(entry)
                    if lang == "en":
                        # The semantic layer compares sentences with English terms only: the
                        # English-only encoder places French/Portuguese terms poorly anyway.
                        self.term_list_.append(entry)
        self.abbreviation_area_ = {ab: a for a in AREA_IDS for ab in vocab.abbreviations[a]}
        if self.abbreviation_area_:
            alternatives = "|".join(sorted(map(re.escape, self.abbreviation_area_), key=len, reverse=True))
            self.abbreviation_re_ = re.compile(rf"(?<![\w-])({alternatives})s?(?![\w-])")
        if self.encoder is not None:
            self.term_matrix_ = self.encoder.encode([t.text for t in self.term_list_], kind="passage")
        return self

    def _check_fitted(self) -> None:
        if not self.terms_:
            raise RuntimeError("AreaDetector is not fitted; call fit() first")

    def detect(self, text: str, declared: list[str] | tuple[str, ...] = ()) -> dict[str, AreaHit]:
        """Areas of `text` with evidence, strongest first; `declared` areas are always included."""
        self._check_fitted()
        found: dict[str, dict[tuple[int, int], Evidence]] = defaultdict(dict)
        for ev_area, ev in _longest_first(self._vocabulary_hits(text)):
            found[ev_area].setdefault((ev.start, ev.end), ev)
        if self.term_matrix_ is not None and self.encoder is not None:
            for ev_area, ev in self._semantic_hits(text):
                spans = found[ev_area]
                if not any(s <= ev.start < e or ev.start <= s < ev.end for s, e in spans):
                    spans[(ev.start, ev.end)] = ev
        hits: dict[str, AreaHit] = {}
        for area, spans in found.items():
            if not spans:
                continue
            evidence = tuple(sorted(spans.values(), key=lambda e: (e.start, e.end)))
            # Several evidence phrases from one matched term count once.
            by_term: dict[str, float] = {}
            for e in evidence:
                by_term[e.term] = max(by_term.get(e.term, 0.0), e.weight)
            hits[area] = AreaHit(area, _strength(list(by_term.values())), evidence)
        for area in declared:
            if area in hits:
                hits[area] = AreaHit(area, max(hits[area].strength, 1.0), hits[area].evidence)
            else:
                hits[area] = AreaHit(area, 1.0, ())
        return dict(sorted(hits.items(), key=lambda kv: (-kv[1].strength, kv[0])))

    def _vocabulary_hits(self, text: str) -> list[tuple[str, Evidence]]:
        out: list[tuple[str, Evidence]] = []
        assert self.vocabulary is not None
        if self.abbreviation_re_ is not None:
            for m in self.abbreviation_re_.finditer(text):
                area = self.abbreviation_area_[m.group(1)]
                phrase = sys.intern(m.group(0))  # phrases recur across records: one copy each
                out.append((area, Evidence(phrase, m.start(), m.end(), m.group(1), "abbreviation", 1.0)))
        tokens = tokenize(text)
        if not tokens:
            return out
        for lang in LANGUAGES:
            stops = stopwords(lang)
            content = [i for i, t in enumerate(tokens) if t.text not in stops]
            stems = stem_words([tokens[i].text for i in content], lang)
            for p, s in enumerate(stems):
                for term in self.terms_[lang].get(s, ()):
                    span = self._match_at(term, p, stems)
                    if span is None:
                        continue
                    lo, hi = content[span[0]], content[span[1]]
                    start, end = tokens[lo].start, tokens[hi].end
                    weight = 1.0 if len(term.stems) > 1 or len(term.stems[0]) > 3 else 0.8
                    phrase = sys.intern(text[start:end])
                    out.append((term.area, Evidence(phrase, start, end, term.text, "vocabulary", weight)))
        return out

    def _match_at(self, term: _Term, p: int, stems: list[str]) -> tuple[int, int] | None:
        """Content-word span where all of `term`'s stems occur near position p, else None."""
        k = len(term.stems)
        if k == 1:
            return (p, p)
        reach = k - 1 + self.window_slack
        lo, hi = max(0, p - reach), min(len(stems), p + reach + 1)
        span_lo, span_hi = p, p
        for stem in term.stems[1:]:
            # Nearest occurrence to p within [lo, hi); on equal distance the earlier one, as min() would.
            q = -1
            for d in range(0, reach + 1):
                if p - d >= lo and stems[p - d] == stem:
                    q = p - d
                    break
                if p + d < hi and stems[p + d] == stem:
                    q = p + d
                    break
            if q < 0:
                return None
            span_lo, span_hi = min(span_lo, q), max(span_hi, q)
        if span_hi - span_lo > reach:
            return None
        return (span_lo, span_hi)

    def _semantic_hits(self, text: str) -> list[tuple[str, Evidence]]:
        assert self.encoder is not None and self.term_matrix_ is not None
        spans = [s for s in sentences(text) if len(text[s[0]:s[1]].split()) >= 3]
        if not spans:
            return []
        vectors = self.encoder.encode([text[s:e] for s, e in spans], kind="query")
        sims = vectors @ self.term_matrix_.T  # (n_sentences, n_terms)
        out: list[tuple[str, Evidence]] = []
        for row, (start, end) in zip(sims, spans, strict=True):
            best = int(np.argmax(row))
            score = float(row[best])
            if score >= self.semantic_threshold:
                term = self.term_list_[best]
                weight = min(1.0, 0.5 + (score - self.semantic_threshold) * 2)
                out.append((term.area, Evidence(text[start:end], start, end, term.text, "semantic", weight)))
        return out
