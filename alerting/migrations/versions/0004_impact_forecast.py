"""Impact states keep the impact forecast last sent, so subscribers can pull it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``impact_states.forecast_json`` (NULL for impacts recorded before)."""
    op.add_column("impact_states", sa.Column("forecast_json", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    """Drop ``impact_states.forecast_json``."""
    with op.batch_alter_table("impact_states") as batch:
        batch.drop_column("forecast_json")
