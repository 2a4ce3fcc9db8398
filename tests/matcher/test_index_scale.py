"""The `auto` index, HNSW tombstones and compaction, fp16 storage, and snapshot round trips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.index import FaissIndex, load_index, make_index
from matcher.snapshot import load_snapshot, save_snapshot


def _vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_auto_index_is_exact_below_the_threshold_and_hnsw_above() -> None:
    ids = [f"r{i:04d}" for i in range(300)]
    v = _vectors(300)
    idx = FaissIndex(16, "auto", hnsw_above=200)
    idx.add(ids[:150], v[:150])
    assert idx.layout == "flat"
    idx.add(ids[150:], v[150:])
    assert idx.layout == "hnsw" and idx.count() == 300
    ref = make_index("numpy", 16)
    ref.add(ids, v)
    assert [i for i, _ in idx.search(v[3], 5)] == [i for i, _ in ref.search(v[3], 5)]
    assert np.allclose(idx.vector("r0007"), v[7])
    auto = make_index("auto", 16)  # the engine's and the service's: float16 HNSW vectors past the threshold
    assert isinstance(auto, FaissIndex) and auto.storage == "fp16"


def test_hnsw_removals_are_filtered_then_compacted_past_the_fraction() -> None:
    ids = [f"r{i:03d}" for i in range(200)]
    v = _vectors(200)
    idx = FaissIndex(16, "hnsw", compact_fraction=0.25)
    idx.add(ids, v)
    idx.remove(ids[:40])
    assert idx.tombstones() == 40 and idx.count() == 160
    found = [i for i, _ in idx.search(v[5], 10)]
    assert "r005" not in found and len(found) == 10
    idx.remove(ids[40:60])  # 60 of 200 > 0.25: the graph is rebuilt from the live vectors
    assert idx.tombstones() == 0 and idx.count() == 140
    assert idx.search(v[100], 1)[0][0] == "r100"
    assert np.allclose(idx.vector("r150"), v[150])


@pytest.mark.parametrize("kind", ["auto", "hnsw", "flat"])
def test_snapshot_round_trip_keeps_ids_vectors_and_search(tmp_path: Path, kind: str) -> None:
    ids = [f"r{i}" for i in range(120)]
    idx = FaissIndex(16, kind, hnsw_above=50)  # type: ignore[arg-type]
    idx.add(ids, _vectors(120))
    idx.remove(["r3", "r77"])
    save_snapshot(tmp_path, {"profile": idx}, {})
    _, loaded = load_snapshot(tmp_path)
    again = loaded["profile"]
    q = _vectors(1, seed=9)[0]
    assert again.count() == 118 and again.search(q, 10) == idx.search(q, 10)
    assert np.array_equal(again.vector("r5"), idx.vector("r5")) and again.vector("r3") is None
    again.add(["new"], _vectors(1, seed=3))  # still writable after loading
    assert again.search(_vectors(1, seed=3)[0], 1)[0][0] == "new"


def test_fp16_hnsw_storage_halves_the_file_and_keeps_neighbours(tmp_path: Path) -> None:
    ids = [f"r{i}" for i in range(500)]
    v = _vectors(500, d=256)
    full, half = FaissIndex(256, "hnsw"), FaissIndex(256, "hnsw", storage="fp16")
    full.add(ids, v)
    half.add(ids, v)
    for name, idx in (("full", full), ("half", half)):
        (tmp_path / name).mkdir()
        idx.save(tmp_path / name)
    size = {n: (tmp_path / n / "index.faiss").stat().st_size for n in ("full", "half")}
    assert size["half"] < 0.75 * size["full"]
    loaded = load_index(tmp_path / "half")
    assert [i for i, _ in loaded.search(v[9], 5)] == [i for i, _ in full.search(v[9], 5)]
    assert np.allclose(loaded.vector("r9"), v[9], atol=1e-3)


def _big_engine(detector, profiles, needs, kind: str = "flat"):
    import random

    from matcher.engine import MatchEngine
    from models.encoders import HashingEncoder

    rng = random.Random(0)
    many = [p.model_copy(update={"id": f"{p.id}-{i}", "capacity": rng.randint(0, 3)})
            for i in range(12) for p in profiles]
    engine = MatchEngine(HashingEncoder(), detector, index_kind=kind)  # type: ignore[arg-type]
    engine.add_profiles(many)
    engine.add_needs(needs)
    return engine


def test_vectorised_shortlist_ranks_exactly_like_scoring_every_candidate(detector, fixture_profiles, fixture_needs,
                                                                         monkeypatch) -> None:
    import matcher.engine as engine_module

    engine = _big_engine(detector, fixture_profiles, fixture_needs)
    fast = {n.id: engine.match_need(n.id, top=8) for n in fixture_needs}
    fast_rev = {p: engine.match_profile(p, top=3) for p in engine.ids("profile")[:20]}
    monkeypatch.setattr(engine_module, "shortlist", lambda scores, k: np.arange(len(scores)))
    assert fast == {n.id: engine.match_need(n.id, top=8) for n in fixture_needs}
    assert fast_rev == {p: engine.match_profile(p, top=3) for p in engine.ids("profile")[:20]}


def test_candidate_path_above_exact_below_returns_sorted_explained_items(detector, fixture_profiles, fixture_needs,
                                                                         monkeypatch) -> None:
    import matcher.engine as engine_module

    monkeypatch.setattr(engine_module, "EXACT_BELOW", 50)
    engine = _big_engine(detector, fixture_profiles, fixture_needs, "auto")
    for need in fixture_needs:
        items = engine.match_need(need.id, top=5)
        assert len(items) == 5 and [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
        assert all(i["shared_words"] is not None and "best_sentence_pair" in i for i in items)


def test_records_added_over_a_loaded_index_are_not_indexed_twice(tmp_path: Path, detector, fixture_profiles,
                                                                 fixture_needs) -> None:
    from matcher.engine import MatchEngine
    from models.encoders import HashingEncoder

    engine = _big_engine(detector, fixture_profiles, fixture_needs)
    save_snapshot(tmp_path, {"profile": engine.index("profile")}, {})
    _, loaded = load_snapshot(tmp_path)
    fresh = MatchEngine(HashingEncoder(), detector)
    fresh.replace_index("profile", loaded["profile"])
    fresh.add([engine.get("profile", i) for i in engine.ids("profile")], indexed=True)
    fresh.add([engine.get("need", i) for i in engine.ids("need")])
    assert fresh.index("profile").count() == engine.index("profile").count()
    assert fresh.match_need(fixture_needs[0].id) == engine.match_need(fixture_needs[0].id)


def test_hnsw_saves_keep_replaced_vectors_tombstoned_but_never_removed_ones(tmp_path: Path, monkeypatch) -> None:
    ids = [f"r{i:03d}" for i in range(200)]
    v = _vectors(200)
    idx = FaissIndex(16, "hnsw")
    idx.add(ids, v)
    idx.add(ids[:10], _vectors(10, seed=5))  # ten edits: their old vectors become tombstones
    rebuilds = []
    real = idx._rebuild_locked
    monkeypatch.setattr(idx, "_rebuild_locked", lambda layout: (rebuilds.append(layout), real(layout)))
    (tmp_path / "a").mkdir()
    idx.save(tmp_path / "a")
    assert rebuilds == [] and idx.tombstones() == 10  # no graph rebuild for a save
    loaded = load_index(tmp_path / "a")
    assert isinstance(loaded, FaissIndex) and loaded.tombstones() == 10 and loaded.count() == 200
    q = _vectors(1, seed=8)[0]
    assert loaded.search(q, 10) == idx.search(q, 10)
    assert np.array_equal(loaded.vector("r003"), idx.vector("r003"))
    idx.remove(["r150"])  # a removed record's vector must not reach the disk
    (tmp_path / "b").mkdir()
    idx.save(tmp_path / "b")
    assert rebuilds == ["hnsw"] and idx.tombstones() == 0
    again = load_index(tmp_path / "b")
    assert again.count() == 199 and again._index.ntotal == 199 and again.vector("r150") is None


@pytest.mark.parametrize("storage", ["fp16", "float32"])
def test_a_compacted_copy_holds_the_live_vectors_and_is_built_off_the_lock(storage: str, monkeypatch) -> None:
    ids = [f"r{i:03d}" for i in range(300)]
    v = _vectors(300)
    idx = FaissIndex(16, "hnsw", storage=storage, compact_fraction=0.25)  # type: ignore[arg-type]
    idx.compact_inline = False  # as an engine with deferred compaction sets it
    idx.add(ids, v)
    idx.remove(ids[:100])  # past the fraction, but left to the owner
    assert idx.tombstones() == 100 and idx.needs_compaction()
    built_unlocked = []
    real_fill = FaissIndex._fill

    def fill(self, *args):  # the build of the copy: the live index's lock must be free
        built_unlocked.append(idx._lock.acquire(blocking=False))
        idx._lock.release()
        return real_fill(self, *args)

    monkeypatch.setattr(FaissIndex, "_fill", fill)
    monkeypatch.setattr("matcher.index._COMPACT_CHUNK", 64)  # several chunks
    fresh, changes = idx.compacted()
    assert built_unlocked == [True] and changes == idx.changes
    assert fresh.count() == 200 and fresh.tombstones() == 0 and not fresh.needs_compaction()
    assert not fresh.compact_inline and fresh.storage == storage
    assert all(np.array_equal(fresh.vector(i), idx.vector(i)) for i in ids[100:])
    q = _vectors(1, seed=3)[0]
    got, want = fresh.search(q, 10), idx.search(q, 10)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([d for _, d in got], [d for _, d in want], atol=1e-6)  # FAISS may sum in another order
    idx.add(["r-new"], _vectors(1, seed=4))
    assert idx.changes != changes  # a write after the copy: the owner must not swap it in


def test_a_removed_record_alone_asks_for_compaction() -> None:
    """A withdrawn need's vector must be compacted away before a snapshot, even far below the fraction."""
    idx = FaissIndex(16, "hnsw")
    idx.compact_inline = False
    idx.add([f"r{i}" for i in range(50)], _vectors(50))
    idx.add(["r1"], _vectors(1, seed=2))  # a replaced vector: a tombstone, kept
    assert not idx.needs_compaction()
    idx.remove(["r2"])
    assert idx.needs_compaction()
