"""Seed the store version row, so that concurrent first writers only ever UPDATE it.

Without the row, two processes making their first write at the same time would both
INSERT it and one would fail on the primary key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO meta (key, value) SELECT 'version', '0' "
               "WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'version')")


def downgrade() -> None:
    # The row is harmless and may already count real writes: leave it.
    pass
