"""What every benchmark shares: paths, peak memory, percentiles, tables, result files, the embedding pool.

The machine has 2 cores and is shared with other work while benchmarks run, so absolute
timings are noisy: every benchmark also measures a baseline in the same run and reports
ratios against it.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"  # embeddings and ONNX exports reused between runs (gitignored)
# Real-model embeddings are the slow part (~15 texts/s on this machine): larger corpora
# reuse the descriptions of a pool of this many distinct generated profiles (and needs).
POOL_PROFILES = 1000
POOL_NEEDS = 200


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    """Current resident set size, MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean of durations, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000
    if not len(ms):
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan"), "n": 0}
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "mean": float(ms.mean()), "n": len(ms)}


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall-clock seconds of `repeat` calls of fn."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    load = os.getloadavg()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "memory_gib": round(mem, 1), "python": platform.python_version(),
            "numpy": np.__version__, "load_average_at_start": [round(x, 2) for x in load],
            "shared": "other work ran on the machine during the measurements", "when": datetime.now(UTC).isoformat()}


def table(rows: list[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table: columns are (key, header, format spec)."""
    heads = [h for _, h, _ in columns]
    cells = [[("-" if r.get(k) is None else format(r[k], f)) for k, _, f in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(heads)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def write_result(out: Path, name: str, report: dict[str, Any]) -> Path:
    """Write <out>/<name>.json with the machine description added."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **report}, indent=2, default=float) + "\n")
    return path


def make_bench_encoder(name: str, cache: Path = CACHE) -> Any:
    """A real encoder ('minilm', 'onnx', 'onnx-int8', 'e5') behind a persistent embedding cache under `cache`."""
    from models.encoders import CachedEncoder, make_encoder

    cache.mkdir(parents=True, exist_ok=True)
    inner = make_encoder(name, home=cache)
    # Keyed by model name: torch and ONNX fp32 MiniLM share one (their vectors agree to 1e-7).
    return CachedEncoder(inner, cache / f"embeddings-{inner.name}.sqlite")
