"""A local HTTP server that replays recorded feed snapshots, never serving the future.

The embedded demo and the tests point the real ``requests`` path (:mod:`ingest.http`) at
this server instead of the live service, so fetching, retries, conditional requests and
landing run end to end on 127.0.0.1.

Layout
    ``<root>/<url path>/<YYYYmmddTHHMMZ>.<ext>``; for a URL with a query, one more folder
    named by its parameters sorted by key, ``key=value`` joined by ``&``::

        root/weatherAPI/opendata/weather.php/dataType=rhrread&lang=en/20250701T0002Z.json
        root/weatherAPI/hko_data/regional-weather/latest_10min_wind.csv/20250701T0010Z.csv

    The time in a snapshot's name is UTC: when the answer was recorded.

Replay clock
    A request is answered with the latest snapshot whose time is at or before the server's
    clock (:meth:`ReplayServer.set_clock`), so a replay never serves the future; with no
    such snapshot the answer is 404. Each answer carries ``ETag`` (hash of the body) and
    ``Last-Modified`` (the snapshot time); a matching ``If-None-Match`` (or, without one,
    an ``If-Modified-Since`` at or after the snapshot time) gets ``304 Not Modified``.

Faults (for tests)
    :meth:`ReplayServer.add_fault` queues, per URL path, answers that go wrong: an HTTP
    status (e.g. 500) N times, a delay longer than the client's timeout, or an empty body.

Command line::

    python -m ingest.replay_server ROOT --port 8765 --clock 2025-07-29T06:00Z
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from ingest.contracts import utc_instant

__all__ = ["Fault", "ReplayServer", "main", "snapshot_folder"]

_LOG = logging.getLogger(__name__)
_SNAPSHOT = re.compile(r"^(\d{8}T\d{4})Z\.([A-Za-z0-9]+)$")
_CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xml": "application/xml; charset=utf-8",
}


@dataclass(frozen=True)
class Fault:
    """An answer that goes wrong, served ``times`` times before normal answers resume.

    Parameters
    ----------
    kind
        ``"status"`` answers ``status`` with an empty body; ``"delay"`` waits
        ``delay_seconds`` before answering normally; ``"empty"`` answers 200 with no body.
    times
        How many requests get this fault.
    status
        HTTP status of a ``"status"`` fault.
    delay_seconds
        Wait of a ``"delay"`` fault (make it longer than the client's read timeout).
    retry_after
        Optional ``Retry-After`` header value sent with a ``"status"`` fault.
    """

    kind: Literal["status", "delay", "empty"]
    times: int = 1
    status: int = 500
    delay_seconds: float = 0.0
    retry_after: str | None = None


def snapshot_folder(root: Path, url: str) -> Path:
    """Folder holding the snapshots of ``url`` (path and query) under ``root``."""
    parts = urlsplit(url)
    folder = Path(root) / unquote(parts.path).lstrip("/")
    if parts.query:
        pairs = sorted(parse_qsl(parts.query, keep_blank_values=True))
        folder = folder / "&".join(f"{key}={value}" for key, value in pairs)
    return folder


def _snapshot_time(name: str) -> datetime | None:
    match = _SNAPSHOT.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC)


class ReplayServer:
    """Serve the snapshots under ``root`` as they were at the replay clock.

    Parameters
    ----------
    root
        Folder laid out as described in the module docstring.
    clock
        Initial replay clock (timezone-aware).
    host, port
        Address to listen on; port 0 picks a free port (see :attr:`url`).

    Examples
    --------
    >>> clock = datetime(2025, 7, 29, 6, tzinfo=UTC)
    >>> with ReplayServer(root, clock) as server:  # doctest: +SKIP
    ...     requests.get(server.url + "/weatherAPI/opendata/hourlyRainfall.php?lang=en")
    """

    def __init__(self, root: Path, clock: datetime, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"replay root {self.root} is not a folder")
        self._lock = threading.Lock()
        self._clock = utc_instant(clock, "replay clock")
        self._faults: dict[str, deque[Fault]] = {}
        self.requests: list[tuple[str, int]] = []
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def clock(self) -> datetime:
        """The replay clock (UTC)."""
        with self._lock:
            return self._clock

    def set_clock(self, when: datetime) -> None:
        """Move the replay clock (timezone-aware; naive values are refused)."""
        instant = utc_instant(when, "replay clock")
        with self._lock:
            self._clock = instant

    def add_fault(self, path: str, fault: Fault) -> None:
        """Queue ``fault`` for requests whose URL path is ``path`` (query ignored)."""
        with self._lock:
            queue = self._faults.setdefault(path, deque())
            queue.extend([fault] * fault.times)

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def latest_snapshot(self, url: str) -> tuple[Path, datetime] | None:
        """The snapshot of ``url`` served at the current clock, with its time."""
        folder = snapshot_folder(self.root, url)
        if not folder.is_dir():
            return None
        clock = self.clock
        best: tuple[Path, datetime] | None = None
        for path in folder.iterdir():
            when = _snapshot_time(path.name)
            if when is None or when > clock:
                continue
            if best is None or when > best[1]:
                best = (path, when)
        return best

    def start(self) -> ReplayServer:
        """Start serving in a background thread and return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="replay-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                _LOG.debug("replay %s: " + format, self.address_string(), *args)

            def do_GET(self) -> None:
                server._answer(self)

        return Handler

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.requests.append((handler.path, status))
        handler.send_response(status)
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = urlsplit(handler.path).path
        fault = self._next_fault(path)
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send(handler, fault.status, b"", extra)
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_seconds)
        found = self.latest_snapshot(handler.path)
        if found is None:
            self._send(handler, 404, b"no snapshot at or before the replay clock\n")
            return
        snapshot, when = found
        body = snapshot.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(when, usegmt=True),
            "Content-Type": _CONTENT_TYPES.get(
                snapshot.suffix.lstrip(".").lower(), "application/octet-stream"
            ),
        }
        if _not_modified(handler, etag, when):
            self._send(handler, 304, b"", headers)
            return
        if fault is not None and fault.kind == "empty":
            body = b""
        self._send(handler, 200, body, headers)


def _not_modified(handler: BaseHTTPRequestHandler, etag: str, when: datetime) -> bool:
    if_none_match = handler.headers.get("If-None-Match")
    if if_none_match is not None:
        return etag in [tag.strip() for tag in if_none_match.split(",")]
    since = handler.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        stamp = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False
    return stamp.replace(tzinfo=stamp.tzinfo or UTC) >= when


def main(argv: list[str] | None = None) -> None:
    """Command line: serve ``ROOT`` until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m ingest.replay_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("root", type=Path, help="folder of recorded snapshots")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--clock", required=True, help="replay clock, ISO 8601 with offset (2025-07-29T06:00Z)"
    )
    args = parser.parse_args(argv)
    server = ReplayServer(args.root, utc_instant(args.clock, "--clock"), args.host, args.port)
    print(f"replaying {args.root} at {server.clock.isoformat()} on {server.url}", flush=True)
    try:
        server.start()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
