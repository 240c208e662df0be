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

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, aliased

from alerting import database
from alerting.database import utc_now
from alerting.delivery.envelope import Envelope
from alerting.errors import OutboxError, ReviewError
from alerting.lifecycle import ActiveWarning, Decision
from alerting.outbox.records import (
    AuditRecord,
    AwaitingReview,
    CycleReceipt,
    DeliveryRecord,
    ImpactRecord,
    ImpactUpdate,
    MessageRecord,
    NewDelivery,
    from_json,
    to_json,
)
from alerting.outbox.tables import (
    AuditRow,
    CycleRow,
    DeliveryRow,
    DispatcherRow,
    ImpactStateRow,
    MessageRow,
    ProposalRow,
    WarningStateRow,
)
from alerting.review import AuditEntry, Proposal

__all__ = ["AlertStore", "Claimed"]

_CHUNK = 2_000
_CLAIM_TRIES = 5
_DELIVERIES = cast(Table, DeliveryRow.__table__)
_AUDIT = cast(Table, AuditRow.__table__)
_IMPACT_STATES = cast(Table, ImpactStateRow.__table__)
_FORECASTER_STEPS = ("held", "edited")
"""Audit actions by which a forecaster has looked at a proposal (it no longer waits unseen)."""
_CLAIMED_COLUMNS = tuple(
    _DELIVERIES.c[name]
    for name in (
        "id",
        "attempts",
        "idempotency_key",
        "channel",
        "target",
        "subscriber_id",
        "topic",
        "subject",
        "text",
        "content_type",
        "body",
    )
)  # what a claim hands the dispatcher: the envelope, no bookkeeping times


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to a dispatcher: its id, the lease token, the attempt, the envelope."""

    id: int
    token: str
    attempt: int
    envelope: Envelope


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class AlertStore(database.SqlStore):
    """Warnings, messages, deliveries and their audit in a SQL database.

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

    # -- the cycle -----------------------------------------------------------------------

    def active_warnings(self, hazard: str) -> dict[str, ActiveWarning]:
        """The warnings in force for ``hazard``, by area."""
        self._check_schema()
        with self._sessions() as session:
            rows = session.scalars(
                select(WarningStateRow).where(WarningStateRow.hazard == hazard)
            ).all()
        return {row.area: from_json(ActiveWarning, row.state_json) for row in rows}

    def last_cycle(self, hazard: str) -> datetime | None:
        """Issue time of the newest recorded cycle of ``hazard`` (None when none)."""
        self._check_schema()
        with self._sessions() as session:
            return session.scalar(
                select(CycleRow.issue_time)
                .where(CycleRow.hazard == hazard)
                .order_by(CycleRow.issue_time.desc())
                .limit(1)
            )

    def is_recorded(self, hazard: str, issue_time: datetime) -> bool:
        """Whether the cycle of ``hazard`` at ``issue_time`` is recorded."""
        self._check_schema()
        with self._sessions() as session:
            return session.get(CycleRow, (hazard, issue_time)) is not None

    def last_message(self, hazard: str, area: str) -> MessageRecord | None:
        """The newest message recorded for ``hazard`` in ``area`` (None when none)."""
        self._check_schema()
        with self._sessions() as session:
            row = session.scalars(
                select(MessageRow)
                .where(MessageRow.hazard == hazard, MessageRow.area == area)
                .order_by(MessageRow.sent.desc())
                .limit(1)
            ).first()
        return None if row is None else _message_record(row)

    def recipients_of(self, message_identifier: str) -> set[str]:
        """The subscribers a message was queued for (threads reach them again)."""
        self._check_schema()
        with self._sessions() as session:
            return set(
                session.scalars(
                    select(DeliveryRow.subscriber_id).where(
                        DeliveryRow.message_identifier == message_identifier
                    )
                )
            )

    def record_cycle(
        self,
        hazard: str,
        issue_time: datetime,
        state: Mapping[str, ActiveWarning],
        proposals: Sequence[Proposal],
        messages: Sequence[MessageRecord],
        deliveries: Sequence[NewDelivery],
        impacts: Sequence[ImpactUpdate] = (),
    ) -> CycleReceipt:
        """Write one cycle's outcome in one transaction (or nothing, if it was recorded).

        ``state`` is the whole new warning state of ``hazard`` (areas missing from it have
        no warning any more). A cycle older than the newest recorded one is refused: its
        state would overwrite a newer one.

        Raises
        ------
        OutboxError
            If the cycle is older than the newest one, or the database refuses the write;
            then nothing was written.
        """
        now = self._clock()
        newest = self.last_cycle(hazard)
        if newest is not None and issue_time < newest:
            raise OutboxError(
                f"{hazard} cycle {issue_time.isoformat()}: a newer cycle "
                f"({newest.isoformat()}) is already recorded in {self._where}; replay old "
                "cycles into a fresh database"
            )
        try:
            with self._begin() as session:
                if session.get(CycleRow, (hazard, issue_time)) is not None:
                    return CycleReceipt(hazard, issue_time, True, 0, 0, 0, 0)
                previous = {
                    row.area: row
                    for row in session.scalars(
                        select(WarningStateRow).where(WarningStateRow.hazard == hazard)
                    )
                }
                session.execute(delete(WarningStateRow).where(WarningStateRow.hazard == hazard))
                session.flush()
                if state:
                    session.execute(
                        insert(WarningStateRow),
                        [
                            {
                                "hazard": hazard,
                                "area": area,
                                "state_json": to_json(warning),
                                "updated_at": now,
                            }
                            for area, warning in state.items()
                        ],
                    )
                for proposal in proposals:
                    before = previous.get(proposal.decision.area)
                    self._add_proposal(
                        session, proposal, before.state_json if before else None, now
                    )
                self._add_messages(session, messages, now)
                written = self._add_deliveries(session, deliveries, now)
                changed, unchanged = self._impact_states(session, hazard, impacts, issue_time)
                written += self._add_deliveries(
                    session, [d for impact in changed for d in impact.deliveries], now
                )
                session.add(
                    CycleRow(
                        hazard=hazard,
                        issue_time=issue_time,
                        recorded_at=now,
                        proposals=len(proposals),
                        deliveries=written,
                    )
                )
        except IntegrityError as err:
            raise OutboxError(
                f"{hazard} cycle {issue_time.isoformat()}: {self._where} refused the write "
                f"({err.orig}); nothing was written. If another process recorded the same "
                "cycle at the same moment, this is expected: the cycle is recorded once"
            ) from err
        except DBAPIError as err:
            raise OutboxError(
                f"{hazard} cycle {issue_time.isoformat()}: {self._where} refused the write "
                f"({type(err.orig).__name__}: {err.orig}); nothing was written; retry the cycle"
            ) from err
        return CycleReceipt(
            hazard, issue_time, False, len(proposals), len(messages), written, unchanged
        )

    def _add_proposal(
        self, session: Session, proposal: Proposal, previous: str | None, now: datetime
    ) -> None:
        decision = proposal.decision
        if session.get(ProposalRow, proposal.id) is not None:
            return
        session.add(
            ProposalRow(
                id=proposal.id,
                hazard=decision.hazard,
                area=decision.area,
                action=decision.action,
                level=decision.level,
                issue_time=decision.issue_time,
                state=proposal.state,
                decision_json=to_json(decision),
                text=proposal.text,
                previous_state_json=previous,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        _audit_proposal(session, proposal, proposal.audit)
        stale = session.scalars(
            select(ProposalRow).where(
                ProposalRow.hazard == decision.hazard,
                ProposalRow.area == decision.area,
                ProposalRow.state.in_(("proposed", "held")),
                ProposalRow.issue_time < decision.issue_time,
            )
        ).all()
        for row in stale:  # a newer decision replaces what was never confirmed
            row.state, row.updated_at = "cancelled", now
            session.add(
                AuditRow(
                    at=now,
                    actor="lifecycle",
                    entity="proposal",
                    entity_id=row.id,
                    action="cancelled",
                    detail=f"superseded by {proposal.id}",
                )
            )

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
        for chunk in _chunks(keys):
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
        # Core executemany on the tables: no ORM object per row (tens of thousands a cycle).
        for chunk in _chunks(new):
            session.execute(
                _DELIVERIES.insert(), [_delivery_row(delivery, now) for delivery in chunk]
            )
            session.execute(
                _AUDIT.insert(),
                [
                    {
                        "at": now,
                        "actor": "alerting",
                        "entity": "delivery",
                        "entity_id": delivery.envelope.idempotency_key,
                        "action": "pending",
                        "detail": f"{delivery.kind} to {delivery.envelope.subscriber_id} by "
                        f"{delivery.envelope.channel}",
                    }
                    for delivery in chunk
                ],
            )
        return len(new)

    def _impact_states(
        self,
        session: Session,
        hazard: str,
        impacts: Sequence[ImpactUpdate],
        issue_time: datetime,
    ) -> tuple[list[ImpactUpdate], int]:
        """Update the impact states; return the impacts that changed and how many did not.

        States of impacts absent from this cycle are removed (the impact ended; if it comes
        back it is sent again).
        """
        hazards = {hazard} | {impact.hazard for impact in impacts}
        table = _IMPACT_STATES
        stored = {
            (row.hazard, row.subscriber_id, row.asset_id, row.rule_position): row.state_key
            for row in session.execute(
                select(
                    table.c.hazard,
                    table.c.subscriber_id,
                    table.c.asset_id,
                    table.c.rule_position,
                    table.c.state_key,
                ).where(table.c.hazard.in_(hazards))
            )
        }
        changed: list[ImpactUpdate] = []
        current: set[tuple[str, str, str, int]] = set()
        added: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        for impact in impacts:
            key = (impact.hazard, impact.subscriber_id, impact.asset_id, impact.rule_position)
            current.add(key)
            state_key = stored.get(key)
            if state_key is not None and state_key == impact.state_key:
                continue
            if key in stored:
                updated.append(
                    {
                        "k_hazard": impact.hazard,
                        "k_subscriber_id": impact.subscriber_id,
                        "k_asset_id": impact.asset_id,
                        "k_rule_position": impact.rule_position,
                        "v_state_key": impact.state_key,
                        "v_issue_time": issue_time,
                        "v_forecast_json": impact.forecast or None,
                    }
                )
            else:
                added.append(
                    {
                        "hazard": impact.hazard,
                        "subscriber_id": impact.subscriber_id,
                        "asset_id": impact.asset_id,
                        "rule_position": impact.rule_position,
                        "state_key": impact.state_key,
                        "issue_time": issue_time,
                        "forecast_json": impact.forecast or None,
                    }
                )
            changed.append(impact)
        where = and_(
            table.c.hazard == bindparam("k_hazard"),
            table.c.subscriber_id == bindparam("k_subscriber_id"),
            table.c.asset_id == bindparam("k_asset_id"),
            table.c.rule_position == bindparam("k_rule_position"),
        )
        connection = session.connection()
        if added:
            connection.execute(table.insert(), added)
        if updated:
            connection.execute(
                table.update()
                .where(where)
                .values(
                    state_key=bindparam("v_state_key", type_=table.c.state_key.type),
                    issue_time=bindparam("v_issue_time", type_=table.c.issue_time.type),
                    forecast_json=bindparam("v_forecast_json", type_=table.c.forecast_json.type),
                ),
                updated,
            )
        gone = [
            {
                "k_hazard": key[0],
                "k_subscriber_id": key[1],
                "k_asset_id": key[2],
                "k_rule_position": key[3],
            }
            for key in stored
            if key not in current
        ]
        if gone:
            connection.execute(table.delete().where(where), gone)
        return changed, len(impacts) - len(changed)

    # -- review --------------------------------------------------------------------------

    def proposal(self, proposal_id: str) -> Proposal:
        """The stored proposal ``proposal_id``.

        Raises
        ------
        ReviewError
            If there is no such proposal.
        """
        self._check_schema()
        with self._sessions() as session:
            row = session.get(ProposalRow, proposal_id)
            if row is None:
                raise ReviewError(
                    f"no proposal {proposal_id!r} in {self._where}; list the open ones first"
                )
            return _proposal(session, row)

    def proposals(
        self, states: Sequence[str] = ("proposed", "held"), hazard: str | None = None
    ) -> list[Proposal]:
        """The proposals in ``states`` (oldest first), optionally of one hazard."""
        self._check_schema()
        query = select(ProposalRow).where(ProposalRow.state.in_(states))
        if hazard is not None:
            query = query.where(ProposalRow.hazard == hazard)
        with self._sessions() as session:
            rows = session.scalars(query.order_by(ProposalRow.issue_time, ProposalRow.id)).all()
            return [_proposal(session, row) for row in rows]

    def heartbeat(self, owner: str, channels: Iterable[str], *, started: bool = False) -> datetime:
        """Record that dispatcher ``owner`` (sending ``channels``) is alive now; return now.

        ``started``: it has just started (its start time is reset)."""
        self._check_schema()
        now = self._clock()
        with self._sessions.begin() as session:
            row = session.get(DispatcherRow, owner)
            if row is None:
                row = DispatcherRow(owner=owner, started_at=now)
                session.add(row)
            elif started:
                row.started_at = now
            row.seen_at, row.channels = now, ",".join(sorted(channels))
        return now

    def waiting_channels(self) -> list[str]:
        """The channels that deliveries waiting to be sent (pending or sending) use."""
        self._check_schema()
        with self._sessions() as session:
            return sorted(
                session.scalars(
                    select(DeliveryRow.channel)
                    .where(DeliveryRow.status.in_(("pending", "sending")))
                    .distinct()
                )
            )

    def dispatchers(self) -> list[tuple[str, datetime, tuple[str, ...]]]:
        """Every dispatcher seen: owner, when last seen, its channels (newest first)."""
        self._check_schema()
        with self._sessions() as session:
            rows = session.scalars(
                select(DispatcherRow).order_by(DispatcherRow.seen_at.desc(), DispatcherRow.owner)
            ).all()
            return [
                (row.owner, row.seen_at, tuple(c for c in row.channels.split(",") if c))
                for row in rows
            ]

    def awaiting_review(self) -> list[AwaitingReview]:
        """Proposals waiting for a forecaster (state ``proposed``; a held one was looked
        at), each with the time its area has waited since: a newer cycle's decision
        supersedes an unreviewed proposal, so the wait starts at the first of the chain."""
        self._check_schema()
        with self._sessions() as session:
            waiting = session.scalars(
                select(ProposalRow)
                .where(ProposalRow.state == "proposed")
                .order_by(ProposalRow.issue_time, ProposalRow.id)
            ).all()
            reviewed = aliased(AuditRow)
            touched = (
                select(reviewed.id)
                .where(
                    reviewed.entity == "proposal",
                    reviewed.entity_id == ProposalRow.id,
                    reviewed.action.in_(_FORECASTER_STEPS),
                )
                .exists()
            )
            found = []
            for row in waiting:
                since, current = row.issue_time, row.id
                last_touch = session.scalar(
                    select(func.max(AuditRow.at)).where(
                        AuditRow.entity == "proposal",
                        AuditRow.entity_id == row.id,
                        AuditRow.action.in_(_FORECASTER_STEPS),
                    )
                )
                if last_touch is not None:  # a forecaster is on it: wait from the last step
                    found.append(
                        AwaitingReview(row.id, row.hazard, row.area, row.level, last_touch)
                    )
                    continue
                for _ in range(10_000):  # a chain is as long as the cycles it spans
                    before = session.scalar(
                        select(ProposalRow)
                        .join(AuditRow, AuditRow.entity_id == ProposalRow.id)
                        .where(
                            AuditRow.entity == "proposal",
                            AuditRow.action == "cancelled",
                            AuditRow.actor == "lifecycle",
                            AuditRow.detail == f"superseded by {current}",
                            ProposalRow.state == "cancelled",
                            ~touched,
                        )
                        .limit(1)
                    )
                    if before is None:
                        break
                    since, current = before.issue_time, before.id
                found.append(AwaitingReview(row.id, row.hazard, row.area, row.level, since))
        return found

    def save_review(
        self,
        before: Proposal,
        after: Proposal,
        messages: Sequence[MessageRecord] = (),
        deliveries: Sequence[NewDelivery] = (),
    ) -> None:
        """Store a review step, and what it sends, in one transaction.

        A withdrawn proposal (``after.state == "cancelled"``) puts its area's warning state
        back to what it was before the proposal, if no later cycle changed it since.

        Raises
        ------
        ReviewError
            If the stored proposal changed since ``before`` was read (another forecaster
            acted): nothing is written; read it again and decide again.
        """
        now = self._clock()
        with self._begin() as session:
            row = session.get(ProposalRow, before.id, with_for_update=True)
            if row is None:
                raise ReviewError(f"no proposal {before.id!r} in {self._where}")
            stored = _proposal(session, row)
            if stored.state != before.state or len(stored.audit) != len(before.audit):
                raise ReviewError(
                    f"proposal {before.id} changed while you reviewed it (now {stored.state}, "
                    f"last step by {stored.audit[-1].by}); reload it and decide again"
                )
            row.state, row.level = after.state, after.decision.level
            row.decision_json, row.text, row.updated_at = to_json(after.decision), after.text, now
            _audit_proposal(session, after, after.audit[len(before.audit) :])
            if after.state == "cancelled":
                self._restore(session, after.decision, row.previous_state_json, now)
            self._add_messages(session, messages, now)
            self._add_deliveries(session, deliveries, now)

    def _restore(
        self, session: Session, decision: Decision, previous: str | None, now: datetime
    ) -> None:
        key = (decision.hazard, decision.area)
        current = session.get(WarningStateRow, key)
        if current is not None:
            state = from_json(ActiveWarning, current.state_json)
            if state.changed > decision.issue_time:
                return  # a later cycle decided anew; leave its state
            session.delete(current)
            session.flush()
        if previous is not None:
            session.add(
                WarningStateRow(
                    hazard=decision.hazard, area=decision.area, state_json=previous, updated_at=now
                )
            )
        session.add(
            AuditRow(
                at=now,
                actor="review",
                entity="warning",
                entity_id=":".join(key),
                action="restored",
                detail="state before the withdrawn proposal",
            )
        )

    # -- the outbox ----------------------------------------------------------------------

    def claim(self, owner: str, limit: int, lease: timedelta) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries to ``owner`` (oldest due first).

        Due: pending with ``next_attempt_at`` reached, or sending under an expired lease (a
        dispatcher died). Safe with several dispatchers: PostgreSQL skips rows another one
        has locked, and the update re-checks that each row is still due. SQLite has no row
        locks: a claim that lost every row it saw to another dispatcher looks again.
        """
        now = self._clock()
        for _ in range(_CLAIM_TRIES):
            claimed, contended = self._claim_once(owner, limit, lease, now)
            if claimed or not contended:
                return claimed
        return []  # other dispatchers took every due row this one saw, again and again

    def _claim_once(
        self, owner: str, limit: int, lease: timedelta, now: datetime
    ) -> tuple[list[Claimed], bool]:
        """One claim; what it leased, and whether it saw due rows (then lost them all to
        another dispatcher that leased them between the read and the update, on SQLite)."""
        token = f"{owner}/{uuid.uuid4().hex[:12]}"
        due = or_(
            and_(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now),
            and_(DeliveryRow.status == "sending", DeliveryRow.lease_until < now),
        )
        with self._begin() as session:
            found = session.execute(
                select(DeliveryRow.id, DeliveryRow.status, DeliveryRow.lease_owner)
                .where(due)
                .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not found:
                return [], False
            session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_([row.id for row in found]), due)
                .values(
                    status="sending",
                    lease_owner=token,
                    lease_until=now + lease,
                    attempts=DeliveryRow.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            rows: list[Any] = []
            for chunk in _chunks([row.id for row in found]):  # by primary key, never a scan
                rows += session.execute(
                    select(*_CLAIMED_COLUMNS).where(
                        DeliveryRow.id.in_(chunk), DeliveryRow.lease_owner == token
                    )
                ).all()
            if not rows:
                return [], True
            rows.sort(key=lambda row: row.id)
            before = {row.id: row for row in found}
            session.execute(
                _AUDIT.insert(),
                [
                    {
                        "at": now,
                        "actor": owner,
                        "entity": "delivery",
                        "entity_id": row.idempotency_key,
                        "action": "sending",
                        "detail": f"attempt {row.attempts}"
                        + (
                            f"; lease of {before[row.id].lease_owner} expired"
                            if before[row.id].status == "sending"
                            else ""
                        ),
                    }
                    for row in rows
                ],
            )
            return [Claimed(row.id, token, row.attempts, _envelope(row)) for row in rows], False

    def settle(
        self,
        token: str,
        actor: str,
        sent: Sequence[int] = (),
        retry: Sequence[tuple[int, datetime, str]] = (),
        dead: Sequence[tuple[int, str]] = (),
    ) -> int:
        """Record the outcome of a claimed batch; return how many rows were still leased.

        ``sent`` ids become sent; ``retry`` (id, next attempt, error) go back to pending;
        ``dead`` (id, reason) become dead letters. Rows whose lease was taken over by another
        dispatcher (this one was too slow) are left to it.
        """
        now = self._clock()
        owned = DeliveryRow.lease_owner == token
        changed = 0
        with self._begin() as session:
            ids = [*sent, *(i for i, _, _ in retry), *(i for i, _ in dead)]
            keys: dict[int, str] = {}
            for id_chunk in _chunks(ids):  # by primary key, never a scan
                keys.update(
                    (row_id, key)
                    for row_id, key in session.execute(
                        select(DeliveryRow.id, DeliveryRow.idempotency_key).where(
                            DeliveryRow.id.in_(id_chunk), owned
                        )
                    ).all()
                )
            audit: list[dict[str, Any]] = []
            for chunk in _chunks(list(sent)):
                result = session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(chunk), owned)
                    .values(
                        status="sent",
                        sent_at=now,
                        lease_owner=None,
                        lease_until=None,
                        last_error=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                changed += int(getattr(result, "rowcount", 0))
            audit += [_audit(now, actor, keys[i], "sent", "") for i in sent if i in keys]
            connection = session.connection()
            if retry:
                result = connection.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id == bindparam("row_id"), owned)
                    .values(
                        status="pending",
                        next_attempt_at=bindparam("next_at"),
                        last_error=bindparam("error"),
                        lease_owner=None,
                        lease_until=None,
                    ),
                    [{"row_id": i, "next_at": at, "error": error} for i, at, error in retry],
                )
                changed += int(getattr(result, "rowcount", 0))
                audit += [
                    _audit(now, actor, keys[i], "retry", f"next attempt {at.isoformat()}: {error}")
                    for i, at, error in retry
                    if i in keys
                ]
            if dead:
                result = connection.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id == bindparam("row_id"), owned)
                    .values(
                        status="dead",
                        last_error=bindparam("error"),
                        lease_owner=None,
                        lease_until=None,
                    ),
                    [{"row_id": i, "error": error} for i, error in dead],
                )
                changed += int(getattr(result, "rowcount", 0))
                audit += [
                    _audit(now, actor, keys[i], "dead", error) for i, error in dead if i in keys
                ]
            if audit:
                session.execute(_AUDIT.insert(), audit)
        return changed

    def release(self, owner: str) -> int:
        """Return the leases of an earlier run of ``owner`` (restarted after a crash).

        Its deliveries become due at once; any it had sent before dying are sent again,
        and receivers drop them by idempotency key.
        """
        now = self._clock()
        mine = and_(DeliveryRow.status == "sending", DeliveryRow.lease_owner.like(f"{owner}/%"))
        with self._begin() as session:
            keys = session.scalars(select(DeliveryRow.idempotency_key).where(mine)).all()
            if not keys:
                return 0
            session.execute(
                update(DeliveryRow)
                .where(mine)
                .values(status="pending", next_attempt_at=now, lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                _AUDIT.insert(),
                [_audit(now, owner, key, "released", "dispatcher restarted") for key in keys],
            )
        return len(keys)

    def requeue(
        self,
        by: str,
        *,
        ids: Sequence[int] | None = None,
        subscriber_id: str | None = None,
        include_expired: bool = False,
    ) -> tuple[list[int], list[int]]:
        """Send dead letters again (after their endpoint was fixed): they become pending,
        due now, with their attempts counted afresh; each is audited as ``requeued``.

        Parameters
        ----------
        by
            Who requeues (the duty officer), for the audit log.
        ids, subscriber_id
            Only these deliveries, only this subscriber's (default: every dead letter).
        include_expired
            Also requeue warnings whose CAP message has expired (by default they are left
            dead: an expired warning sent late misleads more than it informs).

        Returns
        -------
        tuple of list of int
            The ids requeued, and the ids left dead because their warning had expired.
        """
        if not by.strip():
            raise ValueError("who requeues is blank; give your name (it is audited)")
        now = self._clock()
        query = (
            select(
                DeliveryRow.id,
                DeliveryRow.idempotency_key,
                DeliveryRow.attempts,
                MessageRow.expires,
            )
            .outerjoin(MessageRow, MessageRow.identifier == DeliveryRow.message_identifier)
            .where(DeliveryRow.status == "dead")
            .order_by(DeliveryRow.id)
        )
        if ids is not None:
            query = query.where(DeliveryRow.id.in_(list(ids)))
        if subscriber_id is not None:
            query = query.where(DeliveryRow.subscriber_id == subscriber_id)
        with self._begin() as session:
            rows = session.execute(query).all()
            expired = [row.id for row in rows if row.expires is not None and row.expires <= now]
            left = set() if include_expired else set(expired)
            again = [row for row in rows if row.id not in left]
            for chunk in _chunks([row.id for row in again]):
                session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(chunk), DeliveryRow.status == "dead")
                    .values(status="pending", attempts=0, next_attempt_at=now)
                    .execution_options(synchronize_session=False)
                )
            if again:
                session.execute(
                    _AUDIT.insert(),
                    [
                        _audit(
                            now,
                            by,
                            row.idempotency_key,
                            "requeued",
                            f"after {row.attempts} attempts",
                        )
                        for row in again
                    ],
                )
        return [row.id for row in again], [] if include_expired else expired

    # -- reading ---------------------------------------------------------------------------

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
        table = _IMPACT_STATES
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

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery is due (None when nothing is pending)."""
        self._check_schema()
        with self._sessions() as session:
            row = session.scalars(
                select(DeliveryRow)
                .where(DeliveryRow.status.in_(("pending", "sending")))
                .order_by(DeliveryRow.next_attempt_at)
                .limit(1)
            ).first()
        if row is None:
            return None
        return (
            row.lease_until if row.status == "sending" and row.lease_until else row.next_attempt_at
        )

    def messages(self, since: datetime | None = None) -> list[MessageRecord]:
        """The CAP messages recorded, newest first, optionally sent at or after ``since``."""
        self._check_schema()
        query = select(MessageRow).order_by(MessageRow.sent.desc(), MessageRow.identifier)
        if since is not None:
            query = query.where(MessageRow.sent >= since)
        with self._sessions() as session:
            return [_message_record(row) for row in session.scalars(query)]

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


def _audit(at: datetime, actor: str, entity_id: str, action: str, detail: str) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "entity": "delivery",
        "entity_id": entity_id,
        "action": action,
        "detail": detail,
    }


def _audit_proposal(session: Session, proposal: Proposal, entries: Sequence[AuditEntry]) -> None:
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


def _proposal(session: Session, row: ProposalRow) -> Proposal:
    entries = session.scalars(
        select(AuditRow)
        .where(AuditRow.entity == "proposal", AuditRow.entity_id == row.id)
        .order_by(AuditRow.id)
    ).all()
    return Proposal(
        id=row.id,
        decision=from_json(Decision, row.decision_json),
        state=row.state,  # type: ignore[arg-type]
        text=row.text,
        audit=tuple(AuditEntry(e.at, e.actor, e.action, e.detail) for e in entries),
    )


def _message_record(row: MessageRow) -> MessageRecord:
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


def _delivery_row(delivery: NewDelivery, now: datetime) -> dict[str, Any]:
    envelope = delivery.envelope
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
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _envelope(row: Any) -> Envelope:
    return Envelope(
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        target=row.target,
        subscriber_id=row.subscriber_id,
        topic=row.topic,
        subject=row.subject,
        text=row.text,
        content_type=row.content_type,
        body=row.body,
    )


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
    )
