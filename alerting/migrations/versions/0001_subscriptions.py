"""Subscriptions: subscribers, assets, rules, channels.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _subscriber_key(table: str) -> sa.Column[str]:
    return sa.Column(
        "subscriber_id",
        sa.String(64),
        sa.ForeignKey(
            "subscribers.id",
            ondelete="CASCADE",
            name=f"fk_{table}_subscriber_id_subscribers",
        ),
        nullable=False,
    )


def upgrade() -> None:
    """Create the four subscription tables."""
    op.create_table(
        "subscribers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("sector", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.CheckConstraint("version >= 1", name="ck_subscribers_version_positive"),
    )
    op.create_table(
        "assets",
        _subscriber_key("assets"),
        sa.Column("asset_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("geometry_type", sa.String(16), nullable=False),
        sa.Column("geometry_geojson", sa.Text(), nullable=False),
        sa.Column("buffer", sa.String(64), nullable=True),
        sa.Column("buffer_m", sa.Double(), nullable=False),
        sa.Column("min_lon", sa.Double(), nullable=False),
        sa.Column("min_lat", sa.Double(), nullable=False),
        sa.Column("max_lon", sa.Double(), nullable=False),
        sa.Column("max_lat", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("subscriber_id", "asset_id", name="pk_assets"),
        sa.CheckConstraint(
            "min_lon <= max_lon AND min_lat <= max_lat", name="ck_assets_box_ordered"
        ),
        sa.CheckConstraint("buffer_m >= 0", name="ck_assets_buffer_not_negative"),
    )
    op.create_index(
        "ix_assets_min_lon_max_lon_min_lat_max_lat",
        "assets",
        ["min_lon", "max_lon", "min_lat", "max_lat"],
    )
    op.create_table(
        "rules",
        _subscriber_key("rules"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hazard", sa.String(32), nullable=False),
        sa.Column("variable", sa.String(32), nullable=False),
        sa.Column("comparison", sa.String(2), nullable=False),
        sa.Column("threshold", sa.String(64), nullable=False),
        sa.Column("threshold_value", sa.Double(), nullable=False),
        sa.Column("threshold_units", sa.String(16), nullable=False),
        sa.Column("within", sa.String(64), nullable=False),
        sa.Column("within_seconds", sa.Integer(), nullable=False),
        sa.Column("min_probability", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("subscriber_id", "position", name="pk_rules"),
        sa.CheckConstraint("comparison IN ('>=', '>')", name="ck_rules_comparison_known"),
        sa.CheckConstraint(
            "within_seconds > 0 AND within_seconds <= 259200", name="ck_rules_within_72h"
        ),
    )
    op.create_index("ix_rules_hazard", "rules", ["hazard"])
    op.create_table(
        "channels",
        _subscriber_key("channels"),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=False),
        sa.Column("languages", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("subscriber_id", "position", name="pk_channels"),
        sa.CheckConstraint("kind IN ('webhook', 'mqtt', 'email')", name="ck_channels_kind_known"),
    )


def downgrade() -> None:
    """Drop the four subscription tables."""
    op.drop_table("channels")
    op.drop_table("rules")
    op.drop_index("ix_assets_min_lon_max_lon_min_lat_max_lat", table_name="assets")
    op.drop_table("assets")
    op.drop_table("subscribers")
