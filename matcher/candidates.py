"""Column arrays of one side's records, for scoring many candidates at once.

`MatchEngine` used to score every candidate in Python (one `PairFeatures` each): at 10k
profiles that was most of a query's time. `SideArrays` holds what scoring reads (vectors,
area strengths, language/modality bit masks, capacities, countries) as numpy columns in the
order of the side's records, updated in place after a small write and rebuilt lazily
after a big one. `approximate_scores` computes
the score of many candidates with numpy; the engine then re-scores only the candidates
within `SCORE_MARGIN` of the k-th best with the exact per-pair code, so results are the
same as scoring everything exactly (the approximation differs from the exact score only
by the rounding of the breakdown's parts, at most 4.5e-4).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from matcher.rank import Weights
from matcher.schema import AREA_IDS, LANGUAGES, MODALITIES, Need, Profile

if TYPE_CHECKING:
    from matcher.engine import Analysed

# Twice the largest gap between the vectorised score and the rounded exact one (7 parts
# rounded to 4 decimals, then their sum): anything further below the k-th best cannot
# enter the top k.
SCORE_MARGIN = 1e-3
AREA_INDEX = {a: i for i, a in enumerate(AREA_IDS)}
LANGUAGE_BIT = {lang: 1 << i for i, lang in enumerate(LANGUAGES)}
MODALITY_BIT = {m: 1 << i for i, m in enumerate(MODALITIES)}
# Rows from which `dense_scores` hands half the product to a second thread (below, the
# hand-over costs more than it saves).
SPLIT_ROWS = 4096
# Spare rows the vector matrix keeps for records added later (at least; or 1/16 of the rows).
SPARE_ROWS = 64
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << len(MODALITIES))], dtype=np.float64)
_helper: tuple[int, ThreadPoolExecutor] | None = None  # (pid, executor): a forked child makes its own


def _second_core() -> ThreadPoolExecutor:
    """The thread that takes half of a large product; a new one after a fork (the parent's did not survive it)."""
    global _helper
    held = _helper
    if held is None or held[0] != os.getpid():
        held = _helper = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="partnermatch-dense"))
    return held[1]


