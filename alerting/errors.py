"""Exceptions raised while turning warnings into messages and sending them.

They derive from the root of :mod:`ingest.errors`, so the command line reports them like
every other yujing error::

    YujingError                      root of everything yujing raises on purpose
    └── AlertingError                a warning cannot be composed, encoded or delivered
        ├── CapError                 a CAP message is invalid: ``problems`` lists each one,
        │                            naming the element or field and the fix
        ├── ReviewError              a forecaster's review step is not allowed now
        ├── DeliveryError            one delivery failed: ``permanent`` says whether a retry
        │                            can help (the dispatcher retries, then dead-letters)
        ├── OutboxError              the alert store refused a change (nothing changed)
        ├── SignatureError           a webhook's signature or timestamp does not verify
        │                            (defined in :mod:`alerting.delivery.webhook`)
        ├── SubscriptionError        a subscription request is invalid (field by field)
        └── SubscriptionStoreError   the subscription store refused a change (nothing changed)

A message always says what was wrong and what to do about it, e.g.
``info[1]/expires: missing; Google Public Alerts requires <expires> in every <info>, add
the time the warning stops being valid``.
"""

from __future__ import annotations

from ingest.errors import YujingError

__all__ = ["AlertingError", "CapError", "DeliveryError", "OutboxError", "ReviewError"]


class AlertingError(YujingError):
    """A warning cannot be composed, encoded or delivered."""


class CapError(AlertingError):
    """A CAP message (inbound or built by yujing) is invalid.

    Parameters
    ----------
    problems
        One readable sentence per problem, each naming the element or field at fault and
        the fix.
    source
        What was checked: ``"CAP message"``, an identifier or a file name.
    """

    def __init__(self, problems: list[str], source: str = "CAP message") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}:\n{listing}")


class ReviewError(AlertingError):
    """A review step that is not allowed (wrong state, unknown level, empty area)."""


class DeliveryError(AlertingError):
    """One delivery did not reach its receiver.

    Parameters
    ----------
    reason
        What happened, naming the channel target (``HTTP 503 from https://...``).
    permanent
        True when sending the same message again cannot succeed (the receiver refused the
        payload, the address does not exist); the dispatcher then dead-letters at once.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(reason)


class OutboxError(AlertingError):
    """The alert store (warnings, messages, outbox, audit) refused a change."""
