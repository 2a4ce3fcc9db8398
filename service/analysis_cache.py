"""A persistent cache of text analyses (language, areas, lexical terms) so that a restart does not redo them.

Analysing a text costs ~2 ms (language detection, vocabulary matching, stemming): loading
100k records spent ~280 s on it. Reading a cached analysis back costs ~0.12 ms.

Entries are keyed by a hash of the engine's analysis fingerprint (code, vocabulary,
settings, library versions: see `MatchEngine.analysis_fingerprint`), the text, its given
language and its declared areas, so a change to any of them is a miss, never a stale hit.
Values are zlib-compressed `TextAnalysis` JSON (~0.8 KB a profile). Like the embedding
cache, it is a SQLite file; when it cannot be read or written it is bypassed, never fatal.

Analyses hold words of the text (stems, evidence phrases), so each entry also records a
hash of its text alone: `forget_text` deletes every entry of a withdrawn need's text,
whatever fingerprint it was cached under, with SQLite's secure delete on. `retain` drops
every entry a load did not use (old fingerprints, edited texts), keeping the file bounded.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

from matcher.engine import TextAnalysis
from models.sqlite_cache import by_keys, open_cache

log = logging.getLogger(__name__)


class AnalysisCache:
    """Text analyses by key (`key(text, language, declared)`), in the SQLite file at `path`."""

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db = open_cache(path, [
            "PRAGMA journal_mode=WAL",
            "PRAGMA secure_delete=ON",  # forgotten text is overwritten, not just unlinked
            "CREATE TABLE IF NOT EXISTS analyses (key TEXT PRIMARY KEY, text_hash TEXT NOT NULL, value BLOB NOT NULL)",
            "CREATE INDEX IF NOT EXISTS analyses_text ON analyses (text_hash)",
        ], "analysis cache", timeout=30)

    @staticmethod
    def _text_hash(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def key(self, text: str, language: str | None = None, declared: Sequence[str] = ()) -> str:
        """The cache key of analysing `text` with this language (None: detected) and these declared areas."""
        parts = (self.fingerprint, language or "", ",".join(sorted(declared)), text)
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, TextAnalysis]:
        """The cached analyses of `keys` that are present (a missing or unreadable entry is left out)."""
        raw: dict[str, bytes] = {}
        try:
            with self._lock:
                for rows in by_keys(self._db, "SELECT key, value FROM analyses WHERE key IN ({marks})", keys):
                    raw.update(rows)
        except sqlite3.Error as exc:
            log.warning("analysis cache %s unreadable, analysing afresh: %s", self.path, exc)
            raw = {}
        out: dict[str, TextAnalysis] = {}
        for k, value in raw.items():
            try:
                out[k] = TextAnalysis.from_json(zlib.decompress(value))
            except (zlib.error, ValueError, KeyError, TypeError) as exc:
                log.warning("analysis cache entry unreadable, analysing afresh: %s", type(exc).__name__)
        self.hits += len(out)
        self.misses += len(keys) - len(out)
        return out

    def put_many(self, items: Sequence[tuple[str, str, TextAnalysis]]) -> None:
        """Store (key, text, analysis) entries, replacing any held; a write failure is logged and skipped."""
        rows = [(k, self._text_hash(text), zlib.compress(a.to_json().encode(), 1)) for k, text, a in items]
        try:
            with self._lock:
                self._db.executemany("INSERT OR REPLACE INTO analyses (key, text_hash, value) VALUES (?, ?, ?)", rows)
                self._db.commit()
        except sqlite3.Error as exc:
            log.warning("analysis cache %s not written: %s", self.path, exc)

    def forget_text(self, text: str) -> int:
        """Delete every entry analysing `text` (any language, areas or fingerprint); return how many."""
        with self._lock:
            removed = self._db.execute("DELETE FROM analyses WHERE text_hash = ?", (self._text_hash(text),)).rowcount
            self._db.commit()
        return int(removed)

    def retain(self, keys: Sequence[str]) -> int:
        """Delete every entry but those of `keys`; return how many went."""
        with self._lock:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY)")
            self._db.execute("DELETE FROM kept")
            self._db.executemany("INSERT OR IGNORE INTO kept (key) VALUES (?)", ((k,) for k in keys))
            removed = self._db.execute("DELETE FROM analyses WHERE key NOT IN (SELECT key FROM kept)").rowcount
            self._db.execute("DELETE FROM kept")
            self._db.commit()
        return int(removed)

    def close(self) -> None:
        """Close the cache file."""
        self._db.close()
