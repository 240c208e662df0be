"""Database tables of the alert store (SQLAlchemy 2 ORM, typed).

::

    cycles           (hazard, issue_time) pk: each alerting cycle recorded, once
    warning_states   (hazard, area) pk: the lifecycle's ActiveWarning as JSON
    proposals        id pk: a decision under review (state, decision JSON, edited text,
                     the area's state before it, so a withdrawn proposal can be undone)
    messages         identifier pk: the CAP XML sent for a confirmed proposal
    deliveries       id pk, idempotency_key unique: the outbox; one row per message (or
                     impact forecast) per subscriber channel, with its sending state
    impact_states    (hazard, subscriber_id, asset_id, rule_position) pk: the last impact
                     sent (its key and JSON), so unchanged impacts are not sent again every
                     cycle and a subscriber can pull the impacts in force
    dispatchers      owner pk: when each dispatcher was last seen polling, with its channels
    audit_log        id pk: every state change of a proposal, message or delivery (and of
                     a subscriber, :mod:`alerting.subscriptions`); defined in
                     :mod:`alerting.database`, which both stores share

A delivery moves ``pending → sending → sent`` or back to ``pending`` with a later
``next_attempt_at`` after a failure, or to ``dead`` (dead letter, with ``last_error``).
``sending`` carries a lease (``lease_owner``, ``lease_until``): a dispatcher that dies
leaves it to expire, and the next dispatcher sends the delivery again (receivers drop the
repeat by its idempotency key).

A delivery's ``thread`` names what it speaks about (``warning/<hazard>/<area>``,
``impact/<hazard>/<subscriber>/<asset>/<rule>``). Within one thread to one recipient
(subscriber, channel, target) deliveries go out in the order they were queued, and an
unsent one that a newer one replaces becomes ``superseded`` (with ``last_error`` saying
by what): a receiver never gets an older forecast after a newer one. ``expires`` is when
what it carries stops being true (a warning's CAP ``expires``, the end of an impact
forecast's window; none for a Cancel): past it, it is not pushed late.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alerting.database import AuditRow, Base, UTCDateTime

__all__ = [
    "DELIVERY_STATES",
    "AuditRow",
    "CycleRow",
    "DeliveryRow",
    "DispatcherRow",
    "ImpactStateRow",
    "MessageRow",
    "ProposalRow",
    "WarningStateRow",
]

DELIVERY_STATES = ("pending", "sending", "sent", "dead", "superseded")


class CycleRow(Base):
    """One alerting cycle of one hazard, recorded once (a re-run finds it and stops)."""

    __tablename__ = "cycles"

    hazard: Mapped[str] = mapped_column(String(32), primary_key=True)
    issue_time: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    proposals: Mapped[int] = mapped_column(Integer)
    deliveries: Mapped[int] = mapped_column(Integer)


class WarningStateRow(Base):
    """The warning in force for one hazard and area (absent when none is)."""

    __tablename__ = "warning_states"

    hazard: Mapped[str] = mapped_column(String(32), primary_key=True)
    area: Mapped[str] = mapped_column(String(64), primary_key=True)
    state_json: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProposalRow(Base):
    """A decision of the lifecycle under the forecaster's review."""

    __tablename__ = "proposals"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    hazard: Mapped[str] = mapped_column(String(32))
    area: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(32))
    issue_time: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    decision_json: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    previous_state_json: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(
            "state IN ('proposed', 'held', 'confirmed', 'cancelled')", name="state_known"
        ),
        Index(None, "state", "issue_time"),
        Index(None, "hazard", "area", "issue_time"),
    )


class MessageRow(Base):
    """A CAP message as sent."""

    __tablename__ = "messages"

    identifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    proposal_id: Mapped[str] = mapped_column(
        String(96), ForeignKey("proposals.id", ondelete="RESTRICT"), index=True
    )
    hazard: Mapped[str] = mapped_column(String(32))
    area: Mapped[str] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(16))
    level: Mapped[str] = mapped_column(String(32))
    sent: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires: Mapped[datetime] = mapped_column(UTCDateTime())
    headline: Mapped[str] = mapped_column(Text)
    cap_xml: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeliveryRow(Base):
    """One outbox entry: a payload for one channel of one subscriber."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    message_identifier: Mapped[str | None] = mapped_column(
        String(128), ForeignKey("messages.identifier", ondelete="RESTRICT")
    )
    subscriber_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    topic: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    thread: Mapped[str | None] = mapped_column(String(256))
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'dead', 'superseded')", name="status_known"
        ),
        CheckConstraint("kind IN ('warning', 'impact')", name="kind_known"),
        CheckConstraint("channel IN ('webhook', 'mqtt', 'email')", name="channel_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "thread", "subscriber_id", "channel"),
    )


class ImpactStateRow(Base):
    """The last impact forecast queued for one subscriber's asset and rule."""

    __tablename__ = "impact_states"

    hazard: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_position: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_key: Mapped[str] = mapped_column(String(128))
    issue_time: Mapped[datetime] = mapped_column(UTCDateTime())
    forecast_json: Mapped[bytes | None] = mapped_column(LargeBinary)


class DispatcherRow(Base):
    """A dispatcher's heartbeat: when it last polled the outbox and what it can send."""

    __tablename__ = "dispatchers"

    owner: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channels: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
