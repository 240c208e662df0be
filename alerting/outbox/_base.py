"""What the parts of the alert store share: the engine and clock, transactions, and the
writers of messages and outbox deliveries (a cycle and a review step both write them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, literal, select
from sqlalchemy.orm import Session

from alerting import database
from alerting.database import UTCDateTime, utc_now
from alerting.errors import OutboxError
from alerting.outbox.records import MessageRecord, NewDelivery
from alerting.outbox.tables import AuditRow, DeliveryRow, ImpactStateRow, MessageRow
from alerting.review import AuditEntry, Proposal

__all__ = [
    "AUDIT",
    "DELIVERIES",
    "IMPACT_STATES",
    "StoreBase",
    "audit_deliveries",
    "audit_proposal",
    "chunks",
    "delivery_audit",
    "delivery_row",
    "mark_superseded",
    "message_record",
    "pending_in",
    "recipient",
    "rows_for",
    "superseded_reason",
]

_CHUNK = 2_000
DELIVERIES = cast(Table, DeliveryRow.__table__)
AUDIT = cast(Table, AuditRow.__table__)
IMPACT_STATES = cast(Table, ImpactStateRow.__table__)


def chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    """``values`` in slices of at most ``size`` (bound parameters per statement stay few)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def rows_for(
    session: Session,
    query: Callable[[Sequence[Any]], Any],
    values: Sequence[Any],
    params: dict[str, Any] | None = None,
) -> list[Any]:
    """The rows of ``query(chunk)`` for each of the :func:`chunks` of ``values``."""
    rows: list[Any] = []
    for chunk in chunks(values):
        rows += session.execute(query(chunk), params).all()
    return rows


class StoreBase(database.SqlStore):
    """The alert store's connection: engine, sessions, schema check and clock.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///alerts.db`` or ``postgresql+psycopg://user@host/db``.
    clock
        Returns the current time (aware, UTC); injectable for tests and replays.
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(url, "alert store", OutboxError)
        self._clock = clock

    def _begin(self) -> Any:
        self._check_schema()
        return self._sessions.begin()

    def _add_messages(
        self, session: Session, messages: Sequence[MessageRecord], now: datetime
    ) -> None:
        for message in messages:
            if session.get(MessageRow, message.identifier) is not None:
                continue
            session.add(
                MessageRow(
                    identifier=message.identifier,
                    proposal_id=message.proposal_id,
                    hazard=message.hazard,
                    area=message.area,
                    msg_type=message.msg_type,
                    level=message.level,
                    sent=message.sent,
                    expires=message.expires,
                    headline=message.headline,
                    cap_xml=message.xml,
                    created_at=now,
                )
            )
            session.add(
                AuditRow(
                    at=now,
                    actor="alerting",
                    entity="message",
                    entity_id=message.identifier,
                    action="recorded",
                    detail=f"{message.msg_type} {message.level}",
                )
            )
        session.flush()

    def _add_deliveries(
        self, session: Session, deliveries: Sequence[NewDelivery], now: datetime
    ) -> int:
        keys = [delivery.envelope.idempotency_key for delivery in deliveries]
        if len(set(keys)) != len(keys):
            raise OutboxError("two deliveries of one cycle share an idempotency key; a bug")
        existing: set[str] = set()
        for chunk in chunks(keys):
            existing.update(
                session.scalars(
                    select(DeliveryRow.idempotency_key).where(
                        DeliveryRow.idempotency_key.in_(chunk)
                    )
                )
            )
        new = [
            delivery for delivery in deliveries if delivery.envelope.idempotency_key not in existing
        ]
        if not new:
            return 0
        newest = {recipient(delivery): delivery for delivery in new if delivery.thread}
        replaced = {  # of this batch: only the last of a thread to a recipient goes out
            delivery.envelope.idempotency_key: superseded_reason(
                newest[recipient(delivery)].envelope.idempotency_key
            )
            for delivery in new
            if delivery.thread and newest[recipient(delivery)] is not delivery
        }
        supersede_pending(session, newest, now, "alerting")
        # Core executemany on the tables: no ORM object per row (tens of thousands a cycle).
        columns = DELIVERIES.c
        queued = columns.kind + " to " + columns.subscriber_id + " by " + columns.channel
        for chunk in chunks(new):
            session.execute(
                DELIVERIES.insert(), [delivery_row(delivery, now, replaced) for delivery in chunk]
            )
            keys = [delivery.envelope.idempotency_key for delivery in chunk]
            pending = and_(columns.idempotency_key.in_(keys), columns.status == "pending")
            audit_deliveries(session, pending, now, "alerting", "pending", queued)
            superseded = [
                delivery_audit(now, "alerting", key, "superseded", replaced[key])
                for key in keys
                if key in replaced
            ]
            if superseded:
                session.execute(AUDIT.insert(), superseded)
        return len(new)


def delivery_audit(
    at: datetime, actor: str, entity_id: str, action: str, detail: str
) -> dict[str, Any]:
    """The audit record of one delivery's state change, as a row to insert."""
    return {
        "at": at,
        "actor": actor,
        "entity": "delivery",
        "entity_id": entity_id,
        "action": action,
        "detail": detail,
    }


