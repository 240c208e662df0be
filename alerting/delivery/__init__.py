"""Delivery: sending envelopes to subscribers' channels, one outcome per envelope.

Every sender follows :class:`Sender`: ``send_batch(envelopes)`` returns one ``None`` or
:class:`DeliveryError` per envelope, in order, and never raises for one bad envelope.

=============  ==========================================================================
module         what it holds
=============  ==========================================================================
``envelope``   :class:`Envelope`, the :class:`Sender` protocol, :data:`Outcome`
``webhook``    :class:`WebhookSender`: signed HTTP POSTs; :func:`subscriber_secret`,
               :func:`sign`, :func:`verify`, :class:`SignatureError`
``receiver``   :class:`WebhookReceiver`: a reference receiver (loopback HTTP server) that
               verifies signatures and processes each idempotency key once
``mqtt``       :class:`MqttSender`: MQTT v5 QoS 1 publishes, waiting for the PUBACKs
``email``      :class:`SmtpSender`: one e-mail per envelope, the body attached
=============  ==========================================================================
"""

from alerting.delivery.email import SmtpSender, build_message
from alerting.delivery.envelope import ChannelKind, DeliveryError, Envelope, Outcome, Sender
from alerting.delivery.mqtt import IDEMPOTENCY_PROPERTY, MqttSender
from alerting.delivery.receiver import ReceivedDelivery, WebhookReceiver
from alerting.delivery.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    WebhookSender,
    sign,
    subscriber_secret,
    verify,
)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "IDEMPOTENCY_PROPERTY",
    "SIGNATURE_HEADER",
    "ChannelKind",
    "DeliveryError",
    "Envelope",
    "MqttSender",
    "Outcome",
    "ReceivedDelivery",
    "Sender",
    "SignatureError",
    "SmtpSender",
    "WebhookReceiver",
    "WebhookSender",
    "build_message",
    "sign",
    "subscriber_secret",
    "verify",
]
