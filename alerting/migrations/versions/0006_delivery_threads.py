"""Delivery threads and expiry: deliveries about one thing to one recipient go out in order,
an unsent one replaced by a newer one is ``superseded``, and nothing is pushed past its
``expires``.

Existing warning deliveries get their thread (``warning/<hazard>/<area>``) and expiry (the
CAP message's, none for a Cancel) from their message; existing impact deliveries keep no
thread and no expiry (what they were about is not stored with them), so they are sent as
before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATES_BEFORE = "status IN ('pending', 'sending', 'sent', 'dead')"
_STATES_AFTER = "status IN ('pending', 'sending', 'sent', 'dead', 'superseded')"


def upgrade() -> None:
    """Add ``deliveries.thread`` and ``deliveries.expires``, the ``superseded`` state, the
    thread index; fill both for the warning deliveries already queued."""
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("thread", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("expires", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_deliveries_status_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_deliveries_status_known"), sa.text(_STATES_AFTER)
        )
        batch_op.create_index(
            batch_op.f("ix_deliveries_thread_subscriber_id_channel"),
            ["thread", "subscriber_id", "channel"],
            unique=False,
        )
    op.execute(
        "UPDATE deliveries SET "
        "thread = (SELECT 'warning/' || m.hazard || '/' || m.area FROM messages m "
        "WHERE m.identifier = deliveries.message_identifier), "
        "expires = (SELECT m.expires FROM messages m "
        "WHERE m.identifier = deliveries.message_identifier AND m.msg_type <> 'Cancel') "
        "WHERE message_identifier IS NOT NULL"
    )


def downgrade() -> None:
    """Drop them again; superseded deliveries become dead letters (the old schema has no
    such state), keeping their reason."""
    op.execute("UPDATE deliveries SET status = 'dead' WHERE status = 'superseded'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_thread_subscriber_id_channel"))
        batch_op.drop_constraint(batch_op.f("ck_deliveries_status_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_deliveries_status_known"), sa.text(_STATES_BEFORE)
        )
        batch_op.drop_column("expires")
        batch_op.drop_column("thread")
