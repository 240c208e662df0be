"""One alerting cycle: hazard result → decisions → proposals → CAP → outbox, in one transaction.

::

    result ─► lifecycle.decide ─► review.propose ─┬─ confirmed ─► CAP ─► deliveries ─┐
     (this cycle)   ▲ state from the store        └─ awaiting a forecaster (held)     │
                    │                                                                 ▼
    impact.assess ─► per subscriber asset and rule ─► deliveries (when changed) ─► AlertStore
                                                                         .record_cycle (one commit)

A sector operator's impact forecast is sent when it starts and whenever it changes
(:attr:`~alerting.impact_records.ImpactForecast.state_key`); when a cycle evaluates the
rule as no longer met, an end notice goes on the same thread to the channels that got a
forecast of it. A rule the result cannot answer leaves the forecast in force as it is.

Who receives a warning message: every subscriber with a rule for the hazard whose asset the
warning's area reaches, **plus** everyone who received an earlier message of the same thread
(so an upgrade, downgrade or all-clear reaches whoever got the first warning, even when the
area shrank). Each gets the CAP XML on each of its channels, with the headline and
description in the channel's languages for people. A proposal that waits for a forecaster
sends nothing until :func:`review_proposal` confirms it, and is issued when confirmed.
That includes lowering or lifting a warning whose last message went out at such a level
(``policy.confirm_lowering``, :mod:`alerting.in_force`): the duty forecaster who raised a
red signal also lifts it, whatever the inputs say, and meanwhile the cycle renews the red
in force before it expires.

Idempotency keys are SHA-256 of the message identifier (or the impact's state), the
subscriber and the channel: re-running a cycle re-creates the same keys, and the store keeps
the first of each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import shapely
import xarray as xr

from alerting.cap import CapAlert, CapReference, to_xml
from alerting.delivery.envelope import Envelope
from alerting.impact import ImpactForecast, Unassessed, assess
from alerting.in_force import in_force, kept_in_force, review_rule
from alerting.lifecycle import Decision, LifecyclePolicy, decide
from alerting.messages import MessageContext, decision_to_cap
from alerting.outbox.records import (
    CycleReceipt,
    ImpactUpdate,
    MessageRecord,
    NewDelivery,
    impact_thread,
    warning_thread,
)
from alerting.outbox.store import AlertStore
from alerting.review import Proposal, propose
from alerting.subscriptions import SubscriptionStore
from alerting.subscriptions.request import HAZARDS, SubscriptionRequest
from alerting.subscriptions.store import AssetMatch

__all__ = [
    "AlertingSetup",
    "alerting_cycle",
    "idempotency_key",
    "needs_message",
    "review_proposal",
    "thread_alert",
    "warning_message",
]


@dataclass(frozen=True)
class AlertingSetup:
    """What a deployment's alerting of one hazard needs besides the stores."""

    context: MessageContext
    policy: LifecyclePolicy
    partition: str
    """The scheme's warning areas: ``community``, ``subdistrict`` or ``district``."""
    levels: Mapping[str, int]
    """The scheme's level names and their ranks (for edits)."""


def idempotency_key(*parts: str) -> str:
    """SHA-256 (hex) of the parts: the same delivery always gets the same key."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def thread_alert(
    proposal: Proposal,
    context: MessageContext,
    previous: MessageRecord | None,
    sent: datetime | None = None,
) -> CapAlert:
    """The CAP alert of a confirmed proposal, threaded on the last message *sent* for its area.

    The lifecycle's own reference is to the previous decision, which may never have been
    sent (a red upgrade a forecaster held or withdrew). The thread follows what went out:
    an Update or Cancel references the area's last recorded message; with none in force
    (never one, or the last was a Cancel) the message is a new Alert, and a Cancel of a
    warning that never went out is not sent at all (callers check :func:`needs_message`).
    A new warning (``issue``) for an area whose message is still in force (the lifecycle
    moved on while its lifting waited for a forecaster) is an Update on that thread, never
    a second Alert beside it. An edited text replaces the description in every language.

    ``sent``: when a forecaster's confirmation sends it (default: the decision's issue
    time); the message is issued then, with the decision's validity from then.
    """
    decision = proposal.decision
    if sent is not None and sent != decision.issue_time:
        validity = decision.expires - decision.issue_time
        decision = replace(decision, issue_time=sent, expires=sent + validity)
    alert = decision_to_cap(decision, context)
    threaded = previous is not None and previous.msg_type != "Cancel"
    if decision.action == "issue":
        threaded = in_force(previous, decision.issue_time)
    if not threaded:
        alert = replace(alert, msg_type="Alert", references=())
    else:
        assert previous is not None
        reference = CapReference(context.sender, previous.identifier, previous.sent)
        msg_type = "Update" if alert.msg_type == "Alert" else alert.msg_type
        alert = replace(alert, msg_type=msg_type, references=(reference,))
    if proposal.text:
        alert = replace(
            alert,
            infos=tuple(replace(info, description=proposal.text) for info in alert.infos),
        )
    return alert


def needs_message(proposal: Proposal, previous: MessageRecord | None) -> bool:
    """Whether a confirmed proposal sends a message (a Cancel of nothing sent does not)."""
    in_force = previous is not None and previous.msg_type != "Cancel"
    return proposal.decision.action != "cancel" or in_force


def warning_message(proposal: Proposal, alert: CapAlert, context: MessageContext) -> MessageRecord:
    """The message to record for a confirmed proposal's CAP alert."""
    xml = to_xml(alert, tz=ZoneInfo(context.timezone))
    first = alert.infos[0]
    return MessageRecord(
        proposal_id=proposal.id,
        identifier=alert.identifier,
        hazard=proposal.decision.hazard,
        area=proposal.decision.area,
        msg_type=alert.msg_type,
        level=proposal.decision.level,
        sent=alert.sent,
        expires=first.expires or alert.sent,
        headline=first.headline or first.event,
        xml=xml,
    )


