"""Wires the store, the encoder, the area detector and the matching engine together.

Used by the CLI and the HTTP app. The store is the source of truth; the engine's indexes
are loaded from the current snapshot when it matches the store, else rebuilt from it.
"""
from __future__ import annotations

import gc
import hashlib
import logging
import shutil
import sqlite3
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from matcher.areas import AreaDetector
from matcher.encoder import Encoder
from matcher.engine import Analysed, AnalysisRequest, MatchEngine, TextAnalysis
from matcher.errors import InvalidInputError, PartnermatchError, SnapshotError
from matcher.lexical import term_list
from matcher.schema import Need, Profile
from matcher.snapshot import load_snapshot, read_manifest, save_snapshot
from matcher.text import detect_language, sentences
from models.encoders import CachedEncoder, make_encoder, uncached
from service.analysis_cache import AnalysisCache
from service.models import DecisionRow, utcnow
from service.results import ResultCache
from service.settings import Settings
from service.snapshotter import DebouncedSnapshots
from service.store import Store, finish_content_hash, profiles_part, record_digest, record_digests

log = logging.getLogger("partnermatch")
Progress = Callable[[int], None]
# What an index update can raise after its store commit succeeded (encoder, FAISS, cache file).
INDEX_ERRORS = (PartnermatchError, ValueError, RuntimeError, OSError, MemoryError, sqlite3.Error)


