"""Delivery channels against real servers over real connections.

* Webhook: :class:`WebhookReceiver`, a real HTTP/1.1 server on a loopback port.
* MQTT: the Mosquitto broker of this machine at ``127.0.0.1:1883`` (anonymous); a separate
  paho client subscribes below a fresh topic prefix before anything is published. The MQTT
  tests are skipped, with the reason, only when nothing listens on that port.
* E-mail: an aiosmtpd :class:`~aiosmtpd.controller.Controller` on a free loopback port.

The payload is a real CAP 1.2 message from the shared data, ``cap/examples/taiwan.cap``
(Water Resources Agency, Taiwan, reservoir release warning 水庫洩洪, 2014-05-14; listed as
valid against ``CAP-v1.2.xsd`` in ``cap/cap_examples_index.csv``), so the body carries
non-ASCII text too.
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer  # noqa: N811 (aiosmtpd's name is SMTP)
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session as SmtpSession
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from alerting.delivery import (
    DeliveryError,
    Envelope,
    MqttSender,
    Outcome,
    SignatureError,
    SmtpSender,
    WebhookReceiver,
    WebhookSender,
    sign,
    subscriber_secret,
    verify,
)
from alerting.subscriptions import EmailChannel, MqttChannel, WebhookChannel

MASTER_KEY = hashlib.sha256(b"yujing test deployment master key").digest()
SUBSCRIBER = "sz-futian-metro"
SUBJECT = "深圳市福田区台风红色预警"
TEXT = (
    "深圳市福田区台风红色预警：请立即停止户外作业，地铁高架段列车限速运行。\n"
    "Typhoon red warning for Futian District, Shenzhen: stop outdoor work now."
)
CAP_FILE = "examples/taiwan.cap"
WAIT = 10.0  # seconds any wait may take before the test fails


# -- payload and envelopes ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cap_body(data_root: Path) -> bytes:
    """A real CAP 1.2 message, listed as schema-valid in the shared index."""
    with (data_root / "cap" / "cap_examples_index.csv").open(encoding="utf-8") as index:
        row = next(row for row in csv.DictReader(index) if row["file"] == CAP_FILE)
    assert row["cap_namespace"] == "urn:oasis:names:tc:emergency:cap:1.2"
    assert row["valid_against"] == "CAP-v1.2.xsd:True"
    body = (data_root / "cap" / CAP_FILE).read_bytes()
    assert "水庫洩洪".encode() in body
    return body


def envelope(
    key: str, channel: str, target: str, body: bytes, *, topic: str = "typhoon/440304/cap"
) -> Envelope:
    """An envelope as the dispatcher makes it, with a 64-hex idempotency key from ``key``."""
    return Envelope(
        idempotency_key=hashlib.sha256(key.encode()).hexdigest(),
        channel=channel,  # type: ignore[arg-type]
        target=target,
        subscriber_id=SUBSCRIBER,
        topic=topic,
        subject=SUBJECT,
        text=TEXT,
        content_type="application/cap+xml",
        body=body,
    )


def free_port() -> int:
    """A loopback port nothing listens on (just released by the OS)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def assert_transient(outcome: Outcome, *fragments: str) -> None:
    assert isinstance(outcome, DeliveryError)
    assert not outcome.permanent, outcome.reason
    for fragment in fragments:
        assert fragment in outcome.reason


# -- webhook signatures ------------------------------------------------------------------


def test_subscriber_secrets_differ_and_a_short_master_key_is_refused() -> None:
    metro = subscriber_secret(MASTER_KEY, SUBSCRIBER)
    port = subscriber_secret(MASTER_KEY, "yantian-port")
    assert len(metro) == 32
    assert metro != port
    assert metro == subscriber_secret(MASTER_KEY, SUBSCRIBER)
    with pytest.raises(ValueError, match="16 bytes; use at least 32"):
        subscriber_secret(bytes(16), SUBSCRIBER)
    with pytest.raises(ValueError, match="at least 32"):
        WebhookSender(bytes(31))