def _area_shape(context: MessageContext, communities: Sequence[str]) -> shapely.Geometry | None:
    layer = context.communities
    chosen = np.isin(layer["community_id"].values.astype(str), list(communities))
    if not chosen.any():
        return None
    return shapely.unary_union(shapely.from_wkt(layer["geometry_wkt"].values[chosen]))


def _texts(alert: CapAlert, languages: tuple[str, ...]) -> tuple[str, str]:
    infos = [info for info in alert.infos if info.language in languages] or list(alert.infos)
    subject = " / ".join(info.headline or info.event for info in infos)
    text = "\n\n".join(
        "\n".join(part for part in (info.headline, info.description, info.instruction) if part)
        for info in infos
    )
    return subject, text


def _warning_deliveries(
    message: MessageRecord,
    alert: CapAlert,
    decision: Decision,
    context: MessageContext,
    subscriptions: SubscriptionStore,
    earlier: set[str],
    matched: Sequence[AssetMatch] | None = None,
) -> list[NewDelivery]:
    """``matched``: the assets the warning's area reaches, when the cycle already found
    them (else they are looked up here)."""
    recipients = set(earlier)
    if matched is None:
        shape = _area_shape(context, decision.communities)
        if shape is not None:
            matched = subscriptions.assets_matching(decision.hazard, shape)
    recipients |= {match.subscriber_id for match in matched or ()}
    deliveries = []
    stored = subscriptions.get_many(sorted(recipients))
    for subscriber_id in sorted(recipients):
        subscription = stored.get(subscriber_id)
        if subscription is None:
            continue  # unsubscribed since the earlier message
        deliveries += _to_channels(
            subscription.request,
            message.identifier,
            f"{decision.hazard}/{decision.area}/cap",
            "application/cap+xml",
            message.xml,
            lambda languages: _texts(alert, languages),
            kind="warning",
            thread=warning_thread(message.hazard, message.area),
            expires=None if message.msg_type == "Cancel" else message.expires,
        )
    return deliveries


def _to_channels(
    request: SubscriptionRequest,
    what: str,
    topic: str,
    content_type: str,
    body: bytes,
    texts: Callable[[tuple[str, ...]], tuple[str, str]],
    kind: Literal["warning", "impact"],
    thread: str,
    expires: datetime | None,
) -> list[NewDelivery]:
    """One delivery per channel of ``request``; ``what`` is the message identifier of a
    warning, or what identifies an impact forecast (both feed the idempotency key);
    ``thread`` and ``expires`` as :class:`~alerting.outbox.NewDelivery` takes them."""
    deliveries = []
    for channel in request.channels:
        subject, text = texts(channel.languages)
        envelope = Envelope(
            idempotency_key=idempotency_key(
                what, request.subscriber.id, channel.kind, channel.target
            ),
            channel=channel.kind,
            target=channel.target,
            subscriber_id=request.subscriber.id,
            topic=topic,
            subject=subject,
            text=text,
            content_type=content_type,
            body=body,
        )
        deliveries.append(
            NewDelivery(
                envelope, kind, what if kind == "warning" else None, thread=thread, expires=expires
            )
        )
    return deliveries


