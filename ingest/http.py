"""Fetch HTTP sources politely and land what they answer as raw snapshots.

One :class:`HttpFetcher` per configured source. It wraps a ``requests.Session`` and adds
what an operational feed needs, each with an injectable clock so tests run without waiting:

timeouts
    every request carries ``(connect_timeout, read_timeout)``.
retries
    connection errors, timeouts, HTTP 429, HTTP 5xx and an empty 2xx body are retried up
    to ``max_retries`` times. The wait before retry *n* (0-based) is ``Retry-After`` when
    the server sent one (seconds or an HTTP date, capped at ``retry_after_cap``), otherwise
    "full jitter" exponential backoff: ``random() * min(backoff_cap, backoff_base * 2**n)``
    (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
conditional requests
    the ``ETag`` and ``Last-Modified`` of the last answer per URL are kept in a small JSON
    state file (written atomically) with a copy of the body; the next request sends
    ``If-None-Match`` / ``If-Modified-Since``, and a ``304`` returns the stored body with
    ``not_modified=True``.
rate limit
    at least ``min_interval`` between two requests of the same fetcher (retries included).
errors
    anything that is still wrong after the retries raises :class:`FetchError`, a
    :class:`~ingest.errors.SourceError` naming the source, the URL and the fix.

:func:`land_snapshot` writes a body atomically into the raw folder a reader reads, named
``<receive time>_<content hash>.<ext>`` (``20250701T000200Z_1a2b3c4d5e6f7a8b.json``); the
same content is never landed twice, so re-fetching an unchanged feed changes nothing.

The transport is injectable: pass a ``requests.Session`` or a ``requests.adapters.BaseAdapter``
such as :class:`ingest.http_recorded.RecordedTransport`, which answers from recorded
responses (status, headers, body, or a raised ``Timeout``/``ConnectionError``) so that tests
need no network.

>>> options = FetchOptions(connect_timeout="2 s", read_timeout="10 s", min_interval="1 min")
>>> options.min_interval
60.0
"""

from __future__ import annotations

import hashlib
import json
import logging
import random as _random
import re
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any

import requests
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from ingest.errors import SourceError
from ingest.storage import write_bytes_atomic
from ingest.units import parse_quantity

__all__ = [
    "FetchError",
    "FetchOptions",
    "FetchResult",
    "HttpFetcher",
    "SnapshotName",
    "content_hash",
    "land_snapshot",
    "parse_snapshot_name",
    "snapshot_name",
    "snapshot_received",
]

_LOG = logging.getLogger(__name__)
_STATE_VERSION = 1
_HASH_CHARS = 16


class FetchError(SourceError):
    """A source could not be fetched: still failing after the retries, or answered badly."""


def _seconds(value: Any) -> float:
    """Parse a duration written with its unit (``"5 s"``, ``"1 min"``) into seconds."""
    seconds = parse_quantity(value, "s")  # UnitsError is a ValueError: pydantic reports it
    if seconds < 0:
        raise ValueError(f"{value!r} is negative; give a duration >= 0, e.g. '5 s'")
    return seconds


Seconds = Annotated[float, BeforeValidator(_seconds)]


