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
        left.text(sizes[0], 5.3, "target p50 5 ms (stored, 10k)", fontsize=8, color="grey")
    left.set(xscale="log", yscale="log", xlabel="profiles", ylabel="ms per query (top 10, explained)",
             title="Matching latency")
    left.legend(fontsize=7)
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
    if index:
        for size in index["sizes"]:
            for row in size["rows"]:
                if row["ef"] in (None, 96):
                    right.plot([size["n"]], [row["memory_mib"]], "x", label=f"{row['index']} alone")
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
