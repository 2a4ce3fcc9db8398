"""Vector indexes: one interface (add, remove, search, save, load, count), one class per backend.

`NumpyIndex` is exact brute force (the baseline); `FaissIndex` wraps FAISS (exact
inner product by default, HNSW optional). Vectors are L2-normalised, so inner product is
cosine similarity. A saved index is a directory whose `manifest.json` is read first.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from matcher.errors import InvalidInputError, SnapshotError

IndexKind = Literal["numpy", "flat", "hnsw"]


class VectorIndex(Protocol):
    """A searchable set of (record id, unit vector) pairs."""

    kind: str
    dimension: int

    def add(self, ids: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Add or replace vectors, shape (len(ids), dimension)."""
        ...

    def remove(self, ids: Sequence[str]) -> int:
        """Remove ids (unknown ids are ignored); return how many were removed."""
        ...

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[str, float]]:
        """Top-k (id, cosine) for one query vector (dimension,), best first, ties by id."""
        ...

    def vector(self, record_id: str) -> NDArray[np.float32] | None:
        """The stored vector of a record, or None."""
        ...

    def count(self) -> int:
        """Number of vectors held."""
        ...

    def save(self, directory: Path) -> None:
        """Write the index into an existing empty directory."""
        ...


def _check(ids: Sequence[str], vectors: NDArray[np.float32], dimension: int) -> NDArray[np.float32]:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape != (len(ids), dimension):
        raise InvalidInputError(f"vectors must have shape ({len(ids)}, {dimension}), got {v.shape}")
    if len(set(ids)) != len(ids):
        raise InvalidInputError("ids passed to the index must be unique")
    return v


