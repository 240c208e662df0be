"""A live warning cycle: every configured hazard, then the alerting of those that warn.

``yujing run --config configs/shenzhen.yaml --at 2018-09-16T01:00Z --alert`` and the
Airflow DAG ``yujing_warning_cycle`` both call :func:`warning_cycle`:

1. :func:`yujing.pipeline.run_cycle` for the issue time (every hazard; one that fails is
   recorded and the others go on);
2. for each hazard of the deployment's ``alerting.hazards`` that produced a result,
   :func:`alerting.cycle.alerting_cycle` on the alert store at ``alerting.database``:
   decide against the warnings in force, propose, and for every proposal the policy issues
   automatically write the CAP message and queue its deliveries, all in one transaction.
   Levels the policy keeps for the duty forecaster (``confirm_levels``) wait as proposals
   for the review API (:mod:`yujing.api`).

Deliveries are sent by the outbox dispatcher (``yujing dispatch``), a separate long-running
process: a cycle never waits on a subscriber's server, and what it queued is sent even if
the cycle's process dies right after. Re-running a recorded cycle changes nothing (the
store keys cycles by hazard and issue time), so a retried task cannot warn twice.

The database schema is never changed by a cycle: create or migrate it first with
``yujing alerts upgrade --config …`` (a cycle on an unmigrated database fails and names
that command).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import shapely
import xarray as xr
from fastapi import FastAPI

from alerting.cycle import AlertingSetup, alerting_cycle
from alerting.messages import MessageContext
from alerting.outbox.records import CycleReceipt
from alerting.outbox.store import AlertStore
from alerting.subscriptions import RegionBounds, SubscriptionStore, region_bounds
from hazard_models.region import Region, load_region
from ingest.store import PartitionStore
from yujing.pipeline import CycleResult, Loader, run_cycle
from yujing.settings import Settings, WarningConfig

__all__ = [
    "WarningCycle",
    "alerting_setups",
    "asset_bounds",
    "cycle_max_ages",
    "receipt_rows",
    "review_api",
    "upgrade_alert_database",
    "warning_cycle",
]


@dataclass(frozen=True)
class WarningCycle:
    """What one live warning cycle did."""

    cycle: CycleResult
    receipts: dict[str, CycleReceipt] = field(default_factory=dict)
    """Per warning hazard that had a result: what its alerting cycle recorded."""
    not_warned: dict[str, str] = field(default_factory=dict)
    """Warning hazards without a result this cycle, with the reason (its failure)."""

    def receipt_counts(self) -> dict[str, dict[str, Any]]:
        """Per warning hazard, what its alerting cycle recorded, as plain JSON values."""
        return {
            name: {
                "recorded_before": receipt.already_recorded,
                "proposals": receipt.proposals,
                "messages": receipt.messages,
                "deliveries": receipt.deliveries,
            }
            for name, receipt in self.receipts.items()
        }


def alerting_setups(
    config: WarningConfig, settings: Settings, communities: xr.Dataset, sender_name: str
) -> dict[str, AlertingSetup]:
    """Per warning hazard (a configured hazard name): what its alerting cycle needs."""
    context = MessageContext(
        sender=config.sender,
        sender_code=config.sender_code,
        sender_name=sender_name,
        region_name=settings.region.name,
        timezone=settings.region.timezone,
        communities=communities,
    )
    setups = {}
    for name in config.hazards:
        scheme = settings.scheme_of(name)
        setups[name] = AlertingSetup(
            replace(context, instructions=scheme.instructions()),
            config.policy_of(name),
            scheme.partition,
            {level.name: level.rank for level in scheme.levels},
        )
    return setups


def review_api(
    settings: Settings,
    *,
    public_base_url: str = "http://127.0.0.1:8000",
    identity_header: str | None = None,
) -> tuple[FastAPI, Callable[[], None]]:
    """The HTTP API (:mod:`yujing.api`) over the deployment's alert store, and a function
    that closes its stores: where the duty forecasters confirm, hold, edit or withdraw the
    proposals the warning cycles left waiting, and the public CAP feed."""
    from yujing.api import create_app

    url = settings.alert_database
    assert settings.alerting is not None
    region = load_region(settings.region, settings.communities, settings.cache_directory)
    setups = alerting_setups(
        settings.alerting, settings, region.communities, settings.alerting.sender_name
    )
    # The store keys warnings by the scheme's hazard (``typhoon``), not the configured name.
    by_hazard = {settings.scheme_of(name).hazard: setup for name, setup in setups.items()}
    alerts = AlertStore(url)
    subscriptions = SubscriptionStore(url, region=asset_bounds(region.communities))

    def close() -> None:
        alerts.close()
        subscriptions.close()

    app = create_app(
        alerts,
        subscriptions,
        by_hazard,
        public_base_url=public_base_url,
        timezone=settings.region.timezone,
        region_name=settings.region.name,
        identity_header=identity_header,
        watchdog=settings.alerting.watchdog,
        cycle_max_age=cycle_max_ages(settings),
    )
    return app, close


def cycle_max_ages(settings: Settings) -> dict[str, timedelta]:
    """How old each warning hazard's newest cycle may be (by the store's hazard key, e.g.
    ``typhoon``), from its scheduled cycle and ``alerting.watchdog.cycle_max_age``; a
    hazard warned by two configured models takes the stricter."""
    assert settings.alerting is not None
    limits = settings.alerting.watchdog.cycle_max_age
    ages: dict[str, timedelta] = {}
    for name in settings.alerting.hazards:
        kind = settings.hazards[name].cycle
        if kind not in limits:
            continue  # not watched
        hazard = settings.scheme_of(name).hazard
        ages[hazard] = min(ages.get(hazard, limits[kind]), limits[kind])
    return ages


def asset_bounds(communities: xr.Dataset, margin: float = 0.05) -> RegionBounds:
    """Where subscribers' assets may lie: the community layer's lon/lat box grown by
    ``margin`` degrees (about 5 km: a port's berths offshore, a line across the border).

    An asset outside is refused when it is registered, with a hint when its positions look
    like [lat, lon]: a misplaced asset would otherwise never be reached by any warning.
    """
    x0, y0, x1, y1 = shapely.total_bounds(shapely.from_wkt(communities["geometry_wkt"].values))
    return region_bounds(
        max(-180.0, x0 - margin),
        max(-90.0, y0 - margin),
        min(180.0, x1 + margin),
        min(90.0, y1 + margin),
    )


def upgrade_alert_database(settings: Settings) -> str:
    """Create or migrate the alert store's schema (idempotent); return the URL used."""
    url = settings.alert_database
    _local_folder(url)
    store = SubscriptionStore(url)
    try:
        store.upgrade()
    finally:
        store.close()
    return url


def _local_folder(url: str) -> None:
    """Make the folder of a SQLite file (the embedded default lives in the output folder)."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != prefix + ":memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def warning_cycle(
    settings: Settings,
    issue_time: datetime,
    *,
    output_dir: Path | None = None,
    region: Region | None = None,
    store: PartitionStore | None = None,
    loader: Loader | None = None,
    cycle: str | None = None,
) -> WarningCycle:
    """Run the hazards for ``issue_time``, then alert on the configured warning hazards
    (with ``cycle``, only the hazards of that scheduled cycle: ``nowcast`` or ``daily``).

    Raises
    ------
    ConfigError
        If the settings have no ``alerting`` section.
    OutboxError
        If the alert database cannot be reached or its schema is not the code's (run
        ``yujing alerts upgrade``); the hazard results are written before.
    """
    url = settings.alert_database  # fails first, naming the missing section
    issue_time = issue_time.astimezone(UTC)
    region = region or load_region(settings.region, settings.communities, settings.cache_directory)
    done = run_cycle(
        settings,
        issue_time,
        output_dir=output_dir,
        region=region,
        store=store,
        loader=loader,
        cycle=cycle,
    )
    assert settings.alerting is not None
    setups = alerting_setups(
        settings.alerting, settings, region.communities, settings.alerting.sender_name
    )
    receipts: dict[str, CycleReceipt] = {}
    not_warned: dict[str, str] = {}
    alerts, subscriptions = AlertStore(url), SubscriptionStore(url)
    try:
        selected = settings.hazards_in(cycle)
        for name, setup in setups.items():
            if name not in selected:
                continue  # another scheduled cycle warns on it
            result = done.results.get(name)
            if result is None:
                not_warned[name] = done.failures.get(name, "no result")
                continue
            receipts[name] = alerting_cycle(result, issue_time, setup, alerts, subscriptions)
    finally:
        alerts.close()
        subscriptions.close()
    return WarningCycle(done, receipts, not_warned)


def receipt_rows(warning: WarningCycle) -> list[Mapping[str, object]]:
    """One row per warning hazard for a summary table."""
    rows: list[Mapping[str, object]] = []
    for name, receipt in warning.receipts.items():
        rows.append(
            {
                "hazard": name,
                "recorded before": receipt.already_recorded,
                "proposals": receipt.proposals,
                "messages": receipt.messages,
                "deliveries queued": receipt.deliveries,
                "impact forecasts ended": receipt.impacts_ended,
                "unassessed rules": len(receipt.unassessed),
            }
        )
    for name, reason in warning.not_warned.items():
        rows.append({"hazard": name, "not warned": reason})
    return rows
