"""Webhook delivery: signed HTTP POSTs to subscribers' URLs.

Every POST carries the envelope's body (CAP XML or impact JSON) and three headers:

``Yujing-Idempotency-Key``
    Stable across retries; a receiver processes each key once.
``Yujing-Signature``
    ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` over ``f"{t}.{idempotency_key}.".encode() +
    body``, keyed with the subscriber's own secret. ``t`` is the time of *this* attempt, so
    a retry is signed afresh and a receiver can refuse old (replayed) requests.
``User-Agent``
    ``yujing/<version>``.

Each subscriber's secret is derived from one deployment master key
(:func:`subscriber_secret`), so a leaked subscriber secret exposes no other subscriber; the
operator hands each subscriber its secret out of band. A receiver checks a request with
:func:`verify` (see :mod:`alerting.delivery.receiver` for a complete one).

Outcomes of :meth:`WebhookSender.send_batch`:

==========================================  ===========================================
answer                                      outcome
==========================================  ===========================================
2xx                                         delivered (``None``)
400, 410, 413, 422                          permanent :class:`DeliveryError`
3xx (redirects are never followed)          transient; the subscription's URL is stale
a target that is not an http(s) URL         permanent
other 4xx (401, 404, 429, ...), 5xx         transient
refused, reset, timed out, TLS failure      transient
==========================================  ===========================================
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from importlib import metadata
from urllib.parse import urlsplit

import requests

from alerting.delivery.envelope import ChannelKind, Envelope, Outcome
from alerting.errors import AlertingError, DeliveryError

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MIN_MASTER_KEY_BYTES",
    "PERMANENT_STATUSES",
    "SIGNATURE_HEADER",
    "SignatureError",
    "WebhookSender",
    "sign",
    "subscriber_secret",
    "verify",
]

SIGNATURE_HEADER = "Yujing-Signature"
"""The header holding ``t=<unix seconds>,v1=<hex HMAC-SHA256>``."""
IDEMPOTENCY_HEADER = "Yujing-Idempotency-Key"
"""The header holding the envelope's idempotency key."""
MIN_MASTER_KEY_BYTES = 32
"""The shortest master key accepted (256 bits, the HMAC-SHA256 block strength)."""
PERMANENT_STATUSES = frozenset({400, 410, 413, 422})
"""HTTP statuses after which sending the same request again cannot succeed."""

_DERIVATION_LABEL = b"yujing webhook signing key v1\x00"
# The distribution's version (alerting must not import the application shell, yujing/).
_USER_AGENT = f"yujing/{metadata.version('yujing')}"
_EXCERPT_BYTES = 200
_UNUSABLE_URL = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
)


class SignatureError(AlertingError):
    """A webhook request's signature is missing, malformed, wrong or too old."""


def subscriber_secret(master_key: bytes, subscriber_id: str) -> bytes:
    """Subscriber's signing secret, derived from the deployment master key.

    Parameters
    ----------
    master_key
        The deployment's master key, at least 32 random bytes
        (``secrets.token_bytes(32)``); keep it in the secret store, never in a config file.
    subscriber_id
        The subscriber whose secret is wanted.

    Returns
    -------
    bytes
        32 bytes: ``HMAC-SHA256(master_key, label + subscriber_id)``. Hand it to the
        subscriber out of band; it verifies requests with :func:`verify`.

    Raises
    ------
    ValueError
        The master key is shorter than 32 bytes or the subscriber id is empty.

    Examples
    --------
    >>> len(subscriber_secret(bytes(32), "metro-line-1"))
    32
    """
    _check_master_key(master_key)
    if not subscriber_id:
        raise ValueError("subscriber_id is empty; pass the subscriber's id, e.g. 'metro-line-1'")
    message = _DERIVATION_LABEL + subscriber_id.encode("utf-8")
    return hmac.new(master_key, message, hashlib.sha256).digest()


