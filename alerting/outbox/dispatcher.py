"""The dispatcher: sends what the outbox holds, with retries, backoff and dead letters.

::

    store.claim ──► group by channel ──► Sender.send_batch ──► store.settle
        ▲  lease per batch                                       │ sent / retry at t / dead
        └──────────────── next batch while any is due ◄──────────┘

At-least-once, made exactly-once by the receiver: a delivery is marked sent only after its
receiver accepted it, so a dispatcher killed at any point leaves its batch ``sending``
under a lease; the next dispatcher (or the same one restarted, :meth:`Dispatcher.start`)
sends it again with the same idempotency key, and a receiver that honours the key
processes it once. A failure waits ``first_delay · 2^(attempt-1)`` (capped, with ±jitter
drawn from the key so that a replay is reproducible) before the next attempt; a permanent
failure or ``max_attempts`` failures make a dead letter with the reason, and the other
deliveries go on. What expired before it could be sent (a warning, an impact forecast's
window) is a dead letter too, never pushed late (``RetryPolicy.send_expired`` to send it
anyway); a Cancel always goes. Within one thread to one recipient the store hands out
deliveries in order and supersedes the older ones a newer one replaced
(:meth:`AlertStore.claim_counting`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import Field

from alerting.database import utc_now
from alerting.delivery.envelope import Envelope, Outcome, Sender
from alerting.errors import DeliveryError
from alerting.outbox.store import AlertStore, Claim, Claimed
from hazard_models.config import Duration, Frozen

__all__ = ["DispatchReport", "Dispatcher", "RetryPolicy"]


class RetryPolicy(Frozen):
    """How often and how long a failing delivery is tried again."""

    max_attempts: int = Field(default=10, ge=1)
    first_delay: Duration = timedelta(seconds=30)
    max_delay: Duration = timedelta(minutes=30)
    jitter: float = Field(default=0.2, ge=0, lt=1)
    send_expired: bool = False
    """Whether a delivery past its expiry (a warning's CAP message, an impact forecast's
    window) is still pushed (after an outage); by default it becomes a dead letter saying
    so (:meth:`AlertStore.claim_counting`)."""
    lease: Duration = timedelta(minutes=2)
    """How long a claimed batch is reserved; longer than the slowest two batches take to
    send (:meth:`Dispatcher.run_until_idle` claims the next batch while one is sending)."""

    def delay(self, idempotency_key: str, attempt: int) -> timedelta:
        """Wait before the attempt after ``attempt`` (1-based) failed."""
        base = min(
            self.max_delay.total_seconds(),
            self.first_delay.total_seconds() * 2 ** (attempt - 1),
        )
        digest = hashlib.sha256(f"{idempotency_key}:{attempt}".encode()).digest()
        spread = int.from_bytes(digest[:8], "big") / 2**64 * 2 - 1  # in [-1, 1)
        return timedelta(seconds=base * (1 + self.jitter * spread))


@dataclass(frozen=True)
class DispatchReport:
    """What one or more batches did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    seconds: float = 0.0
    expired: int = 0
    """Deliveries that expired before a send succeeded, made dead letters unsent."""
    superseded: int = 0
    """Deliveries a newer one of their thread replaced before they could be sent."""

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.claimed + other.claimed,
            self.sent + other.sent,
            self.retried + other.retried,
            self.dead + other.dead,
            self.seconds + other.seconds,
            self.expired + other.expired,
            self.superseded + other.superseded,
        )


