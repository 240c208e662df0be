"""Is the warning service working? What monitoring asks before anyone is paged.

A warning that is never computed or never sent fails silently: the warning cycle stopped
(Airflow down, a source gone, a model raising every cycle), or the outbox dispatcher died
and deliveries pile up. :func:`assess` turns what the alert store knows into checks::

    cycle:<hazard>   the newest recorded cycle of each warning hazard is at most its
                     cycle's ``max_age`` old (failing otherwise, or when it never ran)
    dispatcher       the earliest due delivery is at most ``delivery_max_lag`` overdue
                     (failing otherwise: nothing drains the outbox)
    heartbeat        a dispatcher polled the outbox within ``dispatcher_silence``, and every
                     channel that waiting deliveries use is sent by one that did (failing
                     otherwise: a dead dispatcher, or one started without the webhook key,
                     is noticed before the deliveries are 10 min late)
    dead letters     no delivery given up in the last ``dead_letter_window`` (degraded
                     otherwise: someone must follow up, then ``yujing alerts requeue``)
    review           no proposal has waited for a forecaster longer than
                     ``review_max_wait`` (failing otherwise: a level kept for confirmation,
                     such as a red signal, is not going out); the wait counts from the
                     first unreviewed proposal a newer one superseded, or from a
                     forecaster's last edit

The report's status is the worst check's: ``ok``, ``degraded`` or ``failing``.
``yujing serve``'s ``GET /health`` answers 503 when failing (so a load balancer or an
uptime probe pages the on-call), and ``yujing alerts status`` exits 0 / 1 / 2 for ok /
degraded / failing (the Nagios convention).

Examples
--------
>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2018, 9, 16, 1, 20, tzinfo=UTC)
>>> report = assess(
...     now,
...     max_age={"typhoon": timedelta(minutes=20)},
...     last_cycles={"typhoon": now - timedelta(minutes=30)},
...     next_due=None,
...     delivery_max_lag=timedelta(minutes=10),
...     recent_dead_letters=0,
...     dead_letter_window=timedelta(hours=24),
... )
>>> report.status, report.checks[0].detail
('failing', 'newest cycle 2018-09-16T00:50:00Z is 30 min old, more than 20 min')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from alerting.outbox.records import AwaitingReview

if TYPE_CHECKING:
    from alerting.outbox.store import AlertStore

__all__ = ["Check", "HealthReport", "Status", "assess", "assess_store"]

Status = Literal["ok", "degraded", "failing"]
_RANK: dict[Status, int] = {"ok": 0, "degraded": 1, "failing": 2}


@dataclass(frozen=True)
class Check:
    """One check: its name, its status and what it saw."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class HealthReport:
    """All checks at ``checked_at`` and the worst status among them."""

    checked_at: datetime
    checks: tuple[Check, ...]

    @property
    def status(self) -> Status:
        """The worst status of the checks (``ok`` when there are none)."""
        return max((c.status for c in self.checks), key=_RANK.__getitem__, default="ok")

    @property
    def exit_code(self) -> int:
        """0 ok, 1 degraded, 2 failing (Nagios plugin convention)."""
        return _RANK[self.status]


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assess(
    now: datetime,
    *,
    max_age: Mapping[str, timedelta],
    last_cycles: Mapping[str, datetime | None],
    next_due: datetime | None,
    delivery_max_lag: timedelta,
    recent_dead_letters: int,
    dead_letter_window: timedelta,
    awaiting: Sequence[AwaitingReview] = (),
    review_max_wait: timedelta = timedelta(minutes=15),
    dispatchers: Sequence[tuple[str, datetime, tuple[str, ...]]] = (),
    dispatcher_silence: timedelta | None = None,
    waiting_channels: Sequence[str] = (),
) -> HealthReport:
    """The health of the warning service at ``now`` (aware).

    Parameters
    ----------
    max_age
        Per warning hazard (as the store keys it, e.g. ``typhoon``): how old its newest
        cycle may be.
    last_cycles
        Per hazard: issue time of its newest recorded cycle (None or missing: never).
    next_due
        When the earliest pending delivery was due, or a dead dispatcher's lease ends
        (None: nothing waits).
    delivery_max_lag
        How late the earliest due delivery may be before the dispatcher counts as stopped.
    recent_dead_letters
        Deliveries created within ``dead_letter_window`` before ``now`` that are dead.
    awaiting, review_max_wait
        The proposals waiting for a forecaster, and how long one may wait.
    dispatchers, dispatcher_silence
        Each dispatcher's heartbeat (owner, last seen, channels), and how long the newest
        may be silent (None: no heartbeat check).
    waiting_channels
        The channels of the deliveries waiting to be sent.
    """
    if now.tzinfo is None:
        raise ValueError(f"now {now!r} has no time zone; give an aware UTC time")
    checks: list[Check] = []
    for hazard in sorted(max_age):
        limit, last = max_age[hazard], last_cycles.get(hazard)
        if last is None:
            checks.append(Check(f"cycle:{hazard}", "failing", "no cycle has been recorded"))
            continue
        age = now - last
        status: Status = "ok" if age <= limit else "failing"
        relation = "at most" if status == "ok" else "more than"
        checks.append(
            Check(
                f"cycle:{hazard}",
                status,
                f"newest cycle {_iso(last)} is {_minutes(age)} old, {relation} {_minutes(limit)}",
            )
        )
    if next_due is None:
        checks.append(Check("dispatcher", "ok", "no delivery is waiting"))
    else:
        late = now - next_due
        if late <= delivery_max_lag:
            checks.append(
                Check("dispatcher", "ok", f"earliest due delivery {_iso(next_due)} is on time")
            )
        else:
            checks.append(
                Check(
                    "dispatcher",
                    "failing",
                    f"earliest due delivery {_iso(next_due)} is {_minutes(late)} overdue, "
                    f"more than {_minutes(delivery_max_lag)}: is `yujing dispatch` running?",
                )
            )
    if dispatcher_silence is not None:
        checks.append(_heartbeat(now, dispatchers, dispatcher_silence, waiting_channels))
    window = _minutes(dead_letter_window)
    if recent_dead_letters:
        checks.append(
            Check(
                "dead letters",
                "degraded",
                f"{recent_dead_letters} deliveries of the last {window} were given up; see "
                "/outbox, fix the endpoint, then `yujing alerts requeue`",
            )
        )
    else:
        checks.append(Check("dead letters", "ok", f"none in the last {window}"))
    if not awaiting:
        checks.append(Check("review", "ok", "no proposal waits for a forecaster"))
    else:
        oldest = min(awaiting, key=lambda waiting: waiting.since)
        wait = now - oldest.since
        what = f"{oldest.level} {oldest.hazard} for area {oldest.area}"
        if wait > review_max_wait:
            checks.append(
                Check(
                    "review",
                    "failing",
                    f"{len(awaiting)} proposals wait for a forecaster; {what} has waited "
                    f"{_minutes(wait)}, more than {_minutes(review_max_wait)}: open /console",
                )
            )
        else:
            checks.append(
                Check(
                    "review",
                    "ok",
                    f"{len(awaiting)} proposals wait for a forecaster, the longest "
                    f"{_minutes(wait)} ({what})",
                )
            )
    return HealthReport(now, tuple(checks))


