"""Matching over HTTP: need matches, ad-hoc text, live index after writes (one process or two)."""
from __future__ import annotations

import logging

import pytest
from api_helpers import API, STROKE_NEED, Keys, bearer, make_runtime
from fastapi.testclient import TestClient

from service.app import create_app
from service.runtime import Runtime


def test_need_matches_for_owner_staff_and_admin(client: TestClient, keys: Keys) -> None:
    for key in (keys.submitter, keys.staff, keys.admin):
        r = client.get(f"{API}/needs/n-stroke-en/matches?top=2", headers=bearer(key))
        assert r.status_code == 200
        body = r.json()
        assert body["need_id"] == "n-stroke-en" and len(body["matches"]) == 2
        first = body["matches"][0]
        assert first["profile_id"] == "p-stroke"
        assert {"score", "breakdown", "shared_areas", "fit"} <= set(first)
        assert "stroke" in [s["area"] for s in first["shared_areas"]]
    assert client.get(f"{API}/needs/n-stroke-en/matches", headers=bearer(keys.partner)).status_code == 403
    assert client.get(f"{API}/needs/n-stroke-en/matches", headers=bearer(keys.other_submitter)).status_code == 404
    assert client.get(f"{API}/needs/n-stroke-en/matches?top=101", headers=bearer(keys.staff)).status_code == 422


def test_adhoc_text_is_ranked_for_any_role_and_not_kept(client: TestClient, keys: Keys, runtime: Runtime) -> None:
    text = "Notre maternité perd des mères par hémorragie du post-partum; formez nos sages-femmes."
    enc = runtime.encoder
    rows = enc._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]  # type: ignore[union-attr]
    for key in (keys.submitter, keys.partner, keys.staff, keys.admin):
        r = client.post(f"{API}/match", headers=bearer(key), json={"text": text, "top": 3})
        assert r.status_code == 200
        assert r.json()["matches"][0]["profile_id"] == "p-maternity"
    assert enc._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == rows  # type: ignore[union-attr]
    # The text of a stored need, matched ad hoc, leaves that need's cached vectors alone.
    stored = runtime.engine.get("need", "n-stroke-en")
    assert stored is not None
    key_of = enc._key(runtime.engine.embedding_text(stored.text, stored.areas, stored.language)[0], "query")  # type: ignore[union-attr]
    assert client.post(f"{API}/match", headers=bearer(keys.staff), json={"text": stored.text}).status_code == 200
    assert enc._db.execute("SELECT COUNT(*) FROM vectors WHERE key = ?", (key_of,)).fetchone()[0] == 1  # type: ignore[union-attr]
    assert client.post(f"{API}/match", json={"text": text}).status_code == 401
    for body, field in [({"text": ""}, "text"), ({"text": text, "top": 0}, "top"), ({"txt": text}, "text"),
                        ({"text": "y" * 4001}, "text"), ({"text": text, "language": "xx"}, "language")]:
        r = client.post(f"{API}/match", headers=bearer(keys.staff), json=body)
        assert r.status_code == 422 and r.json()["field"] == field, (body, r.text)


def test_submitted_need_reaches_partner_counterparts_in_the_same_process(client: TestClient, keys: Keys) -> None:
    nid = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED).json()["id"]
    r = client.get(f"{API}/profiles/p-stroke/matches?top=3", headers=bearer(keys.partner))
    assert nid in [m["need_id"] for m in r.json()["matches"]]


def test_submitted_need_reaches_a_second_app_sharing_the_store(client: TestClient, keys: Keys, runtime: Runtime,
                                                               detector: object) -> None:
    # A replica: its own home (index snapshots, cache), the same database.
    shared = runtime.settings.model_copy(update={"home": runtime.settings.home.parent / "replica",
                                                 "database_url": runtime.settings.db_url})
    other = make_runtime(shared, detector)
    try:
        with TestClient(create_app(runtime=other)) as second:
            before = second.get(f"{API}/profiles/p-stroke/matches?top=20", headers=bearer(keys.partner)).json()
            nid = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED).json()["id"]
            assert nid not in [m["need_id"] for m in before["matches"]]
            after = second.get(f"{API}/profiles/p-stroke/matches?top=20", headers=bearer(keys.partner)).json()
            assert nid in [m["need_id"] for m in after["matches"]]
            mine = second.get(f"{API}/needs/{nid}/matches?top=1", headers=bearer(keys.submitter)).json()
            assert mine["matches"][0]["profile_id"] == "p-stroke"
            # ... and a withdrawal in the second app leaves the first one's counterparts too.
            assert second.delete(f"{API}/needs/{nid}", headers=bearer(keys.submitter)).status_code == 200
            again = client.get(f"{API}/profiles/p-stroke/matches?top=20", headers=bearer(keys.partner)).json()
            assert nid not in [m["need_id"] for m in again["matches"]]
    finally:
        other.close()
        other.store.engine.dispose()


def test_a_failed_index_update_keeps_the_need_and_heals(client: TestClient, keys: Keys, runtime: Runtime,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("encoder crashed")

    with monkeypatch.context() as patch:
        patch.setattr(runtime.engine, "analyse", broken)
        r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED)
        assert r.status_code == 201
        ready = client.get(f"{API}/readyz").json()
        assert ready["index_stale"] is True and ready["ready"] is True
    nid = r.json()["id"]
    assert runtime.store.get_need_row(nid) is not None
    assert any("index update" in rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR)
    matches = client.get(f"{API}/needs/{nid}/matches?top=1", headers=bearer(keys.submitter)).json()
    assert matches["matches"][0]["profile_id"] == "p-stroke"  # the refresh rebuilt the index
    assert client.get(f"{API}/readyz").json()["index_stale"] is False


def test_a_broken_encoder_on_reload_is_503_not_500(client: TestClient, keys: Keys, runtime: Runtime,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from matcher.errors import ModelUnavailableError

    def unavailable(*args: object, **kwargs: object) -> None:
        raise ModelUnavailableError("model package missing")

    for method in ("analyse", "analyse_many"):  # single writes and reloads
        if hasattr(runtime.engine, method):
            monkeypatch.setattr(runtime.engine, method, unavailable)
    assert client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED).status_code == 201
    r = client.get(f"{API}/needs/n-stroke-en/matches", headers=bearer(keys.staff))
    assert r.status_code == 503 and "model package missing" in r.json()["detail"]
    assert client.get(f"{API}/needs/n-stroke-en", headers=bearer(keys.staff)).status_code == 200
