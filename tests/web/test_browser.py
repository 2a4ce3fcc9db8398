"""The real journeys in headless Chromium against a real `partnermatch serve` on 127.0.0.1.

One server for the module: its own home, the hashing encoder, the fixture corpus ingested
with `partnermatch ingest`, keys made with `partnermatch keys create --json`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright")
from live_server import LiveServer, create_keys, live_server
from playwright.sync_api import Browser, Page, expect
from web_helpers import CHROMIUM, DAKAR, KORLE_BU

pytestmark = [
    pytest.mark.browser,
    # pytest-playwright's session fixtures trip a pytest 9 deprecation warning that is not ours to fix.
    pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (apt-get install -y chromium)"),
]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FRENCH_NEED = ("Nous recevons chaque semaine des patients victimes d'un AVC, paralysés d'un côté. Nous voulons "
               "créer une unité neurovasculaire, former nos infirmiers au dépistage des troubles de la déglutition "
               "et commencer la rééducation plus tôt.")
REASON = "Équipe francophone, expérience au Sénégal"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`partnermatch serve` over the fixture corpus, with a key per role."""
    home = tmp_path_factory.mktemp("browser") / "home"
    with live_server(home, profiles=FIXTURES / "profiles.jsonl", needs=FIXTURES / "needs.jsonl") as srv:
        srv.keys.update(create_keys(srv.env, {
            "submitter": {"role": "submitter", "institution": DAKAR},
            "other_submitter": {"role": "submitter", "institution": KORLE_BU},
            "staff": {"role": "staff"}, "partner": {"role": "partner", "profile": "p-stroke-fr"}}))
        yield srv


def signed_in(browser: Browser, server: LiveServer, role: str, lang: str | None = None,
              width: int = 1280) -> Page:
    """A fresh browser context (its own cookies) signed in through the form."""
    context = browser.new_context(viewport={"width": width, "height": 900}, base_url=server.url)
    page = context.new_page()
    page.goto("/signin" + (f"?lang={lang}" if lang else ""))
    page.get_by_label(re.compile("API key|Clé d'API|Chave de API")).fill(server.keys[role])
    page.keyboard.press("Enter")  # the form submits from the keyboard
    page.wait_for_url(re.compile(r"/(needs|review|counterparts|profiles/.*|admin/keys)"))
    return page


def test_signed_out_visitor_is_sent_to_sign_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/review")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Freview$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Please sign in to continue.")


def test_french_need_is_matched_accepted_by_staff_and_found_by_the_uk_partner(browser: Browser,
                                                                             server: LiveServer) -> None:
    # The LMIC hospital writes its need in French, in a French interface.
    lmic = signed_in(browser, server, "submitter", lang="fr")
    lmic.get_by_role("link", name="Nouveau besoin", exact=True).click()
    lmic.get_by_label("De quoi avez-vous besoin ?").fill(FRENCH_NEED)
    expect(lmic.locator("#areas-preview .chip").first).to_be_visible()  # live preview of the areas
    expect(lmic.locator("#areas-preview")).to_contain_text("Accident vasculaire cérébral")
    lmic.get_by_label("Pays").select_option("SN")
    lmic.get_by_label("Élaboration de protocoles").check()
    lmic.get_by_role("button", name="Envoyer et voir les correspondances").click()
    expect(lmic.get_by_role("status")).to_contain_text("Votre besoin a été envoyé")
    need_path = lmic.url.removeprefix(server.url)
    need_id = need_path.rsplit("/", 1)[1]
    first = lmic.locator("article.cand").first
    expect(first).to_contain_text("Réseau AVC Manche")
    expect(first.locator('.text[lang="fr"] mark').first).to_be_visible()  # evidence in the need ...
    expect(first.locator('.text[lang="en"] mark').first).to_be_visible()  # ... and in the profile
    expect(first.locator("svg.scorebar")).to_be_visible()
    expect(first.locator(".chips .chip").first).to_have_text("Accident vasculaire cérébral")
    expect(lmic.locator("blockquote.text")).to_have_text(FRENCH_NEED)  # the need as written

    # Programme staff accept the top candidate with a reason.
    staff = signed_in(browser, server, "staff")
    staff.goto(need_path)
    card = staff.locator("#cand-p-stroke-fr")
    card.get_by_label("Reason (the institution sees it)").fill(REASON)
    card.get_by_role("button", name="Accept").click()
    expect(staff.get_by_role("status")).to_contain_text("Accepted Réseau AVC Manche")
    staff.goto("/review?status=accepted")
    expect(staff.locator(f"#pair-{need_id}-p-stroke-fr")).to_contain_text(REASON)

    # The LMIC hospital sees the decision.
    lmic.reload()
    expect(lmic.locator("#cand-p-stroke-fr .decision")).to_contain_text("Accepté par l'équipe du programme")
    expect(lmic.locator("#cand-p-stroke-fr .decision")).to_contain_text(REASON)

    # The UK partner updates its profile (live preview) and finds the need among its counterparts.
    uk = signed_in(browser, server, "partner")
    uk.get_by_role("link", name="Our profile").click()
    description = uk.get_by_label("What can your institution offer?")
    description.fill(description.input_value() + " We also train midwives in obstetric emergencies.")
    expect(uk.locator("#areas-preview")).to_contain_text("Maternal health")
    uk.get_by_role("button", name="Save profile").click()
    expect(uk.get_by_role("status")).to_have_text("Your profile was saved.")
    uk.get_by_role("link", name="Counterparts").first.click()
    uk.get_by_role("combobox", name="Language").select_option("fr")
    uk.get_by_role("button", name="Apply filters").click()
    found = uk.locator(f"#cand-{need_id}")
    expect(found).to_contain_text("Hôpital Principal de Dakar")
    found.get_by_text("Why this match").click()  # the explanation folds open
    expect(found.locator('.text[lang="fr"] mark').first).to_be_visible()
    found.get_by_role("link", name="Hôpital Principal de Dakar").click()
    expect(uk.get_by_role("heading", name="How your profile matches this need")).to_be_visible()
    for p in (lmic, staff, uk):
        p.context.close()


def test_an_institution_cannot_open_another_institutions_need(browser: Browser, server: LiveServer) -> None:
    page = signed_in(browser, server, "other_submitter")
    response = page.goto("/needs/n-stroke-fr")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Nous recevons")
    page.context.close()


def test_keyboard_users_can_skip_to_content_and_reach_every_link(browser: Browser, server: LiveServer) -> None:
    page = signed_in(browser, server, "staff")
    page.goto("/gaps")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    page.keyboard.press("Tab")  # the first control of the page proper
    focused = page.evaluate("document.activeElement.closest('main') !== null")
    assert focused
    page.context.close()


def test_pages_fit_a_phone_screen(browser: Browser, server: LiveServer) -> None:
    page = signed_in(browser, server, "staff", width=375)
    for path in ("/review", "/gaps", "/needs/n-stroke-fr", "/needs"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 375px"
    page.context.close()
