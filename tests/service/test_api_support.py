"""The pieces under the API: the store (versions, content hash), the rate limiter, debounced snapshots."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path

from api_helpers import make_runtime

from matcher.index import FaissIndex
from matcher.schema import Need, Profile
from matcher.snapshot import read_manifest
from service import runtime as runtime_module
from service.ratelimit import SlidingWindowLimiter
from service.runtime import Runtime
from service.snapshotter import DebouncedSnapshots
from service.store import Store, finish_content_hash, profiles_part, record_digest, record_digests


def test_concurrent_writes_each_get_their_own_store_version(runtime: Runtime) -> None:
    start = runtime.store.version()
    needs = [Need(id=f"c-{i}", institution="X", country="GH", language="en", description=f"need {i}")
             for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(runtime.store.save_need, needs))
    assert sorted(versions) == list(range(start + 1, start + 25))
    assert runtime.store.version() == start + 24


def test_content_hash_covers_profiles_and_open_needs_and_keeps_its_value(database_url: str | None,
                                                                         tmp_path: Path) -> None:
    store = Store(database_url or f"sqlite:///{tmp_path}/store.sqlite").migrate()
    profiles = [
        Profile(id="p-b", name="Stroke Unit", kind="nhs_trust", region="Leeds", languages=["en", "fr"],
                description="Acute stroke care and rehabilitation.", capacity=2, countries_of_experience=["GH"],
                modalities=["training_courses"], clinical_areas=["stroke"]),
        Profile(id="p-a", name="Midwives", kind="university", description="Obstetric emergencies training.",
                languages=["en"], capacity=1)]
    store.upsert(
        profiles,
        [Need(id="n-2", institution="Korle Bu", country="GH", language="en", description="We need a stroke unit.",
              clinical_areas=["stroke"]),
         Need(id="n-1", institution="Dakar", country="SN", language="fr",
              description="Soins obstétricaux d'urgence.")])
    store.withdraw_need("n-1")
    # Pinned: a change of value makes every deployment rebuild its indexes once.
    assert store.content_hash() == "70ea963b7a00cf8de47d4fbd8ec3b18bdd892f19f1bacac89a5a9024a439755b"
    # A runtime's digests of the records it wrote give the same value as reading the store.
    written = {p.id: record_digest(p) for p in profiles}
    assert store.content_hash(profiles_part(written)) == store.content_hash()
    store.engine.dispose()


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


def _profile_reads(runtime: Runtime, monkeypatch) -> list[int]:
    """Counts the runtime's full reads of the store's profiles for a content hash."""
    reads: list[int] = []
    real = runtime.store.profile_digests

    def counted() -> object:
        reads.append(1)
        return real()

    monkeypatch.setattr(runtime.store, "profile_digests", counted)
    return reads


def _store_hash(runtime: Runtime) -> str:
    """The content hash from a fresh read of every profile and open need."""
    return finish_content_hash(profiles_part(record_digests(runtime.store.profiles())),
                               record_digests(runtime.store.needs()))


def test_snapshots_after_writes_hash_what_was_written_without_reading_every_profile(runtime: Runtime,
                                                                                    monkeypatch) -> None:
    reads = _profile_reads(runtime, monkeypatch)
    runtime.load()  # digests the profiles it has read anyway
    parts: list[int] = []
    real_part = runtime_module.profiles_part
    monkeypatch.setattr(runtime_module, "profiles_part", lambda d: (parts.append(len(d)), real_part(d))[1])
    for i in range(3):
        runtime.submit_need(Need(id=f"n-new-{i}", institution="X", country="GH", language="en",
                                 description=f"We need stroke nurses, round {i}."))
        runtime._snapshot_if_current()
        assert read_manifest(runtime.settings.index_dir)["content_hash"] == _store_hash(runtime)
    assert parts == []  # need writes: the profiles' part of the hash is reused as it is
    profile = Profile(id="p-new", name="Renal", kind="nhs_trust", description="Haemodialysis training.",
                      languages=["en"], capacity=1)
    runtime.upsert_profile(profile)
    runtime._snapshot_if_current()
    assert read_manifest(runtime.settings.index_dir)["content_hash"] == _store_hash(runtime)
    assert len(parts) == 1  # recomputed from the digests once after a profile write
    edited = profile.model_copy(update={"description": "Haemodialysis and transplant follow-up training."})
    runtime.ingest([edited], [])
    assert read_manifest(runtime.settings.index_dir)["content_hash"] == _store_hash(runtime)
    assert reads == []  # the profiles' part came from the digests of what was written
    runtime.close()
    assert runtime.load() == "snapshot"


def test_a_snapshot_of_the_hash_before_per_record_digests_still_loads(runtime: Runtime) -> None:
    """Manifests written before 2026-11-26 carry the SHA-256 of every profile's, then open need's, JSON."""
    runtime.load()
    legacy = hashlib.sha256()
    for record in chain(runtime.store.profiles(), runtime.store.needs()):
        legacy.update(record.model_dump_json().encode())
    current = runtime.settings.index_dir / "snapshots" / runtime.snapshot_name / "manifest.json"
    manifest = json.loads(current.read_text())
    manifest["content_hash"] = legacy.hexdigest()
    current.write_text(json.dumps(manifest))
    assert runtime.load() == "snapshot"
    manifest["content_hash"] = "0" * 64  # any other value: rebuilt
    current.write_text(json.dumps(manifest))
    assert runtime.load() == "rebuilt"


def test_the_snapshot_hashes_the_store_without_holding_up_readers(runtime: Runtime, monkeypatch) -> None:
    runtime.upsert_profile(Profile(id="p-new", name="Renal", kind="nhs_trust", description="Haemodialysis training.",
                                   languages=["en"], capacity=1))
    hashing, reader_done = threading.Event(), threading.Event()
    real = runtime.store.content_hash

    def slow(profiles: object = None) -> str:  # as streaming many needs (or every profile before a load) is
        hashing.set()
        assert reader_done.wait(10), "a reader waited for the content hash"
        return real(profiles)  # type: ignore[arg-type]

    monkeypatch.setattr(runtime.store, "content_hash", slow)
    writer = threading.Thread(target=runtime._snapshot_if_current)
    writer.start()
    assert hashing.wait(10)
    with runtime.reading() as engine:
        assert engine.match_need("n-stroke-en", top=3)
    reader_done.set()
    writer.join(10)
    assert read_manifest(runtime.settings.index_dir)["content_hash"] == _store_hash(runtime)


def _inode(runtime: Runtime, side: str) -> int:
    return (runtime.settings.index_dir / "snapshots" / runtime.snapshot_name / side / "ids.json").stat().st_ino


def test_a_snapshot_links_the_side_no_write_changed_and_restarts_from_it(runtime: Runtime,
                                                                          api_settings, detector) -> None:
    profile_file, need_file = _inode(runtime, "profile"), _inode(runtime, "need")
    runtime.submit_need(Need(id="n-new", institution="X", country="GH", language="en",
                             description="We need stroke nurses trained in swallow screening."))
    runtime._snapshot_if_current()
    assert _inode(runtime, "profile") == profile_file and _inode(runtime, "need") != need_file
    runtime.upsert_profile(Profile(id="p-new", name="Renal", kind="nhs_trust", description="Haemodialysis training.",
                                   languages=["en"], capacity=1))
    runtime._snapshot_if_current()
    assert _inode(runtime, "profile") != profile_file
    runtime.close()
    restarted = Runtime(api_settings, detector=detector)
    assert restarted.load() == "snapshot"
    assert {"n-new", "n-stroke-en"} <= set(restarted.engine.ids("need")) and "p-new" in restarted.engine.ids("profile")
    assert restarted.match_text_private("stroke swallow screening", 3)
    restarted.store.engine.dispose()


def _hnsw_runtime_with_tombstones(api_settings, detector, profiles: list[Profile], needs: list[Need]) -> Runtime:
    """A loaded runtime on HNSW indexes whose profile graph has passed its compaction fraction."""
    rt = make_runtime(api_settings.model_copy(update={"index_kind": "hnsw"}), detector)
    rt.ingest(profiles, needs)
    rt.load()
    rt.schedule_snapshot = lambda: None  # type: ignore[method-assign]  # the tests run the snapshot step
    for p in profiles[:2]:  # two edits of five profiles: 2 of 7 vectors dead, past a fifth
        rt.upsert_profile(p.model_copy(update={"description": p.description + " Now also by video link."}))
    assert rt.engine.index("profile").needs_compaction()
    return rt


def test_the_snapshot_step_compacts_an_hnsw_graph_while_readers_match(api_settings, detector, fixture_profiles,
                                                                      fixture_needs, monkeypatch) -> None:
    rt = _hnsw_runtime_with_tombstones(api_settings, detector, fixture_profiles, fixture_needs)
    before = rt.engine.index("profile")
    expected = rt.engine.match_need(fixture_needs[0].id, top=3)
    building, reader_done = threading.Event(), threading.Event()
    real_fill = FaissIndex._fill

    def slow_fill(self, *args) -> None:  # as building a 100k graph is (11-13 s)
        building.set()
        assert reader_done.wait(10), "a reader waited for the compaction"
        real_fill(self, *args)

    monkeypatch.setattr(FaissIndex, "_fill", slow_fill)
    failed: list[BaseException] = []

    def step() -> None:
        try:
            rt._snapshot_if_current()
        except BaseException as exc:  # reported by the test's thread below
            failed.append(exc)

    writer = threading.Thread(target=step)
    writer.start()
    assert building.wait(10)
    with rt.reading() as engine:
        assert engine.match_need(fixture_needs[0].id, top=3) == expected
    reader_done.set()
    writer.join(10)
    assert failed == []
    after = rt.engine.index("profile")
    assert after is not before and after.tombstones() == 0 and after.count() == len(fixture_profiles)
    assert rt.engine.match_need(fixture_needs[0].id, top=3) == expected
    saved = rt.settings.index_dir / "snapshots" / rt.snapshot_name / "profile" / "ids.json"
    assert None not in json.loads(saved.read_text())  # the snapshot holds the compacted graph
    rt.close()
    assert rt.load() == "snapshot"
    rt.store.engine.dispose()


def test_a_write_during_the_compaction_keeps_the_live_graph_until_the_next_step(api_settings, detector,
                                                                                fixture_profiles, fixture_needs,
                                                                                monkeypatch) -> None:
    rt = _hnsw_runtime_with_tombstones(api_settings, detector, fixture_profiles, fixture_needs)
    before = rt.engine.index("profile")
    real_fill = FaissIndex._fill
    edited = fixture_profiles[3].model_copy(update={"capacity": 4})

    def fill_with_a_write(self, *args) -> None:
        monkeypatch.setattr(FaissIndex, "_fill", real_fill)
        rt.upsert_profile(edited)  # lands in the live graph, not in the copy being built
        real_fill(self, *args)

    monkeypatch.setattr(FaissIndex, "_fill", fill_with_a_write)
    rt._snapshot_if_current()
    assert rt.engine.index("profile") is before and before.needs_compaction()  # not swapped: it lacks the write
    rt._snapshot_if_current()  # the write's own step
    after = rt.engine.index("profile")
    assert after is not before and after.tombstones() == 0 and after.count() == len(fixture_profiles)
    assert rt.engine.get("profile", edited.id).record.capacity == 4
    rt.close()
    rt.store.engine.dispose()
