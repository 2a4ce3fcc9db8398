"""Benchmark `matcher.assign.propose_round` against a greedy baseline run alongside.

Usage::

    python bench/bench_assign.py [--sizes 200x150,1000x1000] [--smoke] [--out DIR]

Rounds are generated with a fixed seed: needs and profiles sit around shared clinical
"area" centres, so scores in [0, 1] are clustered like embedding similarities, and
profile capacities are 1-4. Prints a table and writes ``<out>/assign.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = "200x150,1000x1000"
SMOKE_SIZES = "12x10,30x25"


def generate_round(
    n_needs: int, n_profiles: int, seed: int = 0, n_areas: int = 12, dim: int = 32
) -> tuple[list[str], list[str], NDArray[np.float64], list[int]]:
    """One seeded round: ids, (n_needs, n_profiles) clustered scores, capacities 1-4."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_areas, dim))

    def embed(n: int, spread: float) -> NDArray[np.float64]:
        # each item mixes a main area with a second one, plus its own noise
        main, other = rng.integers(0, n_areas, n), rng.integers(0, n_areas, n)
        mix = rng.uniform(0.0, 0.4, n)[:, None]
        vec = (1 - mix) * centres[main] + mix * centres[other]
        vec = vec + spread * rng.normal(size=(n, dim))
        return vec / np.linalg.norm(vec, axis=1, keepdims=True)

    cosine = embed(n_needs, 0.8) @ embed(n_profiles, 0.6).T
    scores = np.clip((cosine + 1.0) / 2.0, 0.0, 1.0) ** 2
    need_ids = [f"need-{i:04d}" for i in range(n_needs)]
    profile_ids = [f"prof-{j:04d}" for j in range(n_profiles)]
    capacities = [int(c) for c in rng.integers(1, 5, n_profiles)]
    return need_ids, profile_ids, scores, capacities


def greedy_round(
    scores: NDArray[np.float64], capacities: Sequence[int], per_need: int = 1, min_score: float = 0.0
) -> list[tuple[int, int]]:
    """Baseline: take pairs best score first (ties by index) while both sides have room."""
    n = scores.shape[0]
    rows, cols = np.nonzero(scores >= min_score)
    order = np.lexsort((cols, rows, -scores[rows, cols]))
    room_need, room_prof = [per_need] * n, list(capacities)
    pairs: list[tuple[int, int]] = []
    open_needs = n
    for i, j in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
        if room_need[i] and room_prof[j]:
            pairs.append((i, j))
            room_need[i] -= 1
            room_prof[j] -= 1
            open_needs -= room_need[i] == 0
            if not open_needs:
                break
    return pairs


def bench_size(n_needs: int, n_profiles: int, seed: int, per_need: int) -> dict[str, Any]:
    """Solve one generated round greedily, optimally and fairly; timings in seconds."""
    from matcher.assign import propose_round

    needs, profiles, scores, caps = generate_round(n_needs, n_profiles, seed)
    start = time.perf_counter()
    greedy = greedy_round(scores, caps, per_need)
    t_greedy = time.perf_counter() - start
    greedy_scores = [float(scores[i, j]) for i, j in greedy]
    start = time.perf_counter()
    best = propose_round(needs, profiles, scores, caps, per_need=per_need)
    t_opt = time.perf_counter() - start
    start = time.perf_counter()
    fair = propose_round(needs, profiles, scores, caps, per_need=per_need, fair=True)
    t_fair = time.perf_counter() - start
    greedy_obj = math.fsum(greedy_scores)
    return {
        "size": f"{n_needs}x{n_profiles}",
        "n_needs": n_needs,
        "n_profiles": n_profiles,
        "total_capacity": int(sum(caps)),
        "per_need": per_need,
        "seed": seed,
        "greedy_seconds": t_greedy,
        "optimal_seconds": t_opt,
        "fair_seconds": t_fair,
        "greedy_objective": greedy_obj,
        "optimal_objective": best.objective,
        "ratio_optimal_greedy": best.objective / greedy_obj if greedy_obj else math.nan,
        "greedy_min_score": min(greedy_scores) if greedy_scores else None,
        "optimal_min_score": best.min_assigned_score,
        "fair_min_score": fair.min_assigned_score,
        "fair_objective": fair.objective,
        "optimal_assigned": len(best.assignments),
        "fair_assigned": len(fair.assignments),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of benchmark rows, one line per size."""
    head = (
        f"{'size':>10} {'t_opt s':>8} {'t_fair s':>8} {'greedy obj':>11} "
        f"{'optimal obj':>11} {'opt/greedy':>10} {'min fair':>8} {'min opt':>8} "
        f"{'fair obj':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['size']:>10} {r['optimal_seconds']:8.2f} {r['fair_seconds']:8.2f} "
            f"{r['greedy_objective']:11.3f} {r['optimal_objective']:11.3f} "
            f"{r['ratio_optimal_greedy']:10.4f} {r['fair_min_score'] or 0:8.3f} "
            f"{r['optimal_min_score'] or 0:8.3f} {r['fair_objective']:10.3f}"
        )
    return "\n".join(lines)


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """Parse "200x150,1000x1000" into [(200, 150), (1000, 1000)]."""
    sizes = []
    for part in text.split(","):
        try:
            n, m = (int(v) for v in part.lower().split("x"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"size {part!r} is not like 200x150") from None
        sizes.append((n, m))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write assign.json; returns an exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=parse_sizes, default=None, help=DEFAULT_SIZES)
    parser.add_argument("--smoke", action="store_true", help=f"tiny sizes {SMOKE_SIZES}")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-need", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = args.sizes or parse_sizes(SMOKE_SIZES if args.smoke else DEFAULT_SIZES)
    if str(ROOT) not in sys.path:  # run as a script from anywhere
        sys.path.insert(0, str(ROOT))
    import scipy

    from matcher.assign import propose_round

    propose_round(["warm-up"], ["up"], np.ones((1, 1)), [1])  # load scipy before timing
    rows = [bench_size(n, m, args.seed, args.per_need) for n, m in sizes]
    print(format_table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "assign",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "rows": rows,
    }
    (args.out / "assign.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
