"""The alert store's cycle: the warnings in force, and one cycle written in one transaction
(warning state, proposals, CAP messages, deliveries, impact states)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from alerting.errors import OutboxError
from alerting.lifecycle import ActiveWarning
from alerting.outbox._base import (
    IMPACT_STATES,
    StoreBase,
    audit_proposal,
    mark_superseded,
    message_record,
    pending_in,
    recipient,
    rows_for,
)
from alerting.outbox.records import (
    CycleReceipt,
    ImpactUpdate,
    MessageRecord,
    NewDelivery,
    from_json,
    impact_thread,
    to_json,
)
from alerting.outbox.tables import (
    AuditRow,
    CycleRow,
    DeliveryRow,
    MessageRow,
    ProposalRow,
    WarningStateRow,
)
from alerting.review import Proposal

__all__ = ["CycleStore"]


class CycleStore(StoreBase):
    """Warning state per hazard and area, and :meth:`record_cycle`."""

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

    def impacts_in_force(self, hazard: str) -> set[tuple[str, str, int]]:
        """(subscriber, asset, rule position) of the impact forecasts of ``hazard`` in force."""
        self._check_schema()
        table = IMPACT_STATES
        with self._sessions() as session:
            rows = session.execute(
                select(table.c.subscriber_id, table.c.asset_id, table.c.rule_position).where(
                    table.c.hazard == hazard
                )
            ).all()
        return {(row.subscriber_id, row.asset_id, row.rule_position) for row in rows}

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
        return None if row is None else message_record(row)

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
        unassessed: Collection[tuple[str, str, int]] = (),
    ) -> CycleReceipt:
        """Write one cycle's outcome in one transaction (or nothing, if it was recorded).

        ``state`` is the whole new warning state of ``hazard`` (areas missing from it have
        no warning any more). ``impacts`` are the impact forecasts of the rules met and the
        end notices of those no longer met (:class:`ImpactUpdate`); an impact forecast in
        force that is in neither ends without notice (its subscriber or rule is gone),
        unless its (subscriber, asset, rule position) is in ``unassessed``: the result
        could not answer the rule, and the forecast stays in force.

        A cycle older than the newest recorded one is refused: its state would overwrite a
        newer one.

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
                impact_deliveries, unchanged, ended = self._impact_states(
                    session, hazard, impacts, unassessed, issue_time, now
                )
                written += self._add_deliveries(session, impact_deliveries, now)
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
            hazard,
            issue_time,
            False,
            len(proposals),
            len(messages),
            written,
            unchanged,
            impacts_ended=ended,
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
        audit_proposal(session, proposal, proposal.audit)
        if decision.keeps_in_force:
            return  # kept while a forecaster is asked: the question stays open
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

    def _impact_states(
        self,
        session: Session,
        hazard: str,
        impacts: Sequence[ImpactUpdate],
        unassessed: Collection[tuple[str, str, int]],
        issue_time: datetime,
        now: datetime,
    ) -> tuple[list[NewDelivery], int, int]:
        """Update the impact states; return the deliveries to queue (of the impacts that
        changed, and the end notices), how many impacts did not change, and how many ended.

        The impacts not forecast this cycle end, except those of ``unassessed`` rules (the
        result could not tell): their states are removed (if one comes back it is sent
        again) and their deliveries not sent yet are withdrawn.
        """
        hazards = {hazard} | {impact.hazard for impact in impacts}
        table = IMPACT_STATES
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
        current = {(hazard, *key) for key in unassessed}
        added: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        notices: dict[str, ImpactUpdate] = {}
        for impact in impacts:
            key = (impact.hazard, impact.subscriber_id, impact.asset_id, impact.rule_position)
            if impact.ended:
                if key in stored:
                    notices[impact_thread(*key)] = impact
                continue
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
        deliveries = [delivery for impact in changed for delivery in impact.deliveries]
        ended = [key for key in stored if key not in current]
        if ended:
            connection.execute(
                table.delete().where(where),
                [
                    {
                        "k_hazard": key[0],
                        "k_subscriber_id": key[1],
                        "k_asset_id": key[2],
                        "k_rule_position": key[3],
                    }
                    for key in ended
                ],
            )
            threads = [impact_thread(*key) for key in ended]
            cycle = f"the {hazard} cycle of {issue_time:%Y-%m-%d %H:%M} UTC"
            _withdraw(session, threads, cycle, now)
            ending = [notices[thread] for thread in threads if thread in notices]
            deliveries += _to_those_told(session, ending)
        unchanged = sum(not impact.ended for impact in impacts) - len(changed)
        return deliveries, unchanged, len(ended)


def _to_those_told(session: Session, notices: Sequence[ImpactUpdate]) -> list[NewDelivery]:
    """The deliveries of end ``notices`` whose recipient (subscriber, channel, target) was
    sent, or is being sent, a forecast of the notice's thread."""
    told = {
        (row.thread, row.subscriber_id, row.channel, row.target)
        for row in rows_for(
            session,
            lambda chunk: select(
                DeliveryRow.thread,
                DeliveryRow.subscriber_id,
                DeliveryRow.channel,
                DeliveryRow.target,
            ).where(DeliveryRow.thread.in_(chunk), DeliveryRow.status.in_(("sent", "sending"))),
            sorted({str(d.thread) for notice in notices for d in notice.deliveries}),
        )
    }
    return [
        delivery
        for notice in notices
        for delivery in notice.deliveries
        if recipient(delivery) in told
    ]


def _withdraw(session: Session, threads: Sequence[str], cycle: str, now: datetime) -> int:
    """Supersede the unsent deliveries of impact ``threads`` that ``cycle`` no longer
    forecasts (a forecast the model has withdrawn is not pushed late); return how many."""
    pending = pending_in(session, threads)
    reason = f"withdrawn before it was sent: {cycle} no longer forecasts this impact"
    reasons = {(row.id, row.idempotency_key): reason for row in pending}
    return mark_superseded(session, reasons, now, "alerting")
