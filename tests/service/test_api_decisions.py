"""Decisions and gaps over HTTP: staff decide, capacity follows, unmet demand is reported."""
from __future__ import annotations

from datetime import datetime

from api_helpers import API, Keys, bearer
from fastapi.testclient import TestClient


def decide(client: TestClient, key: str, need_id: str, profile_id: str, decision: str = "accept",
           reason: str = "good fit") -> object:
    return client.post(f"{API}/needs/{need_id}/decisions", headers=bearer(key),
                       json={"profile_id": profile_id, "decision": decision, "reason": reason})


def test_staff_decision_is_recorded_with_who_and_when(client: TestClient, keys: Keys) -> None:
    r = decide(client, keys.staff, "n-stroke-en", "p-stroke", reason="strong stroke unit experience in Ghana")
    assert r.status_code == 201
    body = r.json()
    assert (body["need_id"], body["profile_id"], body["decision"]) == ("n-stroke-en", "p-stroke", "accept")
    assert body["decided_by"].startswith("staff key ")
    assert datetime.fromisoformat(body["decided_at"]).tzinfo is not None
    for key in (keys.staff, keys.admin, keys.submitter):  # the owning submitter may read them
        listed = client.get(f"{API}/needs/n-stroke-en/decisions", headers=bearer(key))
        assert listed.status_code == 200 and [d["id"] for d in listed.json()["decisions"]] == [body["id"]]
    assert client.get(f"{API}/needs/n-stroke-en/decisions", headers=bearer(keys.other_submitter)).status_code == 404
    assert client.get(f"{API}/needs/n-stroke-en/decisions", headers=bearer(keys.partner)).status_code == 403


def test_submitters_and_partners_may_never_decide(client: TestClient, keys: Keys) -> None:
    for key in (keys.submitter, keys.partner):
        assert decide(client, key, "n-stroke-en", "p-stroke").status_code == 403
    assert decide(client, keys.admin, "n-stroke-en", "p-stroke", "reject").status_code == 201


def test_accepts_use_capacity_until_none_is_left(client: TestClient, keys: Keys) -> None:
    assert decide(client, keys.staff, "n-stroke-fr", "p-stroke-fr").status_code == 201
    profile = client.get(f"{API}/profiles/p-stroke-fr", headers=bearer(keys.staff)).json()
    assert (profile["capacity"], profile["remaining_capacity"]) == (1, 0)
    item = next(m for m in client.get(f"{API}/needs/n-stroke-en/matches?top=5", headers=bearer(keys.staff)
                                      ).json()["matches"] if m["profile_id"] == "p-stroke-fr")
    assert item["fit"]["remaining_capacity"] == 0 and item["fit"]["full"] is True
    full = decide(client, keys.staff, "n-stroke-en", "p-stroke-fr")
    assert full.status_code == 422 and full.json()["field"] == "profile_id"
    assert decide(client, keys.staff, "n-stroke-fr", "p-stroke-fr").status_code == 201  # same pair again is fine
    assert decide(client, keys.staff, "n-stroke-fr", "p-stroke-fr", "reject", "partner withdrew").status_code == 201
    assert decide(client, keys.staff, "n-stroke-en", "p-stroke-fr").status_code == 201  # capacity freed


def test_decision_input_errors(client: TestClient, keys: Keys) -> None:
    r = decide(client, keys.staff, "n-stroke-en", "p-none")
    assert r.status_code == 422 and r.json()["field"] == "profile_id"
    r = decide(client, keys.staff, "n-stroke-en", "p-stroke", decision="maybe")
    assert r.status_code == 422 and r.json()["field"] == "decision"
    r = decide(client, keys.staff, "n-stroke-en", "p-stroke", reason=" ")
    assert r.status_code == 422 and r.json()["field"] == "reason"
    assert decide(client, keys.staff, "n-none", "p-stroke").status_code == 404
    client.delete(f"{API}/needs/n-stroke-en", headers=bearer(keys.submitter))
    assert decide(client, keys.staff, "n-stroke-en", "p-stroke").status_code == 409


def test_gaps_compare_open_demand_with_remaining_capacity(client: TestClient, keys: Keys) -> None:
    r = client.get(f"{API}/gaps", headers=bearer(keys.staff))
    assert r.status_code == 200
    gaps = r.json()
    assert gaps["open_needs"] == 5 and gaps["available_profiles"] == 4  # p-kidney has capacity 0
    by_country = {g["country"]: g for g in gaps["by_country"]}
    assert (by_country["NG"]["open_needs"], by_country["NG"]["available_profiles"], by_country["NG"]["shortfall"]) \
        == (1, 0, 1)
    assert by_country["GH"]["remaining_capacity"] == 2 and by_country["GH"]["shortfall"] == 0
    kidney = next(g for g in gaps["by_area"] if g["area"] == "kidney_care")
    assert kidney["open_needs"] == 1 and kidney["remaining_capacity"] == 0 and kidney["shortfall"] == 1
    assert gaps["by_area"][0]["shortfall"] >= gaps["by_area"][-1]["shortfall"]
    decide(client, keys.staff, "n-stroke-fr", "p-stroke-fr")
    after = {g["country"]: g for g in client.get(f"{API}/gaps", headers=bearer(keys.admin)).json()["by_country"]}
    assert after["SN"]["remaining_capacity"] == 0 and after["SN"]["shortfall"] == 1
    for key in (keys.submitter, keys.partner):
        assert client.get(f"{API}/gaps", headers=bearer(key)).status_code == 403
