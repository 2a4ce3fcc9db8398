"""HTTP routers, one per noun; mounted under /api/v1 by service.app."""
from __future__ import annotations

from service.routers import decisions, gaps, health, keys, match, needs, profiles, rounds

__all__ = ["decisions", "gaps", "health", "keys", "match", "needs", "profiles", "rounds"]