def test_verify_accepts_its_signature_and_says_what_is_wrong(cap_body: bytes) -> None:
    secret = subscriber_secret(MASTER_KEY, SUBSCRIBER)
    now = 1_784_000_000
    header = sign(secret, now, "k1", cap_body)
    assert header.startswith(f"t={now},v1=")
    assert verify(secret, header, "k1", cap_body, now=now + 10) == now
    with pytest.raises(SignatureError, match="header is missing"):
        verify(secret, None, "k1", cap_body, now=now)
    with pytest.raises(SignatureError, match="malformed"):
        verify(secret, "v1=abc", "k1", cap_body, now=now)
    with pytest.raises(SignatureError, match="does not match"):
        verify(secret, header, "k1", cap_body + b" ", now=now)
    with pytest.raises(SignatureError, match="does not match"):
        verify(secret, header, "k2", cap_body, now=now)
    with pytest.raises(SignatureError, match="400 s in the past, beyond the 300 s"):
        verify(secret, header, "k1", cap_body, now=now + 400)
    with pytest.raises(SignatureError, match="301 s in the future"):
        verify(secret, header, "k1", cap_body, now=now - 301)


# -- webhook delivery to the real receiver -----------------------------------------------


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(MASTER_KEY) as running:
        yield running


@pytest.fixture
def sender() -> Iterator[WebhookSender]:
    with WebhookSender(MASTER_KEY, timeout=(2.0, 5.0), workers=8) as webhook:
        yield webhook


def webhook_envelope(receiver: WebhookReceiver, key: str, body: bytes) -> Envelope:
    channel = WebhookChannel(kind="webhook", url=receiver.url_for(SUBSCRIBER), languages=("zh-CN",))
    return envelope(key, "webhook", channel.target, body)


def test_webhook_is_delivered_with_a_signature_the_receiver_verifies(
    receiver: WebhookReceiver, sender: WebhookSender, cap_body: bytes
) -> None:
    sent = webhook_envelope(receiver, "first", cap_body)
    assert sender.send_batch([sent]) == [None]
    (delivery,) = receiver.deliveries
    assert delivery.key == sent.idempotency_key
    assert delivery.subscriber_id == SUBSCRIBER
    assert delivery.content_type == "application/cap+xml"
    assert delivery.body == cap_body
    assert receiver.rejected == []
    assert receiver.duplicates == {}


def test_webhook_signed_with_another_key_is_refused_401_and_transient(
    receiver: WebhookReceiver, cap_body: bytes
) -> None:
    other_key = hashlib.sha256(b"another deployment").digest()
    with WebhookSender(other_key) as stranger:
        (outcome,) = stranger.send_batch([webhook_envelope(receiver, "forged", cap_body)])
    assert_transient(outcome, receiver.url_for(SUBSCRIBER), "HTTP 401 Unauthorized")
    assert receiver.deliveries == []
    ((status, reason),) = receiver.rejected
    assert status == 401
    assert "does not match" in reason


def test_webhook_with_a_stale_timestamp_is_rejected_as_a_replay(
    receiver: WebhookReceiver, cap_body: bytes
) -> None:
    with WebhookSender(MASTER_KEY, clock=lambda: time.time() - 900) as late:
        (outcome,) = late.send_batch([webhook_envelope(receiver, "replayed", cap_body)])
    assert_transient(outcome, "HTTP 401")
    assert receiver.deliveries == []
    ((status, reason),) = receiver.rejected
    assert status == 401
    assert "s in the past, beyond the 300 s tolerance" in reason


def test_the_same_key_is_processed_once_and_the_duplicate_counted(
    receiver: WebhookReceiver, sender: WebhookSender, cap_body: bytes
) -> None:
    again = webhook_envelope(receiver, "retried after a crash", cap_body)
    assert sender.send_batch([again]) == [None]
    assert sender.send_batch([again, again]) == [None, None]
    assert [delivery.key for delivery in receiver.deliveries] == [again.idempotency_key]
    assert receiver.duplicates == {again.idempotency_key: 2}


