"""The alerting half of a replay: the same store, outbox and dispatcher as live, on SQLite.

A replay has no duty forecaster and no subscribers of its own. Every level is issued
automatically (the event's lifecycle policy has no ``confirm_levels``), and one local
subscriber, ``replay-capture``, watches the whole region with the event's rules on a
webhook to a real loopback :class:`~alerting.delivery.receiver.WebhookReceiver`: what the
dispatcher delivers to it (signed, de-duplicated by idempotency key) is what a subscriber
would have received, and is written to ``deliveries.jsonl``. After each cycle the warnings
in force are written to ``warnings.csv``; :mod:`yujing.verify` scores them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd
import shapely
import xarray as xr

from alerting.cycle import AlertingSetup, alerting_cycle
from alerting.delivery.receiver import WebhookReceiver
from alerting.delivery.webhook import WebhookSender
from alerting.outbox.dispatcher import Dispatcher
from alerting.outbox.store import AlertStore
from alerting.subscriptions import SubscriptionStore
from ingest.storage import write_bytes_atomic

__all__ = ["CAPTURE_SUBSCRIBER", "WARNING_COLUMNS", "HazardAlerting", "ReplayAlerting"]

CAPTURE_SUBSCRIBER = "replay-capture"
WARNING_COLUMNS = [
    "cycle",
    "hazard",
    "area",
    "area_name",
    "level",
    "rank",
    "issued",
    "onset",
    "expires",
    "communities",
]
"""``warnings.csv``: one row per warning in force after each cycle (``communities`` is the
space-separated list of the community ids it covers)."""


@dataclass(frozen=True)
class HazardAlerting:
    """How one hazard of the event is warned."""

    setup: AlertingSetup
    scheme_hazard: str
    """The hazard name of the scheme (``rainstorm``), which keys the alert store."""


class ReplayAlerting:
    """Alert store, capture subscriber, receiver and dispatcher for one replay.

    Parameters
    ----------
    folder
        The replay's folder; ``alerts.db`` there is replaced (a replay starts afresh).
    hazards
        Per configured hazard name that issues warnings: its setup.
    capture_rules
        Rules of the capture subscriber (as in a subscription request).
    communities
        The community layer, for the capture subscriber's area (its bounding box).
    """

    def __init__(
        self,
        folder: Path,
        hazards: Mapping[str, HazardAlerting],
        capture_rules: list[dict[str, Any]],
        communities: xr.Dataset,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        database = folder / "alerts.db"
        for stale in (database, database.with_name("alerts.db-journal")):
            stale.unlink(missing_ok=True)
        self.folder = folder
        self.hazards = dict(hazards)
        url = f"sqlite:///{database}"
        self.subscriptions = SubscriptionStore(url)
        self.subscriptions.upgrade()
        # The store lives in the replayed time: what is due, late or expired is judged at
        # the cycle's issue time, as it was live.
        self._now = datetime.now(UTC)
        self.alerts = AlertStore(url, clock=lambda: self._now)
        master_key = secrets.token_bytes(32)
        self.receiver = WebhookReceiver(master_key)
        self.receiver.start()
        self._sender = WebhookSender(master_key, workers=4)
        self.dispatcher = Dispatcher(
            self.alerts, {"webhook": self._sender}, owner="replay", clock=lambda: self._now
        )
        self.dispatcher.start()
        self._rows: list[dict[str, Any]] = []
        self.sent = 0
        self.dead = 0
        if capture_rules:
            self.subscriptions.register_json(
                json.dumps(self._capture_request(capture_rules, communities))
            )

    def _capture_request(
        self, rules: list[dict[str, Any]], communities: xr.Dataset
    ) -> dict[str, Any]:
        shapes = shapely.from_wkt(communities["geometry_wkt"].values.astype(str))
        west, south, east, north = (round(float(v), 6) for v in shapely.total_bounds(shapes))
        ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
        return {
            "subscriber": {
                "id": CAPTURE_SUBSCRIBER,
                "name": "Replay capture",
                "organisation": "yujing replay",
                "sector": "other",
            },
            "assets": [
                {
                    "id": "region",
                    "name": "the whole region",
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            ],
            "rules": rules,
            "channels": [
                {
                    "kind": "webhook",
                    "url": self.receiver.url_for(CAPTURE_SUBSCRIBER),
                    "languages": ["zh-CN", "en-US"],
                }
            ],
        }

    def cycle(self, name: str, result: xr.Dataset, issue_time: datetime) -> None:
        """Alert on one hazard result, deliver what it queued, note the warnings in force."""
        hazard = self.hazards[name]
        self._now = issue_time
        alerting_cycle(result, issue_time, hazard.setup, self.alerts, self.subscriptions)
        report = self.dispatcher.run_until_idle()
        self.sent += report.sent
        self.dead += report.dead
        stamp = pd.Timestamp(issue_time)
        for warning in self.alerts.active_warnings(hazard.scheme_hazard).values():
            self._rows.append(
                {
                    "cycle": stamp,
                    "hazard": name,
                    "area": warning.area,
                    "area_name": warning.area_name,
                    "level": warning.level,
                    "rank": warning.rank,
                    "issued": pd.Timestamp(warning.issued),
                    "onset": pd.Timestamp(warning.onset) if warning.onset else pd.NaT,
                    "expires": pd.Timestamp(warning.expires),
                    "communities": " ".join(warning.communities),
                }
            )

    def finish(self) -> dict[str, int]:
        """Write ``warnings.csv`` and ``deliveries.jsonl``; return delivery counts."""
        table = pd.DataFrame(self._rows, columns=WARNING_COLUMNS)
        write_bytes_atomic(self.folder / "warnings.csv", table.to_csv(index=False).encode())
        received = self.receiver.deliveries
        lines = [
            json.dumps(
                {
                    "idempotency_key": d.key,
                    "subscriber": d.subscriber_id,
                    "content_type": d.content_type,
                    "body": d.body.decode("utf-8", errors="replace"),
                },
                ensure_ascii=False,
            )
            for d in received
        ]
        write_bytes_atomic(
            self.folder / "deliveries.jsonl", ("\n".join(lines) + "\n" if lines else "").encode()
        )
        counts = self.alerts.delivery_counts()
        return {
            "messages": len(self.alerts.messages()),
            "deliveries sent": self.sent,
            "dead letters": self.dead,
            "superseded before sending": counts.get("superseded", 0),
            "received": len(received),
            "repeats dropped by the receiver": sum(self.receiver.duplicates.values()),
            "pending": counts.get("pending", 0) + counts.get("sending", 0),
        }

    def close(self) -> None:
        """Stop the dispatcher's sender and the receiver; release the stores."""
        self._sender.close()
        self.receiver.stop()
        self.alerts.close()
        self.subscriptions.close()

    def __enter__(self) -> ReplayAlerting:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
