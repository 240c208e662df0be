"""The outbox as the dispatcher works it: claim under a lease, settle (sent, retry, dead
letter), release after a crash, requeue dead letters, and the dispatchers' heartbeats."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import String, and_, bindparam, cast, exists, literal, or_, select, update
from sqlalchemy.orm import aliased

from alerting.delivery.envelope import Envelope
from alerting.outbox._base import (
    AUDIT,
    DELIVERIES,
    StoreBase,
    audit_deliveries,
    chunks,
    delivery_audit,
    mark_superseded,
    rows_for,
    superseded_reason,
)
from alerting.outbox.tables import DeliveryRow, DispatcherRow

__all__ = ["Claim", "Claimed", "DeliveryQueue", "Requeued"]

_CLAIM_TRIES = 5
_CLAIMED_COLUMNS = tuple(
    DELIVERIES.c[name]
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


class Requeued(NamedTuple):
    """What :meth:`DeliveryQueue.requeue` did: ids requeued, and ids left dead."""

    requeued: list[int]
    expired: list[int]
    """Past their expiry (requeue them with ``include_expired``)."""
    superseded: list[int]
    """Replaced by a newer delivery of their thread to the same recipient."""


@dataclass(frozen=True)
class Claim:
    """What one claim leased, and the due deliveries it settled unsent instead."""

    claimed: list[Claimed]
    expired: int = 0
    """Past their ``expires`` (a warning expired, an impact window ended): dead letters."""
    superseded: int = 0
    """Replaced by a newer delivery of their thread to the same recipient."""


class DeliveryQueue(StoreBase):
    """The outbox's delivery side (the :class:`~alerting.outbox.dispatcher.Dispatcher`)."""

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

    def claim(
        self, owner: str, limit: int, lease: timedelta, send_expired: bool = False
    ) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries to ``owner``: :meth:`claim_counting`'s
        deliveries alone."""
        return self.claim_counting(owner, limit, lease, send_expired).claimed

    def claim_counting(
        self, owner: str, limit: int, lease: timedelta, send_expired: bool = False
    ) -> Claim:
        """Lease up to ``limit`` due deliveries to ``owner`` (oldest due first); return
        them, and how many due ones were settled unsent instead.

        Due: pending with ``next_attempt_at`` reached, or sending under an expired lease (a
        dispatcher died). Safe with several dispatchers: PostgreSQL skips rows another one
        has locked, and the update re-checks that each row is still due. SQLite has no row
        locks: a claim that lost every row it saw to another dispatcher looks again.

        Within a thread to one recipient, deliveries go out in order: one waits while an
        older one is being sent, and one that a newer delivery replaces (queued while it
        waited for a retry, or requeued from the dead letters) becomes ``superseded``,
        unsent: a receiver never gets an older forecast after a newer one.

        What expired before any send succeeded (a warning's CAP message, an impact
        forecast's window; the dispatcher was down, the endpoint refused for hours) is not
        pushed late: an expired signal arriving after an outage misleads more than it
        informs. It becomes a dead letter that says so, audited, unless ``send_expired``.
        A ``Cancel`` has no expiry: it lifts a warning the receiver may still hold.
        """
        now = self._clock()
        tries = expired = superseded = 0
        while tries < _CLAIM_TRIES:
            claimed, contended, buried, replaced = self._claim_once(
                owner, limit, lease, now, send_expired
            )
            expired, superseded = expired + buried, superseded + replaced
            if claimed or not (contended or buried or replaced):
                return Claim(claimed, expired, superseded)
            tries += 0 if buried or replaced else 1  # settled unsent: look again
        return Claim([], expired, superseded)  # other dispatchers took every due row, again

    def _claim_once(
        self, owner: str, limit: int, lease: timedelta, now: datetime, send_expired: bool
    ) -> tuple[list[Claimed], bool, int, int]:
        """One claim; what it leased, whether it saw due rows (then lost them all to
        another dispatcher that leased them between the read and the update, on SQLite),
        how many expired deliveries it made dead letters and how many it superseded."""
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
            ahead = _triage(session, [row.id for row in found], now)
            found = [row for row in found if row.id not in ahead.waiting]
            if not found:
                return [], False, 0, 0
            ids = [row.id for row in found]
            replaced = _supersede_due(session, ahead.replaced, due, now, owner)
            buried = 0 if send_expired else _bury_expired(session, ahead.expired, due, now, owner)
            session.connection().execute(
                DELIVERIES.update()
                .where(DELIVERIES.c.id.in_(ids), due)  # not the ones just settled unsent
                .values(
                    status="sending",
                    lease_owner=token,
                    lease_until=now + lease,
                    attempts=DELIVERIES.c.attempts + 1,
                )
            )
            leased = DELIVERIES.c.lease_owner == token
            rows = rows_for(  # by primary key, never a scan
                session,
                lambda chunk: select(*_CLAIMED_COLUMNS).where(DELIVERIES.c.id.in_(chunk), leased),
                ids,
            )
            if not rows:
                return [], True, buried, replaced
            rows.sort(key=lambda row: row.id)
            taken = {row.id: row.lease_owner for row in found if row.status == "sending"}
            attempt = literal("attempt ") + cast(DELIVERIES.c.attempts, String)
            for chunk in chunks([i for i in ids if i not in taken]):
                where = and_(DELIVERIES.c.id.in_(chunk), leased)
                audit_deliveries(session, where, now, owner, "sending", attempt)
            if taken:  # a dispatcher died holding them: say whose lease expired
                session.execute(
                    AUDIT.insert(),
                    [
                        delivery_audit(
                            now,
                            owner,
                            row.idempotency_key,
                            "sending",
                            f"attempt {row.attempts}; lease of {taken[row.id]} expired",
                        )
                        for row in rows
                        if row.id in taken
                    ],
                )
            claimed = [Claimed(row.id, token, row.attempts, _envelope(row)) for row in rows]
            return claimed, False, buried, replaced

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
        owned = DELIVERIES.c.lease_owner == token
        changed = 0
        with self._begin() as session:
            connection = session.connection()
            for chunk in chunks(list(sent)):  # by primary key, never a scan
                mine = and_(DELIVERIES.c.id.in_(chunk), owned)
                audit_deliveries(session, mine, now, actor, "sent")  # still leased: before
                result = connection.execute(
                    DELIVERIES.update()
                    .where(mine)
                    .values(
                        status="sent",
                        sent_at=now,
                        lease_owner=None,
                        lease_until=None,
                        last_error=None,
                    )
                )
                changed += int(getattr(result, "rowcount", 0))
            failed = [*(i for i, _, _ in retry), *(i for i, _ in dead)]
            keys: dict[int, str] = dict(
                rows_for(
                    session,
                    lambda chunk: select(DELIVERIES.c.id, DELIVERIES.c.idempotency_key).where(
                        DELIVERIES.c.id.in_(chunk), owned
                    ),
                    failed,
                )
            )
            audit: list[dict[str, Any]] = []
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
                    delivery_audit(
                        now, actor, keys[i], "retry", f"next attempt {at.isoformat()}: {error}"
                    )
                    for i, at, error in retry
                    if i in keys
                ]
            if dead:
                changed += _make_dead(connection, owned, dead)
                audit += [
                    delivery_audit(now, actor, keys[i], "dead", error)
                    for i, error in dead
                    if i in keys
                ]
            if audit:
                session.execute(AUDIT.insert(), audit)
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
                AUDIT.insert(),
                [
                    delivery_audit(now, owner, key, "released", "dispatcher restarted")
                    for key in keys
                ],
            )
        return len(keys)

    def requeue(
        self,
        by: str,
        *,
        ids: Sequence[int] | None = None,
        subscriber_id: str | None = None,
        include_expired: bool = False,
    ) -> Requeued:
        """Send dead letters again (after their endpoint was fixed): they become pending,
        due now, with their attempts counted afresh; each is audited as ``requeued``.

        Parameters
        ----------
        by
            Who requeues (the duty officer), for the audit log.
        ids, subscriber_id
            Only these deliveries, only this subscriber's (default: every dead letter).
        include_expired
            Also requeue deliveries past their expiry (a warning's CAP message, an impact
            forecast's window; by default they are left dead: sent late, they mislead more
            than they inform); only a dispatcher with ``send_expired`` sends them, others
            make them dead again.

        Dead letters that a newer delivery of their thread to the same recipient replaces
        are left dead whatever is asked: sent now, they would arrive after the newer one.

        Returns
        -------
        Requeued
            The ids requeued, those left dead because they expired, and those left dead
            because a newer delivery replaces them.
        """
        if not by.strip():
            raise ValueError("who requeues is blank; give your name (it is audited)")
        now = self._clock()
        query = (
            select(
                DeliveryRow.id,
                DeliveryRow.idempotency_key,
                DeliveryRow.attempts,
                DeliveryRow.expires,
                _REPLACED.label("replaced"),
            )
            .where(DeliveryRow.status == "dead")
            .order_by(DeliveryRow.id)
        )
        if ids is not None:
            query = query.where(DeliveryRow.id.in_(list(ids)))
        if subscriber_id is not None:
            query = query.where(DeliveryRow.subscriber_id == subscriber_id)
        with self._begin() as session:
            rows = session.execute(query).all()
            superseded = [row.id for row in rows if row.replaced]
            expired = [
                row.id
                for row in rows
                if row.expires is not None and row.expires <= now and not row.replaced
            ]
            left = set(superseded) | (set() if include_expired else set(expired))
            again = [row for row in rows if row.id not in left]
            for chunk in chunks([row.id for row in again]):
                session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(chunk), DeliveryRow.status == "dead")
                    .values(status="pending", attempts=0, next_attempt_at=now)
                    .execution_options(synchronize_session=False)
                )
            if again:
                session.execute(
                    AUDIT.insert(),
                    [
                        delivery_audit(
                            now,
                            by,
                            row.idempotency_key,
                            "requeued",
                            f"after {row.attempts} attempts",
                        )
                        for row in again
                    ],
                )
        return Requeued([row.id for row in again], [] if include_expired else expired, superseded)

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


_OTHER = aliased(DeliveryRow, name="other")
_SAME_RECIPIENT = and_(  # another delivery of the same thread to the same recipient
    _OTHER.thread == DeliveryRow.thread,
    _OTHER.subscriber_id == DeliveryRow.subscriber_id,
    _OTHER.channel == DeliveryRow.channel,
    _OTHER.target == DeliveryRow.target,
)
_REPLACED = exists().where(_SAME_RECIPIENT, _OTHER.id > DeliveryRow.id)
_BEHIND_IN_FLIGHT = exists().where(
    _SAME_RECIPIENT,
    _OTHER.id < DeliveryRow.id,
    _OTHER.status == "sending",
    _OTHER.lease_until >= bindparam("now"),
)
_EXPIRY = {"warning": "its warning expired", "impact": "its impact forecast's window ended"}


@dataclass(frozen=True)
class _Ahead:
    """What stands before sending the due deliveries a claim found."""

    waiting: set[int]
    """Behind an older delivery of their thread to the same recipient that is being sent
    (its lease runs): they wait for its outcome."""
    replaced: list[tuple[int, str]]
    """(id, key) replaced by a newer delivery of their thread to the same recipient."""
    expired: list[tuple[int, str, str, datetime]]
    """(id, key, kind, expires) past their expiry."""


def _triage(session: Any, ids: list[int], now: datetime) -> _Ahead:
    """Sort the due deliveries ``ids`` a claim found: looked up for those rows alone, by
    primary key (not for every due row, before the limit)."""
    rows = rows_for(
        session,
        lambda chunk: select(
            DeliveryRow.id,
            DeliveryRow.idempotency_key,
            DeliveryRow.kind,
            DeliveryRow.expires,
            _REPLACED.label("replaced"),
            _BEHIND_IN_FLIGHT.label("behind"),
        ).where(DeliveryRow.id.in_(chunk)),
        ids,
        {"now": now},
    )
    return _Ahead(
        waiting={row.id for row in rows if row.behind and not row.replaced},
        replaced=[(row.id, row.idempotency_key) for row in rows if row.replaced],
        expired=[
            (row.id, row.idempotency_key, row.kind, row.expires)
            for row in rows
            if not (row.replaced or row.behind) and row.expires is not None and row.expires <= now
        ],
    )


def _supersede_due(
    session: Any, replaced: list[tuple[int, str]], due: Any, now: datetime, actor: str
) -> int:
    """Supersede the due deliveries ``replaced`` (id, key), naming the newest delivery of
    their thread to the same recipient; return how many."""
    newest: dict[int, tuple[int, str]] = {}
    for row_id, newer_id, newer_key in rows_for(
        session,
        lambda chunk: (
            select(DeliveryRow.id, _OTHER.id, _OTHER.idempotency_key)
            .join(_OTHER, and_(_SAME_RECIPIENT, _OTHER.id > DeliveryRow.id))
            .where(DeliveryRow.id.in_(chunk))
        ),
        [row_id for row_id, _ in replaced],
    ):
        if newest.get(row_id, (-1, ""))[0] < newer_id:
            newest[row_id] = (newer_id, newer_key)
    reasons = {(row_id, key): superseded_reason(newest[row_id][1]) for row_id, key in replaced}
    return mark_superseded(session, reasons, now, actor, due)


def _bury_expired(
    session: Any,
    expired: list[tuple[int, str, str, datetime]],
    due: Any,
    now: datetime,
    actor: str,
) -> int:
    """Make dead letters of the due deliveries ``expired`` (id, key, kind, expires), each
    with the reason and an audit record; return how many."""
    if not expired:
        return 0
    reasons = {
        row_id: (
            f"not sent: {_EXPIRY[kind]} at {expires:%Y-%m-%d %H:%M} UTC before a send "
            "succeeded, and what has expired is not pushed late (to send it anyway: "
            "`yujing alerts requeue --include-expired`, then `yujing dispatch --send-expired`)"
        )
        for row_id, _, kind, expires in expired
    }
    _make_dead(session.connection(), due, list(reasons.items()))
    session.execute(
        AUDIT.insert(),
        [delivery_audit(now, actor, key, "dead", reasons[row_id]) for row_id, key, _, _ in expired],
    )
    return len(expired)


def _make_dead(connection: Any, where: Any, dead: Sequence[tuple[int, str]]) -> int:
    """Make dead letters of the deliveries ``dead`` (id, reason) that still meet ``where``
    (leased by the settling dispatcher, or still due); return how many changed."""
    result = connection.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id == bindparam("row_id"), where)
        .values(status="dead", last_error=bindparam("error"), lease_owner=None, lease_until=None),
        [{"row_id": row_id, "error": error} for row_id, error in dead],
    )
    return int(getattr(result, "rowcount", 0))


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