@pytest.mark.parametrize(
    ("status", "permanent", "words"),
    [
        (503, False, "HTTP 503 Service Unavailable"),
        (429, False, "HTTP 429 Too Many Requests"),
        (404, False, "HTTP 404 Not Found"),
        (301, False, "redirects are not followed, fix the subscription's URL"),
        (410, True, "HTTP 410 Gone"),
        (400, True, "HTTP 400 Bad Request"),
        (413, True, "HTTP 413"),
        (422, True, "HTTP 422"),
    ],
)
def test_receiver_status_decides_transient_or_permanent(
    receiver: WebhookReceiver,
    sender: WebhookSender,
    cap_body: bytes,
    status: int,
    permanent: bool,
    words: str,
) -> None:
    receiver.fail_with(status)
    (outcome,) = sender.send_batch([webhook_envelope(receiver, f"status {status}", cap_body)])
    assert isinstance(outcome, DeliveryError)
    assert outcome.permanent is permanent
    assert receiver.url_for(SUBSCRIBER) in outcome.reason
    assert words in outcome.reason
    receiver.fail_with(None)
    assert sender.send_batch([webhook_envelope(receiver, f"status {status}", cap_body)]) == [None]


def test_endpoint_down_is_transient_then_delivered_on_the_same_port(
    receiver: WebhookReceiver, sender: WebhookSender, cap_body: bytes
) -> None:
    before = webhook_envelope(receiver, "before the outage", cap_body)
    during = webhook_envelope(receiver, "during the outage", cap_body)
    assert sender.send_batch([before]) == [None]  # leaves a keep-alive connection open
    port = receiver.port
    receiver.stop()
    (outcome,) = sender.send_batch([during])
    assert_transient(outcome, during.target, "connection refused")
    receiver.start()
    assert receiver.port == port
    assert sender.send_batch([during]) == [None]
    assert [delivery.key for delivery in receiver.deliveries] == [
        before.idempotency_key,
        during.idempotency_key,
    ]


def test_a_batch_of_200_arrives_once_each(
    receiver: WebhookReceiver, sender: WebhookSender, cap_body: bytes
) -> None:
    batch = [webhook_envelope(receiver, f"batch {number}", cap_body) for number in range(200)]
    assert sender.send_batch(batch) == [None] * 200
    assert receiver.wait_for(200, timeout=WAIT)
    keys = [delivery.key for delivery in receiver.deliveries]
    assert sorted(keys) == sorted(sent.idempotency_key for sent in batch)
    assert receiver.duplicates == {}
    assert receiver.rejected == []


def test_receiver_refuses_unsigned_and_oversized_requests(
    receiver: WebhookReceiver, cap_body: bytes
) -> None:
    url = receiver.url_for(SUBSCRIBER)
    key = "0" * 64
    with requests.Session() as session:
        unsigned = session.post(url, data=cap_body, headers={"Yujing-Idempotency-Key": key})
        assert unsigned.status_code == 401
        assert "header is missing" in unsigned.text
        keyless = session.post(url, data=cap_body)
        assert keyless.status_code == 400
        oversized = session.post(url, data=bytes(receiver.max_body + 1))
        assert oversized.status_code == 413
    assert [status for status, _ in receiver.rejected] == [401, 400, 413]
    assert receiver.deliveries == []


def test_a_body_over_the_receivers_limit_is_permanent_413(cap_body: bytes) -> None:
    assert len(cap_body) > 1024
    with (
        WebhookReceiver(MASTER_KEY, max_body=1024) as small,
        WebhookSender(MASTER_KEY) as sender,
    ):
        (outcome,) = sender.send_batch([webhook_envelope(small, "too large", cap_body)])
        assert isinstance(outcome, DeliveryError)
        assert outcome.permanent
        assert "HTTP 413" in outcome.reason
        assert "exceeds the 1024 byte limit" in outcome.reason  # the receiver's own words
        assert small.deliveries == []


