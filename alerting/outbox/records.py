"""What the alert store takes in and gives back, and the JSON of lifecycle state.

:class:`ActiveWarning` and :class:`Decision` are stored as JSON text (times as ISO 8601
UTC), so a warning's whole state reads back equal after a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from alerting.delivery.envelope import Envelope
from alerting.lifecycle import ActiveWarning, Decision

__all__ = [
    "AuditRecord",
    "AwaitingReview",
    "CycleReceipt",
    "DeliveryRecord",
    "ImpactRecord",
    "ImpactUpdate",
    "MessageRecord",
    "NewDelivery",
    "from_json",
    "impact_thread",
    "to_json",
    "warning_thread",
]

_Lifecycle = TypeVar("_Lifecycle", ActiveWarning, Decision)
_TIMES = {
    "issued",
    "changed",
    "expires",
    "onset",
    "lower_since",
    "issue_time",
    "previous_issue_time",
}


def to_json(value: ActiveWarning | Decision) -> str:
    """The JSON text of a warning state or a decision (keys sorted, times ISO 8601)."""
    data: dict[str, Any] = {}
    for item in fields(value):
        field_value = getattr(value, item.name)
        if isinstance(field_value, datetime):
            field_value = field_value.isoformat()
        elif isinstance(field_value, tuple):
            field_value = list(field_value)
        data[item.name] = field_value
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def from_json(kind: type[_Lifecycle], text: str) -> _Lifecycle:
    """Read back what :func:`to_json` wrote."""
    data = json.loads(text)
    for name in _TIMES & set(data):
        if data[name] is not None:
            data[name] = datetime.fromisoformat(data[name])
    if "communities" in data:
        data["communities"] = tuple(data["communities"])
    return kind(**data)


@dataclass(frozen=True)
class NewDelivery:
    """An outbox entry to write: an envelope and what it carries.

    ``thread`` names what it speaks about (``warning/<hazard>/<area>``,
    ``impact/<hazard>/<subscriber>/<asset>/<rule>``): queued, it supersedes the unsent
    deliveries of the same thread to the same recipient, and goes out only after the ones
    being sent. ``expires``: when what it carries stops being true (aware UTC); past it,
    it is not pushed. ``None`` for either: no ordering, never too late.
    """

    envelope: Envelope
    kind: Literal["warning", "impact"]
    message_identifier: str | None = None
    thread: str | None = None
    expires: datetime | None = None


def warning_thread(hazard: str, area: str) -> str:
    """The thread of the warnings of ``hazard`` in ``area`` (its CAP messages' thread)."""
    return f"warning/{hazard}/{area}"


def impact_thread(hazard: str, subscriber_id: str, asset_id: str, rule_position: int) -> str:
    """The thread of the impact forecasts of one subscriber's asset and rule."""
    return f"impact/{hazard}/{subscriber_id}/{asset_id}/{rule_position}"


@dataclass(frozen=True)
class ImpactUpdate:
    """The impact forecast of one asset and rule this cycle, with its deliveries.

    The deliveries are written only when ``state_key`` differs from the one last recorded
    for the same hazard, subscriber, asset and rule.

    ``ended``: the rule is evaluated and no longer met. If a forecast of it is in force,
    that ends; the deliveries (the end notice) go only to the channels that were sent, or
    are being sent, a forecast of its thread (the others never heard of the impact).
    """

    hazard: str
    subscriber_id: str
    asset_id: str
    rule_position: int
    state_key: str
    deliveries: tuple[NewDelivery, ...]
    forecast: bytes = b""
    """The impact forecast as JSON (what the deliveries carry), kept for pulling."""
    ended: bool = False


@dataclass(frozen=True)
class AwaitingReview:
    """A proposal waiting for a forecaster, and since when its area has waited: the issue
    time of the first of the unreviewed proposals it superseded (or its own)."""

    proposal_id: str
    hazard: str
    area: str
    level: str
    since: datetime


@dataclass(frozen=True)
class ImpactRecord:
    """The impact forecast in force for one asset and rule: the one last sent."""

    hazard: str
    subscriber_id: str
    asset_id: str
    rule_position: int
    issue_time: datetime
    forecast: bytes


@dataclass(frozen=True)
class CycleReceipt:
    """What one recorded cycle wrote (all zero when the cycle had been recorded before)."""

    hazard: str
    issue_time: datetime
    already_recorded: bool
    proposals: int
    messages: int
    deliveries: int
    impacts_unchanged: int
    unassessed: tuple[str, ...] = ()
    """Subscribers' rules this hazard result cannot answer, each with the reason."""
    impacts_ended: int = 0
    """Impact forecasts in force that this cycle ended (end notices are in ``deliveries``)."""


@dataclass(frozen=True)
class DeliveryRecord:
    """An outbox entry as stored."""

    id: int
    idempotency_key: str
    kind: str
    subscriber_id: str
    channel: str
    target: str
    status: Literal["pending", "sending", "sent", "dead", "superseded"]
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    message_identifier: str | None
    thread: str | None = None
    expires: datetime | None = None


@dataclass(frozen=True)
class MessageRecord:
    """A CAP message: as a cycle or a review records it, and as the store gives it back."""

    identifier: str
    proposal_id: str
    hazard: str
    area: str
    msg_type: str
    level: str
    sent: datetime
    expires: datetime
    headline: str
    xml: bytes


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log."""

    at: datetime
    actor: str
    entity: str
    entity_id: str
    action: str
    detail: str
