"""Ranking and explanations on a small fixture corpus with known answers (hashing encoder)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from matcher.engine import MatchEngine, TextAnalysis
from matcher.errors import InvalidInputError, NotFoundError
from matcher.schema import Need, Profile
from models.encoders import HashingEncoder
from tests.conftest import build_engine


def _ids(items: list[dict], key: str = "profile_id") -> list[str]:
    return [i[key] for i in items]


def test_english_stroke_need_ranks_stroke_profiles_first(hashing_engine: MatchEngine) -> None:
    assert set(_ids(hashing_engine.match_need("n-stroke-en", top=2))) == {"p-stroke", "p-stroke-fr"}


def test_french_stroke_need_ranks_french_speaking_stroke_charity_first(hashing_engine: MatchEngine) -> None:
    assert _ids(hashing_engine.match_need("n-stroke-fr", top=1)) == ["p-stroke-fr"]


def test_portuguese_maternal_need_finds_the_midwifery_educators(hashing_engine: MatchEngine) -> None:
    assert _ids(hashing_engine.match_need("n-maternal-pt", top=1)) == ["p-maternity"]


def test_reverse_direction_ranks_needs_for_a_profile(hashing_engine: MatchEngine) -> None:
    items = hashing_engine.match_profile("p-equipment", top=1)
    assert _ids(items, "need_id") == ["n-equipment-fr"]


def test_full_partner_is_demoted_and_flagged_not_hidden(hashing_engine: MatchEngine) -> None:
    items = hashing_engine.match_need("n-kidney-en", top=5)
    kidney = next(i for i in items if i["profile_id"] == "p-kidney")
    assert kidney["fit"]["full"] is True and kidney["fit"]["remaining_capacity"] == 0
    assert kidney["breakdown"]["full_capacity"] < 0


def test_breakdown_parts_add_up_to_the_score(hashing_engine: MatchEngine) -> None:
    for item in hashing_engine.match_need("n-stroke-en", top=5):
        assert item["score"] == pytest.approx(sum(item["breakdown"].values()), abs=1e-9)


def test_explanation_has_shared_areas_with_evidence_from_both_texts(hashing_engine: MatchEngine) -> None:
    [top] = hashing_engine.match_need("n-stroke-fr", top=1)
    stroke = next(s for s in top["shared_areas"] if s["area"] == "stroke")
    need_text = hashing_engine.get("need", "n-stroke-fr").text
    assert any(need_text[e["start"]:e["end"]] == e["phrase"] for e in stroke["need_evidence"])
    assert stroke["profile_evidence"]
    assert top["best_sentence_pair"]["need"] and top["best_sentence_pair"]["profile"]
    assert top["fit"]["language"] == {"need": "fr", "profile": ["en", "fr"], "shared": True}
    assert top["fit"]["country_experience"] == {"country": "SN", "experienced": True}
    assert top["fit"]["modalities"]["shared"] == ["protocol_development"]


def test_best_sentence_pair_is_the_pair_that_shows_a_shared_area_across_languages(detector) -> None:
    need = Need(id="n", institution="i", country="SN", language="fr", description=(
        "Notre hôpital régional sert un million d'habitants. "
        "Nous recevons chaque semaine des patients victimes d'AVC sans aucun protocole de thrombolyse. "
        "Le service de médecine compte deux médecins généralistes."))
    profile = Profile(id="p", name="Southern Stroke", kind="nhs_trust", description=(
        "We are a teaching hospital in the south of England with a long history of partnerships. "
        "Our stroke physicians set up a hyperacute stroke unit and a thrombolysis pathway. "
        "General practitioners rotate through our wards."))
    engine = build_engine(HashingEncoder(), detector, [profile], [need])
    [item] = engine.match_need("n", top=1)
    pair = item["best_sentence_pair"]
    assert pair["need"].startswith("Nous recevons") and "AVC" in pair["need"]
    assert pair["profile"].startswith("Our stroke physicians")
    assert pair["areas"][0] == "stroke"
    assert set(pair) == {"need", "profile", "areas", "words"}


def test_explanation_words_leave_out_english_function_words(detector) -> None:
    need = Need(id="n", institution="i", country="GH", language="en", description=(
        "After a stroke our patients wait for hours; we would like our nurses to learn thrombolysis."))
    profile = Profile(id="p", name="Stroke Team", kind="nhs_trust", description=(
        "Our nurses teach thrombolysis and care after a stroke, and we would mentor your nurses online."))
    engine = build_engine(HashingEncoder(), detector, [profile], [need])
    [item] = engine.match_need("n", top=1)
    shared = {w["need"].lower() for w in item["shared_words"]}
    assert {"nurses", "thrombolysis", "stroke"} <= shared
    assert not shared & {"after", "our", "we", "would"}
    assert not set(item["best_sentence_pair"]["words"]) & {"After", "after", "our", "Our", "we", "would"}


def test_best_sentence_pair_is_null_when_the_texts_share_nothing(detector) -> None:
    need = Need(id="n", institution="i", country="GH", language="en",
                description="Kidney dialysis nurses need training on haemodialysis.")
    profile = Profile(id="p", name="Midwives", kind="charity",
                      description="Midwives teach obstetric emergencies and newborn care.")
    engine = build_engine(HashingEncoder(), detector, [profile], [need])
    [item] = engine.match_need("n", top=1)
    assert item["shared_areas"] == [] and item["best_sentence_pair"] is None


def test_ranking_is_deterministic_and_ties_break_by_id(detector, fixture_profiles, fixture_needs) -> None:
    a = build_engine(HashingEncoder(), detector, fixture_profiles, fixture_needs)
    b = build_engine(HashingEncoder(), detector, list(reversed(fixture_profiles)), list(reversed(fixture_needs)))
    for need in fixture_needs:
        assert a.match_need(need.id, top=5) == b.match_need(need.id, top=5)
    twins = [p.model_copy(update={"id": pid}) for pid in ("z-twin", "a-twin") for p in fixture_profiles[:1]]
    c = build_engine(HashingEncoder(), detector, twins, fixture_needs)
    assert _ids(c.match_need("n-stroke-en", top=2)) == ["a-twin", "z-twin"]


@pytest.mark.parametrize("kind", ["numpy", "flat", "hnsw"])
def test_every_index_backend_gives_the_same_ranking(kind, detector, fixture_profiles, fixture_needs) -> None:
    ref = build_engine(HashingEncoder(), detector, fixture_profiles, fixture_needs, "numpy")
    eng = build_engine(HashingEncoder(), detector, fixture_profiles, fixture_needs, kind)
    for need in fixture_needs:
        assert eng.match_need(need.id, top=5) == ref.match_need(need.id, top=5)


def test_removed_need_leaves_vectors_lexical_entries_and_results(hashing_engine: MatchEngine) -> None:
    hashing_engine.remove("need", ["n-equipment-fr"])
    assert hashing_engine.index("need").vector("n-equipment-fr") is None
    assert hashing_engine.lexical("need").terms("n-equipment-fr") == []
    assert "n-equipment-fr" not in _ids(hashing_engine.match_profile("p-equipment", top=10), "need_id")
    with pytest.raises(NotFoundError):
        hashing_engine.match_need("n-equipment-fr")


def test_adhoc_text_match_and_bad_top(hashing_engine: MatchEngine) -> None:
    assert _ids(hashing_engine.match_text("Nos mères saignent après l'accouchement", top=1)) == ["p-maternity"]
    with pytest.raises(InvalidInputError, match="top"):
        hashing_engine.match_need("n-stroke-en", top=0)
    with pytest.raises(InvalidInputError, match="description"):
        hashing_engine.match_text("   ")


def test_matcher_imports_no_web_database_or_torch_module() -> None:
    code = ("import sys, matcher.engine, matcher.assign, matcher.evaluate, matcher.snapshot;"
            "bad = [m for m in ('fastapi', 'sqlalchemy', 'torch', 'sentence_transformers', 'service', 'models')"
            " if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_text_analysis_survives_json_with_evidence_and_accents(hashing_engine: MatchEngine) -> None:
    engine = hashing_engine
    text = "Nous voulons créer une unité neurovasculaire (AVC) et former nos infirmières à la dysphagie."
    found = engine.text_analysis(text, None, ("stroke",))
    assert found.language == "fr" and found.areas["stroke"].evidence
    assert TextAnalysis.from_json(found.to_json()) == found


def test_records_hold_their_vectors_once_as_read_only_rows_of_the_score_columns(hashing_engine: MatchEngine) -> None:
    before = hashing_engine.match_need("n-stroke-en", top=5)
    hashing_engine.warm()
    for side in ("need", "profile"):
        matrix = hashing_engine._sides[side].arrays.vectors
        for rid in hashing_engine.ids(side):
            vector = hashing_engine.get(side, rid).vector
            assert np.shares_memory(vector, matrix) and not vector.flags.writeable
    assert hashing_engine.match_need("n-stroke-en", top=5) == before


def test_warm_builds_the_score_columns_and_bm25_before_any_query(detector, fixture_profiles, fixture_needs) -> None:
    engine = build_engine(HashingEncoder(), detector, fixture_profiles, fixture_needs)
    assert all(engine._sides[s].arrays is None and engine.lexical(s)._matrix is None for s in ("need", "profile"))
    engine.warm()
    assert all(engine._sides[s].arrays is not None and engine.lexical(s)._matrix is not None
               for s in ("need", "profile"))
    edited = [fixture_profiles[0].model_copy(update={"capacity": 7}), *fixture_profiles[1:]]
    engine.add_profiles(edited[:1])  # a write: the maps go stale
    profiles = engine._sides["profile"].arrays
    assert profiles._lexical is None and not profiles._by_country
    engine.warm()  # as the snapshot step does after a write, so that the next query need not
    assert profiles._lexical is not None and profiles._by_country
    assert profiles._lexical[0] is engine.lexical("profile").warm()
    fresh = build_engine(HashingEncoder(), detector, edited, fixture_needs)
    assert engine.match_need(fixture_needs[0].id, top=3) == fresh.match_need(fixture_needs[0].id, top=3)


def test_warm_on_a_side_emptied_by_removals(hashing_engine: MatchEngine) -> None:
    hashing_engine.warm()
    hashing_engine.remove("need", hashing_engine.ids("need"))
    hashing_engine.warm()  # no stale lexical ids to map
    assert hashing_engine.match_profile(hashing_engine.ids("profile")[0]) == []


def test_clear_forgets_every_record_and_term(hashing_engine: MatchEngine) -> None:
    hashing_engine.clear()
    assert hashing_engine.ids("need") == [] and hashing_engine.ids("profile") == []
    assert len(hashing_engine.lexical("need").table) == 0 and hashing_engine.index("profile").count() == 0


def test_dense_scores_split_over_two_threads_equal_the_one_product(hashing_engine: MatchEngine, monkeypatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    import matcher.candidates as candidates

    handed = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            handed.append(len(args[0]))
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(candidates, "_CORES", 2)
    monkeypatch.setattr(candidates, "_helper", (os.getpid(), Recording(max_workers=1)))
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1, user_api="blas"):  # as the service runs
        for n in (candidates.SPLIT_ROWS, 10_000, 12_345):
            vectors = rng.standard_normal((n, 384), dtype=np.float32)
            query = rng.standard_normal(384, dtype=np.float32)
            assert np.array_equal(candidates.dense_scores(vectors, query), vectors @ query)
    assert handed == [2048, 5008, 6201]
    # Split even for the fixture's few profiles: the same ranking.
    before = hashing_engine.match_need("n-stroke-en", top=5)
    monkeypatch.setattr(candidates, "SPLIT_ROWS", 2)
    assert hashing_engine.match_need("n-stroke-en", top=5) == before


def test_a_forked_child_splits_dense_scores_on_its_own_thread(monkeypatch) -> None:
    import multiprocessing

    import matcher.candidates as candidates

    monkeypatch.setattr(candidates, "_CORES", 2)
    vectors = np.random.default_rng(1).standard_normal((candidates.SPLIT_ROWS, 8), dtype=np.float32)
    query = np.ones(8, dtype=np.float32)
    candidates.dense_scores(vectors, query)  # the parent's helper thread is running now
    child = multiprocessing.get_context("fork").Process(target=candidates.dense_scores, args=(vectors, query))
    child.start()
    child.join(30)
    assert child.exitcode == 0  # the parent's thread does not exist in the child: it would wait forever


def test_limit_blas_threads_leaves_numpy_one_blas_thread() -> None:
    code = ("from threadpoolctl import threadpool_info\n"
            "from matcher.candidates import limit_blas_threads\n"
            "limit_blas_threads()\n"
            "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[1]"


def _columns_equal(a, b) -> None:
    from matcher.candidates import SideArrays

    assert a.ids == b.ids and a.position == b.position and a.country == b.country and a.countries == b.countries
    assert np.array_equal(a.vectors, b.vectors)
    for name in SideArrays._COLUMNS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("spare", [64, 0])  # 0: the matrix grows at every new record
def test_score_columns_follow_small_writes_as_a_rebuild_would_make_them(detector, fixture_profiles, fixture_needs,
                                                                        spare, monkeypatch) -> None:
    import copy
    import random

    import matcher.candidates as candidates
    from matcher.candidates import SideArrays

    monkeypatch.setattr(candidates, "SPARE_ROWS", spare)

    engine = build_engine(HashingEncoder(), detector, fixture_profiles[:6], fixture_needs)
    engine.warm()
    arrays = engine._sides["profile"].arrays
    rng = random.Random(3)
    pool = list(fixture_profiles)
    for step in range(40):
        held = engine.ids("profile")
        if held and rng.random() < 0.35:
            engine.remove("profile", rng.sample(held, rng.randint(1, min(3, len(held)))))
        else:  # new records, replacements (a capacity or a text change) or both
            picks = rng.sample(pool, rng.randint(1, 3))
            picks = [p.model_copy(update={"capacity": rng.randint(0, 4)}) for p in picks]
            if rng.random() < 0.3:
                picks.append(pool[0].model_copy(update={"id": f"extra-{step}", "description": pool[1].description}))
            engine.add_profiles(picks)
        assert engine._sides["profile"].arrays is arrays  # updated, not dropped
        side = engine._sides["profile"]
        copies = {rid: copy.copy(a) for rid, a in side.records.items()}  # build rebinds their vectors
        _columns_equal(arrays, SideArrays.build("profile", copies, engine.encoder.dimension))
        for rid in engine.ids("profile"):
            vector = engine.get("profile", rid).vector
            assert np.shares_memory(vector, arrays.vectors) and not vector.flags.writeable
            assert np.array_equal(vector, engine.index("profile").vector(rid))
    fresh = MatchEngine(HashingEncoder(), detector)
    fresh.add_profiles([engine.get("profile", rid).record for rid in engine.ids("profile")])
    fresh.add_needs(fixture_needs)
    for nid in ("n-stroke-en", "n-stroke-fr"):
        assert engine.match_need(nid, top=5) == fresh.match_need(nid, top=5)


def test_a_big_write_drops_the_score_columns_for_one_rebuild(detector, fixture_profiles, fixture_needs,
                                                            monkeypatch) -> None:
    import matcher.engine as engine_module

    engine = build_engine(HashingEncoder(), detector, fixture_profiles[:3], fixture_needs)
    engine.warm()
    monkeypatch.setattr(engine_module, "INCREMENTAL_MAX", 1)
    engine.add_profiles(fixture_profiles[3:])
    assert engine._sides["profile"].arrays is None
