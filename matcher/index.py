"""Vector indexes: one interface (add, remove, search, save, load, count), one class per backend.

`NumpyIndex` is exact brute force (the baseline); `FaissIndex` wraps FAISS (exact
inner product by default, HNSW optional). Vectors are L2-normalised, so inner product is
cosine similarity. A saved index is a directory whose `manifest.json` is read first.
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from matcher.errors import InvalidInputError, SnapshotError

IndexKind = Literal["numpy", "flat", "hnsw", "auto"]
# `auto` moves from exact search to HNSW past this many vectors: where the engine starts
# searching the index instead of scoring every record (matcher.engine.EXACT_BELOW); exact
# search there costs ~3.5 ms a query, HNSW ~0.3 ms at recall@10 0.98 (docs/benchmarks.md).
AUTO_HNSW_ABOVE = 20_000
# HNSW graphs are rebuilt once removed (tombstoned) vectors pass this fraction of them.
COMPACT_FRACTION = 0.2
# Vectors copied per step when a compacted HNSW graph is built beside the live one.
_COMPACT_CHUNK = 16_384


class VectorIndex(Protocol):
    """A searchable set of (record id, unit vector) pairs."""

    kind: str
    dimension: int
    changes: int  # counts adds and removals: equal counts mean the same content (a saved copy still holds)

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
        self.changes = 0

    def add(self, ids: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Add or replace vectors, shape (len(ids), dimension)."""
        v = _check(ids, vectors, self.dimension)
        with self._lock:
            self.changes += 1
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
                self.changes += 1
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
    """FAISS backend: `flat` (exact inner product), `hnsw` (approximate), or `auto` (flat, then HNSW).

    `auto` holds an exact flat index up to `hnsw_above` vectors and moves to HNSW past it
    (see docs/benchmarks.md for where the threshold comes from). HNSW cannot remove ids:
    removals there are tombstones, skipped during search by an id filter, and the graph
    is rebuilt from the live vectors once tombstones pass `compact_fraction` of it: inside
    the write that passes it, or, with `compact_inline` off, when its owner asks for a
    `compacted()` copy (built without holding up searches) and swaps it in.
    Vectors are read back from FAISS's own storage (no second copy in memory).
    `storage="fp16"` keeps HNSW vectors as float16 in memory and on disk (half the size;
    recall measured in docs/benchmarks.md).
    """

    def __init__(self, dimension: int, kind: Literal["flat", "hnsw", "auto"] = "flat", hnsw_m: int = 32,
                 ef_search: int = 96, ef_construction: int = 80, hnsw_above: int = AUTO_HNSW_ABOVE,
                 compact_fraction: float = COMPACT_FRACTION, storage: Literal["float32", "fp16"] = "float32") -> None:
        if kind not in ("flat", "hnsw", "auto"):
            raise InvalidInputError(f"unknown FAISS index kind {kind!r}; use 'flat', 'hnsw' or 'auto'")
        self.kind: str = kind
        self.dimension = dimension
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.hnsw_above = hnsw_above
        self.compact_fraction = compact_fraction
        self.storage = storage
        self._layout: Literal["flat", "hnsw"] = "hnsw" if kind == "hnsw" else "flat"
        self._index = self._new_index(self._layout)
        self._label: dict[str, int] = {}
        self._id_of: dict[int, str] = {}
        self._next = 0
        self._live = np.zeros(0, dtype=bool)  # hnsw: live flag per label (label = FAISS's internal id)
        self._selector: Any = None
        self._lock = threading.Lock()
        self.changes = 0
        self._erased = 0  # hnsw: tombstones of removed records (the rest are of replaced vectors)
        self.compact_inline = True  # False: the owner compacts (needs_compaction, compacted)

    @property
    def layout(self) -> Literal["flat", "hnsw"]:
        """The FAISS structure in use now: 'flat' or 'hnsw' (for `auto`, depends on the count)."""
        return self._layout

    def _new_index(self, layout: Literal["flat", "hnsw"]) -> Any:
        faiss = _faiss()

        if layout == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        if self.storage == "fp16":
            hnsw = faiss.IndexHNSWSQ(self.dimension, faiss.ScalarQuantizer.QT_fp16, self.hnsw_m,
                                     faiss.METRIC_INNER_PRODUCT)
            hnsw.is_trained = True  # fp16 needs no training
        else:
            hnsw = faiss.IndexHNSWFlat(self.dimension, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = self.ef_construction
        hnsw.hnsw.efSearch = self.ef_search
        return hnsw

    def add(self, ids: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Add or replace vectors, shape (len(ids), dimension)."""
        v = _check(ids, vectors, self.dimension)
        with self._lock:
            self.changes += 1
            self._remove_locked([i for i in ids if i in self._label])
            if self.kind == "auto" and self._layout == "flat" and len(self._label) + len(ids) > self.hnsw_above:
                self._rebuild_locked("hnsw")
            labels = np.arange(self._next, self._next + len(ids), dtype=np.int64)
            self._next += len(ids)
            for rid, lab in zip(ids, labels.tolist(), strict=True):
                self._label[rid] = lab
                self._id_of[lab] = rid
            if not len(ids):
                return
            if self._layout == "flat":
                self._index.add_with_ids(v, labels)
            else:
                with _threads(None):  # building the graph uses every core
                    self._index.add(v)
                self._live = np.concatenate([self._live, np.ones(len(ids), dtype=bool)])
                self._selector = None
            self._maybe_compact_locked()

    def _remove_locked(self, ids: Sequence[str]) -> int:
        labels = [self._label.pop(i) for i in ids if i in self._label]
        for lab in labels:
            self._id_of.pop(lab)
        if labels and self._layout == "flat":
            self._index.remove_ids(np.asarray(labels, dtype=np.int64))
        elif labels:
            self._live[labels] = False
            self._selector = None
        return len(labels)

    def remove(self, ids: Sequence[str]) -> int:
        """Remove ids in one batch (flat compacts; hnsw tombstones, compacting past a fraction)."""
        with self._lock:
            n = self._remove_locked(ids)
            self.changes += bool(n)
            if self._layout == "hnsw":
                self._erased += n
            self._maybe_compact_locked()
            return n

    def tombstones(self) -> int:
        """Removed vectors still inside the HNSW graph (0 for flat)."""
        return int(self._index.ntotal) - len(self._label)

    def _maybe_compact_locked(self) -> None:
        if self.compact_inline and self._past_fraction_locked():
            self._rebuild_locked("hnsw")

    def _past_fraction_locked(self) -> bool:
        dead = self.tombstones()
        return self._layout == "hnsw" and dead > 0 and dead > self.compact_fraction * self._index.ntotal

    def needs_compaction(self) -> bool:
        """True when the HNSW graph holds removed records' vectors, or tombstones past `compact_fraction`."""
        with self._lock:
            return self._layout == "hnsw" and (self._erased > 0 or self._past_fraction_locked())

    def compacted(self) -> tuple[FaissIndex, int]:
        """(a new index of the live vectors only, this index's `changes` when they were read).

        Only reading the vectors holds this index's lock (and only one chunk at a time is
        decoded to float32); building the new graph, 11-13 s at 100k vectors, does not, so
        searches go on meanwhile. The copy lacks any write made after the read: swap it in
        only if `changes` has not moved since.
        """
        fresh = FaissIndex(self.dimension, self.kind, **self.params())  # type: ignore[arg-type]
        fresh.compact_inline = self.compact_inline
        with self._lock:
            changes, layout = self.changes, self._layout
            ids, chunks = self._live_chunks_locked()
        fresh._fill(layout, ids, chunks)
        return fresh, changes

    def _live_chunks_locked(self) -> tuple[list[str], list[NDArray[Any]]]:
        """Live ids in label order and their vectors in chunks, HNSW's as they are held (float16 or float32)."""
        labels = np.array(sorted(self._id_of), dtype=np.int64)
        ids = [self._id_of[lab] for lab in labels.tolist()]
        if not len(labels):
            return [], [np.zeros((0, self.dimension), dtype=np.float32)]
        if self._layout == "flat":
            return ids, [np.stack([self._index.reconstruct(lab) for lab in labels.tolist()])]
        held = np.float16 if self.storage == "fp16" else np.float32
        return ids, [self._index.storage.reconstruct_batch(labels[i:i + _COMPACT_CHUNK]).astype(held)
                     for i in range(0, len(labels), _COMPACT_CHUNK)]

    def _rebuild_locked(self, layout: Literal["flat", "hnsw"]) -> None:
        """Rebuild as `layout` from the live vectors, relabelled 0..n-1 (drops tombstones)."""
        ids, chunks = self._live_chunks_locked()
        self._fill(layout, ids, [np.concatenate(chunks)])  # one batch: the graph is fed as it always was inline

    def _fill(self, layout: Literal["flat", "hnsw"], ids: list[str], chunks: list[NDArray[Any]]) -> None:
        """Become a new `layout` index of `ids`, whose vectors are the rows of `chunks` in turn."""
        self._layout = layout
        self._index = self._new_index(layout)
        self._label, self._id_of, self._next = {}, {}, 0
        self._live = np.zeros(0, dtype=bool)
        self._selector = None
        self._erased = 0
        if ids:
            labels = np.arange(len(ids), dtype=np.int64)
            self._label = dict(zip(ids, labels.tolist(), strict=True))
            self._id_of = dict(zip(labels.tolist(), ids, strict=True))
            self._next = len(ids)
            for chunk in chunks:
                block = np.ascontiguousarray(chunk, dtype=np.float32)
                if layout == "flat":
                    self._index.add_with_ids(block, labels[:len(block)])
                    labels = labels[len(block):]
                else:
                    with _threads(None):
                        self._index.add(block)
            if layout == "hnsw":
                self._live = np.ones(len(ids), dtype=bool)

    def search(self, query: NDArray[np.float32], k: int) -> list[tuple[str, float]]:
        """Top-k (id, cosine), best first, ties by id."""
        if not self._label or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(1, -1)
        with self._lock:
            want = min(len(self._label), k + 5)
            params = None
            if self._layout == "hnsw" and self.tombstones():
                params = self._search_params_locked()
            index = self._index
        # One query is too small to share between threads: OpenMP on a busy machine costs
        # more than it saves (measured 5x slower at 10k vectors on 2 cores).
        with _threads(1):
            sims, labels = index.search(q, want, params=params) if params is not None else index.search(q, want)
        pairs = [(self._id_of[int(lab)], float(s)) for s, lab in zip(sims[0], labels[0], strict=True)
                 if int(lab) in self._id_of]
        return _top(pairs, k)

    def _search_params_locked(self) -> Any:
        faiss = _faiss()

        if self._selector is None:
            bits = np.packbits(self._live, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(self._live), faiss.swig_ptr(bits))
            params = faiss.SearchParametersHNSW()
            params.sel = selector
            params.efSearch = self.ef_search
            self._selector = (params, selector, bits)  # FAISS keeps pointers: hold the objects
        return self._selector[0]

    def vector(self, record_id: str) -> NDArray[np.float32] | None:
        """The stored vector of a record, or None."""
        lab = self._label.get(record_id)
        if lab is None:
            return None
        store = self._index if self._layout == "flat" else self._index.storage
        out: NDArray[np.float32] = np.asarray(store.reconstruct(lab), dtype=np.float32)
        return out

    def count(self) -> int:
        """Number of live vectors."""
        return len(self._label)

    def params(self) -> dict[str, Any]:
        """Construction parameters, as written to the manifest."""
        return {"hnsw_m": self.hnsw_m, "ef_search": self.ef_search, "ef_construction": self.ef_construction,
                "hnsw_above": self.hnsw_above, "compact_fraction": self.compact_fraction,
                "storage": self.storage}

    def save(self, directory: Path) -> None:
        """Write index.faiss (the FAISS structure, vectors included), ids.json and the manifest.

        Labels are 0..n-1 in the order of ids.json. An HNSW graph keeps the tombstones of
        replaced vectors (null in ids.json): compacting them away on every save rebuilt the
        whole graph, 13 s at 100k profiles, after each profile edit. Removed records' vectors
        are compacted away first, so that none outlives its record on disk (a withdrawn need).
        """
        faiss = _faiss()

        with self._lock:
            if self._layout == "hnsw" and self._erased:
                self._rebuild_locked("hnsw")
            if self._layout == "flat" and self._next != len(self._label):
                self._rebuild_locked("flat")  # relabel 0..n-1 after removals
            ids = [self._id_of.get(lab) for lab in range(self._next)]
            faiss.write_index(self._index, str(directory / "index.faiss"))
            (directory / "ids.json").write_text(json.dumps(ids))
            _write_manifest(directory, self.kind, self.dimension, len(self._label),
                            {**self.params(), "layout": self._layout, "format": 3})

    @classmethod
    def _load(cls, directory: Path, manifest: dict[str, Any]) -> FaissIndex:
        faiss = _faiss()

        params = dict(manifest.get("params", {}))
        layout = params.pop("layout", manifest["kind"])
        fmt = params.pop("format", 1)
        index = cls(int(manifest["dimension"]), manifest["kind"], **params)
        ids = json.loads((directory / "ids.json").read_text())
        loaded = faiss.read_index(str(directory / "index.faiss"))
        if layout == "hnsw" and fmt == 1:
            # Format 1 wrapped the graph in an IndexIDMap with labels 0..n-1 and kept vectors.npy.
            loaded = faiss.downcast_index(loaded.index)
        index._layout = layout
        index._index = loaded
        if layout == "hnsw":
            loaded.hnsw.efSearch = index.ef_search
        if loaded.ntotal != len(ids):
            raise SnapshotError(f"{directory}: index holds {loaded.ntotal} vectors, ids list {len(ids)}")
        live = [rid is not None for rid in ids]  # format 3: null marks a tombstone (hnsw only)
        if layout != "hnsw" and not all(live):
            raise SnapshotError(f"{directory}: a flat index with tombstones")
        index._label = {rid: lab for lab, rid in enumerate(ids) if rid is not None}
        index._id_of = {lab: rid for lab, rid in enumerate(ids) if rid is not None}
        index._next = len(ids)
        index._live = np.array(live, dtype=bool) if layout == "hnsw" else np.zeros(0, dtype=bool)
        return index


def _faiss() -> Any:
    """The faiss module, imported on first use (its type stubs are incomplete: treat it as Any)."""
    import faiss

    return faiss


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run FAISS with `n` OpenMP threads (None: all cores), restoring the previous setting."""
    faiss = _faiss()

    before = faiss.omp_get_max_threads()
    want = n or os.cpu_count() or 1
    if want != before:
        faiss.omp_set_num_threads(want)
    try:
        yield
    finally:
        if want != before:
            faiss.omp_set_num_threads(before)


def _write_manifest(directory: Path, kind: str, dimension: int, count: int, params: dict[str, Any]) -> None:
    manifest = {"schema_version": 1, "kind": kind, "dimension": dimension, "count": count, "params": params}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


def make_index(kind: IndexKind, dimension: int) -> VectorIndex:
    """A new empty index of the given kind ('auto': exact up to AUTO_HNSW_ABOVE vectors, then fp16 HNSW)."""
    if kind == "numpy":
        return NumpyIndex(dimension)
    if kind == "auto":
        # float16 HNSW vectors: recall@10 unchanged (0.979 vs 0.980 at 100k, efSearch 96), half the memory and
        # disk. efSearch 256: recall@10 0.99 at 100k and 0.96 at 1M for ~1 ms a query (docs/benchmarks.md).
        return FaissIndex(dimension, "auto", storage="fp16", ef_search=256)
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