@dataclass
class Runtime:
    """A store plus a live engine kept in step with it."""

    settings: Settings
    encoder: Encoder | None = None
    detector: AreaDetector | None = None
    snapshot_delay: float = 0.5
    # A server sets this: after each load, what was loaded is exempted from the cyclic GC
    # (gc.freeze). With 100k profiles the heap holds ~3.3M tracked objects and every full
    # collection stopped the whole process for 3.2-3.7 s (10k: the 1.5-2 s outliers that
    # even /healthz showed under load). Loaded records are freed by reference counting
    # when replaced; a reload unfreezes first, so cycles among them are still collected.
    freeze_heap: bool = False
    store: Store = field(init=False)
    engine: MatchEngine = field(init=False)
    loaded_version: int = field(init=False, default=-1)
    index_stale: bool = field(init=False, default=False)
    snapshot_name: str | None = field(init=False, default=None)
    _lock: threading.RLock = field(init=False, default_factory=threading.RLock)
    _snapshots: DebouncedSnapshots | None = field(init=False, default=None)
    _purge_pending: bool = field(init=False, default=False)
    # id -> record digest of every profile in the store, from the last load on, updated by
    # this runtime's profile writes under the lock: the profiles' part of a snapshot's
    # content hash without reading them all again (12 s at 100k). None before a load.
    _profile_digests: dict[str, bytes] | None = field(init=False, default=None)
    # The hash's state after those digests (store.profiles_part; ~0.1 s at 100k), kept
    # until a profile is written, so that a need write's snapshot hashes only the needs.
    _profiles_part: Any = field(init=False, default=None)
    # side -> (the engine's index, its change count) as saved in snapshot_name
    _saved: dict[str, tuple[weakref.ref[Any], int]] = field(init=False, default_factory=dict)
    _results: ResultCache = field(init=False)
    analyses: AnalysisCache = field(init=False)

    def __post_init__(self) -> None:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.store = Store(self.settings.db_url).migrate()
        inner = self.encoder or make_encoder(self.settings.encoder, home=self.settings.home,
                                                   models_dir=self.settings.models_dir)
        self.encoder = CachedEncoder(inner, self.settings.cache_path)
        detector = self.detector or AreaDetector().fit()
        self.engine = MatchEngine(self.encoder, detector, index_kind=self.settings.index_kind,
                                  deferred_compaction=True)  # by the snapshot step, off the lock
        self.analyses = AnalysisCache(self.settings.analysis_cache_path, self.engine.analysis_fingerprint())
        self._results = ResultCache(self.settings.match_cache_bytes)

    # ---- loading ----------------------------------------------------------------------
    def meta(self, content_hash: str | None = None) -> dict[str, Any]:
        """What a snapshot must agree with to be reused (`content_hash`: the store's, when already known)."""
        assert self.encoder is not None
        return {"model": self.encoder.name, "dimension": self.encoder.dimension,
                "index_kind": self.settings.index_kind, "semantic_areas": self.settings.semantic_areas,
                "content_hash": content_hash or self.content_hash()}

    def content_hash(self) -> str:
        """The store's content hash, reading only its open needs when the profiles' digests are held.

        Callable without the lock: the profiles' part is taken under it, and a profile write
        updates the digests under it right after its commit. (A caller that must know the
        hash is of the store at some version reads the version before and checks it after,
        as `_snapshot_if_current` does.)
        """
        with self._lock:
            if self._profiles_part is None and self._profile_digests is not None:
                self._profiles_part = profiles_part(self._profile_digests)
            part = self._profiles_part
        return self.store.content_hash(part)

    def load(self, progress: Progress | None = None) -> str:
        """Fill the engine from the store, reusing the snapshot's vectors when it matches; return how."""
        with self._lock:
            if self.freeze_heap:
                gc.unfreeze()  # what the previous load froze may be garbage now
            self._results.clear()
            version = self.store.version()
            profiles, needs = self.store.profiles(), self.store.needs()
            legacy = hashlib.sha256()
            self._profile_digests = record_digests(profiles, legacy)  # not a second read of the store
            self._profiles_part = profiles_part(self._profile_digests)
            meta = self.meta(finish_content_hash(self._profiles_part, record_digests(needs, legacy)))
            # A snapshot written before the hash was made of per-record digests carries the
            # SHA-256 of the records' JSON: still accepted, so an upgrade does not rebuild.
            accepted = (meta, {**meta, "content_hash": legacy.hexdigest()})

            def fits(m: dict[str, Any] | None) -> bool:
                return m is not None and any(all(m.get(k) == v for k, v in want.items()) for want in accepted)

            manifest = read_manifest(self.settings.index_dir)
            vectors: dict[str, dict[str, Any]] = {"need": {}, "profile": {}}
            how = "rebuilt"
            if fits(manifest):
                try:
                    manifest, indexes = load_snapshot(self.settings.index_dir)  # CURRENT's, as loaded
                    if not fits(manifest):
                        raise SnapshotError(f"snapshot {manifest['name']} was replaced by one of other content")
                    for side, index in indexes.items():
                        ids = profiles if side == "profile" else needs
                        vectors[side] = {r.id: index.vector(r.id) for r in ids}
                    how = "snapshot"
                except SnapshotError as exc:
                    log.warning("index snapshot unusable, rebuilding: %s", exc)
            self.engine.capacity_used = self.store.accepted_counts()
            self.engine.scorer = self.active_scorer()
            self.engine.clear()
            if how == "snapshot":
                # The loaded indexes hold every record's vector: use them as they are rather
                # than re-adding (an HNSW graph of 100k vectors takes a minute to rebuild).
                for side, index in indexes.items():
                    self.engine.replace_index(side, index)  # type: ignore[arg-type]
                self.snapshot_name = manifest["name"]
                self._mark_saved()
            self._analyse_into_engine(profiles, needs, vectors, progress, indexed=how == "snapshot", cached=True)
            vectors.clear()  # the records hold them now: let warm() move them into one matrix per side
            if how == "rebuilt":
                self.write_snapshot(meta)
            self.engine.warm()
            self.loaded_version = version
            self.index_stale = False
            if self.freeze_heap:
                del profiles, needs, vectors
                gc.collect()
                gc.freeze()
            return how

    def active_scorer(self) -> Any:
        """The newest promoted reranker trained for this encoder, or None (hand-set weights); see models.reranker."""
        if self.settings.ranker == "weights":
            return None
        from models.reranker import newest_reranker, reranker_root

        assert self.encoder is not None
        return newest_reranker(reranker_root(self.settings.home), self.encoder.name)

    def _analyse_into_engine(self, profiles: Sequence[Profile], needs: Sequence[Need],
                             vectors: dict[str, dict[str, Any]], progress: Progress | None,
                             indexed: bool = False, cached: bool = False) -> None:
        """Analyse records into the engine, saving their analyses in the cache.

        `cached` (on load) first reads analyses from the cache, then drops the entries no
        record used. Ingest does not read it: new records are rarely there.
        """
        requests = [AnalysisRequest("profile", p.id, p.description, None, tuple(p.clinical_areas), p,
                                    vectors["profile"].get(p.id)) for p in profiles]
        requests += [AnalysisRequest("need", n.id, n.description, n.language, tuple(n.clinical_areas), n,
                                     vectors["need"].get(n.id)) for n in needs]
        keys = [self.analyses.key(r.text, r.language, r.declared) for r in requests]
        for start in range(0, len(requests), 256):
            chunk, chunk_keys = requests[start:start + 256], keys[start:start + 256]
            held = self.analyses.get_many(chunk_keys) if cached else {}
            chunk = [replace(r, analysis=held.get(k)) for r, k in zip(chunk, chunk_keys, strict=True)]
            done = self.engine.analyse_many(chunk)
            self.analyses.put_many([(k, a.text, TextAnalysis(a.language, a.areas, term_list(a.terms)))
                                    for k, a, r in zip(chunk_keys, done, chunk, strict=True) if r.analysis is None])
            # A record the loaded index lacks (it should hold them all) is indexed as usual.
            present = [indexed and vectors[a.side].get(a.id) is not None for a in done]
            self.engine.add([a for a, p in zip(done, present, strict=True) if p], indexed=True)
            self.engine.add([a for a, p in zip(done, present, strict=True) if not p])
            if progress:
                progress(len(chunk))
        if cached:
            self.analyses.retain(keys)

    def write_snapshot(self, meta: dict[str, Any] | None = None) -> str:
        """Save the engine's indexes as the new current snapshot (`meta`: `self.meta()` when already known).

        A side whose index has not changed since the snapshot this runtime last wrote or
        loaded is linked from it, not written again.
        """
        with self._lock:
            self.engine.compact()  # a no-op after _snapshot_if_current's; the CLI's ingest compacts here
            indexes = {"need": self.engine.index("need"), "profile": self.engine.index("profile")}
            unchanged = {}
            if self.snapshot_name is not None:
                base = self.settings.index_dir / "snapshots" / self.snapshot_name
                unchanged = {side: base / side for side, index in indexes.items() if self._saved_as_is(side, index)}
            self.snapshot_name = save_snapshot(self.settings.index_dir, indexes, meta or self.meta(), unchanged)
            self._mark_saved()
            return self.snapshot_name

    def _saved_as_is(self, side: str, index: Any) -> bool:
        """True when `index` is, unchanged, what the current snapshot holds for `side`."""
        held = self._saved.get(side)
        return held is not None and held[0]() is index and held[1] == index.changes

    def _mark_saved(self) -> None:
        """Remember the engine's indexes as they are in the current snapshot (weakly: a reload replaces them)."""
        self._saved = {side: (weakref.ref(index), index.changes)
                       for side, index in (("need", self.engine.index("need")),
                                           ("profile", self.engine.index("profile")))}

    def refresh_if_stale(self) -> bool:
        """Reload when another process has written to the store since we loaded; True if reloaded."""
        if self.store.version() != self.loaded_version:
            self.load()
            return True
        return False

    # ---- writes -----------------------------------------------------------------------
    def ingest(self, profiles: Sequence[Profile], needs: Sequence[Need],
               progress: Progress | None = None) -> None:
        """Upsert validated records into the store, then update the engine and the snapshot."""
        with self._lock:
            self._results.clear()
            self.store.upsert(profiles, needs)
            if self._profile_digests is not None and profiles:
                self._profile_digests.update(record_digests(profiles))
                self._profiles_part = None
            self._analyse_into_engine(profiles, needs, {"need": {}, "profile": {}}, progress)
            self.write_snapshot()
            self.loaded_version = self.store.version()

    # ---- single-record writes (HTTP API): store first, then the engine ---------------------
    def _after_commit(self, version: int, apply: Callable[[], None]) -> None:
        """Update the engine after a store commit at `version`; on failure keep the record, mark the index stale.

        `loaded_version` only advances when no other writer committed in between, so a
        foreign write (or a failed update) makes the next `ensure_fresh()` reload.
        Callers hold the lock; answers cached for the engine as it was are dropped.
        """
        self._results.clear()
        caught_up = version == self.loaded_version + 1
        try:
            apply()
        except INDEX_ERRORS as exc:
            log.error("index update after store version %d failed (%s); the next refresh rebuilds it",
                      version, type(exc).__name__)
            self.index_stale = True
            return
        if caught_up and not self.index_stale:
            self.loaded_version = version
        self.schedule_snapshot()

    def _analyse_need(self, need: Need) -> Analysed:
        return self.engine.analyse("need", need.id, need.description, need.language, need.clinical_areas, need)

    def submit_need(self, need: Need, previous: Need | None = None) -> None:
        """Insert or update an open need; `previous` (its text before an edit) is purged from the cache."""
        with self._lock:
            version = self.store.save_need(need)
            self._after_commit(version, lambda: self.engine.add([self._analyse_need(need)]))
        if previous is not None and previous.description != need.description:
            self.forget_text(previous.description, previous.language, previous.clinical_areas)

    def duplicate_of(self, need: Need) -> tuple[str, float] | None:
        """(id, cosine) of an open need of the same institution that `need` nearly repeats, else None.

        When it is a duplicate, the new text is not stored, so its embeddings leave the cache.
        The check is best effort: when the encoder or index fails, the need is not held up.
        """
        rows, _ = self.store.needs_page(institution=need.institution, status="open", limit=100_000)
        ids = [r.id for r in rows if r.id != need.id]
        if not ids:
            return None
        try:
            with self.reading() as engine:
                found = engine.find_duplicate(need.description, ids, need.language, need.clinical_areas)
        except INDEX_ERRORS as exc:
            log.error("duplicate check skipped (%s); the need is accepted", type(exc).__name__)
            return None
        same_text = found is not None and any(r.description == need.description for r in rows)
        if found is not None and not same_text:  # an identical stored text shares its cache entries
            self.forget_text(need.description, need.language, need.clinical_areas)
        return found

    def withdraw_need(self, need: Need) -> bool:
        """Withdraw an open need: status, erased text, index entries, cache entries, old snapshots; True if done."""
        with self._lock:
            erased, version = self.store.withdraw_need(need.id)
            if version is None:
                return False
            self._purge_pending = True
            self._after_commit(version, lambda: self.engine.remove("need", [need.id]))
        self.forget_text(erased or need.description, need.language, need.clinical_areas)
        return True

    def upsert_profile(self, profile: Profile) -> bool:
        """Insert or update a profile, then index it; True when it was created."""
        with self._lock:
            created, version = self.store.save_profile(profile)
            if self._profile_digests is not None:
                self._profile_digests[profile.id] = record_digest(profile)
                self._profiles_part = None
            self._after_commit(version, lambda: self.engine.add(
                [self.engine.analyse("profile", profile.id, profile.description, None, profile.clinical_areas,
                                     profile)]))
            return created

    def record_decision(self, need_id: str, profile_id: str, decision: str, reason: str,
                        decided_by: str) -> DecisionRow:
        """Record a decision; an accept needs remaining capacity and then uses one unit of it."""
        with self._lock:
            if decision == "accept":
                latest = self.store.latest_decisions().get((need_id, profile_id))
                profile = self.store.get_profile(profile_id)
                used = self.store.accepted_counts().get(profile_id, 0)
                already = latest is not None and latest.decision == "accept"
                if profile is not None and not already and used >= profile.capacity:
                    raise InvalidInputError(
                        f"field 'profile_id': profile {profile_id!r} has no remaining capacity "
                        f"(capacity {profile.capacity}, {used} accepted); reject another pair first")
            row, version = self.store.add_decision(need_id, profile_id, decision, reason, decided_by)
            self._after_commit(version, lambda: setattr(self.engine, "capacity_used", self.store.accepted_counts()))
            return row

    def record_decisions(self, pairs: Sequence[tuple[str, str]], decision: str, reason: str, decided_by: str,
                         also: Callable[[Session], None] | None = None) -> list[DecisionRow]:
        """Record one decision per pair in one transaction (with `also`'s writes); accepts need capacity for all.

        Pairs whose latest decision is already `decision` are left as they are.
        """
        with self._lock:
            latest = self.store.latest_decisions()
            todo = [p for p in dict.fromkeys(pairs) if not (p in latest and latest[p].decision == decision)]
            if decision == "accept":
                used = self.store.accepted_counts()
                for pid in sorted({p for _, p in todo}):
                    profile = self.store.get_profile(pid)
                    wanted = sum(p == pid for _, p in todo)
                    if profile is not None and used.get(pid, 0) + wanted > profile.capacity:
                        raise InvalidInputError(
                            f"field 'pairs': profile {pid!r} has capacity {profile.capacity} with "
                            f"{used.get(pid, 0)} accepted; {wanted} more do not fit")

            def work(s: Session) -> list[DecisionRow]:
                rows = [DecisionRow(need_id=n, profile_id=p, decision=decision, reason=reason,
                                    decided_by=decided_by, decided_at=utcnow()) for n, p in todo]
                s.add_all(rows)
                if also is not None:
                    also(s)
                s.flush()
                return rows

            rows, version = self.store.commit(work)
            self._after_commit(version, lambda: setattr(self.engine, "capacity_used", self.store.accepted_counts()))
            return rows

    def forget_text(self, text: str, language: str | None = None, declared: Sequence[str] = ()) -> int:
        """Purge the analysis and embedding caches of `text` and every text the engine derives from it.

        Returns the embedding rows removed.
        """
        if not text.strip():
            return 0
        try:
            self.analyses.forget_text(text)
        except sqlite3.Error as exc:
            log.error("could not purge the analysis cache (%s)", type(exc).__name__)
        if not isinstance(self.encoder, CachedEncoder):
            return 0
        try:
            lang = language or detect_language(text)
            areas = self.engine.detector.detect(text, declared=list(declared))
            derived = {text, text.strip(), *self.engine.embedding_text(text, areas, lang),
                       *(text[a:b] for a, b in sentences(text))}
            return sum(self.encoder.forget(sorted(derived), kind) for kind in ("query", "passage"))
        except INDEX_ERRORS as exc:
            log.error("could not purge the embedding cache (%s)", type(exc).__name__)
            return 0

    def match_text_private(self, text: str, top: int, language: str | None = None) -> list[dict[str, Any]]:
        """Rank profiles for an ad-hoc statement, encoded past the embedding cache: nothing of it is kept.

        (It used to be cached, then deleted: two SQLite commits per request, and the delete
        also took the vectors of a stored need that had the same text.)
        """
        assert self.encoder is not None
        with self.reading() as engine:
            return engine.match_text(text, top, language, encoder=uncached(self.encoder))

    # ---- freshness and snapshots -------------------------------------------------------------
    def ensure_fresh(self) -> None:
        """Load on first use; reload when the store moved on (another process wrote, or indexing failed)."""
        if self.loaded_version >= 0 and not self.index_stale and self.store.version() == self.loaded_version:
            return
        with self._lock:
            try:
                if self.loaded_version < 0:
                    self.load()
                else:
                    self.refresh_if_stale()
            except OSError as exc:
                # A snapshot file vanished or could not be written (another process sharing the
                # index directory swept it). The engine is whole or untouched; the next call retries.
                log.error("index reload could not use or write a snapshot (%s); serving, will retry",
                          type(exc).__name__)
            if self._purge_pending:
                self._purge_old_snapshots()

    @contextmanager
    def reading(self) -> Iterator[MatchEngine]:
        """The engine, fresh, held steady (no reload or write swaps it mid-read).

        The store's version is read before taking the lock, so that concurrent readers do
        not queue behind each other's database round trip; under the lock only the
        in-memory state is checked again (a write in this process that failed to reach
        the index since then makes this read reload).
        """
        self.ensure_fresh()
        with self._lock:
            if self.loaded_version < 0 or self.index_stale:
                self.ensure_fresh()
            yield self.engine

    def cached(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """`compute()`, or what it returned for `key` since the engine last changed (see service.results).

        Only for answers that depend on nothing but the engine (never on the caller); used
        inside `reading()`, so the engine is fresh and steady while `compute` runs.
        """
        with self._lock:
            value = self._results.get(key)
            if value is None:
                value = compute()
                self._results.put(key, value)
            return value

    def detected_areas(self, side: str, record_id: str) -> list[str]:
        """Areas the engine detected in a record ([] when it does not hold it)."""
        analysed = self.engine.get(side, record_id)  # type: ignore[arg-type]
        return list(analysed.areas) if analysed is not None else []

    def schedule_snapshot(self) -> None:
        """Ask for a warm engine and a snapshot after a quiet spell (background thread)."""
        if self._snapshots is None:
            self._snapshots = DebouncedSnapshots(self._snapshot_if_current, self.snapshot_delay)
        self._snapshots.request()

    def _snapshot_if_current(self) -> None:
        version = self.store.version()
        if self.index_stale or version != self.loaded_version:
            return  # the engine is behind the store: the next refresh reloads and snapshots
        # An HNSW graph left with too many tombstones (or a withdrawn need's vector, which
        # must not reach the snapshot) is rebuilt here, beside the live one: readers go on.
        self.engine.compact()
        # Hashed before taking the lock: it reads the store, not the engine, and readers
        # should not wait for it (streaming every profile after a profile write takes
        # seconds at 100k). Still the store at `version` if the version has not moved.
        content = self.content_hash()
        with self._lock:
            if self.index_stale or self.store.version() != version or self.loaded_version != version:
                return  # a write came in meanwhile: its own request snapshots
            # Rebuild what the writes invalidated (BM25; the score columns only after a big
            # write) here, after the quiet spell, rather than in the next reader's request.
            self.engine.warm()
            self.write_snapshot(self.meta(content))
            if self._purge_pending:
                self._purge_old_snapshots()

    def _purge_old_snapshots(self) -> None:
        """Delete every snapshot but the current one (they may hold vectors of withdrawn needs)."""
        root = self.settings.index_dir / "snapshots"
        if self.snapshot_name is None or not root.is_dir():
            return
        current = read_manifest(self.settings.index_dir)  # another process sharing the home may own it
        keep = {self.snapshot_name, current["name"] if current else None}
        for path in root.iterdir():
            if path.is_dir() and path.name not in keep and not path.name.startswith(".tmp-"):
                shutil.rmtree(path, ignore_errors=True)
        self._purge_pending = False

    def close(self) -> None:
        """Write any pending snapshot and stop the snapshot thread (a later write starts a new one)."""
        snapshots, self._snapshots = self._snapshots, None
        if snapshots is not None:
            snapshots.close()