def _top(pairs: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    return sorted(pairs, key=lambda p: (-p[1], p[0]))[:k]


class NumpyIndex:
    """Exact brute-force search over a dense matrix: the reference every backend is tested against."""

    kind = "numpy"

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._matrix = np.zeros((0, dimension), dtype=np.float32)
        self._lock = threading.Lock()

    def add(self, ids: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Add or replace vectors, shape (len(ids), dimension)."""
        v = _check(ids, vectors, self.dimension)
        with self._lock:
            new_rows: list[tuple[str, NDArray[np.float32]]] = []
            for rid, row in zip(ids, v, strict=True):
                if rid in self._pos:
                    self._matrix[self._pos[rid]] = row
                else:
                    self._pos[rid] = len(self._ids) + len(new_rows)
                    new_rows.append((rid, row))
            if new_rows:
                self._ids.extend(r for r, _ in new_rows)
                self._matrix = np.vstack([self._matrix, np.stack([row for _, row in new_rows])])

    def remove(self, ids: Sequence[str]) -> int:
        """Remove ids; return how many were present."""
        with self._lock:
            gone = {i for i in ids if i in self._pos}
            if gone:
                keep = [p for p, rid in enumerate(self._ids) if rid not in gone]
                self._ids = [self._ids[p] for p in keep]
                self._matrix = self._matrix[keep]
                self._pos = {rid: p for p, rid in enumerate(self._ids)}
            return len(gone)

    def scores(self, query: NDArray[np.float32]) -> dict[str, float]:
        """Cosine of `query` (dimension,) with every stored vector."""
        sims = self._matrix @ np.asarray(query, dtype=np.float32)
        return dict(zip(self._ids, sims.tolist(), strict=True))

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[str, float]]:
        """Top-k (id, cosine), best first, ties by id."""
        if not self._ids or k <= 0:
            return []
        sims = self._matrix @ np.asarray(query, dtype=np.float32)
        n = min(len(self._ids), k * 2 + 10)
        cand = np.argpartition(-sims, n - 1)[:n] if n < len(self._ids) else np.arange(len(self._ids))
        return _top([(self._ids[i], float(sims[i])) for i in cand], k)

    def vector(self, record_id: str) -> NDArray[np.float32] | None:
        """The stored vector of a record, or None."""
        p = self._pos.get(record_id)
        return None if p is None else self._matrix[p].copy()

    def count(self) -> int:
        """Number of vectors held."""
        return len(self._ids)

    def save(self, directory: Path) -> None:
        """Write vectors.npy, ids.json and manifest.json."""
        np.save(directory / "vectors.npy", self._matrix)
        (directory / "ids.json").write_text(json.dumps(self._ids))
        _write_manifest(directory, self.kind, self.dimension, len(self._ids), {})

    @classmethod
    def _load(cls, directory: Path, manifest: dict[str, Any]) -> NumpyIndex:
        index = cls(int(manifest["dimension"]))
        ids = json.loads((directory / "ids.json").read_text())
        if ids:
            index.add(ids, np.load(directory / "vectors.npy"))
        return index


class FaissIndex:
    """FAISS backend: `flat` (exact inner product, IndexIDMap2) or `hnsw` (approximate).

    HNSW cannot remove ids, so removals there are tombstoned and filtered from results;
    vectors are also kept in memory (float32) for explanations and rebuilds.
    """

    def __init__(self, dimension: int, kind: Literal["flat", "hnsw"] = "flat",
                 hnsw_m: int = 32, ef_search: int = 96) -> None:
        if kind not in ("flat", "hnsw"):
            raise InvalidInputError(f"unknown FAISS index kind {kind!r}; use 'flat' or 'hnsw'")
        self.kind: str = kind
        self._faiss_kind: Literal["flat", "hnsw"] = kind
        self.dimension = dimension
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self._index = self._new_index()
        self._label: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next = 0
        self._vectors: dict[str, NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def _new_index(self) -> Any:
        import faiss

        if self.kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        hnsw = faiss.IndexHNSWFlat(self.dimension, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efSearch = self.ef_search
        return faiss.IndexIDMap(hnsw)

    def add(self, ids: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Add or replace vectors, shape (len(ids), dimension)."""
        v = _check(ids, vectors, self.dimension)
        with self._lock:
            self._remove_locked([i for i in ids if i in self._label])
            labels = np.arange(self._next, self._next + len(ids), dtype=np.int64)
            self._next += len(ids)
            for rid, lab, row in zip(ids, labels.tolist(), v, strict=True):
                self._label[rid] = lab
                self._id_of[lab] = rid
                self._vectors[rid] = row.copy()
            if len(ids):
                self._index.add_with_ids(v, labels)

    def _remove_locked(self, ids: Sequence[str]) -> int:
        labels = [self._label.pop(i) for i in ids if i in self._label]
        for lab in labels:
            rid = self._id_of.pop(lab)
            self._vectors.pop(rid, None)
        if labels and self.kind == "flat":
            self._index.remove_ids(np.asarray(labels, dtype=np.int64))
        return len(labels)

    def remove(self, ids: Sequence[str]) -> int:
        """Remove ids in one batch (flat compacts; hnsw tombstones); return how many were present."""
        with self._lock:
            return self._remove_locked(ids)

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[str, float]]:
        """Top-k (id, cosine), best first, ties by id."""
        if not self._label or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        tombstones = self._index.ntotal - len(self._label)
        want = min(self._index.ntotal, k + tombstones + 5)
        sims, labels = self._index.search(q, want)
        pairs = [(self._id_of[int(lab)], float(s)) for s, lab in zip(sims[0], labels[0], strict=True)
                 if int(lab) in self._id_of]
        return _top(pairs, k)

    def vector(self, record_id: str) -> NDArray[np.float32] | None:
        """The stored vector of a record, or None."""
        v = self._vectors.get(record_id)
        return None if v is None else v.copy()

    def count(self) -> int:
        """Number of live vectors."""
        return len(self._label)

    def save(self, directory: Path) -> None:
        """Write the live vectors (rebuilt without tombstones), ids and manifest."""
        import faiss

        ids = sorted(self._label, key=self._label.__getitem__)
        matrix = np.stack([self._vectors[i] for i in ids]) if ids else np.zeros((0, self.dimension), np.float32)
        fresh = FaissIndex(self.dimension, self._faiss_kind, self.hnsw_m, self.ef_search)
        fresh.add(ids, matrix)
        faiss.write_index(fresh._index, str(directory / "index.faiss"))
        np.save(directory / "vectors.npy", matrix)
        (directory / "ids.json").write_text(json.dumps(ids))
        _write_manifest(directory, self.kind, self.dimension, len(ids),
                        {"hnsw_m": self.hnsw_m, "ef_search": self.ef_search})

    @classmethod
    def _load(cls, directory: Path, manifest: dict[str, Any]) -> FaissIndex:
        import faiss

        params = manifest.get("params", {})
        index = cls(int(manifest["dimension"]), manifest["kind"], params.get("hnsw_m", 32),
                    params.get("ef_search", 96))
        ids = json.loads((directory / "ids.json").read_text())
        matrix = np.load(directory / "vectors.npy")
        index._index = faiss.read_index(str(directory / "index.faiss"))
        if manifest["kind"] == "hnsw":
            hnsw: Any = faiss.downcast_index(index._index.index)
            hnsw.hnsw.efSearch = index.ef_search
        for lab, (rid, row) in enumerate(zip(ids, matrix, strict=True)):
            index._label[rid] = lab
            index._id_of[lab] = rid
            index._vectors[rid] = row
        index._next = len(ids)
        if index._index.ntotal != len(ids):
            raise SnapshotError(f"{directory}: index holds {index._index.ntotal} vectors, ids list {len(ids)}")
        return index


def _write_manifest(directory: Path, kind: str, dimension: int, count: int, params: dict[str, Any]) -> None:
    manifest = {"schema_version": 1, "kind": kind, "dimension": dimension, "count": count, "params": params}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


def make_index(kind: IndexKind, dimension: int) -> VectorIndex:
    """A new empty index of the given kind."""
    if kind == "numpy":
        return NumpyIndex(dimension)
    return FaissIndex(dimension, kind)


def load_index(directory: Path) -> VectorIndex:
    """Load an index saved by `save`, reading its manifest first; SnapshotError if unreadable."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
        if manifest.get("schema_version") != 1:
            raise SnapshotError(f"{directory}: unsupported index schema {manifest.get('schema_version')!r}")
        if manifest["kind"] == "numpy":
            return NumpyIndex._load(directory, manifest)
        return FaissIndex._load(directory, manifest)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise SnapshotError(f"cannot load index from {directory}: {exc}") from exc
