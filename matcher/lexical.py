"""Lexical retrieval: BM25 (bm25s) over folded, stop-worded, per-language-stemmed terms."""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from matcher.text import lexical_terms


class BM25Lexical:
    """BM25 over a changing set of records; re-indexed lazily after adds or removals."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._terms: dict[str, list[str]] = {}
        self._ids: list[str] = []
        self._retriever: object | None = None
        self._lock = threading.Lock()

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Add or replace records' texts."""
        with self._lock:
            for rid, text in zip(ids, texts, strict=True):
                self._terms[rid] = lexical_terms(text)
            self._retriever = None

    def add_terms(self, rid: str, terms: list[str]) -> None:
        """Add or replace one record's precomputed terms."""
        with self._lock:
            self._terms[rid] = terms
            self._retriever = None

    def remove(self, ids: Sequence[str]) -> None:
        """Forget records (their terms leave the index at the next query)."""
        with self._lock:
            for rid in ids:
                self._terms.pop(rid, None)
            self._retriever = None

    def terms(self, rid: str) -> list[str]:
        """The indexed terms of a record (empty if unknown)."""
        return self._terms.get(rid, [])

    def _ensure(self) -> object | None:
        with self._lock:
            if self._retriever is None and self._terms:
                import logging

                import bm25s

                logging.getLogger("bm25s").setLevel(logging.WARNING)
                self._ids = sorted(self._terms)
                retriever = bm25s.BM25(k1=self.k1, b=self.b)
                retriever.index([self._terms[i] or ["\x00"] for i in self._ids], show_progress=False)
                self._retriever = retriever
            return self._retriever

    def scores(self, query_terms: list[str]) -> dict[str, float]:
        """BM25 score of every record for the query terms (0 for records sharing none)."""
        retriever = self._ensure()
        if retriever is None or not query_terms:
            return {}
        raw = np.asarray(retriever.get_scores(query_terms), dtype=np.float64)  # type: ignore[attr-defined]
        return {rid: float(s) for rid, s in zip(self._ids, raw, strict=True) if s > 0}

    def __len__(self) -> int:
        return len(self._terms)