def _outgoing(
    proposal: Proposal,
    previous: MessageRecord | None,
    setup: AlertingSetup,
    alerts: AlertStore,
    subscriptions: SubscriptionStore,
    matched: Sequence[AssetMatch] | None = None,
    sent: datetime | None = None,
) -> tuple[list[MessageRecord], list[NewDelivery]]:
    """The message and deliveries of a confirmed proposal; ``previous`` is its area's last
    recorded message (``alerts.last_message``), ``sent`` when a review sends it."""
    decision = proposal.decision
    if not needs_message(proposal, previous):
        return [], []
    alert = thread_alert(proposal, setup.context, previous, sent)
    message = warning_message(proposal, alert, setup.context)
    earlier: set[str] = set()
    for reference in alert.references:
        earlier |= alerts.recipients_of(reference.identifier)
    deliveries = _warning_deliveries(
        message, alert, decision, setup.context, subscriptions, earlier, matched
    )
    return [message], deliveries


def alerting_cycle(
    result: xr.Dataset,
    issue_time: datetime,
    setup: AlertingSetup,
    alerts: AlertStore,
    subscriptions: SubscriptionStore,
) -> CycleReceipt:
    """Decide, propose and queue one cycle's warnings; record it all in one transaction.

    Re-running a recorded cycle changes nothing and returns a receipt saying so.
    """
    hazard = str(result.attrs.get("hazard", "?"))
    if alerts.is_recorded(hazard, issue_time):
        return CycleReceipt(hazard, issue_time, True, 0, 0, 0, 0)
    active = alerts.active_warnings(hazard)
    decisions, state = decide(result, active, setup.policy, setup.partition, issue_time)
    sent = {d.area: alerts.last_message(d.hazard, d.area) for d in decisions}
    decisions = [
        review_rule(d, setup.policy, sent[d.area], setup.levels, partial(_communities, alerts))
        for d in decisions
    ]
    proposals = [propose(decision, issue_time) for decision in decisions]
    proposals += _kept(hazard, issue_time, setup.policy, proposals, sent, alerts)
    region, by_proposal = _matches(hazard, proposals, setup.context, subscriptions)
    impacts, unassessed = _impacts(
        result, hazard, issue_time, setup.context, alerts, subscriptions, region
    )
    messages: list[MessageRecord] = []
    deliveries: list[NewDelivery] = []
    for proposal in proposals:
        if proposal.state == "confirmed":
            new_messages, outgoing = _outgoing(
                proposal,
                sent[proposal.decision.area],
                setup,
                alerts,
                subscriptions,
                by_proposal.get(proposal.id),
            )
            messages += new_messages
            deliveries += outgoing
    receipt = alerts.record_cycle(
        hazard,
        issue_time,
        state,
        proposals,
        messages,
        deliveries,
        impacts,
        {(u.subscriber_id, u.asset_id, u.rule_position) for u in unassessed},
    )
    return replace(receipt, unassessed=_notes(unassessed))


def _communities(alerts: AlertStore, message: MessageRecord) -> tuple[str, ...]:
    """The communities ``message`` went out for (its proposal's, as confirmed)."""
    return alerts.proposal(message.proposal_id).decision.communities


def _kept(
    hazard: str,
    issue_time: datetime,
    policy: LifecyclePolicy,
    proposals: Sequence[Proposal],
    sent: dict[str, MessageRecord | None],
    alerts: AlertStore,
) -> list[Proposal]:
    """Extensions of the messages in force whose area waits for a forecaster
    (:func:`alerting.in_force.kept_in_force`); none where this cycle sends one anyway."""
    sending = {p.decision.area for p in proposals if p.state == "confirmed"}
    waiting = [
        p
        for p in [*alerts.proposals(hazard=hazard), *proposals]
        if p.state in ("proposed", "held") and p.decision.area not in sending
    ]

    def last_message(area: str) -> MessageRecord | None:
        if area not in sent:
            sent[area] = alerts.last_message(hazard, area)
        return sent[area]

    return kept_in_force(
        issue_time, policy, waiting, last_message, lambda m: alerts.proposal(m.proposal_id)
    )


def _matches(
    hazard: str,
    proposals: Sequence[Proposal],
    context: MessageContext,
    subscriptions: SubscriptionStore,
) -> tuple[list[AssetMatch] | None, dict[str, list[AssetMatch]]]:
    """The assets in the region (for impacts) and in each confirmed warning's area, read
    from the store at once; ``None`` and ``{}`` where the callees look them up alone."""
    if hazard not in HAZARDS:
        return None, {}
    shapes = {
        proposal.id: shape
        for proposal in proposals
        if proposal.state == "confirmed"
        and proposal.decision.hazard == hazard
        and (shape := _area_shape(context, proposal.decision.communities)) is not None
    }
    box = shapely.box(*_region_box(context))
    found = subscriptions.assets_matching_each(hazard, [box, *shapes.values()])
    return found[0], dict(zip(shapes, found[1:], strict=True))


