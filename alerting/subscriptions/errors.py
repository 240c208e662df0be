"""Exceptions raised by sector-operator subscriptions.

Both are alerting errors (:mod:`alerting.errors`)::

    YujingError                      ingest.errors
    └── AlertingError                alerting.errors
        ├── SubscriptionError        a subscription request is invalid: ``problems`` lists
        │                            each one as (field path, what is wrong and the fix)
        └── SubscriptionStoreError   the subscription database refused or cannot serve a call

A problem names the field by its path in the request, e.g.
``rules[0].threshold: '17.2 km' is not a wind speed; write e.g. '17.2 m s-1'``. Problems
about the whole body (not JSON, not an object) use the path ``(body)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerting.errors import AlertingError

__all__ = ["BODY", "Problem", "SubscriptionError", "SubscriptionStoreError"]

BODY = "(body)"
"""The field path used for problems about the whole request body."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a subscription request.

    Parameters
    ----------
    field
        Path of the field at fault, e.g. ``rules[0].threshold`` or ``(body)``.
    message
        What is wrong and how to fix it.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SubscriptionError(AlertingError):
    """A subscription request is invalid; nothing was stored.

    Parameters
    ----------
    problems
        Every problem found, each naming its field.
    source
        Where the request came from (a subscriber id, a file name, ``request``).
    """

    def __init__(self, problems: Iterable[Problem], source: str = "subscription request") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.source = source
        count = len(self.problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{source} has {count} problem{'s' if count != 1 else ''}:\n{lines}")


class SubscriptionStoreError(AlertingError):
    """The subscription database refused a write or is not ready for use."""
