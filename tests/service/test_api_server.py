"""The real `partnermatch serve` process over HTTP, including a SIGKILL while needs are submitted."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from api_helpers import API, STROKE_NEED, Keys, bearer

from service.runtime import Runtime

SECRET_WORDS = "Kwame Asante bed 12"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("partnermatch")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]
    return [*base, "serve", "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def running_server(runtime: Runtime, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`partnermatch serve` on a free port, over the runtime's store and home; ready when yielded."""
    port = free_port()
    env = {**os.environ, "PARTNERMATCH_HOME": str(runtime.settings.home), "PARTNERMATCH_ENCODER": "hashing",
           "PARTNERMATCH_SUBMISSIONS_PER_MINUTE": "100000"}
    if runtime.settings.database_url:
        env["PARTNERMATCH_DATABASE_URL"] = runtime.settings.database_url
    with log.open("ab") as out:
        proc = subprocess.Popen(serve_command(port), env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_real_server_serves_the_api_and_stops_cleanly(runtime: Runtime, keys: Keys, tmp_path: Path) -> None:
    runtime.close()
    log = tmp_path / "server.log"
    with running_server(runtime, log) as (proc, base), httpx.Client(base_url=base, timeout=10) as http:
        r = http.post(f"{API}/needs", headers=bearer(keys.submitter),
                      json={**STROKE_NEED, "description": STROKE_NEED["description"] + f" {SECRET_WORDS}."})
        assert r.status_code == 201
        nid = r.json()["id"]
        matches = http.get(f"{API}/needs/{nid}/matches?top=1", headers=bearer(keys.submitter)).json()
        assert matches["matches"][0]["profile_id"] == "p-stroke"
        counterparts = http.get(f"{API}/profiles/p-stroke/matches", headers=bearer(keys.partner)).json()
        assert nid in [m["need_id"] for m in counterparts["matches"]]
        assert http.get(f"{API}/needs").status_code == 401
        assert 'route="/api/v1/needs"' in http.get("/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a graceful stop
    assert "Application shutdown complete" in log.read_text()
    assert SECRET_WORDS not in log.read_text()
    fresh = Runtime(runtime.settings, detector=runtime.engine.detector)
    assert fresh.load() == "snapshot"  # the shutdown wrote a snapshot matching the store


@pytest.mark.slow
def test_sigkill_during_submissions_loses_no_acknowledged_need(runtime: Runtime, keys: Keys, tmp_path: Path) -> None:
    runtime.close()
    log = tmp_path / "server.log"
    acknowledged: list[str] = []
    stop = threading.Event()

    def submit_forever(base: str, n: int) -> None:
        with httpx.Client(base_url=base, timeout=5) as http:
            i = 0
            while not stop.is_set():
                i += 1
                body = {**STROKE_NEED, "description": f"{STROKE_NEED['description']} Request {n}-{i}."}
                try:
                    r = http.post(f"{API}/needs", headers=bearer(keys.admin),
                                  json={**body, "institution": f"Hospital {n}", "allow_duplicate": True})
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])

    with running_server(runtime, log) as (proc, base):
        threads = [threading.Thread(target=submit_forever, args=(base, n)) for n in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # mid-stream: requests in flight, maybe a snapshot half-written
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acknowledged) >= 40

    with running_server(runtime, log) as (_, base), httpx.Client(base_url=base, timeout=10) as http:
        for nid in acknowledged:
            r = http.get(f"{API}/needs/{nid}", headers=bearer(keys.staff))
            assert r.status_code == 200 and r.json()["status"] == "open", nid
        for nid in acknowledged[::5]:
            top = http.get(f"{API}/needs/{nid}/matches?top=1", headers=bearer(keys.staff)).json()["matches"]
            assert top[0]["profile_id"] == "p-stroke"
        stored = http.get(f"{API}/needs?status=open&limit=1", headers=bearer(keys.staff)).json()["total"]
        ready = http.get("/readyz").json()
        assert ready["index"]["counts"]["need"] == stored >= 5 + len(acknowledged)
        counterparts = http.get(f"{API}/profiles/p-stroke/matches?top=100", headers=bearer(keys.partner)).json()
        assert set(acknowledged) <= {m["need_id"] for m in counterparts["matches"]}
