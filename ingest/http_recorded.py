"""A ``requests`` transport that answers from recorded responses, so tests need no network.

Mount it on the session of :class:`ingest.http.HttpFetcher` (``adapter=``)::

    transport = RecordedTransport({url: [RecordedResponse(503), RecordedResponse(200, body=b"{}")]})
    fetcher = HttpFetcher("hko", adapter=transport, sleep=fake_sleep)

Each URL's recorded answers are served in order (the last one repeats); an answer can also
raise ``requests.Timeout`` or ``requests.ConnectionError``. :attr:`RecordedTransport.calls`
keeps every request with its headers and timeout, for assertions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

__all__ = ["RecordedCall", "RecordedResponse", "RecordedTransport"]


@dataclass(frozen=True)
class RecordedResponse:
    """One recorded answer: a status with headers and body, or an exception to raise.

    ``raises`` is an exception class such as ``requests.Timeout`` or
    ``requests.ConnectionError``; when set, status, headers and body are ignored.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    raises: type[requests.RequestException] | None = None


@dataclass
class RecordedCall:
    """One request received by :class:`RecordedTransport`."""

    url: str
    headers: dict[str, str]
    timeout: Any


class RecordedTransport(BaseAdapter):
    """A ``requests`` transport adapter that answers from recorded responses.

    Parameters
    ----------
    responses
        For each full URL (with its query), the answers to give in order. When a URL's
        answers run out, the last one is repeated.

    Attributes
    ----------
    calls
        Every request received, in order, with its headers and the timeout it carried.
    """

    def __init__(self, responses: Mapping[str, Iterable[RecordedResponse]]) -> None:
        super().__init__()
        self._responses = {url: list(answers) for url, answers in responses.items()}
        self._served: dict[str, int] = {}
        self.calls: list[RecordedCall] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        """Answer ``request`` with its next recorded response."""
        url = str(request.url)
        self.calls.append(RecordedCall(url, dict(request.headers.items()), kwargs.get("timeout")))
        answers = self._responses.get(url)
        if not answers:
            raise requests.ConnectionError(f"RecordedTransport has no response for {url}")
        index = self._served.get(url, 0)
        self._served[url] = index + 1
        answer = answers[min(index, len(answers) - 1)]
        if answer.raises is not None:
            raise answer.raises(f"recorded {answer.raises.__name__} for {url}", request=request)
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(dict(answer.headers))
        response._content = answer.body
        response.url = url
        response.request = request
        response.reason = "recorded"
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""