def _heartbeat(
    now: datetime,
    dispatchers: Sequence[tuple[str, datetime, tuple[str, ...]]],
    silence: timedelta,
    waiting_channels: Sequence[str],
) -> Check:
    if not dispatchers:
        return Check("heartbeat", "failing", "no dispatcher has ever run: start `yujing dispatch`")
    owner, seen, channels = max(dispatchers, key=lambda row: row[1])
    quiet = max(now - seen, timedelta(0))
    sends = ", ".join(channels) or "no channel"
    if quiet > silence:
        return Check(
            "heartbeat",
            "failing",
            f"no dispatcher has polled the outbox for {_minutes(quiet)} (more than "
            f"{_minutes(silence)}; last {owner!r} at {_iso(seen)}): restart `yujing dispatch`",
        )
    alive = {c for _, at, sent in dispatchers if now - at <= silence for c in sent}
    unsent = sorted(set(waiting_channels) - alive)
    if unsent:
        return Check(
            "heartbeat",
            "failing",
            f"deliveries wait on {', '.join(unsent)}, which no running dispatcher sends "
            f"({owner!r} sends {sends}): start `yujing dispatch` with that channel "
            "(--webhook-key-file, --mqtt, --smtp)",
        )
    return Check("heartbeat", "ok", f"{owner!r} polled {_minutes(quiet)} ago, sends {sends}")


def assess_store(
    alerts: AlertStore,
    now: datetime,
    *,
    max_age: Mapping[str, timedelta],
    delivery_max_lag: timedelta,
    dead_letter_window: timedelta,
    review_max_wait: timedelta = timedelta(minutes=15),
    dispatcher_silence: timedelta | None = None,
) -> HealthReport:
    """:func:`assess` on what ``alerts`` holds at ``now`` (a few small queries)."""
    return assess(
        now,
        max_age=max_age,
        last_cycles={hazard: alerts.last_cycle(hazard) for hazard in max_age},
        next_due=alerts.next_due(),
        delivery_max_lag=delivery_max_lag,
        recent_dead_letters=alerts.dead_since(now - dead_letter_window),
        dead_letter_window=dead_letter_window,
        awaiting=alerts.awaiting_review(),
        review_max_wait=review_max_wait,
        dispatchers=alerts.dispatchers() if dispatcher_silence is not None else (),
        dispatcher_silence=dispatcher_silence,
        waiting_channels=alerts.waiting_channels() if dispatcher_silence is not None else (),
    )
