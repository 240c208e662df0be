"""Tests of ingest.http: retries, backoff, Retry-After, 304, rate limit, errors, landing.

Bodies are a real recorded HKO ``rhrread`` answer (tests/fixtures/hko/README.md); the
transport is :class:`ingest.http_recorded.RecordedTransport`, and sleep, random and clocks are
injected, so nothing touches the network or waits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from pydantic import ValidationError

from ingest.errors import SourceError
from ingest.http import (
    FetchError,
    FetchOptions,
    HttpFetcher,
    land_snapshot,
    snapshot_name,
)
from ingest.http_recorded import RecordedResponse, RecordedTransport

FIXTURES = Path(__file__).parent / "fixtures" / "hko"
BODY = (FIXTURES / "recorded" / "rhrread_home_assistant_20230819.json").read_bytes()
URL = "https://data.weather.gov.hk/weatherAPI/opendata/weather.php?dataType=rhrread&lang=en"
JSON = {"Content-Type": "application/json; charset=utf-8"}
NOW = datetime(2023, 8, 19, 9, 2, 30, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only moves when slept on (or advanced), recording the sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fetcher(
    answers: list[RecordedResponse],
    clock: FakeTime,
    randoms: list[float] | None = None,
    state_dir: Path | None = None,
    **options: object,
) -> tuple[HttpFetcher, RecordedTransport]:
    transport = RecordedTransport({URL: answers})
    draws = iter(randoms or [])
    fetch = HttpFetcher(
        "hko-rhrread",
        FetchOptions.model_validate(options),
        adapter=transport,
        state_dir=state_dir,
        sleep=clock.sleep,
        random=lambda: next(draws),
        monotonic=clock.monotonic,
        now=lambda: NOW,
    )
    return fetch, transport


def test_options_take_durations_with_units_and_refuse_bare_numbers() -> None:
    options = FetchOptions(connect_timeout="2 s", read_timeout="1 min", min_interval="500 ms")
    assert (options.connect_timeout, options.read_timeout, options.min_interval) == (2, 60, 0.5)
    with pytest.raises(ValidationError, match="has no unit"):
        FetchOptions(connect_timeout=5)
    with pytest.raises(ValidationError, match="backoff_cap"):
        FetchOptions(backoff_base="10 s", backoff_cap="1 s")
    with pytest.raises(ValidationError, match="max_retries"):
        FetchOptions(max_retries=-1)
    with pytest.raises(ValidationError, match="Extra inputs"):
        FetchOptions(retries=3)


def test_backoff_is_full_jitter_exponential_capped() -> None:
    clock = FakeTime()
    answers = [RecordedResponse(503), RecordedResponse(502), RecordedResponse(500)]
    fetch, transport = fetcher(
        [*answers, RecordedResponse(200, JSON, BODY)],
        clock,
        randoms=[0.5, 0.25, 1.0],
        backoff_base="1 s",
        backoff_cap="3 s",
    )
    result = fetch.fetch(URL)
    # waits: U * min(cap, base * 2**n) = 0.5*1, 0.25*2, 1.0*min(3, 4)
    assert clock.sleeps == [0.5, 0.5, 3.0]
    assert result.attempts == 4 and result.body == BODY and not result.not_modified
    assert len(transport.calls) == 4
    assert transport.calls[0].timeout == (5.0, 30.0)


def test_retry_after_seconds_and_http_date_are_honoured_and_capped() -> None:
    clock = FakeTime()
    later = (NOW + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    fetch, _ = fetcher(
        [
            RecordedResponse(429, {"Retry-After": "7"}),
            RecordedResponse(503, {"Retry-After": later}),
            RecordedResponse(429, {"Retry-After": "120"}),
            RecordedResponse(200, JSON, BODY),
        ],
        clock,
        retry_after_cap="60 s",
    )
    fetch.fetch(URL)
    assert clock.sleeps == [7.0, 30.0, 60.0]


def test_conditional_request_gets_304_and_returns_the_stored_body(tmp_path: Path) -> None:
    clock = FakeTime()
    validators = {"ETag": '"abc123"', "Last-Modified": "Sat, 19 Aug 2023 09:02:00 GMT"}
    fetch, transport = fetcher(
        [RecordedResponse(200, JSON | validators, BODY), RecordedResponse(304, validators)],
        clock,
        state_dir=tmp_path / "state",
    )
    first = fetch.fetch(URL)
    second = fetch.fetch(URL)
    assert "If-None-Match" not in transport.calls[0].headers
    assert transport.calls[1].headers["If-None-Match"] == '"abc123"'
    assert transport.calls[1].headers["If-Modified-Since"] == validators["Last-Modified"]
    assert not first.not_modified and second.not_modified and second.status == 304
    assert second.body == BODY
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["urls"][URL]["etag"] == '"abc123"'
    # A new fetcher on the same state folder sends the validators too (state persisted).
    again, transport2 = fetcher(
        [RecordedResponse(304, validators)], clock, state_dir=tmp_path / "state"
    )
    assert again.fetch(URL).body == BODY
    assert transport2.calls[0].headers["If-None-Match"] == '"abc123"'


def test_304_without_a_stored_body_is_an_error() -> None:
    fetch, _ = fetcher([RecordedResponse(304)], FakeTime())
    with pytest.raises(FetchError, match="304 Not Modified but no earlier body"):
        fetch.fetch(URL)


def test_rate_limit_waits_out_the_minimum_interval() -> None:
    clock = FakeTime()
    fetch, _ = fetcher([RecordedResponse(200, JSON, BODY)], clock, min_interval="10 s")
    fetch.fetch(URL)
    assert clock.sleeps == []
    fetch.fetch(URL)
    assert clock.sleeps == [10.0]
    clock.now += 4.0
    fetch.fetch(URL)
    assert clock.sleeps == [10.0, 6.0]
    clock.now += 25.0
    fetch.fetch(URL)
    assert clock.sleeps == [10.0, 6.0]


def test_http_500_after_retries_names_source_url_and_fix() -> None:
    clock = FakeTime()
    fetch, transport = fetcher([RecordedResponse(500)], clock, randoms=[0.0] * 5, max_retries=2)
    with pytest.raises(FetchError) as caught:
        fetch.fetch(URL)
    error = caught.value
    assert isinstance(error, SourceError)
    assert error.source == "hko-rhrread" and error.location == URL
    assert "HTTP 500" in error.problem and "3 attempts" in error.problem
    assert "max_retries" in error.fix
    assert URL in str(error) and len(transport.calls) == 3


@pytest.mark.parametrize(
    ("exception", "problem"),
    [(requests.ConnectTimeout, "timed out"), (requests.ConnectionError, "connection failed")],
)
def test_timeouts_and_connection_errors_are_retried_then_raised(
    exception: type[requests.RequestException], problem: str
) -> None:
    clock = FakeTime()
    fetch, transport = fetcher(
        [RecordedResponse(raises=exception)],
        clock,
        randoms=[1.0] * 3,
        max_retries=2,
        connect_timeout="2 s",
        read_timeout="10 s",
    )
    with pytest.raises(FetchError, match=problem) as caught:
        fetch.fetch(URL)
    assert caught.value.location == URL
    assert [call.timeout for call in transport.calls] == [(2.0, 10.0)] * 3
    assert clock.sleeps == [0.5, 1.0]


def test_a_timeout_then_success_returns_the_body() -> None:
    clock = FakeTime()
    fetch, _ = fetcher(
        [RecordedResponse(raises=requests.ReadTimeout), RecordedResponse(200, JSON, BODY)],
        clock,
        randoms=[0.5],
    )
    assert fetch.fetch(URL).attempts == 2


def test_empty_body_is_retried_then_an_error() -> None:
    fetch, transport = fetcher(
        [RecordedResponse(200, JSON, b"")], FakeTime(), randoms=[0.0] * 2, max_retries=1
    )
    with pytest.raises(FetchError, match="empty body"):
        fetch.fetch(URL)
    assert len(transport.calls) == 2


def test_client_errors_are_not_retried() -> None:
    fetch, transport = fetcher([RecordedResponse(404)], FakeTime())
    with pytest.raises(FetchError, match="HTTP 404") as caught:
        fetch.fetch(URL)
    assert "URL" in caught.value.fix and len(transport.calls) == 1


def test_unrecorded_url_fails_like_a_dead_host() -> None:
    fetch, _ = fetcher([RecordedResponse(200, JSON, BODY)], FakeTime(), max_retries=0)
    with pytest.raises(FetchError, match="no response for"):
        fetch.fetch(URL.replace("rhrread", "fnd"))


def test_landing_is_atomic_named_by_receipt_and_hash_and_idempotent(tmp_path: Path) -> None:
    clock = FakeTime()
    other = BODY.replace(b'"value": 74', b'"value": 75')
    fetch, _ = fetcher(
        [
            RecordedResponse(200, JSON, BODY),
            RecordedResponse(200, JSON, BODY),
            RecordedResponse(200, JSON, other),
        ],
        clock,
    )
    first = land_snapshot(fetch.fetch(URL), tmp_path)
    assert first.name == snapshot_name(NOW, first.name.split("_")[1], "json")
    assert first.name.startswith("20230819T090230Z_") and first.suffix == ".json"
    assert first.read_bytes() == BODY
    repeat = fetch.fetch(URL)
    object.__setattr__(repeat, "received_at", NOW + timedelta(minutes=10))
    assert land_snapshot(repeat, tmp_path) == first
    changed = land_snapshot(fetch.fetch(URL), tmp_path)
    assert changed != first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, changed.name])
    with pytest.raises(ValueError, match="no timezone"):
        snapshot_name(datetime(2023, 8, 19), "ab" * 8, "json")
