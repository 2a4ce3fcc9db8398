"""Exact (IndexFlatIP) vs HNSW at 10k-100k (and 1M) vectors: build time, memory, latency, recall@10.

    python bench/bench_index.py [--sizes 10000,30000,100000] [--smoke] [--out DIR]
    python bench/bench_index.py --sizes 1000000 --name index-1m        # make bench-1m

Vectors are realistic, not uniform: the pool's 1,000 generated profiles and their ~8,000
sentences are embedded with the real encoder (ONNX fp32 MiniLM, cached); the index holds
those real vectors, and the rest is synthesised around them: w*a + (1-w)*b of two random
real vectors (w uniform in [0.5, 1)) plus small Gaussian noise (total norm 0.1), i.e. new
texts near existing ones, not copies (copies plus noise make tight clusters of
near-duplicates that no real corpus has). Queries are the pool's 200 generated needs,
embedded the same way. Every index is
our `matcher.index.FaissIndex` (so its Python overhead counts); recall@10 and speed are
against exact search over the same vectors in the same run, one query at a time on one
thread. Also measured: recall of exact search over float16-rounded vectors (what fp16
storage costs), snapshot save/load, incremental add/remove and compaction.
"""
from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, RESULTS, peak_rss_mib, percentiles, rss_mib, table, write_result
from numpy.typing import NDArray

from matcher.index import FaissIndex, load_index

K = 10
EF_VALUES = (16, 32, 64, 96, 128, 256)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def recall(found: list[list[str]], truth: list[list[str]]) -> float:
    """Mean share of the true top-k found."""
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True) if t]))


def search_all(index: FaissIndex, queries: NDArray[np.float32]) -> tuple[list[list[str]], list[float]]:
    """Top-K ids for every query, and each query's seconds."""
    ids, secs = [], []
    index.search(queries[0], K)
    for q in queries:
        start = time.perf_counter()
        hits = index.search(q, K)
        secs.append(time.perf_counter() - start)
        ids.append([i for i, _ in hits])
    return ids, secs


def build(kind: str, vectors: NDArray[np.float32], ids: list[str], **params: Any) -> tuple[FaissIndex, float, float]:
    """(index, build seconds, memory growth MiB)."""
    gc.collect()
    before = rss_mib()
    start = time.perf_counter()
    index = FaissIndex(vectors.shape[1], kind, **params)  # type: ignore[arg-type]
    for s in range(0, len(ids), 100_000):
        index.add(ids[s:s + 100_000], vectors[s:s + 100_000])
    return index, time.perf_counter() - start, rss_mib() - before


def bench_size(n: int, base: NDArray[np.float32], queries: NDArray[np.float32], ef_values: Sequence[int],
               hnsw_m: int, ef_construction: int, tmp: Path,
               storages: Sequence[str] = ("float32", "fp16")) -> dict[str, Any]:
    """Every index variant at n vectors."""
    from pool import mixtures

    vectors = np.concatenate([base[:n], mixtures(base, max(0, n - len(base)), 0.1, seed=n)])[:n]
    ids = [f"v{i:07d}" for i in range(n)]
    rows: list[dict[str, Any]] = []

    exact, t_build, mem = build("flat", vectors, ids)
    truth, secs = search_all(exact, queries)
    base_lat = percentiles(secs)
    rows.append({"index": "exact IndexFlatIP", "ef": None, "build_s": t_build, "memory_mib": mem,
                 "latency_ms": base_lat, "recall@10": 1.0, "speedup": 1.0})
    snap = {"flat": _snapshot(exact, tmp / "flat")}
    # What float16 vectors cost: exact search over the rounded vectors.
    half = FaissIndex(vectors.shape[1], "flat")
    half.add(ids, vectors.astype(np.float16).astype(np.float32))
    fp16_recall = recall(search_all(half, queries)[0], truth)
    del half, exact
    gc.collect()

    for storage in storages:
        hnsw, t_build, mem = build("hnsw", vectors, ids, hnsw_m=hnsw_m, ef_construction=ef_construction,
                                   storage=storage)
        for ef in ef_values:
            hnsw.ef_search = ef
            hnsw._index.hnsw.efSearch = ef
            found, secs = search_all(hnsw, queries)
            lat = percentiles(secs)
            rows.append({"index": f"HNSW M={hnsw_m} {storage}", "ef": ef, "build_s": t_build, "memory_mib": mem,
                         "latency_ms": lat, "recall@10": recall(found, truth), "speedup": base_lat["p50"] / lat["p50"]})
        hnsw.ef_search = 96
        hnsw._index.hnsw.efSearch = 96
        snap[f"hnsw-{storage}"] = _snapshot(hnsw, tmp / f"hnsw-{storage}")
        if storage == storages[0]:
            incremental = _incremental(hnsw, vectors, queries)
        del hnsw
        gc.collect()
    return {"n": n, "dimension": int(vectors.shape[1]), "queries": len(queries), "rows": rows,
            "fp16_exact_recall@10": fp16_recall, "snapshots": snap, "incremental": incremental}


def _snapshot(index: FaissIndex, directory: Path) -> dict[str, float]:
    directory.mkdir(parents=True)
    start = time.perf_counter()
    index.save(directory)
    saved = time.perf_counter() - start
    start = time.perf_counter()
    loaded = load_index(directory)
    loaded_s = time.perf_counter() - start
    out = {"save_s": saved, "load_s": loaded_s, "disk_mib": _dir_size(directory) / 2**20, "count": loaded.count()}
    del loaded
    shutil.rmtree(directory)
    return out


