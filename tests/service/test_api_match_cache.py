"""Cached match lists (service.results): the same bytes until a write changes the index, in this process or another."""
from __future__ import annotations

from typing import Any

import pytest
from api_helpers import API, Keys, bearer, make_runtime
from fastapi.testclient import TestClient

from service.app import create_app
from service.results import ResultCache
from service.runtime import Runtime

MATERNITY = ("Our mothers bleed after childbirth: we need training in postpartum haemorrhage and emergency "
             "obstetric care for our midwives.")
STROKE_PROFILE = {"name": "Solent Stroke Team", "kind": "nhs_trust", "capacity": 2,
                  "description": "Stroke physicians and stroke nurses running a hyperacute stroke unit; we teach "
                                 "thrombolysis, swallow screening and early rehabilitation after stroke."}


def _matches(client: TestClient, key: str, need_id: str = "n-stroke-en", top: int = 10) -> dict[str, Any]:
    r = client.get(f"{API}/needs/{need_id}/matches?top={top}", headers=bearer(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _fit(body: dict[str, Any], profile_id: str) -> dict[str, Any]:
    fit: dict[str, Any] = next(m["fit"] for m in body["matches"] if m["profile_id"] == profile_id)
    return fit


def test_result_cache_keeps_the_most_recent_within_its_byte_budget() -> None:
    cache = ResultCache(max_bytes=10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # now the most recent
    cache.put("c", b"90ab")  # 12 bytes: the least recent ("b") goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1234", None, b"90ab")
    cache.put("big", b"x" * 11)  # larger than the whole budget: not kept, nothing evicted
    assert cache.get("big") is None and len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None
    nothing = ResultCache(max_bytes=0)
    nothing.put("a", b"1")
    assert nothing.get("a") is None


def test_repeated_need_matches_are_served_from_the_cache(client: TestClient, keys: Keys, runtime: Runtime,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = client.get(f"{API}/needs/n-stroke-en/matches?top=3", headers=bearer(keys.staff))

    def ranked_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the engine ranked a need whose answer was cached")

    monkeypatch.setattr(runtime.engine, "match_need", ranked_again)
    again = client.get(f"{API}/needs/n-stroke-en/matches?top=3", headers=bearer(keys.submitter))
    assert again.status_code == 200 and again.content == first.content
    # Who may see the need is still checked on every request, before the cache.
    assert client.get(f"{API}/needs/n-stroke-en/matches?top=3",
                      headers=bearer(keys.other_submitter)).status_code == 404
    assert client.get(f"{API}/needs/n-stroke-en/matches?top=3", headers=bearer(keys.partner)).status_code == 403


def test_every_kind_of_write_refreshes_cached_need_matches(client: TestClient, keys: Keys) -> None:
    before = _matches(client, keys.staff)
    assert "p-solent" not in [m["profile_id"] for m in before["matches"]]
    # A new profile.
    assert client.put(f"{API}/profiles/p-solent", headers=bearer(keys.admin), json=STROKE_PROFILE).status_code == 201
    assert "p-solent" in [m["profile_id"] for m in _matches(client, keys.staff)["matches"]]
    # An accepted pair uses capacity.
    left = _fit(_matches(client, keys.staff), "p-stroke")["remaining_capacity"]
    decision = {"profile_id": "p-stroke", "decision": "accept", "reason": "good fit"}
    accepted = client.post(f"{API}/needs/n-stroke-en/decisions", headers=bearer(keys.staff), json=decision)
    assert accepted.status_code == 201
    assert _fit(_matches(client, keys.staff), "p-stroke")["remaining_capacity"] == left - 1
    # An edit of the need's text.
    edit = client.patch(f"{API}/needs/n-stroke-en", headers=bearer(keys.submitter), json={"description": MATERNITY})
    assert edit.status_code == 200
    assert _matches(client, keys.staff)["matches"][0]["profile_id"] == "p-maternity"
    # A withdrawal.
    assert client.delete(f"{API}/needs/n-stroke-en", headers=bearer(keys.submitter)).status_code == 200
    assert _matches(client, keys.staff) == {"need_id": "n-stroke-en", "matches": [], "reason": "the need is withdrawn"}


def test_a_write_by_another_process_refreshes_cached_matches(client: TestClient, keys: Keys, runtime: Runtime,
                                                             detector: object) -> None:
    from matcher.schema import Profile

    cached = _matches(client, keys.staff)
    other = make_runtime(runtime.settings.model_copy(update={"home": runtime.settings.home.parent / "other",
                                                             "database_url": runtime.settings.db_url}), detector)
    try:
        other.upsert_profile(Profile(id="p-solent", **STROKE_PROFILE))
    finally:
        other.close()
        other.store.engine.dispose()
    fresh = _matches(client, keys.staff)
    assert fresh != cached and "p-solent" in [m["profile_id"] for m in fresh["matches"]]


def test_counterparts_are_cached_and_refreshed_like_need_matches(client: TestClient, keys: Keys) -> None:
    path = f"{API}/profiles/p-maternity/matches?top=10"
    first = client.get(path, headers=bearer(keys.staff))
    assert client.get(path, headers=bearer(keys.staff)).content == first.content
    assert client.get(path, headers=bearer(keys.partner)).status_code == 403  # another partner's profile
    edit = client.patch(f"{API}/needs/n-stroke-en", headers=bearer(keys.submitter), json={"description": MATERNITY})
    assert edit.status_code == 200
    def score(body: dict[str, Any]) -> float:
        return float(next(m["score"] for m in body["matches"] if m["need_id"] == "n-stroke-en"))

    assert score(client.get(path, headers=bearer(keys.staff)).json()) > score(first.json())  # now about maternity


def test_cache_off_serves_the_same_bytes(client: TestClient, keys: Keys, runtime: Runtime, detector: object) -> None:
    settings = runtime.settings.model_copy(update={"home": runtime.settings.home.parent / "uncached",
                                                   "database_url": runtime.settings.db_url, "match_cache_bytes": 0})
    uncached = make_runtime(settings, detector)
    try:
        with TestClient(create_app(runtime=uncached)) as plain:
            for path in (f"{API}/needs/n-stroke-en/matches?top=4", f"{API}/needs/n-maternal-pt/matches",
                         f"{API}/profiles/p-stroke/matches?top=3"):
                cached = client.get(path, headers=bearer(keys.staff))
                cached_again = client.get(path, headers=bearer(keys.staff))
                computed = plain.get(path, headers=bearer(keys.staff))
                assert cached.status_code == computed.status_code == 200
                assert cached.content == cached_again.content == computed.content
                assert cached.headers["content-type"] == computed.headers["content-type"] == "application/json"
    finally:
        uncached.close()
        uncached.store.engine.dispose()
