"""What a channel sender is handed, and how it reports each outcome.

The dispatcher (:mod:`alerting.outbox`) reads due deliveries from the outbox, turns each into
an :class:`Envelope` and hands a batch to the :class:`Sender` of the channel. The sender
returns one outcome per envelope, in order: ``None`` when the receiver accepted it, else a
:class:`DeliveryError` saying whether trying again can help (``permanent``). A sender never
raises for one bad envelope; it raises only when it cannot work at all (misconfigured).

The idempotency key travels with every message (HTTP header, MQTT v5 user property, e-mail
``Message-ID``) so that a receiver that honours it processes each delivery once even when
the dispatcher sends it again after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from alerting.errors import DeliveryError

__all__ = ["ChannelKind", "DeliveryError", "Envelope", "Outcome", "Sender"]

ChannelKind = Literal["webhook", "mqtt", "email"]


@dataclass(frozen=True)
class Envelope:
    """One delivery to one channel of one subscriber, ready to send."""

    idempotency_key: str
    """Stable across retries and re-runs of the same cycle (64 hex characters or fewer)."""
    channel: ChannelKind
    target: str
    """The webhook URL, the MQTT topic prefix, or the e-mail address."""
    subscriber_id: str
    topic: str
    """Path below the channel's prefix, e.g. ``typhoon/440304/cap`` (MQTT topic suffix)."""
    subject: str
    """One line for people: the e-mail subject, the headline."""
    text: str
    """The message for people, in the channel's languages (the e-mail body)."""
    content_type: str
    """``application/cap+xml`` or ``application/json``."""
    body: bytes
    """The machine-readable payload: CAP XML or impact JSON (the webhook body, the MQTT
    payload, the e-mail attachment)."""


Outcome = DeliveryError | None
"""``None`` when delivered, else why not."""


class Sender(Protocol):
    """Sends batches of envelopes of one channel kind."""

    channel: ChannelKind

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """Send every envelope; return one outcome per envelope, in order."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
