"""The alert store: warning state, proposals, CAP messages, the outbox and the audit log.

One :class:`AlertStore` per database URL (SQLite file by default, PostgreSQL by
configuration; the same database as the subscriptions). Everything a cycle decides is
written in **one transaction** by :meth:`AlertStore.record_cycle`: the new warning state,
the proposals, the CAP messages of the confirmed ones, and one outbox delivery per message
per subscriber channel. Either all of it is there, or none of it — so a crash before the
commit loses nothing that was promised and a crash after it sends everything.

The dispatcher then works the outbox with :meth:`claim` (a lease per batch) and
:meth:`settle` (sent, retry later, dead letter). A delivery's idempotency key is unique:
writing the same delivery twice (a re-run cycle) keeps the first.

Every state change lands in ``audit_log`` in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from alerting.outbox._base import IMPACT_STATES, message_record
from alerting.outbox.cycles import CycleStore
from alerting.outbox.queue import Claim, Claimed, DeliveryQueue
from alerting.outbox.records import AuditRecord, DeliveryRecord, ImpactRecord, MessageRecord
from alerting.outbox.reviews import ReviewStore
from alerting.outbox.tables import AuditRow, DeliveryRow, MessageRow

__all__ = ["AlertStore", "Claim", "Claimed"]


class AlertStore(CycleStore, ReviewStore, DeliveryQueue):
    """Warnings, messages, deliveries and their audit in a SQL database.

    The cycle (:class:`~alerting.outbox.cycles.CycleStore`), the review queue
    (:class:`~alerting.outbox.reviews.ReviewStore`) and the delivery queue
    (:class:`~alerting.outbox.queue.DeliveryQueue`) on one connection; this class adds what
    the API, the console and the health checks read. ``AlertStore(url, clock=...)``: see
    :class:`~alerting.outbox._base.StoreBase`.
    """

    def deliveries(
        self,
        status: str | None = None,
        kind: str | None = None,
        *,
        subscriber_id: str | None = None,
        latest: int | None = None,
    ) -> list[DeliveryRecord]:
        """The outbox entries, by id, optionally of one status, kind and subscriber
        (with ``latest``, only the newest that many, still in id order)."""
        self._check_schema()
        query = select(DeliveryRow).order_by(DeliveryRow.id)
        if status is not None:
            query = query.where(DeliveryRow.status == status)
        if kind is not None:
            query = query.where(DeliveryRow.kind == kind)
        if subscriber_id is not None:
            query = query.where(DeliveryRow.subscriber_id == subscriber_id)
        if latest is not None:
            newest = query.order_by(None).order_by(DeliveryRow.id.desc()).limit(latest)
            query = (
                select(DeliveryRow)
                .where(DeliveryRow.id.in_(newest.with_only_columns(DeliveryRow.id)))
                .order_by(DeliveryRow.id)
            )
        with self._sessions() as session:
            return [_delivery_record(row) for row in session.scalars(query)]

    def impacts_of(self, subscriber_id: str) -> list[ImpactRecord]:
        """The impact forecasts in force for a subscriber's assets (the last sent for each
        asset and rule whose impact has not ended), by hazard, asset and rule."""
        self._check_schema()
        table = IMPACT_STATES
        with self._sessions() as session:
            rows = session.execute(
                select(table)
                .where(table.c.subscriber_id == subscriber_id)
                .order_by(table.c.hazard, table.c.asset_id, table.c.rule_position)
            ).all()
        return [
            ImpactRecord(
                row.hazard,
                row.subscriber_id,
                row.asset_id,
                row.rule_position,
                row.issue_time,
                row.forecast_json or b"",
            )
            for row in rows
        ]

    def dead_since(self, since: datetime) -> int:
        """How many deliveries created at or after ``since`` are dead letters."""
        self._check_schema()
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        DeliveryRow.status == "dead", DeliveryRow.created_at >= since
                    )
                )
                or 0
            )

    def delivery_counts(self) -> dict[str, int]:
        """How many deliveries are in each status."""
        self._check_schema()
        with self._sessions() as session:
            counted = session.execute(
                select(DeliveryRow.status, func.count()).group_by(DeliveryRow.status)
            ).all()
            return {status: int(count) for status, count in counted}

    def messages(self, since: datetime | None = None) -> list[MessageRecord]:
        """The CAP messages recorded, newest first, optionally sent at or after ``since``."""
        self._check_schema()
        query = select(MessageRow).order_by(MessageRow.sent.desc(), MessageRow.identifier)
        if since is not None:
            query = query.where(MessageRow.sent >= since)
        with self._sessions() as session:
            return [message_record(row) for row in session.scalars(query)]

    def audit(self, entity: str | None = None, entity_id: str | None = None) -> list[AuditRecord]:
        """The audit log in order, optionally of one entity kind and id."""
        self._check_schema()
        query = select(AuditRow).order_by(AuditRow.id)
        if entity is not None:
            query = query.where(AuditRow.entity == entity)
        if entity_id is not None:
            query = query.where(AuditRow.entity_id == entity_id)
        with self._sessions() as session:
            return [
                AuditRecord(row.at, row.actor, row.entity, row.entity_id, row.action, row.detail)
                for row in session.scalars(query)
            ]


def _delivery_record(row: DeliveryRow) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        subscriber_id=row.subscriber_id,
        channel=row.channel,
        target=row.target,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        message_identifier=row.message_identifier,
        thread=row.thread,
        expires=row.expires,
    )
