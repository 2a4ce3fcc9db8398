"""HTTP load: req/s and latency of stored-need matches and need submissions against `partnermatch serve`.

    python bench/bench_http.py [--profiles 10000] [--duration 15] [--smoke] [--out DIR]

Sets up a temporary PARTNERMATCH_HOME (the pool's embeddings pre-filled, profiles reusing
the pool's texts under new ids, ingested with `partnermatch ingest`), makes a staff and a
submitter key with `partnermatch keys create`, starts `partnermatch serve` on 127.0.0.1
(one uvicorn worker), and drives it from a second process: an httpx async client with a
fixed number of connections for a fixed duration (bounded runs, loopback only). The
baseline is GET /healthz driven the same way in the same run (the HTTP stack and the load
generator alone). Submissions are new generated needs, each encoded by the model in the
request; the per-key submission limit is raised for the run (PARTNERMATCH_SUBMISSIONS_PER_MINUTE).

Stored-need matches are measured twice: on a server with the match cache off
(PARTNERMATCH_MATCH_CACHE_BYTES=0: every request ranks and explains its need), and on one
with the default cache, where, after the warm-up, every request of the run is a cache hit
(no write happens between them; any write would empty the cache, see service/results.py).
Each scenario also reports the server's CPU time per request (from /proc, Linux) and the
1-minute load average, since other work on the machine moves req/s but hardly CPU time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import CACHE, POOL_NEEDS, POOL_PROFILES, RESULTS, ROOT, percentiles, table, write_result

from tests.web.live_server import serving

PM = [sys.executable, "-c", "from service.cli import main; main()"]


async def _drive(url: str, method: str, paths: list[str], bodies: list[dict[str, Any]] | None, key: str | None,
                 duration: float, connections: int) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    latencies: list[float] = []
    slow: list[tuple[float, float, int]] = []  # (latency, when it started after the run began, status)
    statuses: dict[int, int] = {}
    began = time.perf_counter()
    deadline = began + duration
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30.0) as client:
        async def worker(w: int) -> None:
            i = w
            while time.perf_counter() < deadline:
                path = paths[i % len(paths)]
                start = time.perf_counter()
                if method == "GET":
                    r = await client.get(path)
                else:
                    r = await client.post(path, json=bodies[i % len(bodies)] if bodies else None)
                latencies.append(time.perf_counter() - start)
                slow.append((latencies[-1], start - began, r.status_code))
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                i += connections

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(connections)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "seconds": elapsed, "req_per_s": len(latencies) / elapsed,
            "latency_ms": percentiles(latencies), "statuses": statuses, "connections": connections,
            "slowest": [{"ms": lat * 1e3, "at_s": at, "status": st} for lat, at, st in sorted(slow, reverse=True)[:3]]}


def load_child(spec_path: Path) -> None:
    """The load generator process: run one scenario from a JSON spec and print its result."""
    spec = json.loads(spec_path.read_text())
    result = asyncio.run(_drive(spec["url"], spec["method"], spec["paths"], spec.get("bodies"), spec.get("key"),
                                spec["duration"], spec["connections"]))
    print(json.dumps(result))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(spec: dict[str, Any], tmp: Path, server_pid: int) -> dict[str, Any]:
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    cpu_before = _cpu_seconds(server_pid)
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-spec", str(path)],
                          capture_output=True, text=True, cwd=str(ROOT), timeout=spec["duration"] + 120)
    cpu_after = _cpu_seconds(server_pid)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["server_cpu_ms_per_request"] = (None if cpu_before is None or cpu_after is None or not result["requests"]
                                           else (cpu_after - cpu_before) * 1000 / result["requests"])
    result["load_1min"] = os.getloadavg()[0]
    return result


def _pm(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([*PM, *args], capture_output=True, text=True, env=env, cwd=str(ROOT))
    if proc.returncode != 0:
        raise RuntimeError(f"partnermatch {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return proc.stdout


def setup_home(home: Path, n_profiles: int, n_needs: int, encoder: str, cache: Path, pool_size: int,
               env: dict[str, str]) -> list[str]:
    """Fill `home` through the CLI; returns the stored need ids."""
    from corpus import needs, profiles
    from pool import build_pool

    from models.encoders import make_encoder

    build_pool(pool_size, n_needs, encoder, cache)
    name = make_encoder(encoder, home=cache).name
    (home / "cache").mkdir(parents=True, exist_ok=True)
    shutil.copy(cache / f"embeddings-{name}.sqlite", home / "cache" / f"embeddings-{encoder}.sqlite")
    if encoder.startswith("onnx"):
        (home / "models").mkdir(parents=True, exist_ok=True)
        os.symlink(cache / "models" / "onnx", home / "models" / "onnx")
    pool = profiles(pool_size)
    rng = random.Random(0)
    with (home / "profiles.jsonl").open("w") as fh:
        for i in range(n_profiles):
            p = pool[i % pool_size].model_copy(update={"id": f"http-{i:07d}", "capacity": rng.randint(0, 5)})
            fh.write(json.dumps(p.model_dump(), ensure_ascii=False) + "\n")
    stored = needs(n_needs)
    with (home / "needs.jsonl").open("w") as fh:
        for n in stored:
            fh.write(json.dumps(n.model_dump(), ensure_ascii=False) + "\n")
    _pm(["ingest", "--profiles", str(home / "profiles.jsonl"), "--needs", str(home / "needs.jsonl")], env)
    return [n.id for n in stored]


@contextmanager
def _serving(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, int, float]]:
    """`partnermatch serve` on a free port until the block ends; yields (url, pid, seconds until ready)."""
    start = time.perf_counter()
    with serving(env, log_path, timeout=600) as (url, server):
        yield url, server.pid, time.perf_counter() - start


def _warm(url: str, key: str, paths: list[str]) -> None:
    """Every stored need ranked once: explanation inputs come from the embedding cache once."""
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
        for p in paths:
            c.get(p).raise_for_status()


def run(n_profiles: int, n_needs: int, duration: float, read_connections: int, write_connections: int,
        encoder: str | None, cache: Path, pool_size: int, submissions: int) -> dict[str, Any]:
    """Set up, serve, drive every scenario; ratios against /healthz."""
    import httpx
    from corpus import needs as generate_needs

    from service.settings import Settings

    encoder = encoder or Settings().encoder
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        home = tmp / "home"
        env = {**os.environ, "PARTNERMATCH_HOME": str(home), "PARTNERMATCH_ENCODER": encoder,
               "PARTNERMATCH_SUBMISSIONS_PER_MINUTE": "1000000"}
        env.pop("PARTNERMATCH_DATABASE_URL", None)
        start = time.perf_counter()
        need_ids = setup_home(home, n_profiles, n_needs, encoder, cache, pool_size, env)
        setup_s = time.perf_counter() - start
        staff = json.loads(_pm(["keys", "create", "--role", "staff", "--json"], env))["key"]
        submitter = json.loads(_pm(["keys", "create", "--role", "submitter", "--institution", "Bench Hospital",
                                    "--json"], env))["key"]
        match_paths = [f"/api/v1/needs/{i}/matches?top=10" for i in need_ids]
        reads = {"method": "GET", "paths": match_paths, "key": staff}
        results = {}
        uncached_env = {**env, "PARTNERMATCH_MATCH_CACHE_BYTES": "0"}
        with _serving(uncached_env, tmp / "serve-uncached.log") as (url, pid, _):
            _warm(url, staff, match_paths)
            for name, connections in (("stored-need matches, cache off", read_connections),
                                      ("stored-need matches, cache off, 1 connection", 1)):
                results[name] = _load({"url": url, "duration": duration, **reads, "connections": connections}, tmp,
                                      pid)
        with _serving(env, tmp / "serve.log") as (url, pid, ready_s):
            bodies = [{"country": n.country, "language": n.language, "description": n.description,
                       "preferred_modalities": list(n.preferred_modalities)}
                      for n in generate_needs(submissions + 1, seed=23)]
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {submitter}"}, timeout=120) as c:
                c.post("/api/v1/needs", json=bodies.pop()).raise_for_status()  # the first write loads lazily
            _warm(url, staff, match_paths)  # after the write, which empties the match cache
            scenarios = {
                "healthz (baseline)": {"method": "GET", "paths": ["/healthz"], "connections": read_connections},
                "stored-need matches, cached": {**reads, "connections": read_connections},
                "stored-need matches, cached, 1 connection": {**reads, "connections": 1},
                "need submissions": {"method": "POST", "paths": ["/api/v1/needs"], "bodies": bodies,
                                     "key": submitter, "connections": write_connections},
            }
            for name, spec in scenarios.items():
                results[name] = _load({"url": url, "duration": duration, **spec}, tmp, pid)
        results = {"healthz (baseline)": results.pop("healthz (baseline)"), **results}
    base = results["healthz (baseline)"]["req_per_s"]
    for r in results.values():
        r["x_healthz"] = r["req_per_s"] / base
    return {"profiles": n_profiles, "stored_needs": n_needs, "encoder": encoder, "duration_s": duration,
            "setup_s": setup_s, "ready_s": ready_s, "scenarios": results}


def format_rows(report: dict[str, Any]) -> str:
    """The results table."""
    rows = [{"name": k, "c": v["connections"], "n": v["requests"], "rps": v["req_per_s"], "x": v["x_healthz"],
             "p50": v["latency_ms"]["p50"], "p95": v["latency_ms"]["p95"], "p99": v["latency_ms"]["p99"],
             "cpu": v["server_cpu_ms_per_request"] or float("nan"), "load": v["load_1min"],
             "ok": ",".join(f"{s}:{c}" for s, c in sorted(v["statuses"].items()))}
            for k, v in report["scenarios"].items()]
    return table(rows, [("name", "scenario", ""), ("c", "connections", "d"), ("n", "requests", "d"),
                        ("rps", "req/s", ".1f"), ("x", "x healthz", ".3f"), ("p50", "p50 ms", ".1f"),
                        ("p95", "p95 ms", ".1f"), ("p99", "p99 ms", ".1f"), ("cpu", "server cpu ms/req", ".2f"),
                        ("load", "load 1m", ".2f"), ("ok", "statuses", "")])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table and write http.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--needs", type=int, default=POOL_NEEDS)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--write-connections", type=int, default=2)
    parser.add_argument("--submissions", type=int, default=400)
    parser.add_argument("--encoder", default=None, help="default: Settings' default encoder")
    parser.add_argument("--pool", type=int, default=POOL_PROFILES)
    parser.add_argument("--smoke", action="store_true", help="300 profiles, hashing encoder, 2 s per scenario")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--load-spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_spec:
        load_child(args.load_spec)
        return 0
    if args.smoke:
        args.profiles, args.needs, args.duration, args.encoder, args.pool = 300, 10, 2.0, "hashing", 100
        args.submissions = 20
    report = run(args.profiles, args.needs, args.duration, args.connections, args.write_connections, args.encoder,
                 args.cache, args.pool, args.submissions)
    print(format_rows(report))
    write_result(args.out, "http", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
