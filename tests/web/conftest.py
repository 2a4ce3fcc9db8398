"""Web page fixtures: an app over the fixture corpus, keys per role, signed-in clients; Chromium for `browser` tests."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_helpers import CHROMIUM, DAKAR, KORLE_BU, QUIET_CHROMIUM, WebKeys, sign_in

from matcher.schema import Need, Profile
from service.app import create_app
from service.keys import create_key
from service.runtime import Runtime
from service.settings import Settings


@pytest.fixture()
def web_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Its own home, the hashing encoder, SQLite."""
    home = tmp_path / "home"
    monkeypatch.setenv("PARTNERMATCH_HOME", str(home))
    monkeypatch.setenv("PARTNERMATCH_ENCODER", "hashing")
    monkeypatch.delenv("PARTNERMATCH_DATABASE_URL", raising=False)
    return Settings(home=home, encoder="hashing", max_description_chars=4_000, submissions_per_minute=5)


@pytest.fixture()
def runtime(web_settings: Settings, detector: object, fixture_profiles: list[Profile],
            fixture_needs: list[Need]) -> Iterator[Runtime]:
    """A loaded runtime over the fixture corpus."""
    rt = Runtime(web_settings, detector=detector, snapshot_delay=0.05)  # type: ignore[arg-type]
    rt.ingest(fixture_profiles, fixture_needs)
    yield rt
    rt.close()
    rt.store.engine.dispose()


@pytest.fixture()
def keys(runtime: Runtime) -> WebKeys:
    """Korle Bu owns n-stroke-en, Dakar n-stroke-fr; the partners are p-stroke and p-maternity."""
    store = runtime.store
    return WebKeys(admin=create_key(store, "admin")[0], staff=create_key(store, "staff")[0],
                   submitter=create_key(store, "submitter", KORLE_BU)[0],
                   other_submitter=create_key(store, "submitter", DAKAR)[0],
                   partner=create_key(store, "partner", profile_id="p-stroke")[0],
                   other_partner=create_key(store, "partner", profile_id="p-maternity")[0])


@pytest.fixture()
def app(runtime: Runtime) -> FastAPI:
    """The whole app (API and pages) over `runtime`."""
    return create_app(runtime=runtime)


@pytest.fixture()
def visitor(app: FastAPI) -> Callable[..., TestClient]:
    """A new browser-like client (its own cookies); signed in when given a key."""

    def make(key: str | None = None, lang: str | None = None) -> TestClient:
        client = TestClient(app, headers={"Accept": "text/html"})
        if lang:
            client.cookies.set("pm_lang", lang)
        return sign_in(client, key) if key else client

    return make


# ---- browser tests (pytest-playwright) -------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, browser_name: str | None) -> dict:
    """Debian's Chromium, as root, headless, without background network traffic (see RECIPES.md)."""
    if browser_name not in (None, "chromium"):
        return browser_type_launch_args
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": [*browser_type_launch_args.get("args", []), *QUIET_CHROMIUM]}
