"""Markdown tables from bench/results/*.json, for pasting into docs/benchmarks.md.

    python bench/report.py [--results bench/results]
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import RESULTS


def _md(rows: list[list[str]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _f(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def encoders(r: dict[str, Any]) -> str:
    """Encoder backends."""
    rows = [[x["label"], _f(x.get("texts_per_second"), ".1f"), _f(x.get("throughput_x"), ".2f"),
             _f(x.get("latency_ms", {}).get("p50"), ".0f"), _f(x.get("latency_x"), ".2f"),
             _f(x.get("cosine_vs_torch", {}).get("min"), ".4f"), _f(x.get("cosine_vs_torch", {}).get("mean"), ".4f"),
             _f(x.get("dev", {}).get("ndcg@10"), ".4f"), _f(x.get("ndcg_delta"), "+.4f"),
             _f(x.get("load_seconds"), ".1f"), _f(x.get("peak_rss_mib"), ".0f"),
             "yes" if x.get("torch_imported") else "no"] for x in r["rows"]]
    return _md(rows, ["backend", "texts/s (batch 32)", "x torch", "1 query p50 ms", "x torch", "cos min",
                      "cos mean", "dev nDCG@10", "vs torch", "load s", "peak RSS MiB", "imports torch"])


def paired(r: dict[str, Any]) -> str:
    """The paired encoder comparison."""
    labels = {"minilm": "torch fp32 MiniLM", "onnx": "ONNX fp32 MiniLM", "onnx-int8": "ONNX int8 MiniLM"}
    rows = [[labels.get(b, b), _f(v["texts_per_second_median"], ".1f"), _f(v["throughput_x_median"], ".2f"),
             _f(v["latency_ms"]["p50"], ".0f"), _f(v["latency_x_median"], ".2f"),
             " ".join(f"{x:.2f}" for x in v["throughput_x_rounds"])]
            for b, v in r.get("paired", {}).get("backends", {}).items()]
    return _md(rows, ["backend", "texts/s (median)", "throughput x torch", "1 query p50 ms", "latency x torch",
                      "throughput ratio per round"])


def match(r: dict[str, Any]) -> str:
    """Matching latency."""
    rows = []
    for x in r["rows"]:
        for kind, label in (("stored", "stored need"), ("adhoc", "ad-hoc text")):
            o, b = x[kind]["ours"], x[kind]["baseline"]
            rows.append([f"{x['profiles']:,}", label, x["index_layout"], _f(o["p50"], ".1f"), _f(o["p95"], ".1f"),
                         _f(o["p99"], ".1f"), _f(b["p50"], ".1f"), _f(b["p99"], ".1f"), _f(b["p50"] / o["p50"], ".1f"),
                         _f(x["bm25_only"]["p50"], ".1f") if kind == "stored" else "",
                         _f(x["top10_overlap_vs_baseline"], ".3f") if kind == "stored" else "",
                         _f(x["engine_memory_mib"], ".0f") if kind == "stored" else ""])
    return _md(rows, ["profiles", "query", "index", "p50 ms", "p95 ms", "p99 ms", "brute-force p50", "brute-force p99",
                      "x faster", "BM25-only p50", "top-10 overlap with brute force", "engine MiB"])


def index(r: dict[str, Any]) -> str:
    """Index comparison, one table per size."""
    parts = []
    for size in r["sizes"]:
        size_of = {k: v["disk_mib"] for k, v in size["snapshots"].items()}
        rows = [[x["index"], _f(x["ef"], "d"), _f(x["build_s"], ".1f"),
                 _f(size_of.get(_snapshot_key(x["index"])), ".0f"),
                 _f(x["latency_ms"]["p50"], ".3f"), _f(x["latency_ms"]["p99"], ".3f"), _f(x["speedup"], ".0f"),
                 _f(x["recall@10"], ".4f")] for x in size["rows"]]
        parts.append(f"**{size['n']:,} vectors**, {size['queries']} queries; exact search over float16-rounded "
                     f"vectors: recall@10 {size['fp16_exact_recall@10']:.4f}\n")
        parts.append(_md(rows, ["index", "efSearch", "build s", "size MiB (= its file)", "p50 ms", "p99 ms",
                                "x exact", "recall@10"]))
        snaps = [[k, _f(v["save_s"], ".2f"), _f(v["load_s"], ".2f"), _f(v["disk_mib"], ".0f")]
                 for k, v in size["snapshots"].items()]
        parts.append("\n" + _md(snaps, ["snapshot", "save s", "load s", "disk MiB"]))
        inc = size["incremental"]
        parts.append(f"\nIncremental (HNSW, {inc['start_count']:,} vectors): add 1,000 in {inc['add_1000_s']:.2f} s; "
                     f"remove 1,000 in {inc['remove_1000_s']:.3f} s (tombstones); p50 with those tombstones "
                     f"{inc['p50_ms_with_1000_tombstones']:.3f} ms; the removal that passed the compaction fraction "
                     f"took {inc['compaction_s']:.1f} s (graph rebuilt inline from {inc['live_after']:,} live vectors)"
                     + (f"; as the service compacts, a copy built beside the live graph took "
                        f"{inc['compacted_copy_s']:.1f} s, holding the index's lock for "
                        f"{inc['compacted_copy_lock_s']:.2f} s" if "compacted_copy_s" in inc else "") + ".\n")
    return "\n".join(parts)


def _snapshot_key(index_name: str) -> str:
    if index_name.startswith("exact"):
        return "flat"
    return "hnsw-fp16" if "fp16" in index_name else "hnsw-float32"


def ingest(r: dict[str, Any]) -> str:
    """Ingest runs."""
    rows = [[x["run"], f"{x['profiles']:,}", _f(x["seconds"], ".1f"), _f(x["profiles_per_second"], ".1f"),
             _f(x.get("x_baseline"), ".2f"), _f(x["peak_rss_mib"], ".0f"), x["layout"],
             _f(x.get("load", {}).get("seconds"), ".1f"), _f(x.get("load", {}).get("first_query_ms"), ".0f"),
             _f(x.get("load", {}).get("peak_rss_mib"), ".0f")]
            for x in r["model_bound"] + r["scale"]]
    return _md(rows, ["run", "profiles", "seconds", "profiles/s", "x torch", "peak RSS MiB", "index",
                      "load from snapshot s", "then first query ms", "load + query peak RSS MiB"])


def http(r: dict[str, Any]) -> str:
    """HTTP scenarios."""
    rows = [[k, str(v["connections"]), str(v["requests"]), _f(v["req_per_s"], ".1f"), _f(v["x_healthz"], ".3f"),
             _f(v["latency_ms"]["p50"], ".1f"), _f(v["latency_ms"]["p95"], ".1f"), _f(v["latency_ms"]["p99"], ".1f"),
             ", ".join(f"{s}: {c}" for s, c in sorted(v["statuses"].items()))] for k, v in r["scenarios"].items()]
    return _md(rows, ["scenario", "connections", "requests", "req/s", "x /healthz", "p50 ms", "p95 ms", "p99 ms",
                      "statuses"])


def main(argv: Sequence[str] | None = None) -> int:
    """Print every available table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    for name, fn in (("encoders", encoders), ("encoders", paired), ("match", match), ("index", index),
                     ("index-1m", index), ("ingest", ingest), ("http", http)):
        path = args.results / f"{name}.json"
        if path.exists():
            print(f"### {name}\n\n{fn(json.loads(path.read_text()))}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
