"""Matching latency: top-10 with full explanations for stored needs and ad-hoc text, at 1k/10k/100k profiles.

    python bench/bench_match.py [--sizes 1000,10000,100000] [--smoke] [--out DIR]

Baseline, same run and same queries: brute-force scoring of every profile (the engine on
the exact numpy index). Ours: the engine as configured by default (`auto` index). Also
timed: BM25-only ranking (what `matcher.evaluate` compares against), and the overlap of
our top 10 with the baseline's.

Corpus: the pool's 1,000 generated profiles are analysed with the real encoder (ONNX fp32
MiniLM, cached between runs). Beyond 1,000, profiles reuse a pool profile's text and
analysis under a new id, with its vector moved by Gaussian noise (sigma 0.3, cosine ~0.96)
so that dense scores do not tie. Explanation inputs (sentence vectors) are warm, as after
ingest or a first view; the cost of a cold explanation is reported separately. Ad-hoc
texts are new generated needs, encoded by the real model in the query. numpy's BLAS runs
on one thread, as in the service (see `matcher.candidates.dense_scores`).
"""
from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, RESULTS, peak_rss_mib, percentiles, rss_mib, table, write_result
from corpus import needs as generate_needs
from pool import Pool, build_pool

from matcher.candidates import limit_blas_threads
from matcher.engine import Analysed, AnalysisRequest, MatchEngine
from models.encoders import uncached

TOP = 10


def corpus_profiles(pool: Pool, n: int, seed: int = 0) -> list[Analysed]:
    """n analysed profiles: the pool's, then re-ided copies with noisy vectors and varied capacity."""
    out = list(pool.profiles[:n])
    extra = n - len(out)
    if extra <= 0:
        return out
    rng = random.Random(seed)
    base = pool.profile_vectors()
    rng_np = np.random.default_rng(seed)
    picks = rng_np.integers(0, len(pool.profiles), extra)
    noise = base[picks] + rng_np.normal(size=(extra, base.shape[1])).astype(np.float32) * (0.3 / np.sqrt(base.shape[1]))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    for j, (p, vec) in enumerate(zip(picks.tolist(), noise, strict=True)):
        src = pool.profiles[p]
        rid = f"bench-copy-{j:07d}"
        record = src.record.model_copy(update={"id": rid, "capacity": rng.randint(0, 5)}) if src.record else None
        a = Analysed(rid, "profile", src.text, src.language, src.areas, vec, src.terms, record)
        out.append(a)
    return out


def build_engine(pool: Pool, profiles: list[Analysed], kind: str, encoder: Any) -> tuple[MatchEngine, float]:
    """An engine holding `profiles` and the pool's needs; (engine, seconds)."""
    start = time.perf_counter()
    engine = MatchEngine(encoder, pool.engine.detector, index_kind=kind,  # type: ignore[arg-type]
                         explain_cache_records=len(profiles) + len(pool.needs) + 100)
    for s in range(0, len(profiles), 50_000):
        engine.add(profiles[s:s + 50_000])
    engine.add(pool.needs)
    return engine, time.perf_counter() - start


def time_stored(engine: MatchEngine, need_ids: list[str]) -> tuple[list[float], dict[str, list[str]]]:
    """Seconds per stored-need match (top 10 with explanations) and the ranked ids."""
    for nid in need_ids:  # builds the lexical index and score columns, warms each need's explanation inputs
        engine.match_need(nid, top=TOP)
    secs, ranked = [], {}
    for nid in need_ids:
        start = time.perf_counter()
        items = engine.match_need(nid, top=TOP)
        secs.append(time.perf_counter() - start)
        ranked[nid] = [it["profile_id"] for it in items]
    return secs, ranked


def time_adhoc(engine: MatchEngine, texts: list[str]) -> list[float]:
    """Seconds per ad-hoc match (analysis, encoding, ranking, explanations)."""
    encoder = uncached(engine.encoder)  # past the embedding cache, as the service does
    engine.match_text(texts[0], top=TOP, encoder=encoder)
    out = []
    for t in texts[1:]:
        start = time.perf_counter()
        engine.match_text(t, top=TOP, encoder=encoder)
        out.append(time.perf_counter() - start)
    return out


def time_model(engine: MatchEngine, texts: list[str]) -> list[float]:
    """Seconds the model alone takes to encode each ad-hoc text's passages (the floor of an ad-hoc match)."""
    analysed = engine.analyse_many([AnalysisRequest("need", "<text>", t, None, (), None, np.zeros(1, np.float32))
                                    for t in texts])  # vector given: analysis only, no encoding
    out = []
    for a in analysed[1:]:
        chunks = engine.embedding_text(a.text, a.areas, a.language)
        start = time.perf_counter()
        uncached(engine.encoder).encode(chunks, kind="query")
        out.append(time.perf_counter() - start)
    return out


def time_bm25(engine: MatchEngine, need_ids: list[str]) -> list[float]:
    """Seconds per BM25-only top 10 (as matcher.evaluate's baseline ranks)."""
    lexical = engine.lexical("profile")
    out = []
    for nid in need_ids:
        terms = engine.get("need", nid).terms  # type: ignore[union-attr]
        start = time.perf_counter()
        scores = lexical.scores(terms)
        sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
        out.append(time.perf_counter() - start)
    return out


