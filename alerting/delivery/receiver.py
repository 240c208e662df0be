"""A reference webhook receiver: a real HTTP server that verifies and de-duplicates.

It is what a subscriber can copy, and what the tests and benchmarks post to. For each
``POST /hooks/<subscriber_id>`` it

1. reads the body (``Content-Length`` required: 411 without; 413 above ``max_body``),
2. verifies ``Yujing-Signature`` with the subscriber's secret (derived from the master key
   with :func:`~alerting.delivery.webhook.subscriber_secret`): 401 when it is missing,
   malformed, wrong, or its timestamp lies outside the tolerance (replay protection),
3. answers ``200 duplicate`` without processing again when the ``Yujing-Idempotency-Key``
   was already processed, else records the delivery and answers ``200 ok``.

==================  ===========================================================
status              meaning
==================  ===========================================================
200 ``ok``          processed (recorded in :attr:`WebhookReceiver.deliveries`)
200 ``duplicate``   this key was processed before; counted, not processed again
400                 no ``Yujing-Idempotency-Key`` header
401                 signature missing, malformed, wrong, or outside the tolerance
404                 the path is not ``/hooks/<subscriber_id>``
411, 413            no ``Content-Length``; body larger than ``max_body``
==================  ===========================================================

The processed keys are kept in memory here. A production receiver keeps them in its own
database, committed together with the processing, for at least the dispatcher's retry
horizon, so that a redelivery after a crash or restart is still recognised.

For tests, :meth:`WebhookReceiver.fail_with` makes it answer one status to everything, and
:meth:`WebhookReceiver.stop` / :meth:`WebhookReceiver.start` take the endpoint down (the
port refuses connections) and bring it back on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from alerting.delivery.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    subscriber_secret,
    verify,
)
from alerting.errors import AlertingError

__all__ = ["MAX_BODY_BYTES", "ReceivedDelivery", "WebhookReceiver"]

MAX_BODY_BYTES = 1024 * 1024
"""The largest body the receiver reads (1 MiB); larger ones are answered 413."""

_HOOKS_PREFIX = "/hooks/"
_DRAIN_LIMIT = 16 * 1024 * 1024  # oversized bodies up to this size are read and dropped


@dataclass(frozen=True)
class ReceivedDelivery:
    """One delivery the receiver processed."""

    key: str
    """The ``Yujing-Idempotency-Key``."""
    subscriber_id: str
    """The last path segment of the URL it was posted to."""
    content_type: str
    body: bytes
    received_at: float
    """The receiver's clock (Unix seconds) when it was processed."""