def _incremental(index: FaissIndex, vectors: NDArray[np.float32], queries: NDArray[np.float32]) -> dict[str, float]:
    """Add 1000 vectors, remove 1000 (tombstones), then remove enough to trigger a compaction."""
    n = index.count()
    new = vectors[:1000] * 0.99 + 0.01 / np.sqrt(vectors.shape[1])
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    start = time.perf_counter()
    index.add([f"new{i}" for i in range(len(new))], new)
    add_s = time.perf_counter() - start
    start = time.perf_counter()
    index.remove([f"v{i:07d}" for i in range(1000)])
    remove_s = time.perf_counter() - start
    _, secs = search_all(index, queries)
    with_tombstones = percentiles(secs)["p50"]
    more = int(index.compact_fraction * index._index.ntotal) + 1
    # As the service compacts (deferred, see MatchEngine.compact): a copy built off the lock.
    index.compact_inline = False
    index.remove([f"v{i:07d}" for i in range(1000, 1000 + more)])
    start = time.perf_counter()
    with index._lock:
        index._live_chunks_locked()  # what compacted() holds the lock for
    locked_s = time.perf_counter() - start
    start = time.perf_counter()
    fresh, _ = index.compacted()
    offlock_s = time.perf_counter() - start
    copied = fresh.count()
    del fresh  # not held through the inline compaction below (at 1M: ~2.5 GB more peak RSS)
    # Inline, as a standalone index does: inside the write that passes the fraction.
    index.compact_inline = True
    start = time.perf_counter()
    index.remove([f"v{1000 + more:07d}"])
    compact_s = time.perf_counter() - start
    assert copied == index.count() + 1 and index.tombstones() == 0
    return {"add_1000_s": add_s, "remove_1000_s": remove_s, "p50_ms_with_1000_tombstones": with_tombstones,
            "compaction_s": compact_s, "compacted_copy_s": offlock_s, "compacted_copy_lock_s": locked_s,
            "live_after": index.count(), "tombstones_after": index.tombstones(), "start_count": n}


def format_rows(results: list[dict[str, Any]]) -> str:
    """One table per size."""
    parts = []
    for res in results:
        flat = [{**r, "p50": r["latency_ms"]["p50"], "p99": r["latency_ms"]["p99"]} for r in res["rows"]]
        parts.append(f"n = {res['n']:,} vectors, {res['queries']} queries (baseline: exact, same run)")
        parts.append(table(flat, [("index", "index", ""), ("ef", "efSearch", "d"), ("build_s", "build s", ".1f"),
                                  ("memory_mib", "memory MiB", ".0f"), ("p50", "p50 ms", ".3f"),
                                  ("p99", "p99 ms", ".3f"), ("speedup", "x exact", ".1f"),
                                  ("recall@10", "recall@10", ".4f")]))
        parts.append(f"exact search over float16-rounded vectors: recall@10 {res['fp16_exact_recall@10']:.4f}")
        for name, s in res["snapshots"].items():
            parts.append(f"snapshot {name}: save {s['save_s']:.2f} s, load {s['load_s']:.2f} s, "
                         f"{s['disk_mib']:.0f} MiB on disk")
        inc = res["incremental"]
        parts.append(f"incremental (HNSW): add 1000 {inc['add_1000_s']:.2f} s, "
                     f"remove 1000 {inc['remove_1000_s']:.3f} s, "
                     f"p50 with 1000 tombstones {inc['p50_ms_with_1000_tombstones']:.3f} ms, "
                     f"compaction {inc['compaction_s']:.1f} s inline, or a copy built off the lock in "
                     f"{inc['compacted_copy_s']:.1f} s with the lock held {inc['compacted_copy_lock_s']:.2f} s")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the tables and write <name>.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,30000,100000")
    parser.add_argument("--smoke", action="store_true", help="2,000 vectors, hashing encoder, a few queries")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="index")
    parser.add_argument("--encoder", default="onnx-int8")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--storages", default="float32,fp16", help="HNSW vector storage variants to build")
    args = parser.parse_args(argv)
    from pool import build_pool, real_vectors

    sizes = [int(s) for s in args.sizes.split(",")]
    ef_values: Sequence[int] = EF_VALUES
    if args.smoke:
        sizes, ef_values, args.encoder = [2000], (32, 96), "hashing"
        pool = build_pool(60, 20, args.encoder, args.cache)
    else:
        pool = build_pool(encoder_name=args.encoder, cache=args.cache)
    base, queries = real_vectors(pool), pool.need_vectors()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            results.append(bench_size(n, base, queries, ef_values, args.hnsw_m, args.ef_construction, Path(tmp),
                                      args.storages.split(",")))
    print(format_rows(results))
    print(f"peak RSS {peak_rss_mib():.0f} MiB")
    write_result(args.out, args.name, {"k": K, "encoder": args.encoder, "pool_profiles": len(pool.profiles),
                                       "pool_seconds": pool.seconds, "real_vectors": len(base),
                                       "synthesis": "w*a+(1-w)*b, w~U[0.5,1), + noise 0.1", "sizes": results,
                                       "peak_rss_mib": peak_rss_mib()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
