"""Vector index backends and snapshots: save -> load -> same output; crash safety."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from matcher.errors import SnapshotError
from matcher.index import make_index
from matcher.snapshot import load_snapshot, read_manifest, save_snapshot


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["numpy", "flat", "hnsw"])
def test_backend_matches_brute_force_and_supports_remove(kind: str) -> None:
    ids = [f"r{i:03d}" for i in range(200)]
    v = _vectors(200)
    ref, idx = make_index("numpy", 16), make_index(kind, 16)
    ref.add(ids, v)
    idx.add(ids, v)
    q = v[7]
    assert [i for i, _ in idx.search(q, 5)] == [i for i, _ in ref.search(q, 5)]
    assert idx.remove(["r007", "nope"]) == 1
    assert idx.count() == 199 and "r007" not in [i for i, _ in idx.search(q, 5)]
    idx.add(["r001"], v[2:3])  # replacing keeps one vector per id
    assert idx.count() == 199 and np.allclose(idx.vector("r001"), v[2])


@pytest.mark.parametrize("kind", ["numpy", "flat", "hnsw"])
def test_snapshot_save_load_gives_same_search(tmp_path: Path, kind: str) -> None:
    ids = [f"r{i}" for i in range(50)]
    idx = make_index(kind, 16)
    idx.add(ids, _vectors(50))
    idx.remove(["r3"])
    save_snapshot(tmp_path, {"profile": idx}, {"model": "m"})
    manifest, loaded = load_snapshot(tmp_path)
    assert manifest["counts"] == {"profile": 49} and manifest["model"] == "m"
    q = _vectors(1, seed=5)[0]
    assert loaded["profile"].search(q, 10) == idx.search(q, 10)


def test_crash_between_write_and_rename_leaves_previous_snapshot_loadable(tmp_path: Path, monkeypatch) -> None:
    old = make_index("flat", 16)
    old.add(["a", "b"], _vectors(2))
    first = save_snapshot(tmp_path, {"profile": old}, {})
    new = make_index("flat", 16)
    new.add(["a", "b", "c"], _vectors(3, seed=1))

    def crash(*_args: object) -> None:
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        save_snapshot(tmp_path, {"profile": new}, {})
    monkeypatch.undo()
    manifest, loaded = load_snapshot(tmp_path)
    assert manifest["name"] == first and loaded["profile"].count() == 2


def test_corrupt_snapshot_is_refused(tmp_path: Path) -> None:
    idx = make_index("flat", 16)
    idx.add(["a"], _vectors(1))
    name = save_snapshot(tmp_path, {"profile": idx}, {})
    (tmp_path / "snapshots" / name / "profile" / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(SnapshotError):
        load_snapshot(tmp_path)
    assert read_manifest(tmp_path / "missing") is None


@pytest.mark.parametrize("kind", ["numpy", "flat", "hnsw"])
def test_an_index_counts_its_changes(kind: str) -> None:
    idx = make_index(kind, 16)
    idx.add(["a", "b"], _vectors(2))
    idx.remove(["nope"])
    assert idx.changes == 1
    idx.remove(["a"])
    idx.add(["b"], _vectors(1, seed=1))
    assert idx.changes == 3


def test_an_unchanged_side_is_linked_from_the_earlier_snapshot(tmp_path: Path) -> None:
    needs, profiles = make_index("flat", 16), make_index("hnsw", 16)
    needs.add(["n1"], _vectors(1))
    profiles.add([f"p{i}" for i in range(30)], _vectors(30, seed=2))
    first = save_snapshot(tmp_path, {"need": needs, "profile": profiles}, {})
    needs.add(["n2"], _vectors(1, seed=3))
    old = tmp_path / "snapshots" / first
    second = save_snapshot(tmp_path, {"need": needs, "profile": profiles}, {}, {"profile": old / "profile"})
    new = tmp_path / "snapshots" / second
    for path in (old / "profile").iterdir():
        assert path.stat().st_ino == (new / "profile" / path.name).stat().st_ino
    assert (old / "need" / "ids.json").stat().st_ino != (new / "need" / "ids.json").stat().st_ino
    _, loaded = load_snapshot(tmp_path)
    assert loaded["need"].count() == 2 and np.array_equal(loaded["profile"].vector("p7"), profiles.vector("p7"))
    # The earlier snapshot gone (swept by another process): saved in full instead.
    third = save_snapshot(tmp_path, {"need": needs, "profile": profiles}, {},
                          {"profile": tmp_path / "snapshots" / "gone" / "profile"})
    assert read_manifest(tmp_path)["name"] == third
    assert load_snapshot(tmp_path)[1]["profile"].count() == 30