class WebhookReceiver:
    """Local HTTP/1.1 webhook receiver on a loopback port, run in background threads.

    Parameters
    ----------
    master_key
        The deployment's master key; each subscriber's secret is derived from it.
    host
        Address to listen on; loopback by default.
    port
        Port to listen on; 0 picks a free one (see :attr:`port`), which later
        :meth:`start` calls keep.
    tolerance
        Seconds the signed timestamp may differ from the receiver's clock.
    max_body
        Largest accepted body in bytes.
    clock
        Current time in Unix seconds.

    Examples
    --------
    ::

        with WebhookReceiver(master_key) as receiver:
            url = receiver.url_for("metro-line-1")
            ...  # POST signed envelopes to url
            receiver.wait_for(1, timeout=5)
    """

    def __init__(
        self,
        master_key: bytes,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tolerance: float = 300.0,
        max_body: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        subscriber_secret(master_key, "-")  # refuses a short master key now, not per request
        self._master_key = master_key
        self._host = host
        self._port = port
        self.tolerance = tolerance
        self.max_body = max_body
        self.clock = clock
        self._condition = threading.Condition()
        self._seen: set[str] = set()
        self._deliveries: list[ReceivedDelivery] = []
        self._duplicates: Counter[str] = Counter()
        self._rejected: list[tuple[int, str]] = []
        self._fail_status: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Listen (again) on the receiver's port; a no-op when already listening."""
        if self._server is not None:
            return
        server = _Server((self._host, self._port), _Handler, self)
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-receiver-{self._port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket and every open connection; the port then refuses.

        Processed keys and records are kept, so :meth:`start` resumes where it stopped.
        """
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.drop_connections()
        server.server_close()  # also joins the connection threads
        thread.join()

    @property
    def running(self) -> bool:
        """Whether the receiver is listening."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port listened on (stays the same across :meth:`stop` and :meth:`start`)."""
        if self._port == 0:
            raise AlertingError("the receiver has not started yet; call start() first")
        return self._port

    def url_for(self, subscriber_id: str) -> str:
        """URL a subscriber's webhook deliveries are posted to."""
        return f"http://{self._host}:{self.port}{_HOOKS_PREFIX}{quote(subscriber_id, safe='')}"

    # -- switches for tests ----------------------------------------------------------

    def fail_with(self, status: int | None) -> None:
        """Answer ``status`` to every request from now on (``None``: behave normally)."""
        if status is not None and not 200 <= status <= 599:
            raise ValueError(f"status {status} is not a final HTTP status; pass 200 to 599 or None")
        with self._condition:
            self._fail_status = status

    # -- what arrived ----------------------------------------------------------------

    @property
    def deliveries(self) -> list[ReceivedDelivery]:
        """Processed deliveries, in arrival order (a copy)."""
        with self._condition:
            return list(self._deliveries)

    @property
    def duplicates(self) -> dict[str, int]:
        """How often each already-processed key arrived again (a copy)."""
        with self._condition:
            return dict(self._duplicates)

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """``(status, reason)`` of every request not answered 200 (a copy)."""
        with self._condition:
            return list(self._rejected)

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until ``count`` unique deliveries were processed or ``timeout`` s passed.

        Returns
        -------
        bool
            Whether ``count`` deliveries arrived in time.
        """
        with self._condition:
            return self._condition.wait_for(lambda: len(self._deliveries) >= count, timeout)

    # -- request handling (called from connection threads) ---------------------------

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        with self._condition:
            fail_status = self._fail_status
        if fail_status is not None:
            return self._reject(fail_status, f"told to answer {fail_status} (fail_with)")
        route = urlsplit(path).path
        if not route.startswith(_HOOKS_PREFIX) or "/" in route[len(_HOOKS_PREFIX) :]:
            return self._reject(404, f"{route} is not {_HOOKS_PREFIX}<subscriber_id>")
        subscriber_id = unquote(route[len(_HOOKS_PREFIX) :])
        if not subscriber_id:
            return self._reject(404, f"{route} names no subscriber")
        key = headers.get(IDEMPOTENCY_HEADER.lower())
        if not key:
            return self._reject(400, f"the {IDEMPOTENCY_HEADER} header is missing")
        secret = subscriber_secret(self._master_key, subscriber_id)
        try:
            verify(
                secret,
                headers.get(SIGNATURE_HEADER.lower()),
                key,
                body,
                now=self.clock(),
                tolerance=self.tolerance,
            )
        except SignatureError as err:
            return self._reject(401, str(err))
        with self._condition:
            if key in self._seen:
                self._duplicates[key] += 1
                return 200, "duplicate"
            self._seen.add(key)
            self._deliveries.append(
                ReceivedDelivery(
                    key=key,
                    subscriber_id=subscriber_id,
                    content_type=headers.get("content-type", ""),
                    body=body,
                    received_at=self.clock(),
                )
            )
            self._condition.notify_all()
        return 200, "ok"

    def _reject(self, status: int, reason: str) -> tuple[int, str]:
        with self._condition:
            self._rejected.append((status, reason))
        return status, reason


class _Server(ThreadingHTTPServer):
    """Threading HTTP server that knows its receiver and can drop its open connections."""

    daemon_threads = True
    block_on_close = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        receiver: WebhookReceiver,
    ) -> None:
        self.receiver = receiver
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about connections dropped by :meth:`drop_connections` or the peer."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        """Shut down every open keep-alive connection, as a stopped server would."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "yujing-receiver"
    timeout = 30.0  # idle keep-alive connections are closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self._answer(*receiver._reject(411, "no valid Content-Length header"), close=True)
            return
        length = int(length_header)
        if length > receiver.max_body:
            reason = f"body of {length} bytes exceeds the {receiver.max_body} byte limit"
            # Read and drop a moderately large body, so the sender is not reset before it
            # reads the 413; beyond the drain limit, just close.
            drained = length <= _DRAIN_LIMIT and self._discard(length)
            self._answer(*receiver._reject(413, reason), close=not drained)
            return
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._answer(*receiver._handle(self.path, headers, body))

    def _discard(self, length: int) -> bool:
        """Read ``length`` bytes and drop them; whether all arrived."""
        while length > 0:
            chunk = self.rfile.read(min(length, 64 * 1024))
            if not chunk:
                return False
            length -= len(chunk)
        return True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet; a production receiver logs here."""

    def _answer(self, status: int, text: str, *, close: bool = False) -> None:
        payload = text.encode("utf-8")
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        self.send_response(status, phrase)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