def sign(secret: bytes, timestamp: int, idempotency_key: str, body: bytes) -> str:
    """Value of the ``Yujing-Signature`` header for one request.

    Parameters
    ----------
    secret
        The subscriber's secret (:func:`subscriber_secret`).
    timestamp
        When the request is sent, in Unix seconds.
    idempotency_key
        The ``Yujing-Idempotency-Key`` header of the request.
    body
        The request body, exactly as sent.

    Returns
    -------
    str
        ``t=<timestamp>,v1=<64 hex digits>``.

    Notes
    -----
    ``v1 = HMAC-SHA256(secret, f"{t}.{idempotency_key}.".encode() + body)``. Binding the
    timestamp and the key into the signature means neither can be changed to replay a body.

    Examples
    --------
    >>> sign(b"k" * 32, 1700000000, "abc", b"{}")[:13]
    't=1700000000,'
    """
    digest = _digest(secret, timestamp, idempotency_key, body)
    return f"t={timestamp},v1={digest}"


def verify(
    secret: bytes,
    header_value: str | None,
    idempotency_key: str,
    body: bytes,
    now: float,
    tolerance: float = 300.0,
) -> int:
    """Check a request's ``Yujing-Signature`` header.

    Parameters
    ----------
    secret
        The subscriber's secret (:func:`subscriber_secret`).
    header_value
        The ``Yujing-Signature`` header as received, ``None`` when absent.
    idempotency_key
        The ``Yujing-Idempotency-Key`` header as received.
    body
        The raw request body.
    now
        The receiver's clock, in Unix seconds.
    tolerance
        How far, in seconds, the signed timestamp may lie from ``now`` either way.

    Returns
    -------
    int
        The signed timestamp (Unix seconds).

    Raises
    ------
    SignatureError
        The header is missing or malformed, no ``v1`` signature matches, or the timestamp
        lies outside the tolerance; the message says which and by how much.

    Notes
    -----
    The signature is compared in constant time (:func:`hmac.compare_digest`) and checked
    before the timestamp, so an unsigned request learns nothing about the clock. A header
    may carry several ``v1=`` values (during a key rotation); one match suffices.
    """
    if header_value is None or not header_value.strip():
        raise SignatureError(
            f"the {SIGNATURE_HEADER} header is missing; the request was not signed by yujing"
        )
    timestamp, signatures = _parse_header(header_value)
    expected = _digest(secret, timestamp, idempotency_key, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError(
            f"the {SIGNATURE_HEADER} signature does not match: the body, the idempotency key "
            "or the timestamp was changed, or the secret is not this subscriber's "
            "(derive it with subscriber_secret(master_key, subscriber_id))"
        )
    skew = now - timestamp
    if abs(skew) > tolerance:
        direction = "in the past" if skew > 0 else "in the future"
        raise SignatureError(
            f"the signed timestamp {timestamp} is {abs(skew):.0f} s {direction}, beyond the "
            f"{tolerance:.0f} s tolerance; a replayed request looks like this, otherwise "
            "check both clocks (NTP)"
        )
    return timestamp


class WebhookSender:
    """Signs and POSTs envelopes to their webhook URLs, many at a time.

    Parameters
    ----------
    master_key
        The deployment's master key (at least 32 bytes); each subscriber's secret is
        derived from it with :func:`subscriber_secret`.
    timeout
        ``(connect, read)`` seconds, or one number for both (as in :mod:`requests`).
    workers
        How many requests run at once (threads, each with its own keep-alive session).
    clock
        Current time in Unix seconds; the signature's timestamp is taken from it at each
        attempt.
    session_factory
        Makes one :class:`requests.Session` per worker thread. By default a session that
        reads the environment (proxies, CA bundle) once, when it is made, instead of at
        every request as :mod:`requests` does (which costs about half the client's time).

    Notes
    -----
    Redirects are never followed: a signed request must not be forwarded elsewhere, and a
    moved endpoint is fixed in the subscription. The sender is closed with :meth:`close` or
    by leaving a ``with`` block.
    """

    channel: ChannelKind = "webhook"

    def __init__(
        self,
        master_key: bytes,
        *,
        timeout: float | tuple[float, float] = (3.05, 10),
        workers: int = 16,
        clock: Callable[[], float] = time.time,
        session_factory: Callable[[], requests.Session] | None = None,
    ) -> None:
        _check_master_key(master_key)
        if workers < 1:
            raise ValueError(f"workers={workers}; pass at least 1 concurrent request")
        self._master_key = master_key
        self._timeout = timeout
        self._clock = clock
        self._session_factory = session_factory or _session
        # Plain-HTTP URLs go over http.client directly when no session factory was given
        # and no proxy is configured (requests costs about three times the CPU per POST).
        self._plain = session_factory is None and not urllib.request.getproxies()
        self._connections: list[http.client.HTTPConnection] = []
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webhook")

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[Outcome]:
        """POST every envelope to its URL; return one outcome per envelope, in order.

        Parameters
        ----------
        envelopes
            Envelopes of the ``webhook`` channel; ``target`` is the URL.

        Returns
        -------
        list of DeliveryError or None
            ``None`` where the receiver answered 2xx, else why not (see the module table).

        Raises
        ------
        AlertingError
            The sender was closed.
        """
        if self._closed:
            raise AlertingError("this WebhookSender is closed; create a new one to send")
        return list(self._executor.map(self._send_one, envelopes))

    def close(self) -> None:
        """Wait for running requests, then close every keep-alive connection."""
        self._closed = True
        self._executor.shutdown(wait=True)
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _send_one(self, envelope: Envelope) -> Outcome:
        url = envelope.target
        secret = subscriber_secret(self._master_key, envelope.subscriber_id)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": envelope.content_type,
            IDEMPOTENCY_HEADER: envelope.idempotency_key,
            SIGNATURE_HEADER: sign(secret, timestamp, envelope.idempotency_key, envelope.body),
            "User-Agent": _USER_AGENT,
        }
        if self._plain and url[:7].lower() == "http://":
            return self._post_plain(envelope, headers)
        try:
            with self._session().post(
                url,
                data=envelope.body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                return _outcome(url, response)
        except _UNUSABLE_URL as err:
            return DeliveryError(
                f"webhook {url!r} is not a URL that can be posted to ({err}); fix the "
                "subscription's URL",
                permanent=True,
            )
        except requests.RequestException as err:
            return DeliveryError(f"webhook {url} could not be reached: {_describe(err)}")

    def _post_plain(self, envelope: Envelope, headers: dict[str, str]) -> Outcome:
        """POST over a kept-alive :class:`http.client.HTTPConnection` of this thread.

        A request on a reused connection that the receiver closed meanwhile (idle timeout,
        restart) is sent once more on a new connection: the idempotency key makes that
        safe even if the first one was processed.
        """
        url = envelope.target
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port or 80
        except ValueError as err:
            host, port, problem = None, 0, str(err)
        else:
            problem = "no host"
        if not host:
            return DeliveryError(
                f"webhook {url!r} is not a URL that can be posted to ({problem}); fix the "
                "subscription's URL",
                permanent=True,
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connect_timeout, read_timeout = (
            self._timeout if isinstance(self._timeout, tuple) else (self._timeout,) * 2
        )
        pool: dict[tuple[str, int], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if pool is None:
            pool = self._local.connections = {}
        for attempt in (1, 2):
            connection = pool.get((host, port))
            reused = connection is not None
            connecting = False
            try:
                if connection is None:
                    connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
                    pool[host, port] = connection
                    with self._lock:
                        self._connections.append(connection)
                if connection.sock is None:
                    connecting = True
                    connection.connect()
                    connecting = False
                    assert connection.sock is not None
                    connection.sock.settimeout(read_timeout)
                connection.request("POST", path, body=envelope.body, headers=headers)
                response = connection.getresponse()
                content = response.read()
            except (OSError, http.client.HTTPException) as err:
                if connection is not None:
                    connection.close()
                if reused and attempt == 1 and isinstance(err, _STALE):
                    continue  # the receiver closed the kept-alive connection; a new one
                return DeliveryError(
                    f"webhook {url} could not be reached: {_describe_plain(err, connecting)}"
                )
            if response.will_close:
                connection.close()
            return _answer_outcome(
                url,
                response.status,
                response.reason,
                response.getheader("Location"),
                response.getheader("Content-Type", ""),
                content,
            )
        raise AssertionError("unreachable")  # pragma: no cover


def _session() -> requests.Session:
    """A session with the environment's settings resolved once, not per request.

    With a proxy configured (``HTTP(S)_PROXY``, ``NO_PROXY``, ...) the session keeps
    reading the environment per request, as requests does, so that ``NO_PROXY`` is applied
    per host. Otherwise the only environment setting that matters to a webhook is the CA
    bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``), which is read here once.
    """
    session = requests.Session()
    if not urllib.request.getproxies():
        session.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
    return session


def _check_master_key(master_key: bytes) -> None:
    if len(master_key) < MIN_MASTER_KEY_BYTES:
        raise ValueError(
            f"the webhook master key is {len(master_key)} bytes; use at least "
            f"{MIN_MASTER_KEY_BYTES} random bytes, e.g. secrets.token_bytes(32)"
        )


def _digest(secret: bytes, timestamp: int, idempotency_key: str, body: bytes) -> str:
    signed = f"{timestamp}.{idempotency_key}.".encode() + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def _parse_header(header_value: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header_value.split(","):
        name, equals, value = part.strip().partition("=")
        if not equals:
            continue
        if name == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        shown = header_value if len(header_value) <= 120 else header_value[:117] + "..."
        raise SignatureError(
            f"the {SIGNATURE_HEADER} header {shown!r} is malformed; expected "
            "'t=<unix seconds>,v1=<64 hex digits>'"
        )
    return timestamp, signatures


def _outcome(url: str, response: requests.Response) -> Outcome:
    return _answer_outcome(
        url,
        response.status_code,
        response.reason,
        response.headers.get("Location"),
        response.headers.get("Content-Type", ""),
        response.content,
    )


def _answer_outcome(
    url: str, status: int, reason: str | None, location: str | None, media: str, content: bytes
) -> Outcome:
    """The outcome of an HTTP answer (see the module table)."""
    if 200 <= status < 300:
        return None
    answer = f"webhook {url} answered HTTP {status} {_reason(status, reason)}"
    answer += _excerpt(media, content)
    if 300 <= status < 400:
        return DeliveryError(
            f"{answer}: the endpoint moved ({location or 'no Location header'}); redirects "
            "are not followed, fix the subscription's URL"
        )
    if status in PERMANENT_STATUSES:
        return DeliveryError(
            f"{answer}: the receiver refused this message; sending it again cannot help",
            permanent=True,
        )
    return DeliveryError(answer)


def _reason(status: int, reason: str | None) -> str:
    if reason:
        return str(reason)
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "(no reason phrase)"


def _excerpt(content_type: str, content: bytes) -> str:
    """The start of a short text answer (the receiver's reason), quoted; else nothing."""
    media_type = content_type.split(";", 1)[0].strip()
    if media_type not in ("text/plain", "application/json", "application/problem+json"):
        return ""
    text = " ".join(content[:_EXCERPT_BYTES].decode("utf-8", "replace").split())
    return f" ({text!r})" if text else ""


_STALE = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)


def _describe_plain(err: BaseException, connecting: bool) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "connection refused (is the endpoint down?)"
    if isinstance(err, TimeoutError | socket.timeout):
        return "connecting timed out" if connecting else "no answer before the read timeout"
    if isinstance(err, ConnectionResetError):
        return "connection reset by the receiver"
    return f"{type(err).__name__}: {err}"


def _describe(err: requests.RequestException) -> str:
    if isinstance(err, requests.exceptions.SSLError):
        return f"TLS failed ({_innermost(err)}); check the receiver's certificate"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return "connecting timed out"
    if isinstance(err, requests.exceptions.ReadTimeout):
        return "no answer before the read timeout"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the endpoint down?)"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the receiver"
        cause = _next_cause(cause)
    return _innermost(err)


def _next_cause(err: BaseException) -> BaseException | None:
    reason = getattr(err, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    if err.args and isinstance(err.args[0], BaseException):
        return err.args[0]
    return err.__cause__ or err.__context__


def _innermost(err: BaseException) -> str:
    deepest = err
    seen = {id(err)}
    cause = _next_cause(err)
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        deepest = cause
        cause = _next_cause(cause)
    return f"{type(deepest).__name__}: {deepest}"
