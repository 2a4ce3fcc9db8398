"""Screenshots of the main pages at desktop (1280×900) and phone (375×800) widths → docs/screenshots/*.png.

Run with `make screenshots` (or `.venv/bin/python tests/web/screenshots.py`). It loads the
demo data into a temporary home, starts `partnermatch serve`, walks the journeys of each
role in headless Chromium (an LMIC hospital in Senegal writes a French need; staff accept
a partner; the UK partner looks at its profile and counterparts; an admin manages keys),
and saves one PNG per page and width. The encoder is PARTNERMATCH_ENCODER (default
minilm, as `make demo`).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_server import ROOT, LiveServer, create_key, create_keys, live_server
from web_helpers import CHROMIUM, QUIET_CHROMIUM

OUT = ROOT / "docs" / "screenshots"
# The first explanation of a pair with the real model encodes its sentences (cached afterwards).
TIMEOUT_MS = 180_000
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 800}}
MAX_HEIGHT = {"desktop": 2400, "phone": 3600}
INSTITUTION = "Hôpital régional de Kolda-Est"  # owns the demo's French stroke need (need-030), Senegal
FRENCH_NEED = (
    "Chaque semaine, notre hôpital régional reçoit des patients victimes d'un AVC : paralysie d'un côté du "
    "corps, difficulté à parler. Nous n'avons pas d'unité neurovasculaire et un seul médecin généraliste de "
    "garde. Nos infirmiers ne savent pas dépister les troubles de la déglutition et la rééducation commence "
    "trop tard. Nous souhaitons former l'équipe à la prise en charge de l'AVC aigu, rédiger des protocoles "
    "simples et organiser une rééducation précoce avec nos kinésithérapeutes."
)
REASON = "Stroke unit team that already works in French in Senegal; capacity confirmed by phone."


def sign_in(context, base: str, key: str, lang: str | None = None):  # type: ignore[no-untyped-def]
    """A page signed in with `key` (and the interface language set)."""
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{base}/signin" + (f"?lang={lang}" if lang else ""))
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page


def shot(page, name: str, kind: str) -> Path:  # type: ignore[no-untyped-def]
    """Save the page (full length, capped) as docs/screenshots/<name>-<kind>.png."""
    path = OUT / f"{name}-{kind}.png"
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT[kind])
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": WIDTHS[kind]["width"],
                                                         "height": height})
    print(f"  {path.relative_to(ROOT)}", file=sys.stderr)
    return path


def journeys(server: LiveServer, browser) -> dict[str, tuple[str, str | None, str]]:  # type: ignore[no-untyped-def]
    """Walk the roles' journeys once (desktop); return page name -> (role, language, path) to photograph."""
    base, keys = server.url, server.keys
    ctx = browser.new_context(viewport=WIDTHS["desktop"])
    lmic = sign_in(ctx, base, keys["submitter"], lang="fr")
    lmic.goto(f"{base}/needs/new")
    lmic.fill("#description", FRENCH_NEED)
    lmic.check("input[value=training_courses]")
    lmic.check("input[value=protocol_development]")
    lmic.wait_for_selector("#areas-preview .chip")
    shot(lmic, "need-form", "desktop")
    lmic.click("form.form button[type=submit]")
    lmic.wait_for_selector("article.cand")
    need_path = lmic.url.removeprefix(base).split("#")[0]
    top_profile = lmic.get_attribute("article.cand", "id").removeprefix("cand-")  # type: ignore[union-attr]
    ctx.close()

    ctx = browser.new_context(viewport=WIDTHS["desktop"])
    staff = sign_in(ctx, base, keys["staff"])
    staff.goto(f"{base}{need_path}")
    staff.fill(f"#reason-{top_profile}", REASON)
    staff.click(f"#cand-{top_profile} button[value=accept]")
    staff.wait_for_selector(".flash")
    staff.goto(f"{base}/round")  # a matching round across all open needs, for the round page's picture
    staff.click("form[action='/round'] button[type=submit]")
    staff.wait_for_selector(".flash")
    ctx.close()
    keys["partner"] = create_key(server.env, "partner", profile=top_profile)
    return {
        "signin": ("", None, "/signin"),
        "needs": ("submitter", "fr", "/needs"),
        "need-form": ("submitter", "fr", "/needs/new"),
        "need": ("submitter", "fr", need_path),
        "review": ("staff", "en", "/review"),
        "gaps": ("staff", "en", "/gaps"),
        "round": ("staff", "en", "/round"),
        "profile": ("partner", "en", "/profile"),
        "counterparts": ("partner", "en", "/counterparts"),
        "keys": ("admin", "en", "/admin/keys"),
    }


def photograph(server: LiveServer, browser, pages: dict[str, tuple[str, str | None, str]]) -> None:  # type: ignore[no-untyped-def]
    """Every page at both widths."""
    for kind, viewport in WIDTHS.items():
        contexts = {}
        for name, (role, lang, path) in pages.items():
            if kind == "desktop" and name == "need-form":
                continue  # taken filled in, during the journey
            if role not in contexts:
                ctx = browser.new_context(viewport=viewport, is_mobile=kind == "phone", has_touch=kind == "phone")
                ctx.set_default_timeout(TIMEOUT_MS)
                contexts[role] = (ctx, sign_in(ctx, server.url, server.keys[role], lang) if role else ctx.new_page())
            page = contexts[role][1]
            page.goto(f"{server.url}{path}")
            if name == "need-form":
                page.fill("#description", FRENCH_NEED)
                page.wait_for_selector("#areas-preview .chip")
            page.wait_for_load_state("networkidle")
            shot(page, name, kind)
        for ctx, _ in contexts.values():
            ctx.close()


def main() -> int:
    """Start the demo server, walk the journeys, write the PNGs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=os.environ.get("PARTNERMATCH_ENCODER", "minilm"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pm-shots-") as tmp, \
            live_server(Path(tmp) / "home", profiles=ROOT / "data/demo/profiles.jsonl",
                        needs=ROOT / "data/demo/needs.jsonl", encoder=args.encoder) as server:
        server.keys.update(create_keys(server.env, {"submitter": {"role": "submitter", "institution": INSTITUTION},
                                                    "staff": {"role": "staff"}, "admin": {"role": "admin"}}))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
            try:
                photograph(server, browser, journeys(server, browser))
            finally:
                browser.close()
    count = len(list(OUT.glob("*.png")))
    print(f"{count} screenshots in {OUT.relative_to(ROOT)} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
