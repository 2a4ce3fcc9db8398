"""A real `partnermatch serve` subprocess on 127.0.0.1, for the browser tests, the screenshot script
and bench/bench_http.py.

The home is prepared through the command line only (`partnermatch ingest`, `partnermatch
keys create --json`), as an operator would.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTNERMATCH = Path(sys.executable).with_name("partnermatch")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def environment(home: Path, encoder: str) -> dict[str, str]:
    """The server's environment: its own home, the chosen encoder, no database URL from outside."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERMATCH_")}
    env.update(PARTNERMATCH_HOME=str(home), PARTNERMATCH_ENCODER=encoder, HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run `partnermatch ARGS`; its standard output (fails loudly with its standard error)."""
    done = subprocess.run([str(PARTNERMATCH), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"partnermatch {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def create_key(env: dict[str, str], role: str, institution: str | None = None, profile: str | None = None) -> str:
    """A new API key from `partnermatch keys create --json`."""
    args = ["keys", "create", "--role", role, "--json"]
    if institution:
        args += ["--institution", institution]
    if profile:
        args += ["--profile", profile]
    return str(json.loads(cli(env, *args))["key"])


def create_keys(env: dict[str, str], specs: dict[str, dict[str, str]]) -> dict[str, str]:
    """Several keys at once (name -> create_key arguments); the CLI calls run side by side."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(create_key, env, **spec) for name, spec in specs.items()}
        return {name: future.result() for name, future in futures.items()}


@dataclass
class LiveServer:
    """A running server: its base URL, environment and log file."""

    url: str
    env: dict[str, str]
    log: Path
    keys: dict[str, str] = field(default_factory=dict)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout} s:\n{log.read_text()[-3000:]}")


@contextmanager
def serving(env: dict[str, str], log: Path, timeout: float) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`partnermatch serve` with `env` on a free port, ready, until the block ends; yields (url, process)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(PARTNERMATCH), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(url, proc, log, timeout)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@contextmanager
def live_server(home: Path, *, profiles: Path, needs: Path, encoder: str = "hashing",
                timeout: float = 120.0) -> Iterator[LiveServer]:
    """Ingest `profiles` and `needs` into `home`, then serve it on a free port until the block ends."""
    env = environment(home, encoder)
    home.mkdir(parents=True, exist_ok=True)
    cli(env, "ingest", "--profiles", str(profiles), "--needs", str(needs))
    log = home / "server.log"
    with serving(env, log, timeout) as (url, _):
        yield LiveServer(url, env, log)
