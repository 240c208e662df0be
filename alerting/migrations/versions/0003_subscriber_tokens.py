"""Subscriber tokens: who may manage which subscriber through the API.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``subscriber_tokens`` (the SHA-256 of each token, never the token)."""
    op.create_table(
        "subscriber_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subscriber_id", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_subscriber_tokens")),
    )
    op.create_index(
        op.f("ix_subscriber_tokens_subscriber_id"), "subscriber_tokens", ["subscriber_id"]
    )


def downgrade() -> None:
    """Drop ``subscriber_tokens``."""
    op.drop_index(op.f("ix_subscriber_tokens_subscriber_id"), table_name="subscriber_tokens")
    op.drop_table("subscriber_tokens")
