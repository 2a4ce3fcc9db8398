"""Index snapshots: written to a temporary directory, then atomically made current.

Layout under a root directory:
    snapshots/<name>/{need/, profile/, manifest.json}   one complete snapshot each
    CURRENT                                             the name of the current snapshot
A crash at any point before CURRENT is replaced leaves the previous snapshot current and
loadable; a half-written snapshot directory is never referenced and is swept later.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matcher.errors import SnapshotError
from matcher.index import VectorIndex, load_index

SCHEMA_VERSION = 1
KEEP = 2  # snapshots kept on disk: the current one and the one before
STALE_TMP_SECONDS = 3600


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with p.open("rb+") as fh:
                os.fsync(fh.fileno())
        else:
            _fsync_dir(p)
    _fsync_dir(path)


def save_snapshot(root: Path, indexes: dict[str, VectorIndex], meta: dict[str, Any],
                  unchanged: Mapping[str, Path] | None = None) -> str:
    """Write indexes (side -> index) and a manifest as a new snapshot, make it current, return its name.

    `unchanged`: side -> the directory where an earlier snapshot saved that very index, as
    it still is; its files are hard-linked instead of written again (a need submission at
    100k profiles rewrote ~100 MB of profile index). Saved as usual if linking fails.
    """
    snaps = root / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]
    tmp = snaps / f".tmp-{name}"
    tmp.mkdir()
    counts = {}
    for side, index in indexes.items():
        (tmp / side).mkdir()
        source = (unchanged or {}).get(side)
        if source is None or not _link_files(source, tmp / side):
            index.save(tmp / side)
        counts[side] = index.count()
    manifest = {"schema_version": SCHEMA_VERSION, "name": name, "created": datetime.now(UTC).isoformat(),
                "counts": counts, **meta}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    _fsync_tree(tmp)
    os.rename(tmp, snaps / name)
    _fsync_dir(snaps)
    pointer = root / "CURRENT.tmp"
    with pointer.open("w") as fh:
        fh.write(name)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(pointer, root / "CURRENT")
    _fsync_dir(root)
    _sweep(root, name)
    return name


def _link_files(source: Path, target: Path) -> bool:
    """Hard-link every file of `source` into the empty directory `target`; False, and `target` empty, if that fails.

    Emptied on failure because saving over a linked file would write into the earlier
    snapshot's copy too.
    """
    try:
        for path in sorted(source.iterdir()):
            os.link(path, target / path.name)
        if (target / "manifest.json").is_file():
            return True
    except OSError:
        pass
    for path in target.iterdir():
        path.unlink()
    return False


def _sweep(root: Path, current: str) -> None:
    snaps = root / "snapshots"
    names = sorted(p.name for p in snaps.iterdir() if not p.name.startswith(".tmp-"))
    for old in [n for n in names if n != current][:-(KEEP - 1) or None]:
        shutil.rmtree(snaps / old, ignore_errors=True)
    # Another process may be writing its own temporary snapshot right now: only sweep
    # temporary directories abandoned long ago (by a crash).
    cutoff = time.time() - STALE_TMP_SECONDS
    for tmp in snaps.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The current snapshot's manifest, or None when there is no usable snapshot."""
    try:
        name = (root / "CURRENT").read_text().strip()
        manifest: dict[str, Any] = json.loads((root / "snapshots" / name / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("schema_version") != SCHEMA_VERSION:
        return None
    return manifest


def load_snapshot(root: Path) -> tuple[dict[str, Any], dict[str, VectorIndex]]:
    """Load the current snapshot: (manifest, side -> index). SnapshotError if none is usable."""
    manifest = read_manifest(root)
    if manifest is None:
        raise SnapshotError(f"no usable index snapshot under {root}")
    base = root / "snapshots" / manifest["name"]
    indexes = {side: load_index(base / side) for side in manifest["counts"]}
    for side, index in indexes.items():
        if index.count() != manifest["counts"][side]:
            raise SnapshotError(f"snapshot {manifest['name']}: {side} index holds {index.count()} vectors, "
                                f"manifest says {manifest['counts'][side]}")
    return manifest, indexes