def test_a_target_that_is_not_a_url_is_permanent(sender: WebhookSender, cap_body: bytes) -> None:
    (outcome,) = sender.send_batch([envelope("no url", "webhook", "ops.example.cn/hook", cap_body)])
    assert isinstance(outcome, DeliveryError)
    assert outcome.permanent
    assert "fix the subscription's URL" in outcome.reason


# -- MQTT against Mosquitto --------------------------------------------------------------


@dataclass
class Inbox:
    """What a separate subscriber received below one topic prefix."""

    prefix: str
    messages: list[mqtt.MQTTMessage] = field(default_factory=list)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: len(self.messages) >= count, WAIT)


@pytest.fixture
def inbox(broker: tuple[str, int]) -> Iterator[Inbox]:
    """A subscriber (MQTT v5, QoS 1) to a fresh ``yujing-test/<uuid>/#``, ready on return."""
    received = Inbox(prefix=f"yujing-test/{uuid.uuid4().hex}")
    subscribed = threading.Event()

    def on_connect(
        client: mqtt.Client, userdata: Any, flags: Any, code: ReasonCode, props: Any
    ) -> None:
        client.subscribe(f"{received.prefix}/#", qos=1)

    def on_subscribe(
        client: mqtt.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Any
    ) -> None:
        subscribed.set()

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with received.condition:
            received.messages.append(message)
            received.condition.notify_all()

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"yujing-test-inbox-{uuid.uuid4().hex[:12]}",
        protocol=mqtt.MQTTv5,
    )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(*broker)
    client.loop_start()
    try:
        assert subscribed.wait(WAIT), f"no SUBACK from {broker} within {WAIT} s"
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def test_mqtt_batch_of_100_arrives_with_properties(
    broker: tuple[str, int], inbox: Inbox, cap_body: bytes
) -> None:
    prefix = MqttChannel(kind="mqtt", topic_prefix=inbox.prefix, languages=("zh-CN",)).target
    batch = [
        envelope(f"mqtt {number}", "mqtt", prefix, cap_body, topic=f"typhoon/440304/{number}")
        for number in range(100)
    ]
    client_id = f"yujing-test-dispatcher-{uuid.uuid4().hex[:12]}"
    with MqttSender(*broker, client_id=client_id, timeout=WAIT) as sender:
        assert sender.send_batch(batch) == [None] * 100
    assert inbox.wait_for(100)
    expected = {f"{prefix}/{sent.topic}": sent for sent in batch}
    assert len(inbox.messages) == 100
    for message in inbox.messages:
        sent = expected.pop(message.topic)
        assert message.payload == cap_body
        properties: Properties = message.properties
        assert properties.UserProperty == [("idempotency-key", sent.idempotency_key)]
        assert properties.ContentType == "application/cap+xml"
    assert expected == {}


def test_mqtt_message_the_broker_refuses_is_permanent_and_the_rest_delivered(
    broker: tuple[str, int], inbox: Inbox, cap_body: bytes
) -> None:
    # Mosquitto answers a client's publish below $SYS with PUBACK 0x87 (not authorized).
    # Subscriptions cannot name such a prefix; the sender must still report it correctly.
    refused = envelope("sys", "mqtt", "$SYS/yujing", cap_body)
    accepted = envelope("accepted", "mqtt", inbox.prefix, cap_body)
    client_id = f"yujing-test-dispatcher-{uuid.uuid4().hex[:12]}"
    with MqttSender(*broker, client_id=client_id, timeout=WAIT) as sender:
        first, second = sender.send_batch([refused, accepted])
    assert isinstance(first, DeliveryError)
    assert first.permanent
    assert "Not authorized (0x87)" in first.reason
    assert "$SYS/yujing/typhoon/440304/cap" in first.reason
    assert second is None
    assert inbox.wait_for(1)
    assert [message.topic for message in inbox.messages] == [f"{inbox.prefix}/{accepted.topic}"]


