"""The alert store's review queue: proposals waiting for the duty forecaster, how long
they have waited, and a review step stored with what it sends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from alerting.errors import ReviewError
from alerting.lifecycle import ActiveWarning, Decision
from alerting.outbox._base import StoreBase, audit_proposal
from alerting.outbox.records import AwaitingReview, MessageRecord, NewDelivery, from_json, to_json
from alerting.outbox.tables import AuditRow, ProposalRow, WarningStateRow
from alerting.review import AuditEntry, Proposal

__all__ = ["ReviewStore"]

_FORECASTER_STEPS = ("held", "edited")
"""Audit actions by which a forecaster has looked at a proposal (it no longer waits unseen)."""


class ReviewStore(StoreBase):
    """Proposals: read, waiting, reviewed."""

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
        back to what it was before the proposal, if no later cycle changed it since; a
        withdrawn downgrade or cancellation (the forecaster keeps the level) restarts the
        wait before the lowering is proposed again.

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
            audit_proposal(session, after, after.audit[len(before.audit) :])
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
            if decision.action in ("downgrade", "cancel"):
                # The forecaster kept the level: the lowering is asked again only once the
                # lower proposal has lasted the policy's downgrade_after from now.
                kept = from_json(ActiveWarning, previous)
                previous = to_json(replace(kept, lower_since=now))
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
