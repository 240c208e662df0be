"""MQTT delivery: QoS 1 publishes to a broker, one topic per alert below each prefix.

Every envelope is published to ``f"{envelope.target}/{envelope.topic}"`` (the subscriber's
prefix, then e.g. ``typhoon/440304/cap``) with the body as payload and MQTT v5 properties:

* user property ``idempotency-key`` = the envelope's key (receivers de-duplicate on it),
* ``Content Type`` = the envelope's content type,
* ``Message Expiry Interval``, when the sender was given ``message_expiry``.

A batch is published at once and the sender then waits for the broker's PUBACKs (within
``timeout`` seconds of the start of the batch):

============================================  =========================================
what happened                                 outcome
============================================  =========================================
PUBACK with a success code (< 0x80)           delivered (``None``)
PUBACK 0x87 not authorized, 0x90 topic name   permanent :class:`DeliveryError`
invalid, 0x99 payload format invalid, ...
PUBACK 0x91 packet id in use, 0x97 quota      transient (the broker was busy)
exceeded
no PUBACK in time, not connected, refused     transient, naming broker and topic
============================================  =========================================

A PUBACK means the broker took responsibility for the message, not that a subscriber got
it. The client connects on the first batch, then paho's network thread keeps the
connection (and reconnects after a loss). It honours the broker's *Receive Maximum*.
"""

from __future__ import annotations

import copy
import ssl
import threading
import time
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alerting.delivery.envelope import ChannelKind, Envelope, Outcome
from alerting.errors import DeliveryError

__all__ = ["IDEMPOTENCY_PROPERTY", "MqttSender"]

IDEMPOTENCY_PROPERTY = "idempotency-key"
"""Name of the MQTT v5 user property that carries the idempotency key."""

_TRANSIENT_PUBACK_CODES = frozenset({0x91, 0x97})  # packet identifier in use, quota exceeded
_KEEPALIVE_SECONDS = 60
_PUBLISH_PROPERTIES = Properties(PacketTypes.PUBLISH)  # empty; copied per message


