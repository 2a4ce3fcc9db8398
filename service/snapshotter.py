"""Debounced index snapshots: API writes ask for one; a background thread writes it after a quiet spell.

The store is the source of truth and a stale snapshot is rebuilt on start, so a snapshot
that is late (or lost in a crash) costs a rebuild, never data. Debouncing turns a burst
of submissions into one snapshot instead of one per request.
"""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from matcher.errors import PartnermatchError

log = logging.getLogger("partnermatch")
SNAPSHOT_ERRORS = (PartnermatchError, OSError, ValueError, RuntimeError, sqlite3.Error)


class DebouncedSnapshots:
    """Calls `write()` in a daemon thread `delay` seconds after the last `request()`.

    `flush()` writes a pending snapshot now (on shutdown); `close()` flushes and stops the
    thread. A failed write is logged and retried on the next request.
    """

    def __init__(self, write: Callable[[], None], delay: float = 0.5) -> None:
        self.delay = delay
        self._write = write
        self._cond = threading.Condition()
        self._pending = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def request(self) -> None:
        """Ask for a snapshot soon; starts the background thread on first use."""
        with self._cond:
            if self._closed:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="partnermatch-snapshots", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    @property
    def pending(self) -> bool:
        """True while a requested snapshot has not been written yet."""
        return self._pending

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return  # close() flushes what is pending
                started = time.monotonic()
                while True:
                    # Debounce: write once no request arrived for `delay` seconds (or after 10 delays).
                    self._pending = False
                    self._cond.wait(timeout=self.delay)
                    if self._closed:
                        self._pending = True
                        return
                    if not self._pending or time.monotonic() - started > 10 * self.delay:
                        break
                self._pending = False
            self._write_now()

    def _write_now(self) -> None:
        with self._write_lock:
            try:
                self._write()
            except SNAPSHOT_ERRORS as exc:
                log.error("index snapshot failed (%s: %s); will retry on the next write", type(exc).__name__, exc)

    def flush(self) -> None:
        """Write a pending snapshot now, in the caller's thread."""
        with self._cond:
            pending, self._pending = self._pending, False
        if pending:
            self._write_now()

    def close(self) -> None:
        """Flush and stop the background thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        self.flush()
