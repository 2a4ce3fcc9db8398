"""SQLite files behind the caches (embeddings, text analyses): opened fail-soft, read and deleted by key in chunks."""
from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)
CHUNK = 500  # keys per SQL statement, below SQLite's bound-parameter limit


def open_cache(path: Path, schema: Sequence[str], what: str, timeout: float = 5.0) -> sqlite3.Connection:
    """The cache file at `path` with `schema` (statements) applied; in memory when the file is not usable.

    A cache is never fatal: a file that is not SQLite, or cannot be written, is logged and
    replaced for this run by an in-memory database with the same schema.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(str(path), schema, timeout)
    except sqlite3.DatabaseError as exc:
        log.warning("%s %s unusable (%s); keeping entries in memory only", what, path, exc)
        return _connect(":memory:", schema, timeout)


def _connect(target: str, schema: Sequence[str], timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(target, check_same_thread=False, timeout=timeout)
    for statement in schema:
        db.execute(statement)
    db.commit()
    return db


def by_keys(db: sqlite3.Connection, sql: str, keys: Sequence[str]) -> Iterator[sqlite3.Cursor]:
    """Run `sql` (its `{marks}` standing for the placeholders of `IN (...)`) on `keys`, CHUNK at a time."""
    for i in range(0, len(keys), CHUNK):
        chunk = keys[i:i + CHUNK]
        yield db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk)
