"""Helpers shared by the web tests (imported as `web_helpers`; fixtures live in conftest.py)."""
from __future__ import annotations

import re
import shutil

from fastapi.testclient import TestClient

from tests.service.api_helpers import Keys

WebKeys = Keys  # the same role keys as the API tests

KORLE_BU = "Korle Bu Teaching Hospital"  # owns n-stroke-en (GH, en)
DAKAR = "Hôpital Principal de Dakar"  # owns n-stroke-fr (SN, fr)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium phones home for updates, safe browsing and the like: none of it here (no network).
QUIET_CHROMIUM = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-default-apps", "--disable-sync", "--metrics-recording-only", "--no-first-run",
                  "--disable-domain-reliability"]


def csrf_of(html: str) -> str:
    """The CSRF token embedded in a page's forms."""
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: TestClient, key: str) -> TestClient:
    """Sign `client` in with `key` through the sign-in form."""
    token = csrf_of(client.get("/signin").text)
    r = client.post("/signin", data={"key": key, "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def post_form(client: TestClient, path: str, data: dict[str, object], page: str | None = None) -> object:
    """POST a form the way a browser does: with the CSRF token of the page it came from."""
    token = csrf_of(client.get(page or path).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