def time_cold(engine: MatchEngine, need_ids: list[str]) -> list[float]:
    """Seconds per stored-need match whose explanation inputs nothing has cached (a record's first view)."""
    out = []
    for nid in need_ids:
        for side in ("need", "profile"):
            for a in engine._sides[side].records.values():
                a.explain_cache = None
        engine._explained.clear()
        start = time.perf_counter()
        engine.match_need(nid, top=TOP)
        out.append(time.perf_counter() - start)
    return out


def bench_size(pool: Pool, n: int, n_queries: int, adhoc: list[str], encoder: Any) -> dict[str, Any]:
    """Ours (auto) and the brute-force baseline at n profiles."""
    profiles = corpus_profiles(pool, n)
    need_ids = [a.id for a in pool.needs[:n_queries]]
    gc.collect()
    before = rss_mib()
    ours, build_s = build_engine(pool, profiles, "auto", encoder)
    ours_stored, ours_ranked = time_stored(ours, need_ids)
    ours_mem = rss_mib() - before
    ours_cold = time_cold(ours, need_ids[:20])
    ours_adhoc = time_adhoc(ours, adhoc)
    model_only = time_model(ours, adhoc)
    bm25 = time_bm25(ours, need_ids)
    layout = getattr(ours.index("profile"), "layout", ours.index("profile").kind)
    base, base_build_s = build_engine(pool, profiles, "numpy", encoder)
    base._sides["profile"].lexical = ours._sides["profile"].lexical  # same BM25 index: time scoring, not re-indexing
    base_stored, base_ranked = time_stored(base, need_ids)
    base_adhoc = time_adhoc(base, adhoc)
    overlap = float(np.mean([len(set(ours_ranked[q]) & set(base_ranked[q])) / TOP for q in need_ids]))
    same = float(np.mean([ours_ranked[q] == base_ranked[q] for q in need_ids]))
    del ours, base
    gc.collect()
    return {
        "profiles": n, "queries": len(need_ids), "index_layout": layout, "build_s": build_s,
        "baseline_build_s": base_build_s, "engine_memory_mib": ours_mem,
        "stored": {"ours": percentiles(ours_stored), "baseline": percentiles(base_stored)},
        "stored_cold": percentiles(ours_cold),
        "adhoc": {"ours": percentiles(ours_adhoc), "baseline": percentiles(base_adhoc),
                  "model_only": percentiles(model_only)},
        "bm25_only": percentiles(bm25),
        "top10_overlap_vs_baseline": overlap, "identical_top10_share": same,
    }


def format_rows(rows: list[dict[str, Any]]) -> str:
    """Latency table, one line per size and query type."""
    flat = []
    for r in rows:
        for kind in ("stored", "adhoc"):
            o, b = r[kind]["ours"], r[kind]["baseline"]
            flat.append({"n": r["profiles"], "kind": "stored need" if kind == "stored" else "ad-hoc text",
                         "index": r["index_layout"], "p50": o["p50"], "p95": o["p95"], "p99": o["p99"],
                         "b50": b["p50"], "b99": b["p99"], "x": b["p50"] / o["p50"],
                         "bm25": r["bm25_only"]["p50"] if kind == "stored" else None,
                         "ov": r["top10_overlap_vs_baseline"] if kind == "stored" else None,
                         "mem": r["engine_memory_mib"] if kind == "stored" else None})
    return table(flat, [("n", "profiles", ",d"), ("kind", "query", ""), ("index", "index", ""),
                        ("p50", "p50 ms", ".2f"), ("p95", "p95 ms", ".2f"), ("p99", "p99 ms", ".2f"),
                        ("b50", "brute p50", ".2f"), ("b99", "brute p99", ".2f"), ("x", "x faster", ".1f"),
                        ("bm25", "BM25-only p50", ".2f"), ("ov", "top10 overlap", ".3f"),
                        ("mem", "engine MiB", ".0f")])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write match.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--adhoc", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="200 and 1,000 profiles, hashing encoder")
    parser.add_argument("--encoder", default="onnx-int8")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    limit_blas_threads()  # as the service runs (`partnermatch serve`, the CLI)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.smoke:
        sizes, args.queries, args.adhoc, args.encoder = [200, 1000], 10, 4, "hashing"
        pool = build_pool(150, 20, args.encoder, args.cache)
    else:
        pool = build_pool(encoder_name=args.encoder, cache=args.cache)
    encoder = pool.engine.encoder.inner  # type: ignore[attr-defined]  # uncached: ad-hoc text is encoded
    adhoc = [n.description for n in generate_needs(args.adhoc + 1, seed=7)]
    rows = [bench_size(pool, n, args.queries, adhoc, encoder) for n in sizes]
    print(format_rows(rows))
    for r in rows:
        print(f"{r['profiles']:,} profiles, stored need, nothing cached for explanations: "
              f"p50 {r['stored_cold']['p50']:.2f} ms, p99 {r['stored_cold']['p99']:.2f} ms")
        model, adhoc_p50 = r["adhoc"]["model_only"]["p50"], r["adhoc"]["ours"]["p50"]
        print(f"{r['profiles']:,} profiles, ad-hoc: the model alone encoding the text p50 {model:.1f} ms "
              f"= {model / adhoc_p50:.0%} of the whole match (p50 {adhoc_p50:.1f} ms)")
    print(f"peak RSS {peak_rss_mib():.0f} MiB (both engines and the pool)")
    write_result(args.out, "match", {"top": TOP, "encoder": args.encoder, "pool_profiles": len(pool.profiles),
                                     "pool_seconds": pool.seconds, "copy_noise_sigma": 0.3,
                                     "rows": rows, "peak_rss_mib": peak_rss_mib()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
