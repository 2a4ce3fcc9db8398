"""Helpers shared by the API tests (imported as `api_helpers`; fixtures live in conftest.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from service.runtime import Runtime
from service.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PG_URL = os.environ.get("PARTNERMATCH_TEST_POSTGRES_URL")
API = "/api/v1"
KORLE_BU = "Korle Bu Teaching Hospital"
DAKAR = "Hôpital Principal de Dakar"
STROKE_NEED = {"country": "GH", "language": "en", "preferred_modalities": ["training_courses"],
               "description": "Many patients arrive after a stroke with one-sided weakness. We need help to set up a "
                              "stroke unit, swallow screening and early rehabilitation for our nurses."}


def reset_postgres(url: str) -> None:
    """Drop and recreate the public schema: an empty database for the next test."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def make_runtime(settings: Settings, detector: object) -> Runtime:
    """A runtime that writes snapshots quickly (tests wait for them)."""
    return Runtime(settings, detector=detector, snapshot_delay=0.05)  # type: ignore[arg-type]


@dataclass
class Keys:
    """One key per role, plus a second submitter and a second partner."""

    admin: str
    staff: str
    submitter: str
    other_submitter: str
    partner: str
    other_partner: str


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for a key."""
    return {"Authorization": f"Bearer {key}"}


def fixture_file(name: str) -> Path:
    """A file of tests/fixtures."""
    return FIXTURES / name