class MqttSender:
    """Publishes envelopes to an MQTT v5 broker with QoS 1 and waits for the PUBACKs.

    Parameters
    ----------
    host, port
        The broker.
    client_id
        The MQTT client identifier; two dispatchers must not share one.
    username, password
        Broker credentials, when it asks for them.
    tls
        ``True`` for TLS with the system's trusted CAs, or an :class:`ssl.SSLContext`
        (e.g. one trusting a private CA).
    qos
        1 (at least once) or 2 (exactly once to the broker). QoS 0 is refused: it has no
        acknowledgement, so a lost message would look delivered.
    timeout
        Seconds a batch may take, from connecting to the last PUBACK.
    max_inflight
        Most unacknowledged messages at once (lowered to the broker's Receive Maximum).
    message_expiry
        Seconds after which the broker discards an undelivered message; ``None`` keeps it
        until it is delivered.
    """

    channel: ChannelKind = "mqtt"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        client_id: str = "yujing-dispatcher",
        username: str | None = None,
        password: str | None = None,
        tls: bool | ssl.SSLContext = False,
        qos: int = 1,
        timeout: float = 10.0,
        max_inflight: int = 1000,
        message_expiry: float | None = None,
    ) -> None:
        if qos not in (1, 2):
            raise ValueError(
                f"qos={qos}; use 1 (or 2): QoS 0 has no acknowledgement, so a lost alert "
                "would be reported as delivered"
            )
        if timeout <= 0:
            raise ValueError(f"timeout={timeout} s; pass a positive number of seconds")
        if message_expiry is not None and not 1 <= message_expiry < 2**32:
            raise ValueError(f"message_expiry={message_expiry} s; pass 1 to 4294967295 or None")
        self.host = host
        self.port = port
        self._client_id = client_id
        self._username = username
        self._password = password
        self._tls = tls
        self._qos = qos
        self._timeout = timeout
        self._max_inflight = max_inflight
        self._message_expiry = message_expiry
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._connack: ReasonCode | None = None
        self._acks: dict[int, ReasonCode] = {}
        self._receive_maximum: int | None = None

    def __enter__(self) -> MqttSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def broker(self) -> str:
        """``host:port`` of the broker, as named in messages."""
        return f"{self.host}:{self.port}"

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """Publish every envelope and wait for its PUBACK; one outcome per envelope.

        Parameters
        ----------
        envelopes
            Envelopes of the ``mqtt`` channel; ``target`` is the topic prefix.

        Returns
        -------
        list of DeliveryError or None
            ``None`` where the broker acknowledged the message, else why not (see the
            module table). A broker that cannot be reached makes every outcome transient.
        """
        if not envelopes:
            return []
        deadline = time.monotonic() + self._timeout
        problem = self._connect(deadline)
        if problem is not None:
            return [DeliveryError(problem) for _ in envelopes]
        client = self._client
        assert client is not None  # set by _connect
        window = self._window()
        pending: list[tuple[str, mqtt.MQTTMessageInfo | DeliveryError]] = []
        for index, envelope in enumerate(envelopes):
            if index >= window:  # at most `window` of ours unacknowledged at once
                _wait(pending[index - window][1], deadline)
            topic = f"{envelope.target}/{envelope.topic}"
            try:
                info = client.publish(
                    topic, envelope.body, qos=self._qos, properties=self._properties(envelope)
                )
            except ValueError as err:  # a wildcard in the topic, an oversized payload
                refused = DeliveryError(
                    f"MQTT topic {topic!r} cannot be published to ({err}); fix the "
                    "subscription's topic prefix",
                    permanent=True,
                )
                pending.append((topic, refused))
                continue
            pending.append((topic, info))
        return [self._outcome(topic, info, deadline) for topic, info in pending]

    def close(self) -> None:
        """Disconnect from the broker and stop the network thread."""
        client, self._client = self._client, None
        if client is None:
            return
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    # -- connection ------------------------------------------------------------------

    def _connect(self, deadline: float) -> str | None:
        """Connect once (then paho keeps the connection); why not, or None when connected."""
        if self._client is None:
            client = self._new_client()
            try:
                client.connect(self.host, self.port, keepalive=_KEEPALIVE_SECONDS)
            except OSError as err:  # refused, unreachable, DNS failure, TLS failure
                return f"MQTT broker {self.broker} could not be reached: {_describe(err)}"
            client.loop_start()
            self._client = client
        if not self._connected.wait(max(deadline - time.monotonic(), 0.0)):
            with self._lock:
                connack = self._connack
            if connack is not None and connack.is_failure:
                return (
                    f"MQTT broker {self.broker} refused the connection: {connack.getName()} "
                    f"(0x{connack.value:02X}); check client_id, username and password"
                )
            return f"MQTT broker {self.broker} is not connected (reconnecting); try later"
        return None

    def _new_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self._client_id,
            protocol=mqtt.MQTTv5,
        )
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if isinstance(self._tls, ssl.SSLContext):
            client.tls_set_context(self._tls)
        elif self._tls:
            client.tls_set_context(ssl.create_default_context())
        client.max_inflight_messages_set(self._max_inflight)
        client.max_queued_messages_set(0)  # no limit: a batch is queued whole
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._connack = reason_code
        if reason_code.is_failure:
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        with self._lock:
            self._receive_maximum = receive_maximum if isinstance(receive_maximum, int) else None
        self._connected.set()

    def _window(self) -> int:
        """How many messages may await their PUBACK at once (MQTT v5 Receive Maximum)."""
        with self._lock:
            receive_maximum = self._receive_maximum
        if receive_maximum is None or receive_maximum < 1:
            return self._max_inflight
        return min(self._max_inflight, receive_maximum)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        with self._lock:
            self._acks[mid] = reason_code

    # -- one message -----------------------------------------------------------------

    def _properties(self, envelope: Envelope) -> Properties:
        # A shallow copy of an empty template: Properties() builds its lookup tables anew
        # each time (most of a publish's cost); the copy shares them, read-only.
        properties = copy.copy(_PUBLISH_PROPERTIES)
        properties.UserProperty = [(IDEMPOTENCY_PROPERTY, envelope.idempotency_key)]
        properties.ContentType = envelope.content_type
        if self._message_expiry is not None:
            properties.MessageExpiryInterval = int(self._message_expiry)
        return properties

    def _outcome(
        self, topic: str, info: mqtt.MQTTMessageInfo | DeliveryError, deadline: float
    ) -> Outcome:
        if isinstance(info, DeliveryError):
            return info
        where = f"MQTT broker {self.broker}, topic {topic}"
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_AGAIN):
            return DeliveryError(f"{where}: not sent ({mqtt.error_string(info.rc)})")
        published = _wait(info, deadline)
        if isinstance(published, str):
            return DeliveryError(f"{where}: not sent ({published})")
        if not published:
            return DeliveryError(f"{where}: no PUBACK within {self._timeout:g} s")
        with self._lock:
            reason = self._acks.pop(info.mid, None)
        if reason is None or not reason.is_failure:
            return None
        refusal = (
            f"{where}: the broker refused the message: {reason.getName()} (0x{reason.value:02X})"
        )
        if reason.value in _TRANSIENT_PUBACK_CODES:
            return DeliveryError(refusal)
        return DeliveryError(f"{refusal}; sending it again cannot help", permanent=True)


def _wait(info: mqtt.MQTTMessageInfo | DeliveryError, deadline: float) -> bool | str:
    """Wait until the deadline for the PUBACK; whether it came, or why it cannot come."""
    if isinstance(info, DeliveryError):
        return info.reason
    try:
        info.wait_for_publish(max(deadline - time.monotonic(), 0.0))
        return info.is_published()
    except (ValueError, RuntimeError) as err:  # what paho raises for a failed publish
        return str(err)


def _describe(err: OSError) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is the broker running?)"
    if isinstance(err, TimeoutError):
        return "connecting timed out"
    return f"{type(err).__name__}: {err}"
