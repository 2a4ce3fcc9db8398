"""Profiles over HTTP: partners keep their own, admins any; everyone reads; counterparts by role."""
from __future__ import annotations

import json

from api_helpers import API, STROKE_NEED, Keys, bearer, fixture_file
from fastapi.testclient import TestClient

from service.keys import create_key
from service.runtime import Runtime


def profile_body(profile_id: str) -> dict:
    for line in fixture_file("profiles.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["id"] == profile_id:
            return {k: v for k, v in record.items() if k != "id"}
    raise KeyError(profile_id)


def test_partner_replaces_its_own_profile(client: TestClient, keys: Keys) -> None:
    body = {**profile_body("p-stroke"), "capacity": 4, "region": "Wessex"}
    r = client.put(f"{API}/profiles/p-stroke", headers=bearer(keys.partner), json=body)
    assert r.status_code == 200
    assert (r.json()["capacity"], r.json()["remaining_capacity"], r.json()["region"]) == (4, 4, "Wessex")
    assert "stroke" in r.json()["detected_areas"]


def test_partner_creates_its_profile_with_201(client: TestClient, runtime: Runtime) -> None:
    secret, _ = create_key(runtime.store, "partner", profile_id="uk-new")
    body = {**profile_body("p-stroke"), "name": "New Stroke Team"}
    r = client.put(f"{API}/profiles/uk-new", headers=bearer(secret), json=body)
    assert r.status_code == 201 and r.json()["id"] == "uk-new"
    assert client.put(f"{API}/profiles/uk-new", headers=bearer(secret), json=body).status_code == 200


def test_only_the_owner_partner_or_an_admin_may_write_a_profile(client: TestClient, keys: Keys) -> None:
    body = profile_body("p-maternity")
    assert client.put(f"{API}/profiles/p-maternity", headers=bearer(keys.partner), json=body).status_code == 403
    for key in (keys.submitter, keys.staff):
        assert client.put(f"{API}/profiles/p-maternity", headers=bearer(key), json=body).status_code == 403
    assert client.put(f"{API}/profiles/p-maternity", headers=bearer(keys.other_partner), json=body).status_code == 200
    assert client.put(f"{API}/profiles/uk-admin", headers=bearer(keys.admin), json=body).status_code == 201
    assert client.put(f"{API}/profiles/p-maternity", json=body).status_code == 401


def test_profile_body_errors_name_the_field(client: TestClient, keys: Keys) -> None:
    body = profile_body("p-stroke")
    cases = [({**body, "id": "other"}, "id"), ({**body, "capacity": -1}, "capacity"),
             ({**body, "countries_of_experience": ["ZZ"]}, "countries_of_experience"),
             ({**body, "kind": "hospital"}, "kind"), ({**body, "country": "FR"}, "country"),
             ({**body, "unknown": 1}, "unknown")]
    for payload, field in cases:
        r = client.put(f"{API}/profiles/p-stroke", headers=bearer(keys.partner), json=payload)
        assert r.status_code == 422 and r.json()["field"] == field, (field, r.text)


def test_every_role_reads_profiles(client: TestClient, keys: Keys) -> None:
    for key in (keys.submitter, keys.partner, keys.staff, keys.admin):
        r = client.get(f"{API}/profiles/p-kidney", headers=bearer(key))
        assert r.status_code == 200 and r.json()["remaining_capacity"] == 0
    assert client.get(f"{API}/profiles/p-none", headers=bearer(keys.staff)).status_code == 404
    page = client.get(f"{API}/profiles?limit=2&offset=2", headers=bearer(keys.submitter)).json()
    assert [p["id"] for p in page["items"]] == ["p-maternity", "p-stroke"] and page["total"] == 5


def test_counterparts_by_role(client: TestClient, keys: Keys) -> None:
    r = client.get(f"{API}/profiles/p-stroke/matches?top=3", headers=bearer(keys.partner))
    assert r.status_code == 200
    body = r.json()
    assert body["profile_id"] == "p-stroke" and body["matches"][0]["need_id"] == "n-stroke-en"
    assert all("need_id" in m and "score" in m and "breakdown" in m for m in body["matches"])
    assert client.get(f"{API}/profiles/p-maternity/matches", headers=bearer(keys.partner)).status_code == 403
    assert client.get(f"{API}/profiles/p-stroke/matches", headers=bearer(keys.submitter)).status_code == 403
    assert client.get(f"{API}/profiles/p-stroke/matches", headers=bearer(keys.staff)).status_code == 200
    assert client.get(f"{API}/profiles/p-none/matches", headers=bearer(keys.admin)).status_code == 404
    assert client.get(f"{API}/profiles/p-stroke/matches?top=0", headers=bearer(keys.admin)).json()["field"] == "top"


def test_a_new_profile_is_matched_at_once(client: TestClient, keys: Keys) -> None:
    body = {**profile_body("p-kidney"), "capacity": 5,
            "description": "Dialysis nurses and nephrologists who train teams in haemodialysis and kidney care."}
    assert client.put(f"{API}/profiles/uk-renal", headers=bearer(keys.admin), json=body).status_code == 201
    top = client.get(f"{API}/needs/n-kidney-en/matches?top=2", headers=bearer(keys.staff)).json()["matches"]
    assert "uk-renal" in [m["profile_id"] for m in top]
    submitted = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=STROKE_NEED).json()["id"]
    counterparts = client.get(f"{API}/profiles/p-stroke/matches?top=10", headers=bearer(keys.partner)).json()
    assert submitted in [m["need_id"] for m in counterparts["matches"]]


def test_after_a_write_the_engine_is_warmed_in_the_background_not_in_the_next_request(
        client: TestClient, keys: Keys, runtime: Runtime) -> None:
    body = {**profile_body("p-kidney"), "description": "Renal nurses who teach haemodialysis."}
    assert client.put(f"{API}/profiles/uk-renal", headers=bearer(keys.admin), json=body).status_code == 201
    runtime.close()  # flushes the debounced snapshot step, as after its quiet spell
    assert runtime.engine.lexical("profile")._matrix is not None
    assert runtime.engine._sides["profile"].arrays is not None
