"""The staff matching-round page: propose a round, see it with alternates and reasons, accept ticked pairs."""
from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from web_helpers import WebKeys, csrf_of, post_form

from service.runtime import Runtime

Visitor = Callable[..., TestClient]


def test_staff_propose_a_round_and_see_it_with_alternates(visitor: Visitor, keys: WebKeys) -> None:
    staff = visitor(keys.staff)
    assert '<a href="/round" aria-current="page">Matching round</a>' in staff.get("/round").text
    assert "No round has been proposed yet." in staff.get("/round").text
    r = post_form(staff, "/round", {"per_need": "1", "min_score": "0.5", "fair": "on"}, page="/round")
    assert r.status_code == 303 and r.headers["location"] == "/round?id=1"
    html = staff.get("/round?id=1").text
    assert "Round 1 proposed." in html and "Round 1" in html
    assert 'value="n-stroke-fr|p-stroke-fr"' in html and "Réseau AVC Manche" in html
    assert "Needs left without enough partners" in html and "n-kidney-en" in html  # below min_score 0.5
    fr = visitor(keys.staff, lang="fr").get("/round?id=1").text
    assert "Tour d&#39;appariement" in fr and "Accepter les paires cochées" in fr


def test_ticked_pairs_are_accepted_with_the_round_as_reason(visitor: Visitor, keys: WebKeys,
                                                           runtime: Runtime) -> None:
    staff = visitor(keys.staff)
    post_form(staff, "/round", {"per_need": "1", "min_score": "0"}, page="/round")
    r = post_form(staff, "/round/1/accept", {"pair": ["n-stroke-fr|p-stroke-fr", "n-maternal-pt|p-maternity"]},
                  page="/round?id=1")
    assert r.status_code == 303
    html = staff.get("/round?id=1").text
    assert "2 pairs accepted in round 1." in html and "Partly accepted" in html
    (decision,) = runtime.store.decisions("n-stroke-fr")
    assert (decision.decision, decision.reason) == ("accept", "accepted in round 1")
    assert decision.decided_by.startswith("staff key ")
    assert runtime.engine.capacity_used["p-stroke-fr"] == 1
    none = post_form(staff, "/round/1/accept", {}, page="/round?id=1")
    assert none.status_code == 422 and "Tick at least one pair" in none.text
    bad = post_form(staff, "/round/1/accept", {"pair": "n-stroke-en|p-kidney"}, page="/round?id=1")
    assert bad.status_code == 422 and "Nothing was accepted" in bad.text


def test_round_form_names_bad_fields_and_other_roles_are_refused(visitor: Visitor, keys: WebKeys) -> None:
    staff = visitor(keys.staff)
    r = post_form(staff, "/round", {"per_need": "9", "min_score": "high"}, page="/round")
    assert r.status_code == 422
    assert 'id="per_need-error"' in r.text and 'id="min_score-error"' in r.text
    for key in (keys.submitter, keys.partner):
        assert visitor(key).get("/round").status_code == 403
    assert staff.get("/round?id=42").status_code == 404
    token = csrf_of(staff.get("/round").text)
    assert staff.post("/round", data={"per_need": "1", "min_score": "0", "csrf_token": token + "x"},
                      follow_redirects=False).status_code == 403


def test_blocked_pair_shows_in_the_review_queue_as_not_retained(visitor: Visitor, keys: WebKeys,
                                                              app: object) -> None:
    api = TestClient(app)  # type: ignore[arg-type]
    r = api.post("/api/v1/needs/n-stroke-en/decisions", headers={"Authorization": f"Bearer {keys.staff}"},
                 json={"profile_id": "p-stroke", "decision": "block", "reason": "conflict of interest"})
    assert r.status_code == 201
    staff = visitor(keys.staff)
    review = staff.get("/review?status=rejected")
    assert review.status_code == 200 and "conflict of interest" in review.text
    need = staff.get("/needs/n-stroke-en").text
    assert "Blocked by programme staff" in need
    assert re.search(r"Round|round", staff.get("/round").text)
