"""Plot latency and memory against corpus size from bench/results/*.json (for docs/benchmarks.md).

    python bench/plot.py [--results bench/results] [--out docs/benchmarks.png]
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import RESULTS, ROOT


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def plot(results: Path, out: Path) -> Path:
    """Write a two-panel PNG: match latency vs profiles, memory vs profiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    match, ingest, index = _load(results, "match"), _load(results, "ingest"), _load(results, "index")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    if match:
        sizes = [r["profiles"] for r in match["rows"]]
        for kind, label, style in (("stored", "stored need", "-"), ("adhoc", "ad-hoc text", "--")):
            left.plot(sizes, [r[kind]["ours"]["p50"] for r in match["rows"]], "o" + style, color="C0",
                      label=f"{label}: ours p50")
            left.plot(sizes, [r[kind]["ours"]["p99"] for r in match["rows"]], "^" + style, color="C2",
                      label=f"{label}: ours p99")
            left.plot(sizes, [r[kind]["baseline"]["p50"] for r in match["rows"]], "s" + style, color="C3",
                      label=f"{label}: brute force p50")
        left.axhline(5, color="grey", lw=0.8, ls=":")
        left.text(sizes[-1], 4.2, "target: stored p50 5 ms at 10k", fontsize=8, color="grey", ha="right")
    left.set(xscale="log", yscale="log", xlabel="profiles", ylabel="ms per query (top 10, explained)",
             title="Matching latency")
    low, high = left.get_ylim()
    left.set_ylim(low, high * 30)  # room for the legend above the curves
    left.legend(fontsize=7, loc="upper left", ncol=2)
    left.grid(True, which="both", alpha=0.3)
    if ingest:
        rows = ingest["scale"]
        right.plot([r["profiles"] for r in rows], [r["peak_rss_mib"] for r in rows], "o-", label="ingest peak RSS")
        loaded = [r for r in rows if "load" in r]
        right.plot([r["profiles"] for r in loaded], [r["load"]["peak_rss_mib"] for r in loaded], "s",
                   label="service loaded from snapshot, peak RSS")
    if match:
        right.plot([r["profiles"] for r in match["rows"]], [r["engine_memory_mib"] for r in match["rows"]], "^--",
                   label="match engine (RSS growth)")
    styles = {"flat": ("x", "C4", "exact IndexFlatIP (file = memory)"), "hnsw-float32": ("+", "C5", "HNSW float32"),
              "hnsw-fp16": ("1", "C6", "HNSW float16 (auto)")}
    seen: set[str] = set()
    for idx in (index, _load(results, "index-1m")):
        for size in (idx or {}).get("sizes", []):
            for key, snap in size["snapshots"].items():
                marker, color, label = styles[key]
                right.plot([size["n"]], [snap["disk_mib"]], marker, color=color, markersize=9,
                           label=None if key in seen else label)
                seen.add(key)
    right.axhline(1536, color="grey", lw=0.8, ls=":")
    right.text(1000, 1580, "target 1.5 GiB at 100k", fontsize=8, color="grey")
    right.set(xscale="log", xlabel="profiles (vectors)", ylabel="MiB", title="Memory")
    right.legend(fontsize=7)
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle("partnermatch on 2 shared cores (see docs/benchmarks.md)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.png")
    args = parser.parse_args(argv)
    print(f"wrote {plot(args.results, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