class FetchOptions(BaseModel):
    """How one source is fetched. Durations are written with their unit (``"5 s"``).

    Parameters
    ----------
    connect_timeout, read_timeout
        Per-request timeouts for connecting and for each read of the answer.
    max_retries
        Retries after the first attempt (0 = try once).
    backoff_base, backoff_cap
        Full-jitter exponential backoff: wait ``U(0, 1) * min(cap, base * 2**n)``.
    retry_after_cap
        Largest ``Retry-After`` honoured; a longer one is cut to this.
    min_interval
        Least time between two requests of one fetcher (rate limit), ``"0 s"`` for none.
    user_agent
        ``User-Agent`` header sent with every request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout: Seconds = Field(default=5.0, gt=0)
    read_timeout: Seconds = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_base: Seconds = Field(default=0.5, gt=0)
    backoff_cap: Seconds = Field(default=30.0, gt=0)
    retry_after_cap: Seconds = Field(default=300.0, ge=0)
    min_interval: Seconds = Field(default=0.0, ge=0)
    user_agent: str = Field(default="yujing-ingest/0.1", min_length=1)

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> FetchOptions:
        if self.backoff_cap < self.backoff_base:
            raise ValueError(
                f"backoff_cap ({self.backoff_cap} s) is below backoff_base "
                f"({self.backoff_base} s); give a cap >= the base"
            )
        return self


@dataclass(frozen=True)
class FetchResult:
    """One answer of a source.

    Attributes
    ----------
    url
        The URL requested (with its query).
    status
        HTTP status of the final answer (``304`` when ``not_modified``).
    body
        The body; on ``304`` the body stored from the previous answer.
    headers
        Response headers of the final answer.
    received_at
        When the final answer arrived (timezone-aware UTC).
    not_modified
        True when the server answered ``304 Not Modified``.
    attempts
        Number of requests made, retries included.
    """

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime
    not_modified: bool
    attempts: int

    @property
    def content_hash(self) -> str:
        """SHA-256 of the body, hexadecimal."""
        return content_hash(self.body)


def content_hash(body: bytes) -> str:
    """Return the SHA-256 of ``body`` as 64 hexadecimal characters."""
    return hashlib.sha256(body).hexdigest()


class _State:
    """ETag / Last-Modified and the last body per URL, kept in a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "state.json"
        self.entries: dict[str, dict[str, str]] = {}
        if self.path.exists():
            try:
                document = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = dict(document["urls"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                # Losing the state only costs one unconditional request: say so and go on.
                _LOG.warning("ignoring unreadable fetch state %s (%s)", self.path, err)

    def body_path(self, digest: str) -> Path:
        return self.folder / "bodies" / digest

    def conditional_headers(self, url: str) -> dict[str, str]:
        entry = self.entries.get(url)
        if not entry or not self.body_path(entry["sha256"]).exists():
            return {}
        headers = {}
        if entry.get("etag"):
            headers["If-None-Match"] = entry["etag"]
        if entry.get("last_modified"):
            headers["If-Modified-Since"] = entry["last_modified"]
        return headers

    def stored_body(self, url: str) -> bytes | None:
        entry = self.entries.get(url)
        if entry is None:
            return None
        path = self.body_path(entry["sha256"])
        return path.read_bytes() if path.exists() else None

    def remember(self, url: str, headers: Mapping[str, str], body: bytes) -> None:
        digest = content_hash(body)
        entry = {"sha256": digest}
        if headers.get("ETag"):
            entry["etag"] = headers["ETag"]
        if headers.get("Last-Modified"):
            entry["last_modified"] = headers["Last-Modified"]
        if self.entries.get(url) == entry:
            return
        body_path = self.body_path(digest)
        if not body_path.exists():
            write_bytes_atomic(body_path, body)
        self.entries[url] = entry
        document = {"version": _STATE_VERSION, "urls": dict(sorted(self.entries.items()))}
        write_bytes_atomic(self.path, json.dumps(document, indent=1).encode("utf-8"))


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class HttpFetcher:
    """Fetch URLs of one source with timeouts, retries, conditional requests and a rate limit.

    Parameters
    ----------
    source
        Name of the source, used in errors and logs.
    options
        A :class:`FetchOptions`.
    session
        The ``requests.Session`` to use; a new one by default.
    adapter
        A transport adapter mounted on the session for ``http://`` and ``https://``
        (e.g. :class:`ingest.http_recorded.RecordedTransport`).
    state_dir
        Folder for the conditional-request state; ``None`` disables conditional requests.
    sleep, random, monotonic, now
        Injectable ``time.sleep``, ``random.random``, ``time.monotonic`` and a function
        returning the current UTC ``datetime`` (tests pass fakes).
    """

    def __init__(
        self,
        source: str,
        options: FetchOptions | None = None,
        *,
        session: requests.Session | None = None,
        adapter: BaseAdapter | None = None,
        state_dir: Path | None = None,
        sleep: Callable[[float], None] = _time.sleep,
        random: Callable[[], float] = _random.random,
        monotonic: Callable[[], float] = _time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.source = source
        self.options = options if options is not None else FetchOptions()
        self.session = session if session is not None else requests.Session()
        if adapter is not None:
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        self._state = _State(state_dir) if state_dir is not None else None
        self._sleep = sleep
        self._random = random
        self._monotonic = monotonic
        self._now = now
        self._last_request: float | None = None

    def backoff(self, retry: int) -> float:
        """Full-jitter wait before retry number ``retry`` (0-based), in seconds."""
        ceiling = min(self.options.backoff_cap, self.options.backoff_base * 2**retry)
        return self._random() * ceiling

    def _wait_for_slot(self) -> None:
        """Sleep until ``min_interval`` has passed since the previous request."""
        if self._last_request is not None and self.options.min_interval > 0:
            elapsed = self._monotonic() - self._last_request
            if elapsed < self.options.min_interval:
                self._sleep(self.options.min_interval - elapsed)
        self._last_request = self._monotonic()

    def _error(self, url: str, problem: str, fix: str) -> FetchError:
        return FetchError(self.source, url, problem, fix)

    def fetch(self, url: str, params: Mapping[str, str] | None = None) -> FetchResult:
        """GET ``url`` and return its answer.

        Raises
        ------
        FetchError
            After the retries: on a connection error, a timeout, HTTP 429/5xx or an empty
            body; at once on any other non-2xx status, or a 304 with no stored body.
        """
        prepared = requests.Request("GET", url, params=params).prepare()
        full_url = str(prepared.url)
        headers = {"User-Agent": self.options.user_agent}
        if self._state is not None:
            headers.update(self._state.conditional_headers(full_url))
        timeout = (self.options.connect_timeout, self.options.read_timeout)
        problem = ""
        for attempt in range(self.options.max_retries + 1):
            self._wait_for_slot()
            wait: float | None = None
            try:
                response = self.session.get(full_url, headers=headers, timeout=timeout)
            except requests.Timeout as err:
                problem = f"timed out (connect/read timeouts {timeout[0]} s/{timeout[1]} s: {err})"
            except requests.ConnectionError as err:
                problem = f"connection failed ({err})"
            else:
                result = self._judge(full_url, response, attempt + 1)
                if isinstance(result, FetchResult):
                    return result
                problem = result
                wait = _retry_after(response.headers.get("Retry-After"), self._now())
                if wait is not None:
                    wait = min(wait, self.options.retry_after_cap)
            if attempt < self.options.max_retries:
                delay = wait if wait is not None else self.backoff(attempt)
                _LOG.warning(
                    "%s: %s %s; retry %d/%d in %.2f s",
                    self.source,
                    full_url,
                    problem,
                    attempt + 1,
                    self.options.max_retries,
                    delay,
                )
                self._sleep(delay)
        raise self._error(
            full_url,
            f"{problem}, still after {self.options.max_retries + 1} attempts",
            "check that the service is up and the URL is right; raise max_retries or the "
            "timeouts in the source's fetch options if the service is slow",
        )

    def _judge(self, url: str, response: requests.Response, attempts: int) -> FetchResult | str:
        """Return the result of a good answer, a retryable problem as text, or raise."""
        status = response.status_code
        received = self._now()
        headers = dict(response.headers.items())
        if status == 304:
            stored = self._state.stored_body(url) if self._state is not None else None
            if stored is None:
                raise self._error(
                    url,
                    "answered 304 Not Modified but no earlier body is stored",
                    "delete the fetch state folder so the next request is unconditional",
                )
            return FetchResult(url, status, stored, headers, received, True, attempts)
        if status == 429 or 500 <= status <= 599:
            return f"answered HTTP {status} {response.reason or ''}".rstrip()
        if not 200 <= status <= 299:
            raise self._error(
                url,
                f"answered HTTP {status} {response.reason or ''}".rstrip(),
                "check the URL and its query parameters in the source configuration",
            )
        body = response.content
        if not body:
            return f"answered HTTP {status} with an empty body"
        if self._state is not None:
            self._state.remember(url, headers, body)
        return FetchResult(url, status, body, headers, received, False, attempts)


def snapshot_name(received_at: datetime, digest: str, extension: str) -> str:
    """Name of a raw snapshot: ``<YYYYmmddTHHMMSSZ>_<first 16 hex of hash>.<extension>``."""
    if received_at.tzinfo is None:
        raise ValueError(f"received_at {received_at!r} has no timezone; pass a UTC datetime")
    stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{digest[:_HASH_CHARS]}.{extension.lstrip('.')}"


_SNAPSHOT_NAME = re.compile(rf"^(\d{{8}}T\d{{6}}Z)_([0-9a-f]{{{_HASH_CHARS}}})\.([A-Za-z0-9]+)$")


@dataclass(frozen=True)
class SnapshotName:
    """What a snapshot's name (:func:`snapshot_name`) says."""

    received: datetime
    digest: str
    extension: str


def parse_snapshot_name(name: str) -> SnapshotName | None:
    """The parts of a snapshot's name, ``None`` for another name.

    >>> parse_snapshot_name("20250729T063012Z_0123456789abcdef.json").extension
    'json'
    """
    match = _SNAPSHOT_NAME.match(name)
    if match is None:
        return None
    received = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return SnapshotName(received, match.group(2), match.group(3))


def snapshot_received(name: str) -> datetime | None:
    """The receive time in a snapshot's name (:func:`snapshot_name`), ``None`` for another name.

    >>> snapshot_received("20250729T063012Z_0123456789abcdef.json").isoformat()
    '2025-07-29T06:30:12+00:00'
    """
    parsed = parse_snapshot_name(name)
    return parsed.received if parsed is not None else None


def _extension(headers: Mapping[str, str]) -> str:
    content_type = CaseInsensitiveDict(headers).get("Content-Type", "").lower()
    if "json" in content_type:
        return "json"
    if "csv" in content_type:
        return "csv"
    if "xml" in content_type:
        return "xml"
    return "bin"


def land_snapshot(result: FetchResult, folder: Path, extension: str | None = None) -> Path:
    """Write ``result.body`` atomically into ``folder`` and return its path.

    The file is named by :func:`snapshot_name`. If a snapshot with the same content hash
    and extension is already in ``folder`` (an unchanged feed, or a ``304``), nothing is
    written and that file's path is returned: landing is idempotent.

    Parameters
    ----------
    result
        What :meth:`HttpFetcher.fetch` returned.
    folder
        The raw folder of the source (readers read it).
    extension
        File extension; by default from the ``Content-Type`` (json, csv, xml, else bin).
    """
    folder = Path(folder)
    suffix = (extension or _extension(result.headers)).lstrip(".")
    digest = result.content_hash
    existing = sorted(folder.glob(f"*_{digest[:_HASH_CHARS]}.{suffix}"))
    if existing:
        return existing[0]
    return write_bytes_atomic(
        folder / snapshot_name(result.received_at, digest, suffix), result.body
    )