def audit_deliveries(
    session: Session,
    where: ColumnElement[bool],
    at: datetime,
    actor: str,
    action: str,
    detail: ColumnElement[str] | str = "",
) -> None:
    """An audit record for each delivery ``where`` selects, written by the database in one
    ``INSERT … SELECT`` (tens of thousands a cycle: none passes through Python); ``detail``
    is text or an expression on the deliveries' columns."""
    columns = DELIVERIES.c
    session.execute(
        AUDIT.insert().from_select(
            ["at", "actor", "entity", "entity_id", "action", "detail"],
            select(
                literal(at, UTCDateTime()),
                literal(actor),
                literal("delivery"),
                columns.idempotency_key,
                literal(action),
                literal(detail) if isinstance(detail, str) else detail,
            )
            .where(where)
            .order_by(columns.id),
        )
    )


def audit_proposal(session: Session, proposal: Proposal, entries: Sequence[AuditEntry]) -> None:
    for entry in entries:
        session.add(
            AuditRow(
                at=entry.at,
                actor=entry.by,
                entity="proposal",
                entity_id=proposal.id,
                action=entry.action,
                detail=entry.detail,
            )
        )
    session.flush()


def message_record(row: MessageRow) -> MessageRecord:
    return MessageRecord(
        row.identifier,
        row.proposal_id,
        row.hazard,
        row.area,
        row.msg_type,
        row.level,
        row.sent,
        row.expires,
        row.headline,
        row.cap_xml,
    )


_Recipient = tuple[str | None, str, str, str]
"""What a delivery is about and to whom: thread, subscriber, channel, target."""


def recipient(delivery: NewDelivery) -> _Recipient:
    envelope = delivery.envelope
    return (delivery.thread, envelope.subscriber_id, envelope.channel, envelope.target)


def superseded_reason(newer_key: str) -> str:
    """Why a delivery was superseded by the delivery with idempotency key ``newer_key``."""
    return (
        f"superseded before it was sent: delivery {newer_key[:16]}… replaces it (newer, same "
        "thread and recipient); an older message is not sent after a newer one"
    )


def supersede_pending(
    session: Session, newest: dict[_Recipient, NewDelivery], now: datetime, actor: str
) -> int:
    """Mark the pending deliveries that ``newest`` (by recipient) replace ``superseded``,
    each with the newer one named and an audit record; return how many."""
    older = pending_in(session, sorted({str(thread) for thread, _, _, _ in newest}))
    reasons = {
        (row.id, row.idempotency_key): superseded_reason(newest[key].envelope.idempotency_key)
        for row in older
        if (key := (row.thread, row.subscriber_id, row.channel, row.target)) in newest
    }
    return mark_superseded(session, reasons, now, actor)


def pending_in(session: Session, threads: Sequence[str]) -> list[Any]:
    """The pending deliveries of ``threads``: id, key, and their thread and recipient."""
    return rows_for(
        session,
        lambda chunk: select(
            DeliveryRow.id,
            DeliveryRow.idempotency_key,
            DeliveryRow.thread,
            DeliveryRow.subscriber_id,
            DeliveryRow.channel,
            DeliveryRow.target,
        ).where(DeliveryRow.thread.in_(chunk), DeliveryRow.status == "pending"),
        threads,
    )


def mark_superseded(
    session: Session,
    reasons: dict[tuple[int, str], str],
    now: datetime,
    actor: str,
    where: Any = None,
) -> int:
    """Make the deliveries (id, key) of ``reasons`` superseded if they still meet ``where``
    (default: pending), with the reason and an audit record each; return how many."""
    if not reasons:
        return 0
    session.connection().execute(
        DELIVERIES.update()
        .where(
            DELIVERIES.c.id == bindparam("row_id"),
            DELIVERIES.c.status == "pending" if where is None else where,
        )
        .values(
            status="superseded", last_error=bindparam("reason"), lease_owner=None, lease_until=None
        ),
        [{"row_id": row_id, "reason": reason} for (row_id, _), reason in reasons.items()],
    )
    session.execute(
        AUDIT.insert(),
        [
            delivery_audit(now, actor, key, "superseded", reason)
            for (_, key), reason in reasons.items()
        ],
    )
    return len(reasons)


def delivery_row(
    delivery: NewDelivery, now: datetime, replaced: dict[str, str] | None = None
) -> dict[str, Any]:
    """The row of a new delivery: pending, or superseded (``replaced``: key → reason)."""
    envelope = delivery.envelope
    reason = (replaced or {}).get(envelope.idempotency_key)
    return {
        "idempotency_key": envelope.idempotency_key,
        "kind": delivery.kind,
        "message_identifier": delivery.message_identifier,
        "subscriber_id": envelope.subscriber_id,
        "channel": envelope.channel,
        "target": envelope.target,
        "topic": envelope.topic,
        "subject": envelope.subject,
        "text": envelope.text,
        "content_type": envelope.content_type,
        "body": envelope.body,
        "status": "pending" if reason is None else "superseded",
        "last_error": reason,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "thread": delivery.thread,
        "expires": delivery.expires,
    }
