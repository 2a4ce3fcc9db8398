"""A need nearly repeating an open need of the same institution is a 409 pointing at it, unless allowed."""
from __future__ import annotations

from api_helpers import API, DAKAR, Keys, bearer
from fastapi.testclient import TestClient

from matcher.engine import MatchEngine
from service.runtime import Runtime

# n-stroke-en of Korle Bu, reworded a little
RESUBMITTED = {"country": "GH", "language": "en", "preferred_modalities": ["training_courses"],
               "description": "Patients arrive with sudden weakness on one side of the body and slurred speech. "
                              "We have no stroke unit and our nurses do not know how to assess swallowing or "
                              "to start rehabilitation."}
DIFFERENT = {"country": "GH", "language": "en", "description": "Mothers bleed after childbirth and our midwives "
             "need training in emergency obstetric care."}


def test_resubmitted_need_is_a_409_naming_the_open_one(client: TestClient, keys: Keys) -> None:
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json=RESUBMITTED)
    assert r.status_code == 409
    body = r.json()
    assert body["duplicate_of"] == "n-stroke-en" and body["link"] == f"{API}/needs/n-stroke-en"
    assert "allow_duplicate" in body["detail"] and "n-stroke-en" in body["detail"]
    mine = client.get(f"{API}/needs", headers=bearer(keys.submitter)).json()
    assert [n["id"] for n in mine["items"]] == ["n-stroke-en"]  # nothing was created
    assert client.get(body["link"], headers=bearer(keys.submitter)).status_code == 200


def test_allow_duplicate_submits_it_anyway(client: TestClient, keys: Keys) -> None:
    r = client.post(f"{API}/needs", headers=bearer(keys.submitter), json={**RESUBMITTED, "allow_duplicate": True})
    assert r.status_code == 201 and "allow_duplicate" not in r.json()
    assert r.json()["id"] != "n-stroke-en"


def test_different_need_or_other_institution_is_not_a_duplicate(client: TestClient, keys: Keys) -> None:
    assert client.post(f"{API}/needs", headers=bearer(keys.submitter), json=DIFFERENT).status_code == 201
    # the same words from another institution are its own need
    r = client.post(f"{API}/needs", headers=bearer(keys.other_submitter), json={**RESUBMITTED, "country": "SN"})
    assert r.status_code == 201
    r = client.post(f"{API}/needs", headers=bearer(keys.admin), json={**RESUBMITTED, "institution": DAKAR})
    assert r.status_code == 409 and r.json()["duplicate_of"] == r.json()["link"].rsplit("/", 1)[1]


def test_withdrawn_need_is_no_longer_a_duplicate(client: TestClient, keys: Keys) -> None:
    assert client.delete(f"{API}/needs/n-stroke-en", headers=bearer(keys.submitter)).status_code == 200
    assert client.post(f"{API}/needs", headers=bearer(keys.submitter), json=RESUBMITTED).status_code == 201


def test_find_duplicate_needs_high_cosine_and_a_shared_main_area(runtime: Runtime) -> None:
    engine: MatchEngine = runtime.engine
    found = engine.find_duplicate(RESUBMITTED["description"], ["n-stroke-en", "n-kidney-en"], "en")
    assert found is not None and found[0] == "n-stroke-en" and found[1] >= 0.8
    assert engine.find_duplicate(DIFFERENT["description"], ["n-stroke-en", "n-maternal-pt"], "en") is None
    assert engine.find_duplicate(RESUBMITTED["description"], [], "en") is None
    assert engine.find_duplicate(RESUBMITTED["description"], ["n-stroke-en"], "en", threshold=0.999) is None