def _region_box(context: MessageContext) -> tuple[float, float, float, float]:
    bounds = shapely.from_wkt(context.communities["geometry_wkt"].values).tolist()
    box = tuple(float(v) for v in shapely.total_bounds(bounds))
    return box[0], box[1], box[2], box[3]


def _impact_texts(
    forecast: ImpactForecast, timezone: str, languages: tuple[str, ...]
) -> tuple[str, str]:
    subject = " / ".join(forecast.subject(language) for language in languages)
    return subject, forecast.text(languages, timezone)


def _impacts(
    result: xr.Dataset,
    hazard: str,
    issue_time: datetime,
    context: MessageContext,
    alerts: AlertStore,
    subscriptions: SubscriptionStore,
    matches: list[AssetMatch] | None = None,
) -> tuple[list[ImpactUpdate], list[Unassessed]]:
    """Impact forecasts for every subscribed asset in the region, as outbox updates: of the
    rules met, and the end of those in force (``alerts``) no longer met.

    ``matches``: the region's assets, when the cycle already found them."""
    if hazard not in HAZARDS:
        return [], []
    layer = context.communities
    if matches is None:
        matches = subscriptions.assets_matching(hazard, _region_box(context))
    if not matches:
        return [], []
    in_force = alerts.impacts_in_force(hazard)
    forecasts, unassessed = assess(result, layer, matches, issue_time, not_met=in_force)
    requests = subscriptions.get_many([m.subscriber_id for m in matches])
    updates = []
    for forecast in forecasts:
        subscription = requests.get(forecast.subscriber_id)
        if subscription is None:
            continue  # unsubscribed meanwhile
        body = forecast.to_json()
        what = f"impact\x1f{hazard}\x1f{issue_time.isoformat()}\x1f{forecast.state_key}"
        deliveries = _to_channels(
            subscription.request,
            what,
            f"{hazard}/impact/{forecast.asset_id}",
            "application/json",
            body,
            partial(_impact_texts, forecast, context.timezone),
            kind="impact",
            thread=impact_thread(
                hazard, forecast.subscriber_id, forecast.asset_id, forecast.rule_position
            ),
            expires=forecast.expires,
        )
        updates.append(
            ImpactUpdate(
                hazard,
                forecast.subscriber_id,
                forecast.asset_id,
                forecast.rule_position,
                forecast.state_key,
                tuple(deliveries),
                body,
                ended=not forecast.met,
            )
        )
    return updates, unassessed


def _notes(unassessed: Sequence[Unassessed]) -> tuple[str, ...]:
    return tuple(
        f"{u.subscriber_id}/{u.asset_id} rule {u.rule_position}: {u.reason}" for u in unassessed
    )


def review_proposal(
    proposal_id: str,
    step: Callable[[Proposal], Proposal],
    setup: AlertingSetup,
    alerts: AlertStore,
    subscriptions: SubscriptionStore,
) -> Proposal:
    """Apply a forecaster's review step (confirm, edit, hold, cancel) and store it.

    ``step`` is one of :mod:`alerting.review`'s functions with its arguments bound, e.g.
    ``lambda p: confirm(p, "duty-1", now)``. A step that confirms queues the message and
    its deliveries in the same transaction as the new state.
    """
    before = alerts.proposal(proposal_id)
    after = step(before)
    if after.state == "confirmed" and before.state != "confirmed":
        decision = after.decision
        previous = alerts.last_message(decision.hazard, decision.area)
        messages, deliveries = _outgoing(
            after, previous, setup, alerts, subscriptions, sent=_sent_at(after, previous)
        )
        alerts.save_review(before, after, messages, deliveries)
    else:
        alerts.save_review(before, after)
    return after


def _sent_at(confirmed: Proposal, previous: MessageRecord | None) -> datetime:
    """When a forecaster's confirmation issues ``confirmed``: the time of the confirming
    step, to the second (CAP ``sent``), never before its decision nor before the area's
    last message (a message kept in force meanwhile), so the thread stays in order."""
    at = confirmed.audit[-1].at.replace(microsecond=0)
    at = max(at, confirmed.decision.issue_time)
    if previous is not None and previous.sent >= at:
        at = previous.sent + timedelta(seconds=1)
    return at
