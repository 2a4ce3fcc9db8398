"""Shared fixtures: a small hand-written corpus with known answers, and engines over it."""
from __future__ import annotations

from pathlib import Path

import pytest

from matcher.areas import AreaDetector
from matcher.engine import MatchEngine
from matcher.schema import Need, Profile, read_jsonl
from models.encoders import HashingEncoder

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixture_profiles() -> list[Profile]:
    return read_jsonl(FIXTURES / "profiles.jsonl", Profile)


@pytest.fixture(scope="session")
def fixture_needs() -> list[Need]:
    return read_jsonl(FIXTURES / "needs.jsonl", Need)


@pytest.fixture(scope="session")
def detector() -> AreaDetector:
    return AreaDetector().fit()


@pytest.fixture(scope="session")
def minilm():
    """The real model, loaded once per session."""
    from models.encoders import SentenceTransformerEncoder

    enc = SentenceTransformerEncoder()
    enc.encode(["warm up"])
    return enc


def build_engine(encoder, detector, profiles, needs, index_kind="flat") -> MatchEngine:
    engine = MatchEngine(encoder, detector, index_kind=index_kind)
    engine.add_profiles(profiles)
    engine.add_needs(needs)
    return engine


@pytest.fixture()
def hashing_engine(detector, fixture_profiles, fixture_needs) -> MatchEngine:
    return build_engine(HashingEncoder(), detector, fixture_profiles, fixture_needs)


@pytest.fixture()
def pm_home(tmp_path, monkeypatch) -> Path:
    """An isolated PARTNERMATCH_HOME with the fast hashing encoder."""
    home = tmp_path / "home"
    monkeypatch.setenv("PARTNERMATCH_HOME", str(home))
    monkeypatch.setenv("PARTNERMATCH_ENCODER", "hashing")
    monkeypatch.delenv("PARTNERMATCH_DATABASE_URL", raising=False)
    return home
