"""Initial schema: profiles, needs, decisions, api_keys, meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("languages", sa.JSON, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("countries_of_experience", sa.JSON, nullable=False),
        sa.Column("modalities", sa.JSON, nullable=False),
        sa.Column("clinical_areas", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "needs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("institution", sa.String(300), nullable=False, index=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("preferred_modalities", sa.JSON, nullable=False),
        sa.Column("clinical_areas", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("need_id", sa.String(64), sa.ForeignKey("needs.id"), nullable=False, index=True),
        sa.Column("profile_id", sa.String(64), sa.ForeignKey("profiles.id"), nullable=False, index=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(300), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("institution", sa.String(300), nullable=True),
        sa.Column("profile_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    for table in ("meta", "api_keys", "decisions", "needs", "profiles"):
        op.drop_table(table)
