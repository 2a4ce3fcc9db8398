"""The web pages through a TestClient: sessions, CSRF, roles as the API has them, forms, translations, journeys."""
from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from web_helpers import DAKAR, KORLE_BU, WebKeys, csrf_of, post_form, sign_in

from service.keys import create_key
from service.runtime import Runtime
from service.settings import Settings
from service.web.session import SECRET_FILE, session_secret
from service.web.views import counterpart_item, highlight

API = "/api/v1"
FRENCH_STROKE = ("Nos patients arrivent après un AVC, paralysés d'un côté. Nous voulons créer une unité "
                 "neurovasculaire et former nos infirmiers à la rééducation précoce.")
Visitor = Callable[..., TestClient]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ---- signing in and out ----------------------------------------------------------------------------
def test_signed_out_visitor_is_sent_to_sign_in_and_back(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor()
    r = client.get("/needs/n-stroke-en", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/signin?next=%2Fneeds%2Fn-stroke-en"
    assert client.get("/", follow_redirects=False).headers["location"] == "/signin"
    page = client.get(r.headers["location"])
    assert "Please sign in to continue." in page.text
    done = client.post("/signin", data={"key": keys.submitter, "csrf_token": csrf_of(page.text),
                                        "next": "/needs/n-stroke-en"}, follow_redirects=False)
    assert done.headers["location"] == "/needs/n-stroke-en"


def test_session_cookie_is_signed_httponly_and_lax(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor()
    token = csrf_of(client.get("/signin").text)
    r = client.post("/signin", data={"key": keys.staff, "csrf_token": token}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("pm_session=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert keys.staff not in cookie  # the session holds the key's id, never the key
    assert client.get("/review").status_code == 200
    value = client.cookies["pm_session"]
    client.cookies.clear()
    client.cookies.set("pm_session", value[:-3] + ("aaa" if not value.endswith("aaa") else "bbb"))
    assert client.get("/review", follow_redirects=False).status_code == 303  # tampered: signed out


def test_each_role_lands_on_its_own_first_page(visitor: Visitor, keys: WebKeys) -> None:
    landing = {keys.submitter: "/needs", keys.partner: "/counterparts", keys.staff: "/review",
               keys.admin: "/admin/keys"}
    for key, path in landing.items():
        assert visitor(key).get("/", follow_redirects=False).headers["location"] == path


def test_wrong_or_empty_key_is_refused_with_a_message(visitor: Visitor) -> None:
    client = visitor()
    token = csrf_of(client.get("/signin").text)
    r = client.post("/signin", data={"key": "pm_not-a-key", "csrf_token": token})
    assert r.status_code == 401
    assert 'id="key-error"' in r.text and "not valid or has been revoked" in r.text
    r = client.post("/signin", data={"key": "  ", "csrf_token": token})
    assert r.status_code == 422 and "This field is required." in r.text
    assert client.get("/needs", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor(keys.submitter)
    r = post_form(client, "/signout", {}, page="/needs")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    assert "You are signed out." in client.get("/signin").text
    assert client.get("/needs", follow_redirects=False).status_code == 303


def test_revoked_key_signs_its_sessions_out(visitor: Visitor, runtime: Runtime) -> None:
    from service.keys import revoke_key

    secret, row = create_key(runtime.store, "staff")
    client = visitor(secret)
    assert client.get("/review").status_code == 200
    revoke_key(runtime.store, row.id)
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_site(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        token = csrf_of(client.get("/signin").text)
        r = client.post("/signin", data={"key": keys.staff, "csrf_token": token, "next": target},
                        follow_redirects=False)
        assert r.headers["location"] == "/review"
        post_form(client, "/signout", {}, page="/review")


# ---- CSRF ------------------------------------------------------------------------------------------
def test_posts_without_the_sessions_csrf_token_are_refused(visitor: Visitor, keys: WebKeys,
                                                           runtime: Runtime) -> None:
    client = visitor(keys.submitter)
    before = runtime.store.needs_page(institution=KORLE_BU)[1]
    form = {"description": FRENCH_STROKE, "country": "GH"}
    for token in (None, "", "forged-token-0123456789abcdef"):
        data = form if token is None else {**form, "csrf_token": token}
        r = client.post("/needs/new", data=data, follow_redirects=False)
        assert r.status_code == 403 and "Form expired" in r.text
    other = visitor(keys.other_submitter)  # a real token, but of another session
    r = client.post("/needs/new", data={**form, "csrf_token": csrf_of(other.get("/needs/new").text)})
    assert r.status_code == 403
    assert runtime.store.needs_page(institution=KORLE_BU)[1] == before
    assert client.post("/signout", data={}, follow_redirects=False).status_code == 403  # still signed in
    assert client.get("/needs").status_code == 200
    anonymous = visitor()
    r = anonymous.post("/signin", data={"key": keys.staff}, follow_redirects=False)
    assert r.status_code == 403  # no login CSRF either


def test_decisions_and_key_forms_need_the_token_too(visitor: Visitor, keys: WebKeys, runtime: Runtime) -> None:
    staff = visitor(keys.staff)
    r = staff.post("/needs/n-stroke-en/decisions", data={"profile_id": "p-stroke", "decision": "accept",
                                                         "reason": "fits"})
    assert r.status_code == 403 and runtime.store.decisions("n-stroke-en") == []
    admin = visitor(keys.admin)
    assert admin.post("/admin/keys", data={"role": "staff"}).status_code == 403


# ---- roles: exactly as the API -----------------------------------------------------------------------
ROLE_CASES = [  # (page, API request with the same role rule)
    ("/needs/new", ("POST", f"{API}/needs", {"country": "GH", "description": "x"})),
    ("/review", ("GET", f"{API}/gaps", None)),
    ("/gaps", ("GET", f"{API}/gaps", None)),
    ("/gaps.csv", ("GET", f"{API}/gaps", None)),
    ("/admin/keys", ("GET", f"{API}/keys", None)),
    ("/profiles/p-stroke/edit", ("PUT", f"{API}/profiles/p-stroke", {"name": "Wessex Stroke Network",
                                                                    "kind": "nhs_trust", "description": "Stroke."})),
    ("/profiles/p-stroke/counterparts", ("GET", f"{API}/profiles/p-stroke/matches", None)),
]


@pytest.mark.parametrize(("path", "api"), ROLE_CASES, ids=[c[0] for c in ROLE_CASES])
def test_pages_refuse_exactly_the_roles_the_api_refuses(path: str, api: tuple[str, str, object], visitor: Visitor,
                                                        keys: WebKeys, app: FastAPI) -> None:
    method, api_path, body = api
    raw = TestClient(app)
    for role in ("submitter", "partner", "other_partner", "staff", "admin"):
        key = getattr(keys, role)
        api_status = raw.request(method, api_path, headers=bearer(key), json=body).status_code
        page_status = visitor(key).get(path).status_code
        assert (page_status == 403) == (api_status == 403), (role, page_status, api_status)
        assert page_status in (200, 403), (role, page_status)


def test_another_institutions_need_is_the_same_404_as_a_missing_one(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor(keys.submitter)
    theirs, missing = client.get("/needs/n-stroke-fr"), client.get("/needs/n-nope")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text.replace("n-stroke-fr", "ID") == missing.text.replace("n-nope", "ID")  # only the links differ
    assert "Not found" in theirs.text and DAKAR not in theirs.text
    assert client.get("/needs/n-stroke-fr/edit").status_code == 404
    assert post_form(client, "/needs/n-stroke-fr/withdraw", {}, page="/needs").status_code == 404
    assert visitor(keys.other_submitter).get("/needs/n-stroke-fr").status_code == 200


def test_partners_see_open_needs_but_not_their_candidates_or_decisions(visitor: Visitor, keys: WebKeys) -> None:
    r = visitor(keys.partner).get("/needs/n-stroke-fr")
    assert r.status_code == 200
    assert "How your profile matches this need" in r.text
    assert "UK institutions that could help" not in r.text and "Decision history" not in r.text
    assert visitor(keys.partner).get("/profiles/p-maternity/edit").status_code == 403


# ---- the needs form ----------------------------------------------------------------------------------
def test_needs_form_names_each_bad_field(visitor: Visitor, keys: WebKeys, runtime: Runtime) -> None:
    client = visitor(keys.submitter)
    r = post_form(client, "/needs/new", {"description": "   ", "country": "XX", "language": "de",
                                         "modalities": ["online_mentorship", "telepathy"]})
    assert r.status_code == 422
    html = r.text
    assert re.search(r'id="description-error">This field is required\.', html)
    assert re.search(r'id="country-error">Choose a country from the list\.', html)
    assert re.search(r'id="language-error">Choose one of the options offered\.', html)
    assert 'id="modalities-error"' in html
    assert 'aria-invalid="true"' in html and 'href="#description"' in html  # summary links to the field
    assert runtime.store.needs_page(institution=KORLE_BU)[1] == 1


def test_needs_form_keeps_what_was_typed_and_checks_length(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor(keys.submitter)
    r = post_form(client, "/needs/new", {"description": "é" * 4001, "country": "GH"})
    assert r.status_code == 422
    assert "At most 4000 characters (this text has 4001)." in r.text
    assert 'value="GH" selected' in r.text


def test_validation_messages_follow_the_interface_language(visitor: Visitor, keys: WebKeys) -> None:
    r = post_form(visitor(keys.submitter, lang="fr"), "/needs/new", {"description": "", "country": ""})
    assert "Ce champ est obligatoire." in r.text and "Certains champs doivent être corrigés" in r.text
    r = post_form(visitor(keys.submitter, lang="pt"), "/needs/new", {"description": "", "country": ""})
    assert "Este campo é obrigatório." in r.text


def test_submitted_french_need_shows_candidates_with_evidence_in_both_texts(visitor: Visitor, keys: WebKeys,
                                                                            runtime: Runtime) -> None:
    client = visitor(keys.other_submitter, lang="fr")
    r = post_form(client, "/needs/new", {"description": FRENCH_STROKE, "country": "SN",
                                         "modalities": ["protocol_development"]})
    assert r.status_code == 303
    need_id = r.headers["location"].rsplit("/", 1)[1]
    row = runtime.store.get_need_row(need_id)
    assert row is not None and (row.institution, row.language) == (DAKAR, "fr")  # language detected
    html = client.get(r.headers["location"]).text
    assert "Votre besoin a été envoyé" in html
    assert "Institutions britanniques qui pourraient aider" in html
    first = html.index('id="cand-')
    card = html[first:html.index("</article>", first)]
    assert "Réseau AVC Manche" in html
    need_text, profile_text = (part.split("</div>", 1)[0] for part in card.split('<div class="text" lang=')[1:3])
    assert need_text.startswith('"fr">') and re.search(r'<mark class="tone-\d" title="[^"]+">AVC</mark>', need_text)
    assert profile_text.startswith('"en">') and "<mark" in profile_text  # the UK side's evidence too
    assert 'class="chip tone-0' in card and "<svg class=\"scorebar\"" in card
    assert "Travaille en français" in card  # practical fit, translated


def test_need_is_shown_as_written_whatever_the_interface_language(visitor: Visitor, keys: WebKeys,
                                                                  fixture_needs: list) -> None:
    text = next(n.description for n in fixture_needs if n.id == "n-stroke-fr")
    html = visitor(keys.other_submitter, lang="en").get("/needs/n-stroke-fr").text
    escaped = text.replace("'", "&#39;")
    assert f'<blockquote class="text" lang="fr">{escaped}</blockquote>' in html
    assert "The need, as written" in html


def test_submitter_edits_and_withdraws_its_need(visitor: Visitor, keys: WebKeys, runtime: Runtime) -> None:
    client = visitor(keys.submitter)
    r = post_form(client, "/needs/n-stroke-en/edit", {"description": "We need help with dialysis for kidney "
                                                      "failure.", "country": "GH", "language": "en"})
    assert r.status_code == 303
    assert "kidney_care" in runtime.detected_areas("need", "n-stroke-en")
    r = post_form(client, "/needs/n-stroke-en/withdraw", {}, page="/needs/n-stroke-en")
    assert r.status_code == 303
    row = runtime.store.get_need_row("n-stroke-en")
    assert row is not None and (row.status, row.description) == ("withdrawn", "")
    html = client.get("/needs/n-stroke-en").text
    assert "The text of a withdrawn need is erased." in html
    assert client.get("/needs/n-stroke-en/edit").status_code == 409


# ---- staff -------------------------------------------------------------------------------------------
def test_staff_accept_with_reason_and_the_submitter_sees_it(visitor: Visitor, keys: WebKeys,
                                                            runtime: Runtime) -> None:
    staff = visitor(keys.staff)
    r = post_form(staff, "/needs/n-stroke-en/decisions",
                  {"profile_id": "p-stroke", "decision": "accept", "reason": "Stroke unit team, Ghana experience"},
                  page="/needs/n-stroke-en")
    assert r.status_code == 303 and r.headers["location"] == "/needs/n-stroke-en#cand-p-stroke"
    (decision,) = runtime.store.decisions("n-stroke-en")
    assert (decision.decision, decision.reason) == ("accept", "Stroke unit team, Ghana experience")
    assert decision.decided_by.startswith("staff key ")  # as the API records it
    html = visitor(keys.submitter).get("/needs/n-stroke-en").text
    card = html[html.index('id="cand-p-stroke"'):]
    assert "Accepted by programme staff" in card[:card.index("</article>")]
    assert "Stroke unit team, Ghana experience" in html and "Decision history" in html
    fr = visitor(keys.submitter, lang="fr").get("/needs/n-stroke-en").text
    assert "Accepté par l&#39;équipe du programme" in fr


def test_decision_needs_a_reason_and_remaining_capacity(visitor: Visitor, keys: WebKeys, runtime: Runtime) -> None:
    staff = visitor(keys.staff)
    r = post_form(staff, "/needs/n-stroke-fr/decisions", {"profile_id": "p-stroke-fr", "decision": "accept",
                                                          "reason": " "}, page="/needs/n-stroke-fr")
    assert r.status_code == 422 and 'id="reason-p-stroke-fr-error"' in r.text
    ok = post_form(staff, "/needs/n-stroke-fr/decisions", {"profile_id": "p-stroke-fr", "decision": "accept",
                                                           "reason": "French-speaking team"}, page="/needs/n-stroke-fr")
    assert ok.status_code == 303
    full = post_form(staff, "/needs/n-stroke-en/decisions", {"profile_id": "p-stroke-fr", "decision": "accept",
                                                             "reason": "also"}, page="/needs/n-stroke-en")
    assert full.status_code == 422 and "no capacity left" in full.text
    assert len(runtime.store.decisions("n-stroke-en")) == 0


def test_review_queue_lists_suggestions_and_filters_them(visitor: Visitor, keys: WebKeys) -> None:
    staff = visitor(keys.staff)
    post_form(staff, "/needs/n-stroke-en/decisions", {"profile_id": "p-stroke", "decision": "reject",
                                                      "reason": "no capacity this year"}, page="/review")
    html = staff.get("/review").text
    assert html.count('class="pair pair-') == 15  # 5 open needs x top 3
    rejected = staff.get("/review?status=rejected").text
    assert rejected.count('class="pair pair-') == 1 and "no capacity this year" in rejected
    senegal = staff.get("/review?country=SN").text
    assert "n-stroke-fr" in senegal and "n-stroke-en" not in senegal
    stroke = staff.get("/review?area=stroke").text
    assert "n-stroke-fr" in stroke and "n-kidney-en" not in stroke
    assert staff.get("/review?status=bogus&country=%3Cx&area=nope").status_code == 200


def test_gaps_dashboard_draws_svg_bars_and_exports_csv(visitor: Visitor, keys: WebKeys) -> None:
    staff = visitor(keys.staff, lang="fr")
    html = staff.get("/gaps").text
    assert html.count('<svg class="gapbar"') >= 10
    assert "Par domaine clinique" in html and "Accident vasculaire cérébral" in html
    csv = staff.get("/gaps.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "dimension,id,name,open_needs,available_profiles,remaining_capacity,shortfall"
    assert any(line.startswith("area,stroke,Accident vasculaire cérébral,") for line in lines)
    assert any(line.startswith("country,SN,Sénégal,") for line in lines)


# ---- UK partners ---------------------------------------------------------------------------------------
def test_profile_form_names_bad_fields_then_saves(visitor: Visitor, keys: WebKeys, runtime: Runtime) -> None:
    client = visitor(keys.partner)
    form = {"name": "Wessex Stroke Network", "kind": "nhs_trust", "region": "South East",
            "description": "Stroke physicians and therapists; we train teams in dysphagia screening.",
            "languages": ["en", "fr"], "capacity": "many", "countries": "GH, ZZ", "modalities": ["training_courses"]}
    r = post_form(client, "/profiles/p-stroke/edit", form)
    assert r.status_code == 422
    assert 'id="capacity-error">Enter a whole number from 0 to 1000.' in r.text
    assert 'id="countries-error">Not a country code: ZZ.' in r.text
    r = post_form(client, "/profiles/p-stroke/edit", {**form, "capacity": "3", "countries": "gh sn"})
    assert r.status_code == 303
    profile = runtime.store.get_profile("p-stroke")
    assert profile is not None
    assert (profile.capacity, profile.countries_of_experience, profile.languages) == (3, ["GH", "SN"], ["en", "fr"])
    assert "Stroke" in client.get("/profile").text  # detected areas shown under the description


def test_preview_endpoint_needs_a_session_and_the_csrf_header(visitor: Visitor, keys: WebKeys, app: FastAPI) -> None:
    text = {"text": "Nos mères saignent après l'accouchement et les bébés nés trop tôt meurent"}
    assert TestClient(app).post("/web/preview-areas", json=text).status_code == 401
    client = visitor(keys.partner, lang="pt")
    assert client.post("/web/preview-areas", json=text).status_code == 403
    token = csrf_of(client.get("/profile").text)
    r = client.post("/web/preview-areas", json=text, headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    areas = {a["id"]: a for a in r.json()["areas"]}
    assert {"maternal_health", "neonatal_care"} <= set(areas)
    assert areas["maternal_health"]["label"] == "Saúde materna"
    assert client.post("/web/preview-areas", json={"text": 5}, headers={"X-CSRF-Token": token}).status_code == 422


def test_counterparts_are_explained_and_filtered(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor(keys.partner)
    r = client.get("/counterparts")
    assert r.status_code == 200 and str(r.url).endswith("/profiles/p-stroke/counterparts")
    assert r.text.count('class="card cand') == 5 and "<mark" in r.text
    french = client.get("/counterparts?language=fr").text
    assert 'id="cand-n-stroke-fr"' in french and 'id="cand-n-stroke-en"' not in french
    ghana = client.get("/counterparts?country=GH").text
    assert 'id="cand-n-stroke-en"' in ghana and ghana.count('class="card cand') == 1
    stroke = client.get("/counterparts?area=stroke").text
    assert 'id="cand-n-kidney-en"' not in stroke and 'id="cand-n-stroke-fr"' in stroke


def test_counterpart_item_is_the_engines_own_ranked_item(runtime: Runtime) -> None:
    with runtime.reading() as engine:
        for item in engine.match_profile("p-stroke", 5):
            mine = counterpart_item(engine, "p-stroke", item["need_id"])
            assert mine is not None
            assert (mine["score"], mine["breakdown"], mine["shared_areas"], mine["fit"]) == \
                (item["score"], item["breakdown"], item["shared_areas"], item["fit"])


def test_highlight_escapes_text_and_skips_overlapping_spans() -> None:
    html = str(highlight("<b>AVC</b> & AVC aigu", [(3, 6, 0, "Stroke"), (4, 8, 1, "x"), (13, 21, 2, "a\"b"),
                                                   (30, 40, 0, "out of range")]))
    assert html == ('&lt;b&gt;<mark class="tone-0" title="Stroke">AVC</mark>&lt;/b&gt; &amp; '
                    '<mark class="tone-2" title="a&#34;b">AVC aigu</mark>')


# ---- admin -----------------------------------------------------------------------------------------------
def test_admin_creates_a_key_shown_once_and_revokes_it(visitor: Visitor, keys: WebKeys, app: FastAPI) -> None:
    admin = visitor(keys.admin)
    r = post_form(admin, "/admin/keys", {"role": "submitter", "institution": "Tamale Teaching Hospital"})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'<code id="new-key" class="secret">(pm_[^<]+)</code>', r.text).group(1)  # type: ignore[union-attr]
    api = TestClient(app)
    assert api.get(f"{API}/needs", headers=bearer(secret)).status_code == 200
    listing = admin.get("/admin/keys").text
    assert secret not in listing and "Tamale Teaching Hospital" in listing
    key_id = re.findall(r"/admin/keys/([A-Za-z0-9_-]+)/revoke", listing)[-1]
    assert post_form(admin, f"/admin/keys/{key_id}/revoke", {}, page="/admin/keys").status_code == 303
    assert api.get(f"{API}/needs", headers=bearer(secret)).status_code == 401
    bad = post_form(admin, "/admin/keys", {"role": "partner"}, page="/admin/keys")
    assert bad.status_code == 422 and 'id="profile_id-error"' in bad.text


# ---- languages, frame, errors, speed ------------------------------------------------------------------------
def test_interface_language_from_query_cookie_or_accept_language(visitor: Visitor) -> None:
    client = visitor()
    assert "Iniciar sessão" in client.get("/signin", headers={"Accept-Language": "pt-MZ,pt;q=0.9,en;q=0.5"}).text
    assert ">Sign in<" in client.get("/signin", headers={"Accept-Language": "de-DE"}).text
    r = client.get("/signin?lang=fr")
    assert '<html lang="fr">' in r.text and "pm_lang=fr" in r.headers["set-cookie"]
    assert "Connexion" in client.get("/signin", headers={"Accept-Language": "pt"}).text  # the choice sticks
    assert '<html lang="fr">' in client.get("/signin?lang=xx").text


def test_every_catalogue_string_exists_in_three_languages() -> None:
    from service.web.catalogue import CATALOGUE

    for key, texts in CATALOGUE.items():
        assert len(texts) == 3 and all(t.strip() for t in texts), key
        placeholders = [sorted(re.findall(r"\{(\w+)\}", t)) for t in texts]
        assert placeholders[0] == placeholders[1] == placeholders[2], key


def test_pages_send_security_headers_and_only_local_assets(visitor: Visitor, keys: WebKeys) -> None:
    client = visitor(keys.staff)
    r = client.get("/review")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert not re.search(r'(src|href)="(https?:)?//', r.text)  # no CDN, no external link
    css = client.get(re.search(r'href="(/static/app\.css\?v=\w+)"', r.text).group(1))  # type: ignore[union-attr]
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]


def test_unknown_pages_get_an_html_404_and_the_api_keeps_json(visitor: Visitor, app: FastAPI) -> None:
    r = visitor().get("/no-such-page")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    api = TestClient(app).get(f"{API}/nothing-here")
    assert api.status_code == 404 and api.json()["detail"]


def test_the_menu_lists_a_page_once_its_route_is_mounted(runtime: Runtime, keys: WebKeys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from service.app import create_app
    from service.web import render

    monkeypatch.setitem(render.NAV, "staff", [*render.NAV["staff"], ("web.extra", "nav.keys"),
                                              ("web.not_mounted", "nav.profile")])
    app = create_app(runtime=runtime)
    assert 'href="/extra"' not in sign_in(TestClient(app), keys.staff).get("/review").text
    router = APIRouter()

    @router.get("/extra", name="web.extra")
    def extra_page() -> dict[str, str]:
        return {}

    app.include_router(router)
    html = sign_in(TestClient(app), keys.staff).get("/review").text
    assert '<a href="/extra">API keys</a>' in html  # mounted: listed (this is how /round joined the menu)
    assert "Our profile" not in html  # never mounted: left out
    assert '<a href="/review" aria-current="page">Review queue</a>' in html


def test_session_secret_is_made_once_and_private(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", encoder="hashing")
    first = session_secret(settings)
    assert session_secret(settings) == first and len(first) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / "h" / SECRET_FILE).st_mode) == 0o600
    assert session_secret(Settings(home=tmp_path / "h", encoder="hashing", secret_key="from-settings")) == \
        "from-settings"


def test_main_pages_render_in_under_a_second_on_the_demo_data(tmp_path: Path, detector: object) -> None:
    from matcher.schema import Need, Profile, read_jsonl
    from service.app import create_app

    root = Path(__file__).resolve().parents[2] / "data" / "demo"
    rt = Runtime(Settings(home=tmp_path / "demo", encoder="hashing"), detector=detector)  # type: ignore[arg-type]
    try:
        rt.ingest(read_jsonl(root / "profiles.jsonl", Profile), read_jsonl(root / "needs.jsonl", Need))
        store = rt.store
        app = create_app(runtime=rt)
        pages = {create_key(store, "submitter", "Volta East Regional Hospital")[0]: ["/needs", "/needs/need-001",
                                                                                    "/needs/new"],
                 create_key(store, "partner", profile_id="uk-001")[0]: ["/counterparts", "/profile"],
                 create_key(store, "staff")[0]: ["/review", "/gaps", "/needs/need-030", "/gaps.csv"],
                 create_key(store, "admin")[0]: ["/admin/keys"]}
        for key, paths in pages.items():
            client = sign_in(TestClient(app), key)
            for path in paths:
                client.get(path)  # warm
                started = time.perf_counter()
                r = client.get(path)
                took = time.perf_counter() - started
                assert r.status_code == 200, path
                assert took < 1.0, f"{path} took {took:.2f} s"
    finally:
        rt.close()
        rt.store.engine.dispose()