class Dispatcher:
    """Works the outbox of ``store`` with one :class:`Sender` per channel kind.

    Parameters
    ----------
    store
        The alert store.
    senders
        By channel kind (``webhook``, ``mqtt``, ``email``). A delivery for a kind with no
        sender is retried later with a message saying so (configure the channel).
    owner
        Stable name of this dispatcher (host and role); a restart with the same name takes
        back its own leases at once (:meth:`start`).
    policy
        Retries, backoff and lease.
    batch_size
        Deliveries claimed per batch.
    clock
        Current time for backoff (aware UTC); the store's clock decides what is due.
    """

    def __init__(
        self,
        store: AlertStore,
        senders: Mapping[str, Sender],
        *,
        owner: str = "dispatcher",
        policy: RetryPolicy | None = None,
        batch_size: int = 500,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if "/" in owner or not owner.strip():
            raise ValueError(f"dispatcher owner {owner!r} must be a non-empty name without '/'")
        self._store = store
        self._senders = dict(senders)
        self._owner = owner
        self._policy = policy or RetryPolicy()
        self._batch_size = batch_size
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None  # sends batches and their channels

    def start(self) -> int:
        """Take back the leases an earlier run of this owner left; return how many. The
        dispatcher's first heartbeat (:meth:`AlertStore.heartbeat`) is recorded."""
        self._store.heartbeat(self._owner, self._senders, started=True)
        return self._store.release(self._owner)

    def run_once(self) -> DispatchReport:
        """Claim one batch, send it, record the outcomes."""
        started = time.perf_counter()
        claim = self._claim()
        report = _unsent(claim)
        if claim.claimed:
            report += self._settle(claim.claimed, self._send_claimed(claim.claimed))
        return replace(report, seconds=time.perf_counter() - started)

    def _claim(self) -> Claim:
        """The next batch, and what the claim settled unsent (expired, superseded)."""
        return self._store.claim_counting(
            self._owner, self._batch_size, self._policy.lease, self._policy.send_expired
        )

    def _send_claimed(self, claimed: list[Claimed]) -> list[Outcome]:
        """Send a claimed batch; one outcome per claimed delivery, in order.

        The channels of a batch are sent at the same time (webhook threads beside the MQTT
        window), each channel's envelopes in claim order.
        """
        by_channel: dict[str, list[int]] = defaultdict(list)
        for position, item in enumerate(claimed):
            by_channel[item.envelope.channel].append(position)
        channels = list(by_channel.items())
        if len(channels) > 1:
            futures = [
                self._executor().submit(
                    self._send, channel, [claimed[i].envelope for i in positions]
                )
                for channel, positions in channels
            ]
            results = [future.result() for future in futures]
        else:
            results = [
                self._send(channel, [claimed[i].envelope for i in positions])
                for channel, positions in channels
            ]
        outcomes: list[Outcome] = [None] * len(claimed)
        for (_channel, positions), sent in zip(channels, results, strict=True):
            for position, outcome in zip(positions, sent, strict=True):
                outcomes[position] = outcome
        return outcomes

    def _settle(self, claimed: list[Claimed], outcomes: list[Outcome]) -> DispatchReport:
        """Record the outcomes of a claimed batch (sent, retry with backoff, dead letter)."""
        sent: list[int] = []
        retry: list[tuple[int, datetime, str]] = []
        dead: list[tuple[int, str]] = []
        now = self._clock()
        for item, outcome in zip(claimed, outcomes, strict=True):
            row_id, attempt = item.id, item.attempt
            if outcome is None:
                sent.append(row_id)
            elif outcome.permanent:
                dead.append((row_id, f"refused on attempt {attempt}: {outcome.reason}"))
            elif attempt >= self._policy.max_attempts:
                dead.append((row_id, f"gave up after {attempt} attempts: {outcome.reason}"))
            else:
                wait = self._policy.delay(item.envelope.idempotency_key, attempt)
                retry.append((row_id, now + wait, f"attempt {attempt}: {outcome.reason}"))
        self._store.settle(claimed[0].token, self._owner, sent, retry, dead)
        return DispatchReport(len(claimed), len(sent), len(retry), len(dead))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dispatch")
        return self._pool

    def _send(self, channel: str, envelopes: list[Envelope]) -> list[Outcome]:
        sender = self._senders.get(channel)
        if sender is None:
            error = DeliveryError(
                f"no {channel} sender is configured for this dispatcher; configure the "
                f"{channel} channel (deliveries wait and are retried)"
            )
            return [error] * len(envelopes)
        try:
            outcomes = sender.send_batch(envelopes)
        except DeliveryError as err:  # the sender cannot work at all: every one waits
            return [err] * len(envelopes)
        if len(outcomes) != len(envelopes):
            raise RuntimeError(
                f"{channel} sender returned {len(outcomes)} outcomes for {len(envelopes)} "
                "envelopes; a sender must return one outcome per envelope"
            )
        return outcomes

    def run_until_idle(self, max_batches: int | None = None) -> DispatchReport:
        """Send batch after batch until nothing is due now; return the sum.

        Batches are pipelined: while one batch is being sent, the previous one is settled
        and the next one claimed, so the database work hides behind the network work. At
        most two batches are leased at once (the one sending and the next), so the lease
        must cover two batches' sending time (the default 2 min does many times over).
        """
        started = time.perf_counter()
        batches = 0
        claim = self._claim() if max_batches is None or max_batches > 0 else Claim([])
        claimed, total = claim.claimed, _unsent(claim)
        settling: tuple[list[Claimed], list[Outcome]] | None = None
        while claimed:
            batches += 1
            sending = self._executor().submit(self._send_claimed, claimed)
            try:
                if settling is not None:
                    total += self._settle(*settling)
                    settling = None
                more = max_batches is None or batches < max_batches
                claim = self._claim() if more else Claim([])
                upcoming = claim.claimed
                total += _unsent(claim)
            finally:
                outcomes = sending.result()  # never leave a batch half-sent behind
            settling, claimed = (claimed, outcomes), upcoming
        if settling is not None:
            total += self._settle(*settling)
        return replace(total, seconds=time.perf_counter() - started)

    def run_forever(
        self, stop: threading.Event, poll: float = 1.0, heartbeat: float = 30.0
    ) -> DispatchReport:
        """Dispatch until ``stop`` is set, waiting ``poll`` seconds when idle; record a
        heartbeat at least every ``heartbeat`` seconds (the health check's sign of life,
        so a dead dispatcher is noticed before a warning needs it)."""
        total = DispatchReport()
        beat = time.monotonic()
        self._store.heartbeat(self._owner, self._senders)
        while not stop.is_set():
            report = self.run_until_idle()
            total += report
            if time.monotonic() - beat >= heartbeat:
                self._store.heartbeat(self._owner, self._senders)
                beat = time.monotonic()
            if report.claimed == 0:
                stop.wait(poll)
        return total

    def close(self) -> None:
        """Close every sender."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for sender in self._senders.values():
            sender.close()


def _unsent(claim: Claim) -> DispatchReport:
    """What a claim settled without sending, as a report."""
    return DispatchReport(expired=claim.expired, superseded=claim.superseded)
