"""API test fixtures: a runtime over the fixture corpus, keys for every role, a TestClient.

The store/API suite runs on SQLite always, and on PostgreSQL too when
PARTNERMATCH_TEST_POSTGRES_URL is set (`.ci/postgres.sh start` prints one); each test
gets a clean database.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import DAKAR, KORLE_BU, PG_URL, Keys, make_runtime, reset_postgres
from fastapi.testclient import TestClient

from matcher.schema import Need, Profile
from service.app import create_app
from service.keys import create_key
from service.runtime import Runtime
from service.settings import Settings

BACKENDS = ["sqlite", pytest.param("postgres", marks=[
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set PARTNERMATCH_TEST_POSTGRES_URL to run against PostgreSQL"),
])]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite under the test's home) or a freshly emptied PostgreSQL database."""
    if request.param == "sqlite":
        return None
    assert PG_URL is not None
    reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture()
def api_settings(tmp_path: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for one test: its own home, the hashing encoder, small limits (also in the environment)."""
    home = tmp_path / "home"
    monkeypatch.setenv("PARTNERMATCH_HOME", str(home))
    monkeypatch.setenv("PARTNERMATCH_ENCODER", "hashing")
    if database_url:
        monkeypatch.setenv("PARTNERMATCH_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("PARTNERMATCH_DATABASE_URL", raising=False)
    return Settings(home=home, encoder="hashing", database_url=database_url, max_body_bytes=16_000,
                    max_description_chars=4_000, submissions_per_minute=5)


@pytest.fixture()
def runtime(api_settings: Settings, detector: object, fixture_profiles: list[Profile],
            fixture_needs: list[Need]) -> Iterator[Runtime]:
    """A loaded runtime over the fixture corpus."""
    rt = make_runtime(api_settings, detector)
    rt.ingest(fixture_profiles, fixture_needs)
    yield rt
    rt.close()
    rt.store.engine.dispose()


@pytest.fixture()
def keys(runtime: Runtime) -> Keys:
    """Korle Bu submits n-stroke-en, Dakar n-stroke-fr; the partners own p-stroke and p-maternity."""
    store = runtime.store
    return Keys(
        admin=create_key(store, "admin")[0], staff=create_key(store, "staff")[0],
        submitter=create_key(store, "submitter", KORLE_BU)[0],
        other_submitter=create_key(store, "submitter", DAKAR)[0],
        partner=create_key(store, "partner", profile_id="p-stroke")[0],
        other_partner=create_key(store, "partner", profile_id="p-maternity")[0],
    )


@pytest.fixture()
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A TestClient over an app sharing `runtime` (lifespan run)."""
    with TestClient(create_app(runtime=runtime)) as c:
        yield c
