"""Serialised answers that are a function of the engine alone, kept until the engine next changes.

A need's ranked, explained profiles are the same bytes for every caller allowed to see
them, until a write changes the index: a submission, an edit, a withdrawal, a profile, a
decision (capacity), or a reload after another process wrote to the store. The runtime
empties the cache at each of these, under the lock its engine changes under, and the
routes check who may see a record before they look it up.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class ResultCache:
    """Bytes by key, the least recently used dropped beyond `max_bytes` in all (0 keeps nothing).

    Not locked itself: its owner (service.runtime.Runtime) uses it under its own lock.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> bytes | None:
        """The value kept for `key`, or None."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Keep `value` for `key` unless it alone exceeds the budget; evict the oldest beyond it."""
        if len(value) > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        self._size += len(value) - (len(old) if old is not None else 0)
        self._entries[key] = value
        while self._size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped)

    def clear(self) -> None:
        """Forget everything (the engine changed)."""
        self._entries.clear()
        self._size = 0
