"""API test fixtures: a runtime over the fixture corpus, keys for every role, a TestClient.

The store/API suite runs on SQLite always, and on PostgreSQL too when
PARTNERMATCH_TEST_POSTGRES_URL is set (`.ci/postgres.sh start` prints one); each test
gets a clean database.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from matcher.schema import Need, Profile, read_jsonl
from service.app import create_app
from service.keys import create_key
from service.runtime import Runtime
from service.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PG_URL = os.environ.get("PARTNERMATCH_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", pytest.param("postgres", marks=[
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set PARTNERMATCH_TEST_POSTGRES_URL to run against PostgreSQL"),
])]
KOLE_BU = "Korle Bu Teaching Hospital"
DAKAR = "Hôpital Principal de Dakar"


def reset_postgres(url: str) -> None:
    """Drop and recreate the public schema: an empty database for the next test."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


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
    """Settings for one test: its own home, the hashing encoder, small limits."""
    home = tmp_path / "home"
    monkeypatch.setenv("PARTNERMATCH_HOME", str(home))
    monkeypatch.setenv("PARTNERMATCH_ENCODER", "hashing")
    if database_url:
        monkeypatch.setenv("PARTNERMATCH_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("PARTNERMATCH_DATABASE_URL", raising=False)
    return Settings(home=home, encoder="hashing", database_url=database_url, max_body_bytes=16_000,
                    max_description_chars=4_000, submissions_per_minute=5)


def make_runtime(settings: Settings, detector: object) -> Runtime:
    """A runtime that writes snapshots quickly (tests wait for them)."""
    return Runtime(settings, detector=detector, snapshot_delay=0.05)  # type: ignore[arg-type]


@pytest.fixture()
def runtime(api_settings: Settings, detector: object, fixture_profiles: list[Profile],
            fixture_needs: list[Need]) -> Iterator[Runtime]:
    """A loaded runtime over the fixture corpus."""
    rt = make_runtime(api_settings, detector)
    rt.ingest(fixture_profiles, fixture_needs)
    yield rt
    rt.close()
    rt.store.engine.dispose()


@dataclass
class Keys:
    """One key per role, plus a second submitter and a second partner."""

    admin: str
    staff: str
    submitter: str
    other_submitter: str
    partner: str
    other_partner: str


@pytest.fixture()
def keys(runtime: Runtime) -> Keys:
    """Keys bound like real users: Korle Bu submits n-stroke-en, Dakar n-stroke-fr; partners own p-stroke, p-maternity."""
    store = runtime.store
    return Keys(
        admin=create_key(store, "admin")[0], staff=create_key(store, "staff")[0],
        submitter=create_key(store, "submitter", KOLE_BU)[0],
        other_submitter=create_key(store, "submitter", DAKAR)[0],
        partner=create_key(store, "partner", profile_id="p-stroke")[0],
        other_partner=create_key(store, "partner", profile_id="p-maternity")[0],
    )


@pytest.fixture()
def client(runtime: Runtime) -> Iterator[TestClient]:
    """A TestClient over an app sharing `runtime` (lifespan run)."""
    with TestClient(create_app(runtime=runtime)) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


STROKE_NEED = {"country": "GH", "language": "en", "preferred_modalities": ["training_courses"],
               "description": "Many patients arrive after a stroke with one-sided weakness. We need help to set up a "
                              "stroke unit, swallow screening and early rehabilitation for our nurses."}


def fixture_file(name: str) -> Path:
    """A file of tests/fixtures."""
    return FIXTURES / name
