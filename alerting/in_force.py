"""What the public has in force, and what a cycle may change of it without a forecaster.

The lifecycle (:mod:`alerting.lifecycle`) decides from hazard results alone; what went out
is the alert store's. Where a level is kept for the duty forecaster (``confirm_levels``)
the two can differ for hours: a red upgrade held for a look at the radar, the lifting of a
red signal waiting for the forecaster who raised it. This module holds the rules that
compare a decision with the area's last message:

In force
    An area's last message, unless it is a Cancel or it expired before the cycle's time
    (:func:`in_force`): a message expiring at that very instant still counts, since a
    warning valid for as long as the cycles are apart meets the cycle that renews or
    lowers it exactly at its expiry.

Lowering needs the forecaster (``policy.confirm_lowering``)
    A decision that would put an area below a confirm level in force (a cancellation, or
    any action at a lower level: after a held lifting the lifecycle may propose a new,
    lower warning for the area) waits for a forecaster, however the lifecycle calls it.

Prolonging does not (``policy.confirm_lowering``)
    A decision at the level in force over the same communities only prolongs what a
    forecaster confirmed: it goes out by policy, so a red signal is not left to lapse at
    its expiry because its extension waited for a confirmation.

Kept in force while the forecaster is asked (:func:`kept_in_force`)
    While a proposal for an area waits for the forecaster and its message in force nears
    expiry (``policy.extend_before``), the cycle extends that message as it went out (level,
    communities, text) by policy. An expiry is a lifting nobody decided: a red signal whose
    lifting awaits the forecaster stays red, an orange whose red upgrade is held stays
    orange. A confirm level is kept so only with ``confirm_lowering``; without it the policy
    lets it lapse as it lets it be lowered. The extension supersedes no proposal: the
    forecaster's question stays open (and the review check keeps paging,
    :mod:`alerting.health`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from alerting.lifecycle import Decision, LifecyclePolicy
from alerting.outbox.records import MessageRecord
from alerting.review import AuditEntry, Proposal, propose

__all__ = ["in_force", "kept_in_force", "renewed_while_waiting", "review_rule"]


def in_force(message: MessageRecord | None, at: datetime) -> bool:
    """Whether ``message`` (an area's last) is in force at a cycle's time ``at``: not a
    Cancel, not expired before ``at``."""
    return message is not None and message.msg_type != "Cancel" and message.expires >= at


def renewed_while_waiting(level: str, policy: LifecyclePolicy) -> bool:
    """Whether a message in force at ``level`` is renewed while a proposal for its area
    waits (:func:`kept_in_force`): a level the policy issues by itself always, a confirm
    level only with ``confirm_lowering``."""
    return level not in policy.confirm_levels or policy.confirm_lowering


def review_rule(
    decision: Decision,
    policy: LifecyclePolicy,
    last: MessageRecord | None,
    levels: Mapping[str, int],
    last_communities: Callable[[MessageRecord], tuple[str, ...]],
) -> Decision:
    """``decision`` with ``needs_confirmation`` set by what its area has in force (``last``).

    ``levels`` ranks the scheme's level names; ``last_communities`` gives the communities a
    message went out for (read only when the levels match).
    """
    if not policy.confirm_lowering or not in_force(last, decision.issue_time):
        return decision
    assert last is not None
    if last.level not in policy.confirm_levels:
        return decision
    if decision.action == "cancel" or levels[decision.level] < levels[last.level]:
        return replace(decision, needs_confirmation=True)
    if (
        decision.needs_confirmation
        and decision.level == last.level
        and set(decision.communities) == set(last_communities(last))
    ):
        return replace(decision, needs_confirmation=False)
    return decision


def kept_in_force(
    issue_time: datetime,
    policy: LifecyclePolicy,
    waiting: Sequence[Proposal],
    last_message: Callable[[str], MessageRecord | None],
    source: Callable[[MessageRecord], Proposal],
) -> list[Proposal]:
    """Extensions, confirmed by policy, of the messages in force whose area waits for a
    forecaster and which would expire within ``policy.extend_before`` of ``issue_time``.

    A message renewed this way never lapses as long as a cycle runs at least every
    ``extend_before`` (the lifecycle's own extensions need the same).

    Parameters
    ----------
    waiting
        Proposals of one hazard waiting for a forecaster (stored and this cycle's), each
        area's newest last.
    last_message
        The area's last message (``AlertStore.last_message`` for the hazard).
    source
        The proposal a message went out for (its decision and edited text).
    """
    pending = {proposal.decision.area: proposal for proposal in waiting}
    kept = []
    for area, question in sorted(pending.items()):
        last = last_message(area)
        if not in_force(last, issue_time):
            continue
        assert last is not None
        if last.expires - issue_time > policy.extend_before:
            continue
        if not renewed_while_waiting(last.level, policy):
            continue
        sent = source(last)
        why = (
            f"kept in force: proposal {question.id} ({question.decision.action} "
            f"{question.decision.level}) awaits the duty forecaster"
        )
        decision = replace(
            sent.decision,
            action="extend",
            previous_level=last.level,
            issue_time=issue_time,
            expires=issue_time + policy.validity,
            previous_issue_time=last.sent,
            needs_confirmation=False,
            keeps_in_force=True,
            evidence={**sent.decision.evidence, "kept_in_force": why},
        )
        proposal = propose(decision, issue_time)
        entry = AuditEntry(issue_time, "policy", "confirmed", why)
        kept.append(replace(proposal, text=sent.text, audit=(proposal.audit[0], entry)))
    return kept
