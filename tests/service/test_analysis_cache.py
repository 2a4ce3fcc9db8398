"""The text-analysis cache: a restart reads analyses instead of redoing them, and gives the same engine."""
from __future__ import annotations

import sqlite3

from api_helpers import make_runtime

from matcher.areas import AreaDetector
from matcher.engine import MatchEngine
from matcher.schema import Need, Profile
from service.runtime import Runtime
from service.settings import Settings


def _state(engine: MatchEngine) -> dict[tuple[str, str], tuple[str, dict, object]]:
    return {(side, i): (a.language, a.areas, a.terms) for side in ("need", "profile") for i in engine.ids(side)
            if (a := engine.get(side, i)) is not None}


def _rows(settings: Settings) -> int:
    with sqlite3.connect(settings.analysis_cache_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0])


def test_restart_reads_every_analysis_from_the_cache_and_matches_alike(runtime: Runtime, api_settings: Settings,
                                                                      detector: AreaDetector) -> None:
    before = _state(runtime.engine)
    ranked = runtime.engine.match_need("n-stroke-fr", top=5)
    restarted = make_runtime(api_settings, detector)
    assert restarted.load() == "snapshot"
    # Loaded warm: the score columns and BM25 are built before the first request, not in it.
    assert all(restarted.engine.lexical(s)._matrix is not None for s in ("need", "profile"))
    assert (restarted.analyses.hits, restarted.analyses.misses) == (len(before), 0)
    assert _state(restarted.engine) == before
    assert restarted.engine.match_need("n-stroke-fr", top=5) == ranked


def test_changed_detection_is_a_miss_and_load_drops_the_old_entries(runtime: Runtime, api_settings: Settings,
                                                                    fixture_profiles: list[Profile],
                                                                    fixture_needs: list[Need]) -> None:
    n = len(fixture_profiles) + len(fixture_needs)
    assert _rows(api_settings) == n
    other = make_runtime(api_settings, AreaDetector(window_slack=3).fit())
    assert other.analyses.fingerprint != runtime.analyses.fingerprint
    other.load()
    assert (other.analyses.hits, other.analyses.misses) == (0, n)
    assert _rows(api_settings) == n  # the new entries replaced, not joined, the old ones


def test_an_unreadable_entry_is_analysed_afresh(runtime: Runtime, api_settings: Settings,
                                                detector: AreaDetector) -> None:
    before = _state(runtime.engine)
    with sqlite3.connect(api_settings.analysis_cache_path) as db:
        db.execute("UPDATE analyses SET value = x'00ff' WHERE rowid = (SELECT MIN(rowid) FROM analyses)")
    restarted = make_runtime(api_settings, detector)
    restarted.load()
    assert (restarted.analyses.hits, restarted.analyses.misses) == (len(before) - 1, 1)
    assert _state(restarted.engine) == before


def test_cache_files_that_are_not_sqlite_are_bypassed_not_fatal(runtime: Runtime, api_settings: Settings,
                                                                 detector: AreaDetector) -> None:
    before = _state(runtime.engine)
    runtime.analyses.close()
    for path in (api_settings.analysis_cache_path, api_settings.cache_path):  # analyses and embeddings
        path.write_bytes(b"this is not a database" * 100)
    restarted = make_runtime(api_settings, detector)
    restarted.load()
    assert restarted.analyses.hits == 0 and _state(restarted.engine) == before


def test_a_server_runtime_exempts_what_it_loaded_from_the_cyclic_gc(runtime: Runtime, api_settings: Settings,
                                                                   detector: AreaDetector) -> None:
    import gc

    server = Runtime(api_settings, detector=detector, snapshot_delay=0.05, freeze_heap=True)
    try:
        gc.unfreeze()
        server.load()
        frozen = gc.get_freeze_count()
        assert frozen > 0 and server.engine.get("need", "n-stroke-fr") is not None
        server.load()  # a reload unfreezes first, then freezes what it loaded
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        server.close()
    plain = make_runtime(api_settings, detector)
    plain.load()
    assert gc.get_freeze_count() == 0
