"""Packaged data: clinical-area vocabulary, demo records and the labelled dev set."""
from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
VOCABULARY_PATH = DATA_DIR / "vocabulary.json"
DEMO_PROFILES = DATA_DIR / "demo" / "profiles.jsonl"
DEMO_NEEDS = DATA_DIR / "demo" / "needs.jsonl"
DEV_QRELS = DATA_DIR / "dev" / "qrels.tsv"
DEV_AREAS = DATA_DIR / "dev" / "areas.json"

__all__ = ["DATA_DIR", "VOCABULARY_PATH", "DEMO_PROFILES", "DEMO_NEEDS", "DEV_QRELS", "DEV_AREAS"]
