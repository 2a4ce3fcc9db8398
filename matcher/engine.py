"""The matching engine: analysed needs and profiles, their indexes, and ranked, explained matches.

Usable as a library with no server or database: give it an Encoder and records.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from matcher.areas import AreaDetector, AreaHit, Evidence
from matcher.candidates import SideArrays, shortlist, top_lexical
from matcher.encoder import Encoder
from matcher.errors import InvalidInputError, NotFoundError
from matcher.explain import explain_pair
from matcher.index import FaissIndex, IndexKind, NumpyIndex, VectorIndex, make_index
from matcher.lexical import BM25Lexical, Terms, TermTable
from matcher.rank import PairFeatures, PairScorer, Weights, area_overlap, breakdown, total
from matcher.schema import Need, Profile
from matcher.text import detect_language, lexical_terms, passages

Side = Literal["need", "profile"]
# Up to this many records every one is scored (vectorised, exact); above, a candidate set
# from the vector index, BM25 and the cheap score parts. Measured (docs/benchmarks.md):
# scoring all 10k profiles takes ~4 ms, less than the candidate path's ~5 ms.
EXACT_BELOW = 20_000
# Records whose explanation inputs (stems, sentences and their stems) are kept in memory,
# most recently used first; evicted ones are recomputed (no model call: ~1 ms a record).
EXPLAIN_CACHE_RECORDS = 16_384
# A write of up to this many records (or a tenth of the side) updates the score columns in
# place; a bigger one drops them, to be rebuilt in one pass.
INCREMENTAL_MAX = 1_000
# Measured on the dev set's hand-labelled areas: keeping areas at >= 0.7 of the strongest
# raises detection precision from 0.36 to 0.59 at recall 0.92 (passing mentions such as
# "nurses" in a stroke need are real words, but not what the need is about).
MAIN_AREA_RATIO = 0.7
# Passing mentions weigh a third: on the dev set pt nDCG@10 0.85 -> 0.90, overall unchanged.
MINOR_WEIGHT = 0.33
# A new need nearly repeats an open one of its institution at this cosine, when they share a
# main area. Measured with all-MiniLM-L6-v2 by bench/duplicates.py: 14 of 15 rewordings of
# demo needs score 0.86-0.96 (a heavily shortened one 0.64), while different needs on a
# related topic score at most 0.63 and distinct demo needs sharing a main area at most 0.72.
DUPLICATE_COSINE = 0.80


@dataclass
class Analysed:
    """A record with what the engine derived from it."""

    id: str
    side: Side
    text: str
    language: str
    areas: dict[str, AreaHit]
    vector: NDArray[np.float32]
    terms: Terms  # a list until the record is indexed, then its index's compact TermBag
    record: Need | Profile | None = None
    # Explanation inputs (stems, sentences and their stems), filled on first use; see explain.py.
    explain_cache: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    # Cached: `areas` does not change once analysed, and scoring reads these per candidate.
    @cached_property
    def strengths(self) -> dict[str, float]:
        """Area id -> weight for matching: full strength for the main areas, a third for passing mentions."""
        main = set(self.main_areas)
        return {a: h.strength if a in main else h.strength * MINOR_WEIGHT for a, h in self.areas.items()}

    @cached_property
    def main_areas(self) -> list[str]:
        """Areas the text is mainly about: declared, or detected at >= MAIN_AREA_RATIO of the strongest."""
        top = max((h.strength for h in self.areas.values()), default=0.0)
        return [a for a, h in self.areas.items() if h.strength >= MAIN_AREA_RATIO * top]


@dataclass(frozen=True)
class TextAnalysis:
    """What analysis derives from a text apart from its vector: language, areas, lexical terms.

    It costs ~2 ms a record (language detection, vocabulary matching, stemming), so that
    loading 100k records took minutes; the service keeps it in a cache (see
    service/analysis_cache.py) under `MatchEngine.analysis_fingerprint()`.
    """

    language: str
    areas: dict[str, AreaHit]
    terms: list[str]

    def to_json(self) -> str:
        """Compact JSON: language, areas as [area, strength, [[phrase, start, end, term, method, weight]]], terms.

        Terms (stems, never containing a space) are one space-separated string: splitting it
        back is several times faster than parsing a JSON list of hundreds of strings.
        """
        areas = [[h.area, h.strength, [[e.phrase, e.start, e.end, e.term, e.method, e.weight] for e in h.evidence]]
                 for h in self.areas.values()]
        return json.dumps({"language": self.language, "areas": areas, "terms": " ".join(self.terms)},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> TextAnalysis:
        """The analysis `to_json` wrote (areas keep their order, terms are interned again)."""
        data = json.loads(raw)
        areas = {}
        for a, strength, evidence in data["areas"]:
            area = sys.intern(a)
            areas[area] = AreaHit(area, _shared_float(strength), tuple(
                Evidence(phrase if method == "semantic" else sys.intern(phrase), start, end, sys.intern(term),
                         sys.intern(method), _shared_float(weight))  # type: ignore[arg-type]  # method as written
                for phrase, start, end, term, method, weight in evidence))
        return cls(data["language"], areas, [sys.intern(t) for t in data["terms"].split()])


_FLOATS: dict[float, float] = {}


def _shared_float(value: float) -> float:
    """One float object per distinct value (strengths and weights repeat: 1.0, 0.8, ...)."""
    if len(_FLOATS) > 100_000:  # semantic weights are continuous: keep the table bounded
        return value
    return _FLOATS.setdefault(value, value)


@dataclass(frozen=True)
class AnalysisRequest:
    """What `analyse_many` needs to know about one text; `analysis` and `vector` skip recomputing them."""

    side: Side
    record_id: str
    text: str
    language: str | None = None
    declared: tuple[str, ...] = ()
    record: Need | Profile | None = None
    vector: NDArray[np.float32] | None = None
    analysis: TextAnalysis | None = None


@dataclass
class _Side:
    records: dict[str, Analysed]
    index: VectorIndex
    lexical: BM25Lexical
    arrays: SideArrays | None = None  # columns for scoring; None after a big write, rebuilt when next needed


@dataclass
class MatchEngine:
    """Ranks profiles for needs (and needs for profiles) with explanations.

    `capacity_used` maps profile id -> partnerships already accepted, so that
    remaining capacity = profile.capacity - used. `scorer` (a learned reranker, see
    models.reranker) replaces the hand-set `weights` when given.
    """

    encoder: Encoder
    detector: AreaDetector
    weights: Weights = field(default_factory=Weights)
    index_kind: IndexKind = "flat"
    capacity_used: dict[str, int] = field(default_factory=dict)
    explain_cache_records: int = EXPLAIN_CACHE_RECORDS
    scorer: PairScorer | None = None
    # True: HNSW graphs are not compacted inside the write that leaves too many tombstones
    # (holding this engine's lock for seconds), but by `compact()`, which the owner calls.
    deferred_compaction: bool = False
    _sides: dict[str, _Side] = field(init=False, repr=False)
    _lock: threading.RLock = field(init=False, repr=False, default_factory=threading.RLock)
    _explained: OrderedDict[tuple[str, str], Analysed] = field(init=False, repr=False, default_factory=OrderedDict)
    _terms: TermTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.clear()

    def _new_side(self) -> _Side:
        return _Side({}, self._own(make_index(self.index_kind, self.encoder.dimension)), BM25Lexical(table=self._terms))

    def _own(self, index: VectorIndex) -> VectorIndex:
        if isinstance(index, FaissIndex):
            index.compact_inline = not self.deferred_compaction
        return index

    # ---- analysis -------------------------------------------------------------------
    def embedding_text(self, text: str, areas: dict[str, AreaHit], language: str) -> list[str]:
        """Passages to embed: the text, plus for French/Portuguese an English gloss of its areas.

        The English-only encoder cannot read French or Portuguese well; the gloss (English
        names of the areas the vocabulary found) carries the need across languages.
        """
        chunks = passages(text)
        if language != "en" and self.detector.vocabulary is not None:
            found = [a for a, h in areas.items() if any(e.method != "declared" for e in h.evidence)]
            gloss = ", ".join(self.detector.vocabulary.names[a]["en"] for a in found)
            if gloss:
                chunks.append(gloss)
        return chunks

    def text_analysis(self, text: str, language: str | None = None, declared: Sequence[str] = ()) -> TextAnalysis:
        """Language (`language` when given, else detected), areas and lexical terms of `text`."""
        return TextAnalysis(language or detect_language(text), self.detector.detect(text, declared=list(declared)),
                            lexical_terms(text))

    def analysis_fingerprint(self) -> str:
        """Changes whenever `text_analysis` of some text could: its code, vocabulary, settings or libraries.

        The code is part of it (the source of matcher/areas.py and matcher/text.py), so a
        change to detection or stemming invalidates cached analyses without anyone having
        to remember a version number.
        """
        from importlib.metadata import PackageNotFoundError, version

        import matcher.areas
        import matcher.text

        d = self.detector
        h = hashlib.sha256()
        for module in (matcher.areas, matcher.text):
            h.update(Path(module.__file__ or "").read_bytes())
        # Language detection, stemming and stop words come from these.
        for package in ("lingua-language-detector", "snowballstemmer", "PyStemmer", "bm25s"):
            try:
                h.update(f"{package}={version(package)}".encode())
            except PackageNotFoundError:
                h.update(f"{package} absent".encode())
        vocabulary = dataclasses.asdict(d.vocabulary) if d.vocabulary is not None else None
        h.update(json.dumps({"vocabulary": vocabulary, "semantic_threshold": d.semantic_threshold,
                             "window_slack": d.window_slack, "encoder": d.encoder.name if d.encoder else None},
                            sort_keys=True).encode())
        return h.hexdigest()

    def analyse(self, side: Side, record_id: str, text: str, language: str | None = None,
                declared: Sequence[str] = (), record: Need | Profile | None = None,
                vector: NDArray[np.float32] | None = None) -> Analysed:
        """Detect language and areas, embed, and extract lexical terms of one text."""
        return self.analyse_many([AnalysisRequest(side, record_id, text, language, tuple(declared), record,
                                                  vector)])[0]

    def analyse_many(self, requests: Sequence[AnalysisRequest], batch: int = 256,
                     encoder: Encoder | None = None) -> list[Analysed]:
        """Analyse many texts, encoding the passages of all that need it in large batches (with `encoder` if given)."""
        encoder = encoder or self.encoder
        out: list[Analysed] = []
        for req in requests:
            if not req.text.strip():
                raise InvalidInputError("field 'description' (or 'text'): must not be empty")
            found = req.analysis or self.text_analysis(req.text, req.language, req.declared)
            vector = req.vector if req.vector is not None else np.zeros(0, dtype=np.float32)
            out.append(Analysed(req.record_id, req.side, req.text, found.language, found.areas, vector, found.terms,
                                req.record))
        todo = [a for a in out if a.vector.size == 0]
        for start in range(0, len(todo), batch):
            chunk = todo[start:start + batch]
            for kind in ("query", "passage"):
                group = [a for a in chunk if (a.side == "need") == (kind == "query")]
                if not group:
                    continue
                pieces = [self.embedding_text(a.text, a.areas, a.language) for a in group]
                vectors = encoder.encode([p for ps in pieces for p in ps], kind=kind)
                pos = 0
                for a, ps in zip(group, pieces, strict=True):
                    mean = vectors[pos:pos + len(ps)].mean(axis=0)
                    pos += len(ps)
                    norm = float(np.linalg.norm(mean))
                    a.vector = (mean / norm if norm > 0 else mean).astype(np.float32)
        return out

    def add(self, items: Iterable[Analysed], *, indexed: bool = False) -> None:
        """Add or replace analysed records in their side's indexes.

        `indexed=True`: their vectors are already in the side's vector index (one loaded
        from a snapshot with `replace_index`), so only the records and lexical terms are added.
        """
        by_side: dict[str, list[Analysed]] = {"need": [], "profile": []}
        for a in items:
            by_side[a.side].append(a)
        with self._lock:
            for side, batch in by_side.items():
                if not batch:
                    continue
                s = self._sides[side]
                if not indexed:
                    s.index.add([a.id for a in batch], np.stack([a.vector for a in batch]))
                for a in batch:
                    s.records[a.id] = a
                    a.terms = s.lexical.add_terms(a.id, a.terms)
                    self._explained.pop((side, a.id), None)
                self._follow(s, [a.id for a in batch], ())

    def add_profiles(self, profiles: Sequence[Profile]) -> list[Analysed]:
        """Analyse and add profiles."""
        done = self.analyse_many([AnalysisRequest("profile", p.id, p.description, None, tuple(p.clinical_areas), p)
                                  for p in profiles])
        self.add(done)
        return done

    def add_needs(self, needs: Sequence[Need]) -> list[Analysed]:
        """Analyse and add needs."""
        done = self.analyse_many([AnalysisRequest("need", n.id, n.description, n.language,
                                                  tuple(n.clinical_areas), n) for n in needs])
        self.add(done)
        return done

    def clear(self) -> None:
        """Forget every record: new, empty indexes and term table (a reload starts from nothing)."""
        with self._lock:
            self._terms = TermTable()  # shared by both sides' BM25, so a record's bag queries the other side as is
            self._sides = {s: self._new_side() for s in ("need", "profile")}
            self._explained.clear()

    def remove(self, side: Side, ids: Sequence[str]) -> None:
        """Remove records: vectors, lexical entries and analysis all go."""
        with self._lock:
            s = self._sides[side]
            s.index.remove(list(ids))
            s.lexical.remove(list(ids))
            for i in ids:
                s.records.pop(i, None)
                self._explained.pop((side, i), None)
            self._follow(s, (), ids)

    @staticmethod
    def _follow(s: _Side, changed: Sequence[str], removed: Sequence[str]) -> None:
        """Update the side's score columns for a small write; drop them (rebuilt when next needed) for a big one."""
        if s.arrays is not None and len(changed) + len(removed) <= max(INCREMENTAL_MAX, len(s.arrays) // 10):
            s.arrays.update(s.records, changed, removed)
        else:
            s.arrays = None

    def get(self, side: Side, record_id: str) -> Analysed | None:
        """An analysed record, or None."""
        return self._sides[side].records.get(record_id)

    def ids(self, side: Side) -> list[str]:
        """Sorted ids held on one side."""
        return sorted(self._sides[side].records)

    def index(self, side: Side) -> VectorIndex:
        """The vector index of one side."""
        return self._sides[side].index

    def lexical(self, side: Side) -> BM25Lexical:
        """The lexical index of one side."""
        return self._sides[side].lexical

    def replace_index(self, side: Side, index: VectorIndex) -> None:
        """Swap in a loaded index snapshot for one side."""
        with self._lock:
            self._sides[side].index = self._own(index)
            self._sides[side].arrays = None

    def compact(self) -> bool:
        """Compact each side's HNSW graph that needs it (see FaissIndex.needs_compaction); True if any was.

        The new graph is built beside the live one, which serves meanwhile (11-13 s at 100k
        profiles, once a fifth of the graph is dead); this engine's lock is held only to swap
        it in. A side written to during the build keeps its graph: the next call tries again.
        The score columns stay as they are (they do not depend on the index).
        """
        done = False
        for side in ("need", "profile"):
            index = self._sides[side].index
            if not (isinstance(index, FaissIndex) and index.needs_compaction()):
                continue
            fresh, changes = index.compacted()
            with self._lock:
                s = self._sides[side]
                if s.index is index and index.changes == changes:
                    s.index = fresh
                    done = True
        return done

    # ---- matching -------------------------------------------------------------------
    def remaining_capacity(self, profile: Analysed) -> int | None:
        """Capacity left for a profile (None when the record carries no capacity)."""
        if not isinstance(profile.record, Profile):
            return None
        return max(0, profile.record.capacity - self.capacity_used.get(profile.id, 0))

    def features(self, need: Analysed, profile: Analysed, dense: float, lexical: float) -> PairFeatures:
        """Raw features of a (need, profile) pair."""
        n_rec = need.record if isinstance(need.record, Need) else None
        p_rec = profile.record if isinstance(profile.record, Profile) else None
        language = 1.0 if p_rec is not None and need.language in p_rec.languages else 0.0
        country = 1.0 if (n_rec and p_rec and n_rec.country in p_rec.countries_of_experience) else 0.0
        modality = 0.0
        if n_rec and p_rec and n_rec.preferred_modalities:
            shared = set(n_rec.preferred_modalities) & set(p_rec.modalities)
            modality = len(shared) / len(n_rec.preferred_modalities)
        remaining = self.remaining_capacity(profile)
        full = 1.0 if remaining == 0 else 0.0
        return PairFeatures(
            dense=dense, lexical=lexical, areas=area_overlap(need.strengths, profile.strengths),
            language=language, country=country, modality=modality, full=full,
        )

    # ---- scoring, pair features and duplicates ------------------------------------------
    def score_parts(self, features: PairFeatures) -> dict[str, float]:
        """The parts of a pair's score (the scorer's, else the hand-set weights'); they sum to the score."""
        return self.scorer.parts(features) if self.scorer is not None else breakdown(features, self.weights)

    @property
    def scorer_name(self) -> str:
        """The scoring in use: 'weights' (hand-set) or the scorer's name."""
        return self.scorer.name if self.scorer is not None else "weights"

    @contextmanager
    def scoring(self, scorer: PairScorer | None) -> Iterator[MatchEngine]:
        """Score with `scorer` (None: the hand-set weights) inside the block, holding the engine's lock."""
        with self._lock:
            previous, self.scorer = self.scorer, scorer
            try:
                yield self
            finally:
                self.scorer = previous

    def pair_features(self, need_id: str, profile_ids: Sequence[str]) -> dict[str, PairFeatures]:
        """Features of a stored need with each named stored profile (unknown ids are left out).

        Lexical scores are normalised by the need's best over all profiles, as in ranking.
        """
        with self._lock:
            need = self.get("need", need_id)
            if need is None:
                return {}
            lex_raw = self._sides["profile"].lexical.scores(need.terms)
            top = max(lex_raw.values(), default=0.0)
            out: dict[str, PairFeatures] = {}
            for pid in profile_ids:
                profile = self.get("profile", pid)
                if profile is not None:
                    lexical = lex_raw.get(pid, 0.0) / top if top > 0 else 0.0
                    out[pid] = self.features(need, profile, float(profile.vector @ need.vector), lexical)
            return out

    def find_duplicate(self, text: str, institution_need_ids: Sequence[str], language: str | None = None,
                       declared: Sequence[str] = (), threshold: float = DUPLICATE_COSINE) -> tuple[str, float] | None:
        """The open need of `institution_need_ids` that `text` nearly repeats, with the cosine; else None.

        Nearly the same: need vectors at cosine >= `threshold` and a main area in common (or
        no areas on either side). The most similar such need wins (ties by id).
        """
        with self._lock:
            others = [a for a in (self.get("need", i) for i in sorted(set(institution_need_ids))) if a is not None]
            if not others:
                return None
            query = self.analyse("need", "<new>", text, language, declared)
            best: tuple[str, float] | None = None
            for other in others:
                cosine = float(other.vector @ query.vector)
                mine, theirs = set(query.main_areas), set(other.main_areas)
                same_areas = bool(mine & theirs) or not (mine or theirs)
                if cosine >= threshold and same_areas and (best is None or cosine > best[1]):
                    best = (other.id, round(cosine, 4))
            return best

    def _arrays(self, target: Side) -> SideArrays:
        s = self._sides[target]
        if s.arrays is None:
            s.arrays = SideArrays.build(target, s.records, self.encoder.dimension)
        return s.arrays

    def warm(self) -> None:
        """Build what the first query of each side would otherwise build: score columns, BM25, their id maps.

        At 100k profiles that is ~3 s, which a service should spend while starting, not in
        its first user's request.
        """
        sides: tuple[Side, ...] = ("need", "profile")
        with self._lock:
            for side in sides:
                self._arrays(side).warm(self._sides[side].lexical.warm())

    def _candidates(self, query: Analysed, target: Side) -> tuple[NDArray[np.intp], NDArray[np.float64],
                                                                    NDArray[np.float64]]:
        """Candidate positions on the target side with their dense and normalised lexical scores.

        Below EXACT_BELOW records (or with the exact numpy index) every record is a
        candidate; above, the index's top 200 by cosine, BM25's top 200, and the 500 best
        by every part of the score but the dense one (areas, lexical, fit: cheap to compute
        for all records), so that strong area and lexical matches the dense retrieval
        missed are scored too. (The 500 were the first 500 records sharing an area, in
        insertion order: at 100k profiles their top 10 agreed with brute force 70% of the
        time; see docs/benchmarks.md.)
        """
        s = self._sides[target]
        arrays = self._arrays(target)
        n = len(arrays)
        lex_ids, raw = s.lexical.score_array(query.terms)  # raw in the lexical index's (sorted id) order
        lexical = np.zeros(n, dtype=np.float64)
        top_lex: list[int] = []
        if len(lex_ids):
            to_ours = arrays.lexical_to_position(lex_ids)
            top = float(raw.max())
            if top > 0:
                norm = np.where(raw > 0, raw / top, 0.0)
                lexical[to_ours] = norm
                if n > EXACT_BELOW:
                    top_lex = to_ours[top_lexical(norm, 200)].tolist()  # ties by id, as a sorted list would
        q = np.asarray(query.vector, dtype=np.float32)
        if isinstance(s.index, NumpyIndex) or n <= EXACT_BELOW:
            pos = np.arange(n)
            dense = arrays.dense(q).astype(np.float64)
            return pos, dense, lexical
        chosen = {arrays.position[rid]: d for rid, d in s.index.search(q, 200) if rid in arrays.position}
        query_full = target == "need" and self.remaining_capacity(query) == 0
        rest = arrays.approximate_scores(query, np.arange(n), np.zeros(n), lexical, self.weights, self.capacity_used,
                                         query_full)
        best_rest = np.argpartition(-rest, 499)[:500] if n > 500 else np.arange(n)
        extra = top_lex + np.sort(best_rest).tolist()
        for p in extra:
            if p not in chosen:
                chosen[p] = float(arrays.vectors[p] @ q)
        pos = np.fromiter(chosen, dtype=np.intp, count=len(chosen))
        dense = np.fromiter(chosen.values(), dtype=np.float64, count=len(chosen))
        return pos, dense, lexical[pos]

    def _rank(self, query: Analysed, target: Side, top: int, explain: bool) -> list[dict[str, Any]]:
        if top < 1:
            raise InvalidInputError(f"field 'top': must be at least 1, got {top}")
        with self._lock:
            pos, dense, lexical = self._candidates(query, target)
            arrays = self._arrays(target)
            if query.side == target and query.id in arrays.position:
                keep = pos != arrays.position[query.id]
                pos, dense, lexical = pos[keep], dense[keep], lexical[keep]
            query_full = target == "need" and self.remaining_capacity(query) == 0
            if self.scorer is None:
                approx = arrays.approximate_scores(query, pos, dense, lexical, self.weights, self.capacity_used,
                                                   query_full)
                chosen = shortlist(approx, top).tolist()
            else:  # a learned scorer has no vectorised approximation: every candidate is scored exactly
                chosen = list(range(len(pos)))
            scored = []
            records = self._sides[target].records
            for i in chosen:
                rid = arrays.ids[int(pos[i])]
                other = records[rid]
                need, profile = (query, other) if target == "profile" else (other, query)
                f = self.features(need, profile, float(dense[i]), float(lexical[i]))
                parts = self.score_parts(f)
                scored.append((total(parts), rid, f, parts, need, profile))
            scored.sort(key=lambda x: (-x[0], x[1]))
            items = []
            for score, rid, f, parts, need, profile in scored[:top]:
                key = "profile_id" if target == "profile" else "need_id"
                item: dict[str, Any] = {key: rid, "score": score, "breakdown": parts}
                if explain:
                    item.update(explain_pair(need, profile, f, self.remaining_capacity(profile)))
                    for a in (need, profile):
                        if a.id in self._sides[a.side].records:
                            self._remember_explained(a)
                items.append(item)
            return items

    def _remember_explained(self, a: Analysed) -> None:
        """Keep `a`'s explanation inputs among the most recent; drop the oldest beyond the bound."""
        key = (a.side, a.id)
        self._explained[key] = a
        self._explained.move_to_end(key)
        while len(self._explained) > self.explain_cache_records:
            _, old = self._explained.popitem(last=False)
            old.explain_cache = None

    def match_need(self, need_id: str, top: int = 10, explain: bool = True) -> list[dict[str, Any]]:
        """Ranked profiles for a stored need."""
        need = self.get("need", need_id)
        if need is None:
            raise NotFoundError(f"need {need_id!r} not found")
        return self._rank(need, "profile", top, explain)

    def match_profile(self, profile_id: str, top: int = 10, explain: bool = True) -> list[dict[str, Any]]:
        """Ranked needs (counterparts) for a stored profile."""
        profile = self.get("profile", profile_id)
        if profile is None:
            raise NotFoundError(f"profile {profile_id!r} not found")
        return self._rank(profile, "need", top, explain)

    def match_text(self, text: str, top: int = 10, language: str | None = None,
                   explain: bool = True, encoder: Encoder | None = None) -> list[dict[str, Any]]:
        """Ranked profiles for an ad-hoc needs statement; `encoder` encodes it instead (one that keeps nothing)."""
        query = self.analyse_many([AnalysisRequest("need", "<text>", text, language)], encoder=encoder)[0]
        return self._rank(query, "profile", top, explain)
