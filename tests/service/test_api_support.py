"""The pieces under the API: store versions under concurrency, the rate limiter, debounced snapshots."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from matcher.schema import Need
from service.ratelimit import SlidingWindowLimiter
from service.runtime import Runtime
from service.snapshotter import DebouncedSnapshots


def test_concurrent_writes_each_get_their_own_store_version(runtime: Runtime) -> None:
    start = runtime.store.version()
    needs = [Need(id=f"c-{i}", institution="X", country="GH", language="en", description=f"need {i}")
             for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(runtime.store.save_need, needs))
    assert sorted(versions) == list(range(start + 1, start + 25))
    assert runtime.store.version() == start + 24


def test_sliding_window_allows_the_limit_then_says_when_to_retry() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.hit("k") for _ in range(3)] == [None, None, None]
    assert limiter.hit("k") == 60
    assert limiter.hit("other") is None
    now[0] += 30
    assert limiter.hit("k") == 30
    now[0] += 30.5
    assert limiter.hit("k") is None


def test_a_burst_of_requests_makes_one_snapshot_and_close_flushes() -> None:
    writes: list[float] = []
    snapshots = DebouncedSnapshots(lambda: writes.append(time.monotonic()), delay=0.1)
    for _ in range(20):
        snapshots.request()
        time.sleep(0.005)
    deadline = time.monotonic() + 5
    while not writes and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(writes) == 1
    snapshots.request()
    snapshots.close()  # pending: written now, in this thread
    assert len(writes) == 2
    snapshots.request()  # after close: ignored
    assert len(writes) == 2


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_a_failed_snapshot_is_logged_and_retried_on_the_next_request() -> None:
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("disk full")

    snapshots = DebouncedSnapshots(flaky, delay=0.01)
    snapshots.request()
    wait_for(lambda: len(attempts) == 1)
    snapshots.request()
    wait_for(lambda: len(attempts) == 2)
    snapshots.close()
    assert len(attempts) == 2
