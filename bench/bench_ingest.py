"""Ingest: profiles/s end to end into the store and index (service.runtime.Runtime), peak RSS, load time.

    python bench/bench_ingest.py [--sizes 10000,100000] [--model-profiles 200] [--smoke] [--out DIR]

Each run is a child process with its own temporary PARTNERMATCH_HOME, the encoder chosen
through Settings (PARTNERMATCH_ENCODER), and `Runtime.ingest` as `partnermatch ingest`
calls it (validate, upsert into SQLite, analyse, embed, index, snapshot).

Two kinds of run, because the model is the bottleneck (~15 texts/s on these 2 cores):
* model-bound: `--model-profiles` new generated profiles, every text encoded by the model,
  once with torch MiniLM (the baseline) and once with each ONNX variant;
* at scale (10k, 100k): profiles reuse the pool's 1,000 texts (new ids and metadata)
  and the home's embedding cache is pre-filled from the pool's, so the model is not
  called: what is measured is everything else (store, analysis, index, snapshot).
Then a second child loads the service from the snapshot (`Runtime.load`) at that size and
answers one stored-need match: load time, that first query's time, and the peak RSS of both.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import CACHE, POOL_PROFILES, RESULTS, ROOT, peak_rss_mib, rss_mib, table, write_result

MODEL_ENCODERS = ("minilm", "onnx", "onnx-int8")


def _profiles(kind: str, n: int, pool_size: int) -> list[Any]:
    from corpus import profiles

    if kind == "model":
        return profiles(n, seed=11)  # texts outside the pool: nothing cached
    pool = profiles(pool_size)
    rng = random.Random(n)
    return [pool[i % pool_size].model_copy(update={"id": f"ingest-{i:07d}", "capacity": rng.randint(0, 5)})
            for i in range(n)]


def child_ingest(kind: str, n: int, pool_size: int) -> dict[str, Any]:
    """Ingest n profiles (at scale, with 50 needs) through Runtime in this process."""
    from corpus import needs

    from service.runtime import Runtime
    from service.settings import Settings

    records = _profiles(kind, n, pool_size)
    need_records = needs(50) if kind == "scale" else []  # the pool's needs: cached like its profiles
    settings = Settings()
    start = time.perf_counter()
    rt = Runtime(settings)
    rt.engine.encoder.encode(["load the model before timing"])
    startup = time.perf_counter() - start
    start = time.perf_counter()
    rt.ingest(records, need_records)
    seconds = time.perf_counter() - start
    rt.close()
    return {"seconds": seconds, "startup_seconds": startup, "profiles_per_second": n / seconds,
            "peak_rss_mib": peak_rss_mib(),
            "index_kind": settings.index_kind, "encoder": settings.encoder,
            "layout": getattr(rt.engine.index("profile"), "layout", rt.engine.index("profile").kind)}


def child_load() -> dict[str, Any]:
    """Start the service's runtime from the snapshot in PARTNERMATCH_HOME."""
    from service.runtime import Runtime
    from service.settings import Settings

    start = time.perf_counter()
    rt = Runtime(Settings(), freeze_heap=True)  # as `partnermatch serve` runs it
    how = rt.load()
    seconds = time.perf_counter() - start
    need = rt.engine.ids("need")[0]
    start = time.perf_counter()
    rt.engine.match_need(need)  # the first request: nothing may be left to build for it
    first = time.perf_counter() - start
    out = {"seconds": seconds, "how": how, "profiles": len(rt.engine.ids("profile")),
           "first_query_ms": first * 1e3, "rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()}
    # Then one write of each kind, each followed by its snapshot step while a reader keeps asking.
    from matcher.schema import Need

    rt.schedule_snapshot = lambda: None  # type: ignore[method-assign]  # run by hand below
    submitted = Need(id="bench-need", institution="Bench", country="GH", language="en",
                     description="We need help to train our nurses in stroke care and swallow screening.")
    out["need_write"] = _write_then_snapshot(rt, need, lambda: rt.submit_need(submitted))
    profile = rt.engine.get("profile", rt.engine.ids("profile")[1]).record
    edited = profile.model_copy(update={"description": profile.description + " We also teach families."})
    out["profile_write"] = _write_then_snapshot(rt, need, lambda: rt.upsert_profile(edited))
    return out


def _write_then_snapshot(rt: Any, need: str, write: Any) -> dict[str, Any]:
    """Time `write()`, then the snapshot step after it, during which a reader matches `need` again and again."""
    import threading

    start = time.perf_counter()
    write()
    write_s = time.perf_counter() - start
    done = threading.Event()

    def snapshot() -> None:
        rt._snapshot_if_current()
        done.set()

    thread = threading.Thread(target=snapshot)
    start = time.perf_counter()
    thread.start()
    reads: list[float] = []
    while not done.is_set():
        begun = time.perf_counter()
        with rt.reading() as engine:
            engine.match_need(need)
        reads.append(time.perf_counter() - begun)
    thread.join()
    return {"write_s": write_s, "snapshot_s": time.perf_counter() - start, "reads": len(reads),
            "longest_read_ms": max(reads, default=0.0) * 1e3}


def _run_child(args: list[str], home: Path, encoder: str) -> dict[str, Any]:
    env = {**os.environ, "PARTNERMATCH_HOME": str(home), "PARTNERMATCH_ENCODER": encoder}
    env.pop("PARTNERMATCH_DATABASE_URL", None)
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True,
                          env=env, cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _prefill(home: Path, encoder: str, cache: Path, pool_size: int) -> None:
    """Copy the pool's embedding cache into the home, as Settings.cache_path names it."""
    from pool import build_pool

    from models.encoders import make_encoder

    build_pool(pool_size, 50, encoder, cache)  # make sure the pool is cached
    name = make_encoder(encoder, home=cache).name
    (home / "cache").mkdir(parents=True, exist_ok=True)
    shutil.copy(cache / f"embeddings-{name}.sqlite", home / "cache" / f"embeddings-{encoder}.sqlite")


def run(sizes: Sequence[int], model_n: int, model_encoders: Sequence[str], scale_encoder: str, cache: Path,
        pool_size: int, load_sizes: Sequence[int]) -> dict[str, Any]:
    """Every run; ratios of the model-bound runs against torch MiniLM."""
    model_rows = []
    for enc in model_encoders:
        with tempfile.TemporaryDirectory() as tmp:
            env_cache = Path(tmp) / "home"
            # The ONNX export is reused from the bench cache rather than redone per home.
            if enc.startswith("onnx"):
                (env_cache / "models").mkdir(parents=True)
                os.symlink(cache / "models" / "onnx", env_cache / "models" / "onnx")
            row = _run_child(["--child", "model", "--n", str(model_n)], env_cache, enc)
            model_rows.append({"run": f"model-bound, {enc}", "profiles": model_n, **row})
    base = next((r for r in model_rows if r["encoder"] == "minilm"), None)
    for r in model_rows:
        r["x_baseline"] = r["profiles_per_second"] / base["profiles_per_second"] if base else None
    scale_rows = []
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            _prefill(home, scale_encoder, cache, pool_size)
            if scale_encoder.startswith("onnx"):
                (home / "models").mkdir(parents=True, exist_ok=True)
                os.symlink(cache / "models" / "onnx", home / "models" / "onnx")
            row = _run_child(["--child", "scale", "--n", str(n), "--pool", str(pool_size)], home, scale_encoder)
            row = {"run": f"cached embeddings, {scale_encoder}", "profiles": n, **row}
            if n in load_sizes:
                loaded = _run_child(["--child", "load"], home, scale_encoder)
                row["load"] = loaded
            scale_rows.append(row)
    return {"model_bound": model_rows, "scale": scale_rows}


def format_rows(report: dict[str, Any]) -> str:
    """The results table."""
    rows = []
    for r in report["model_bound"] + report["scale"]:
        load = r.get("load", {})
        rows.append({"run": r["run"], "n": r["profiles"], "s": r["seconds"], "pps": r["profiles_per_second"],
                     "x": r.get("x_baseline"), "rss": r["peak_rss_mib"], "layout": r["layout"],
                     "load": load.get("seconds"), "first": load.get("first_query_ms"),
                     "lrss": load.get("peak_rss_mib")})
    return table(rows, [("run", "run", ""), ("n", "profiles", ",d"), ("s", "seconds", ".1f"),
                        ("pps", "profiles/s", ".1f"), ("x", "x torch", ".2f"), ("rss", "peak RSS MiB", ".0f"),
                        ("layout", "index", ""), ("load", "load from snapshot s", ".1f"),
                        ("first", "then first query ms", ".0f"), ("lrss", "load + query peak RSS MiB", ".0f")])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write ingest.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--load-sizes", default="100000")
    parser.add_argument("--model-profiles", type=int, default=200)
    parser.add_argument("--model-encoders", default=",".join(MODEL_ENCODERS))
    parser.add_argument("--scale-encoder", default="onnx-int8")
    parser.add_argument("--pool", type=int, default=POOL_PROFILES)
    parser.add_argument("--smoke", action="store_true", help="hashing encoder, 300 profiles")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--child", choices=("model", "scale", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        from matcher.candidates import limit_blas_threads

        limit_blas_threads()  # as `partnermatch ingest` and `serve` run
    if args.child == "load":
        print(json.dumps(child_load()))
        return 0
    if args.child:
        print(json.dumps(child_ingest(args.child, args.n, args.pool)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s]
    load_sizes = [int(s) for s in args.load_sizes.split(",") if s]
    encoders = [e for e in args.model_encoders.split(",") if e]
    if args.smoke:
        sizes, load_sizes, args.model_profiles, encoders = [300], [300], 20, ["hashing"]
        args.scale_encoder, args.pool = "hashing", 100
    report = run(sizes, args.model_profiles, encoders, args.scale_encoder, args.cache, args.pool, load_sizes)
    print(format_rows(report))
    for r in report["scale"]:
        for kind in ("need_write", "profile_write"):
            w = r.get("load", {}).get(kind)
            if w:
                print(f"{r['profiles']:,} profiles loaded, {kind.replace('_', ' ')}: {w['write_s']:.2f} s, then its "
                      f"snapshot step {w['snapshot_s']:.2f} s, during which the longest of {w['reads']} reads "
                      f"took {w['longest_read_ms']:.0f} ms")
    write_result(args.out, "ingest", {**report, "pool_texts": args.pool})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
