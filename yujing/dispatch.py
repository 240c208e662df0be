"""``yujing dispatch``: run the outbox dispatcher against an alert database.

::

    YUJING_WEBHOOK_KEY=<64 hex> yujing dispatch --database sqlite:///out/alerts.db \\
        --mqtt 127.0.0.1:1883 --smtp 127.0.0.1:25 --until idle

The webhook master key signs every webhook (each subscriber's key is derived from it; see
:mod:`alerting.delivery.webhook`). It is read from ``--webhook-key-file`` or the
``YUJING_WEBHOOK_KEY`` environment variable as hex, never from the command line (which other
users of the machine can see). A channel left unconfigured is not an error: its deliveries
wait in the outbox, retried with backoff, until a dispatcher that has it runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from datetime import timedelta
from pathlib import Path
from types import FrameType

from rich.console import Console

from alerting.delivery import MqttSender, SmtpSender, WebhookSender
from alerting.delivery.envelope import Sender
from alerting.outbox import AlertStore, Dispatcher, DispatchReport, RetryPolicy
from ingest.errors import YujingError

__all__ = ["add_dispatch_parser", "master_key"]

KEY_VARIABLE = "YUJING_WEBHOOK_KEY"


def master_key(key_file: Path | None) -> bytes | None:
    """The webhook master key from ``key_file`` or ``$YUJING_WEBHOOK_KEY`` (hex), if any."""
    if key_file is not None:
        try:
            text, where = key_file.read_text(encoding="ascii").strip(), str(key_file)
        except (OSError, UnicodeDecodeError) as err:
            raise YujingError(f"--webhook-key-file {key_file}: cannot read it ({err})") from None
    else:
        text, where = os.environ.get(KEY_VARIABLE, "").strip(), f"${KEY_VARIABLE}"
        if not text:
            return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise YujingError(
            f"{where}: the webhook key is not hex; write 64 hex digits, e.g. from "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`"
        ) from None
    if len(key) < 32:
        raise YujingError(f"{where}: the webhook key has {len(key)} bytes; use at least 32")
    return key


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise YujingError(f"{option} {text!r}: write HOST:PORT, e.g. 127.0.0.1:1883")
    return host, int(port)


def _senders(args: argparse.Namespace) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    key = master_key(args.webhook_key_file)
    if key is not None:
        senders["webhook"] = WebhookSender(key, workers=args.workers)
    if args.mqtt:
        host, port = _host_port(args.mqtt, "--mqtt")
        senders["mqtt"] = MqttSender(host, port, client_id=f"yujing-{args.owner}")
    if args.smtp:
        host, port = _host_port(args.smtp, "--smtp")
        senders["email"] = SmtpSender(host, port, sender=args.smtp_from)
    return senders


def _dispatch(args: argparse.Namespace, console: Console) -> int:
    policy = RetryPolicy(
        max_attempts=args.max_attempts,
        first_delay=timedelta(seconds=args.first_delay),
        lease=timedelta(seconds=args.lease),
        send_expired=args.send_expired,
    )
    store = AlertStore(args.database)
    senders = _senders(args)
    dispatcher = Dispatcher(store, senders, owner=args.owner, policy=policy, batch_size=args.batch)
    try:
        released = dispatcher.start()
        if released:
            console.print(f"took back {released} deliveries an earlier run left leased")
        if args.until == "once":
            report = dispatcher.run_once()
        elif args.until == "idle":
            report = dispatcher.run_until_idle()
        else:
            stop = threading.Event()

            def _stop(signum: int, frame: FrameType | None) -> None:
                stop.set()

            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
            report = dispatcher.run_forever(stop, poll=args.poll)
    finally:
        dispatcher.close()
        counts = store.delivery_counts()
        store.close()
    _print(console, report, counts, sorted(senders))
    return 0


def _print(
    console: Console, report: DispatchReport, counts: dict[str, int], channels: list[str]
) -> None:
    console.print(
        f"dispatched with {', '.join(channels) or 'no channels'}: {report.claimed} claimed, "
        f"{report.sent} sent, {report.retried} to retry, {report.dead} dead letters, "
        f"{report.expired} expired before sending (dead letters, not sent late), "
        f"{report.superseded} superseded by newer ones before sending in "
        f"{report.seconds:.2f} s; outbox now "
        + ", ".join(f"{status} {count}" for status, count in sorted(counts.items())),
        highlight=False,
    )


def add_dispatch_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``dispatch`` command to the ``yujing`` parser."""
    parser = commands.add_parser("dispatch", help="send what the alert outbox holds")
    parser.add_argument("--database", required=True, help="alert database URL (SQLAlchemy)")
    parser.add_argument("--owner", default="dispatcher", help="stable name of this dispatcher")
    parser.add_argument(
        "--until",
        choices=("once", "idle", "forever"),
        default="idle",
        help="one batch, until nothing is due, or until SIGTERM",
    )
    parser.add_argument("--webhook-key-file", type=Path, default=None)
    parser.add_argument("--mqtt", default=None, help="MQTT broker HOST:PORT")
    parser.add_argument("--smtp", default=None, help="SMTP server HOST:PORT")
    parser.add_argument("--smtp-from", default="yujing@localhost")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=16, help="concurrent webhook requests")
    parser.add_argument("--lease", type=float, default=120.0, help="lease per batch, seconds")
    parser.add_argument("--first-delay", type=float, default=30.0, help="first retry, seconds")
    parser.add_argument("--max-attempts", type=int, default=10)
    parser.add_argument("--poll", type=float, default=1.0, help="idle wait, seconds")
    parser.add_argument(
        "--send-expired",
        action="store_true",
        help="push deliveries past their expiry too (a warning's CAP message, an impact "
        "forecast's window; after an outage, or a demo on past data); by default they "
        "become dead letters saying so",
    )
    parser.set_defaults(handler=_dispatch)