def test_mqtt_broker_unreachable_makes_every_outcome_transient(cap_body: bytes) -> None:
    port = free_port()
    batch = [envelope(f"nobody {n}", "mqtt", "yujing/test", cap_body) for n in range(3)]
    with MqttSender("127.0.0.1", port, timeout=2.0) as sender:
        outcomes = sender.send_batch(batch)
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert_transient(outcome, f"127.0.0.1:{port}", "connection refused")


# -- e-mail through aiosmtpd -------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler that keeps what it accepts and refuses ``refused@`` addresses."""

    def __init__(self) -> None:
        self.messages: list[tuple[SmtpEnvelope, bytes]] = []

    async def handle_RCPT(  # noqa: N802 (the name aiosmtpd calls)
        self,
        server: SmtpServer,
        session: SmtpSession,
        envelope: SmtpEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
        self, server: SmtpServer, session: SmtpSession, envelope: SmtpEnvelope
    ) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append((envelope, content))
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A running SMTP server on a free loopback port, and what it received."""
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def email_envelope(address: str, key: str, body: bytes) -> Envelope:
    channel = EmailChannel(kind="email", address=address, languages=("zh-CN", "en-US"))
    return envelope(key, "email", channel.target, body)


def parse(content: bytes) -> EmailMessage:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(content)
    assert isinstance(message, EmailMessage)
    return message


def test_email_is_delivered_with_chinese_text_and_the_cap_attached(
    mailbox: tuple[Mailbox, int], cap_body: bytes
) -> None:
    handler, port = mailbox
    sent = email_envelope("duty@futian-metro.example.cn", "email", cap_body)
    with SmtpSender(port=port, sender="alerts@yujing.example.cn", timeout=WAIT) as sender:
        assert sender.send_batch([sent]) == [None]
    ((smtp_envelope, content),) = handler.messages
    assert smtp_envelope.mail_from == "alerts@yujing.example.cn"
    assert smtp_envelope.rcpt_tos == ["duty@futian-metro.example.cn"]
    assert f"\r\nMessage-ID: <{sent.idempotency_key}@yujing>\r\n".encode() in content
    message = parse(content)
    assert message["Subject"] == SUBJECT
    assert message["To"] == "duty@futian-metro.example.cn"
    assert message["Message-ID"] == f"<{sent.idempotency_key}@yujing>"
    assert message["Yujing-Idempotency-Key"] == sent.idempotency_key
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content_charset() == "utf-8"
    assert text.get_content().rstrip("\n") == TEXT
    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "alert.xml"
    assert attachment.get_content_type() == "application/cap+xml"
    assert attachment.get_payload(decode=True) == cap_body


def test_refused_recipient_is_permanent_and_the_rest_of_the_batch_goes_out(
    mailbox: tuple[Mailbox, int], cap_body: bytes
) -> None:
    handler, port = mailbox
    refused = email_envelope("refused@futian-metro.example.cn", "refused", cap_body)
    accepted = email_envelope("duty@futian-metro.example.cn", "accepted", cap_body)
    with SmtpSender(port=port, timeout=WAIT) as sender:
        first, second = sender.send_batch([refused, accepted])
    assert isinstance(first, DeliveryError)
    assert first.permanent
    assert "550" in first.reason
    assert "refused@futian-metro.example.cn" in first.reason
    assert second is None
    ((_, content),) = handler.messages
    assert parse(content)["Message-ID"] == f"<{accepted.idempotency_key}@yujing>"


def test_smtp_server_down_is_transient(cap_body: bytes) -> None:
    port = free_port()
    batch = [email_envelope("duty@futian-metro.example.cn", "down", cap_body)] * 2
    with SmtpSender(port=port, timeout=2.0) as sender:
        outcomes = sender.send_batch(batch)
    for outcome in outcomes:
        assert_transient(outcome, f"127.0.0.1:{port}", "connection refused")