def limit_blas_threads() -> None:
    """Run numpy's BLAS on one thread in this process: see `dense_scores` for why."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def dense_scores(vectors: NDArray[np.float32], query: NDArray[np.float32]) -> NDArray[np.float32]:
    """`vectors @ query`, the rows split over two threads when there are many; equal to one product.

    The processes that match run numpy's BLAS on one thread (`limit_blas_threads`): its idle
    threads spin for ~0.1 s after each product, and on 2 cores that spinning halved the
    model's speed when it encoded the next ad-hoc text (10k profiles: 96 ms an ad-hoc match
    with two BLAS threads, 50 with one). This product over every record is memory-bound
    and does gain from the second core (10k profiles: ~2.0 ms on one, ~1.4 on two, paired),
    so it splits the rows itself, on a thread that sleeps when idle. The split falls on a
    multiple of 64 rows, where BLAS's blocks of rows fall in the whole product too, so every
    score is bit-for-bit what one single-threaded product gives.
    """
    n = len(vectors)
    out = np.empty(n, dtype=np.float32)
    half = (n // 2) // 64 * 64
    if n < SPLIT_ROWS or _CORES < 2 or half == 0:
        return np.matmul(vectors, query, out=out)
    other = _second_core().submit(np.matmul, vectors[half:], query, out=out[half:])
    np.matmul(vectors[:half], query, out=out[:half])
    other.result()
    return out


def _bits(values: Sequence[str], table: Mapping[str, int]) -> int:
    out = 0
    for v in values:
        out |= table.get(v, 0)
    return out


@dataclass
class SideArrays:
    """Columns over one side's records, in the order of `ids` (the side's dict order).

    Shapes: `vectors` (n, dim) float32; `strengths`, `present` (n, n_areas); the rest (n,).
    `language_bits`: for needs the need's language, for profiles the languages spoken.
    `modality_bits`: preferred (needs) or offered (profiles). `has_record`: the record is a
    Need (need side) or Profile (profile side), as the features require.
    """

    side: str
    ids: list[str]
    position: dict[str, int]
    vectors: NDArray[np.float32]
    strengths: NDArray[np.float64]
    present: NDArray[np.bool_]
    strength_sum: NDArray[np.float64]
    language_bits: NDArray[np.int64]
    modality_bits: NDArray[np.int64]
    modality_count: NDArray[np.float64]
    has_record: NDArray[np.bool_]
    capacity: NDArray[np.int64]
    country: list[str | None]
    countries: list[frozenset[str]]
    _by_country: dict[str, NDArray[np.bool_]] = field(default_factory=dict, repr=False)
    _lexical: tuple[list[str], NDArray[np.intp]] | None = field(default=None, repr=False)

    _rows: NDArray[np.float32] | None = field(default=None, repr=False)  # `vectors` is its first len(ids) rows

    @classmethod
    def build(cls, side: str, records: Mapping[str, Analysed], dimension: int) -> SideArrays:
        """Columns for `records` (id -> analysed record of `side`); their vectors become rows of `vectors`.

        Each record's vector becomes a read-only row of the matrix as it is copied in, so
        the side's vectors are held once, and twice for no more than one record at a time.
        The matrix has room for ~6% more records, for `update` to add them in place.
        """
        ids = list(records)
        n = len(ids)
        arrays = cls(side, [], {}, np.zeros((0, dimension), dtype=np.float32), *cls._columns(0), [], [])
        arrays._rows = np.empty((n + max(SPARE_ROWS, n // 16), dimension), dtype=np.float32)
        arrays._append(records, ids)
        return arrays

    @staticmethod
    def _columns(n: int) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.int64],
                                  NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.int64]]:
        """Zeroed columns for n records, in the order of `_COLUMNS`."""
        return (np.zeros((n, len(AREA_IDS)), dtype=np.float64), np.zeros((n, len(AREA_IDS)), dtype=bool),
                np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64),
                np.zeros(n, dtype=np.float64), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64))

    _COLUMNS = ("strengths", "present", "strength_sum", "language_bits", "modality_bits", "modality_count",
                "has_record", "capacity")

    def update(self, records: Mapping[str, Analysed], changed: Sequence[str], removed: Sequence[str]) -> None:
        """Follow a write to `records` without rebuilding: `changed` ids were added or replaced, `removed` ones dropped.

        The columns end as `build(records)` would make them (a test compares): replaced
        records keep their row, new ones are appended, removed rows close up in place.
        Rebuilding the columns of 100k profiles took 2.6 s after every profile write.
        """
        self._by_country.clear()
        self._lexical = None
        gone = sorted(self.position[r] for r in set(removed) if r in self.position)
        if gone:
            self._close_up(records, gone)
        new = [rid for rid in dict.fromkeys(changed) if rid not in self.position]
        for rid in changed:
            if rid in self.position:
                self._fill(self.position[rid], records[rid])
        if new:
            self._append(records, new)

    def _close_up(self, records: Mapping[str, Analysed], gone: list[int]) -> None:
        n = len(self.ids)
        keep = np.ones(n, dtype=bool)
        keep[gone] = False
        for name in self._COLUMNS:
            setattr(self, name, getattr(self, name)[keep])
        dropped = set(gone)
        self.country = [c for i, c in enumerate(self.country) if i not in dropped]
        self.countries = [c for i, c in enumerate(self.countries) if i not in dropped]
        self.ids = [rid for i, rid in enumerate(self.ids) if i not in dropped]
        rows = self._rows
        assert rows is not None
        # Shift each run of kept rows down over the gaps, in chunks (no copy of the whole matrix).
        bounds = [*gone, n]
        to = gone[0]
        for k, start in enumerate(gone):
            run = np.arange(start + 1, bounds[k + 1])
            for c in range(0, len(run), 4096):
                part = run[c:c + 4096]
                rows[to:to + len(part)] = rows[part]
                to += len(part)
        self.vectors = rows[:len(self.ids)]
        self.position = {rid: i for i, rid in enumerate(self.ids)}
        for i in range(gone[0], len(self.ids)):
            self._bind_vector(i, records[self.ids[i]])

    def _append(self, records: Mapping[str, Analysed], new: list[str]) -> None:
        n, k = len(self.ids), len(new)
        rows = self._rows
        assert rows is not None
        if n + k > len(rows):  # no room left: a bigger matrix, and every record's vector moves into it
            bigger = np.empty((n + k + max(SPARE_ROWS, (n + k) // 16), rows.shape[1]), dtype=np.float32)
            bigger[:n] = rows[:n]
            self._rows = rows = bigger
            for i in range(n):
                self._bind_vector(i, records[self.ids[i]])
        for name, extra in zip(self._COLUMNS, self._columns(k), strict=True):
            setattr(self, name, np.concatenate([getattr(self, name), extra]))
        self.country.extend([None] * k)
        self.countries.extend([frozenset()] * k)
        for i, rid in enumerate(new, start=n):
            self.ids.append(rid)
            self.position[rid] = i
            self._fill(i, records[rid], fresh=True)
        self.strength_sum[n:] = self.strengths[n:].sum(axis=1)
        self.vectors = rows[:n + k]

    def _bind_vector(self, i: int, a: Analysed) -> None:
        """Make `a.vector` the read-only row i (its values already there)."""
        assert self._rows is not None
        a.vector = self._rows[i]
        a.vector.flags.writeable = False

    def _fill(self, i: int, a: Analysed, fresh: bool = False) -> None:
        """Row i of every column from record `a`, its vector copied in and rebound.

        `fresh`: the row is still zero, and the caller sums the strengths of all new rows at once.
        """
        assert self._rows is not None
        if not fresh:
            self.strengths[i] = 0.0
            self.present[i] = False
        for area, value in a.strengths.items():
            j = AREA_INDEX[area]
            self.strengths[i, j] = value
            self.present[i, j] = True
        if not fresh:
            self.strength_sum[i:i + 1] = self.strengths[i:i + 1].sum(axis=1)
        lang = modal = capacity = 0
        modal_count, has_record = 0.0, False
        country: str | None = None
        countries: frozenset[str] = frozenset()
        rec = a.record
        if self.side == "need":
            lang = LANGUAGE_BIT.get(a.language, 0)
            if isinstance(rec, Need):
                has_record, country = True, rec.country
                modal = _bits(rec.preferred_modalities, MODALITY_BIT)
                modal_count = len(rec.preferred_modalities)
        elif isinstance(rec, Profile):
            has_record = True
            lang = _bits(rec.languages, LANGUAGE_BIT)
            modal = _bits(rec.modalities, MODALITY_BIT)
            capacity = rec.capacity
            countries = frozenset(rec.countries_of_experience)
        self.language_bits[i], self.modality_bits[i], self.modality_count[i] = lang, modal, modal_count
        self.has_record[i], self.capacity[i] = has_record, capacity
        self.country[i], self.countries[i] = country, countries
        self._rows[i] = a.vector
        self._bind_vector(i, a)

    def __len__(self) -> int:
        return len(self.ids)

    def dense(self, query: NDArray[np.float32]) -> NDArray[np.float32]:
        """Every record's cosine with `query` (`vectors @ query`), on two cores when large: see `dense_scores`."""
        return dense_scores(self.vectors, query)

    def lexical_to_position(self, lexical_ids: list[str]) -> NDArray[np.intp]:
        """For each id of the lexical index (in its order), its position here; computed once per id list."""
        if self._lexical is None or self._lexical[0] is not lexical_ids:
            mapped = np.fromiter((self.position[i] for i in lexical_ids), dtype=np.intp, count=len(lexical_ids))
            self._lexical = (lexical_ids, mapped)
        return self._lexical[1]

    def warm(self, lexical_ids: list[str]) -> None:
        """Build what the first query after a write would otherwise rebuild for the whole side.

        The lexical index's id map and, for profiles, the per-country masks: at 100k
        profiles the first query after a write took 0.13-0.2 s instead of ~25 ms.
        """
        self.lexical_to_position(lexical_ids)
        if self.side == "profile":
            self._country_masks()

    def experienced_in(self, country: str) -> NDArray[np.bool_]:
        """Profiles side: True where the profile lists `country` among its countries of experience."""
        found = self._country_masks().get(country)
        return found if found is not None else np.zeros(len(self.ids), dtype=bool)

    def _country_masks(self) -> dict[str, NDArray[np.bool_]]:
        if not self._by_country and self.ids:
            where: dict[str, list[int]] = {}
            for i, known in enumerate(self.countries):
                for c in known:
                    where.setdefault(c, []).append(i)
            for c, rows in where.items():
                hit = np.zeros(len(self.ids), dtype=bool)
                hit[rows] = True
                self._by_country[c] = hit
        return self._by_country

    def approximate_scores(self, query: Analysed, pos: NDArray[np.intp], dense: NDArray[np.float64],
                           lexical: NDArray[np.float64], weights: Weights,
                           capacity_used: Mapping[str, int], query_full: bool) -> NDArray[np.float64]:
        """Scores (unrounded) of candidates `pos` of this side for `query` from the other side."""
        w = weights
        score: NDArray[np.float64] = w.dense * dense + w.lexical * lexical
        if len(pos) == len(self.ids) and bool((pos == np.arange(len(pos))).all()):
            pos = slice(None)  # type: ignore[assignment]  # every record, in order: views, not copies
        has = self.has_record[pos]
        if self.side == "profile":  # query is a need, candidates are profiles
            need_strengths = query.strengths
            total = sum(need_strengths.values())
            if total > 0 and need_strengths:
                cols = np.array([AREA_INDEX[a] for a in need_strengths], dtype=np.intp)
                sub = self.strengths[:, cols] if isinstance(pos, slice) else self.strengths[np.ix_(pos, cols)]
                covered = sub @ np.array(list(need_strengths.values()), dtype=np.float64)
                psum = self.strength_sum[pos]
                with np.errstate(divide="ignore", invalid="ignore"):
                    focus = np.where(psum > 0, sub.sum(axis=1) / np.where(psum > 0, psum, 1.0), 0.0)
                areas_p: NDArray[np.float64] = np.where(psum > 0, covered / total * (0.75 + 0.25 * focus), 0.0)
                score += w.areas * areas_p
            score += w.language * (((self.language_bits[pos] & LANGUAGE_BIT.get(query.language, 0)) != 0) & has)
            n_rec = query.record if isinstance(query.record, Need) else None
            if n_rec is not None:
                score += w.country * (self.experienced_in(n_rec.country)[pos] & has)
                if n_rec.preferred_modalities:
                    shared = _POPCOUNT[self.modality_bits[pos] & _bits(n_rec.preferred_modalities, MODALITY_BIT)]
                    score += w.modality * np.where(has, shared / len(n_rec.preferred_modalities), 0.0)
            used = np.zeros(len(self.ids), dtype=np.int64)
            for pid, u in capacity_used.items():
                p = self.position.get(pid)
                if p is not None:
                    used[p] = u
            full = has & (np.maximum(0, self.capacity[pos] - used[pos]) == 0)
            score -= w.full_capacity * full
            return score
        # query is a profile, candidates are needs
        profile_strengths = query.strengths
        if profile_strengths:
            pvec = np.zeros(len(AREA_IDS), dtype=np.float64)
            for a, s in profile_strengths.items():
                pvec[AREA_INDEX[a]] = s
            need_total = self.strength_sum[pos]
            covered = self.strengths[pos] @ pvec
            focus = (self.present[pos] @ pvec) / pvec.sum()
            safe_total = np.where(need_total > 0, need_total, 1.0)
            areas: NDArray[np.float64] = np.where(need_total > 0, covered / safe_total * (0.75 + 0.25 * focus), 0.0)
            score += w.areas * areas
        p_rec = query.record if isinstance(query.record, Profile) else None
        if p_rec is not None:
            spoken = _bits(p_rec.languages, LANGUAGE_BIT)
            score += w.language * ((self.language_bits[pos] & spoken) != 0)
            known = set(p_rec.countries_of_experience)
            rows = range(len(self.ids)) if isinstance(pos, slice) else pos.tolist()
            score += w.country * np.fromiter((self.country[i] in known for i in rows), dtype=bool,
                                             count=len(rows)) * has
            offered = _bits(p_rec.modalities, MODALITY_BIT)
            count = self.modality_count[pos]
            with np.errstate(divide="ignore", invalid="ignore"):
                modality = np.where(has & (count > 0), _POPCOUNT[self.modality_bits[pos] & offered]
                                    / np.where(count > 0, count, 1.0), 0.0)
            score += w.modality * modality
            if query_full:
                score -= w.full_capacity
        return score


def top_lexical(raw: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """Positions of the k highest positive scores, best first, ties by position."""
    positive = np.flatnonzero(raw > 0)
    if len(positive) > k:
        values = raw[positive]
        threshold = values[np.argpartition(-values, k - 1)[k - 1]]
        positive = positive[values >= threshold]
    order = np.lexsort((positive, -raw[positive]))
    return positive[order][:k]


def shortlist(scores: NDArray[np.float64], k: int) -> NDArray[np.intp]:
    """Indices of `scores` that may be in the exact top k: within SCORE_MARGIN of the k-th best."""
    if len(scores) <= k:
        return np.arange(len(scores))
    kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
    return np.flatnonzero(scores >= kth - SCORE_MARGIN)
