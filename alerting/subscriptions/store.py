"""The subscription store: subscribers' whole sets in SQLite or PostgreSQL.

Build one :class:`SubscriptionStore` per database URL and reuse it (it owns a connection
pool; :meth:`SubscriptionStore.close` releases it)::

    store = SubscriptionStore("sqlite:///subscriptions.db")   # embedded default
    store.upgrade()                                          # Alembic migrations to head
    subscriber_id = store.register_json(body)                # validate, then replace the set
    matches = store.assets_matching("typhoon", (114.2, 22.5, 114.35, 22.66))

Registering replaces a subscriber's assets, rules and channels in one transaction and
increments its ``version``; if anything fails the previous set stays. Registering exactly
the stored set again changes nothing (same version), so a retried request is harmless.
Concurrent registrations of the *same new* subscriber may fail with
:class:`SubscriptionStoreError`; retrying is safe.

Access tokens (:mod:`.tokens`): :meth:`SubscriptionStore.issue_token` gives a subscriber id
a new token (returned once, only its hash stored), :meth:`SubscriptionStore.authenticate`
names the subscriber a token speaks for, :meth:`SubscriptionStore.revoke_tokens` ends them.
Registering, removing, issuing and revoking are written to the audit log (entity
``subscriber``) in the transaction of the change, with who did it.
"""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pydantic import ValidationError
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, delete, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from alerting.database import MIGRATIONS, utc_now
from alerting.subscriptions.errors import Problem, SubscriptionError, SubscriptionStoreError
from alerting.subscriptions.geometry import EARTH, RegionBounds, envelope, within_distance
from alerting.subscriptions.request import (
    HAZARDS,
    VARIABLES,
    Asset,
    Rule,
    SubscriptionRequest,
    parse_request_json,
)
from alerting.subscriptions.tables import AssetRow, ChannelRow, RuleRow, SubscriberRow
from alerting.subscriptions.token_store import TokenAccess, subscriber_audit
from alerting.subscriptions.tokens import TokenRecord

__all__ = ["MIGRATIONS", "AssetMatch", "Subscription", "SubscriptionStore", "TokenRecord"]

_TARGET_FIELD = {"webhook": "url", "mqtt": "topic_prefix", "email": "address"}
_CHILDREN: tuple[type[AssetRow] | type[RuleRow] | type[ChannelRow], ...] = (
    AssetRow,
    RuleRow,
    ChannelRow,
)


@dataclass(frozen=True)
class Subscription:
    """A stored subscriber's set, its version and when it was first and last registered."""

    request: SubscriptionRequest
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def subscriber_id(self) -> str:
        """The subscriber's id."""
        return self.request.subscriber.id


@dataclass(frozen=True)
class AssetMatch:
    """An asset that an area reaches, with its subscriber's rules for the hazard."""

    subscriber_id: str
    asset: Asset
    rules: tuple[Rule, ...]
    rule_positions: tuple[int, ...] = ()
    """Each rule's position among all the subscriber's rules (as stored)."""


def _check_hazard(hazard: str) -> str:
    if hazard not in HAZARDS:
        raise ValueError(f"unknown hazard {hazard!r}; choose one of {list(HAZARDS)}")
    return hazard


def _area(area: tuple[float, float, float, float] | BaseGeometry) -> BaseGeometry:
    if isinstance(area, BaseGeometry):
        if area.is_empty or not area.is_valid:
            raise ValueError("area is empty or invalid; give a valid lon/lat geometry or a box")
        return area
    if len(area) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in area):
        raise ValueError(f"bbox {area!r} is not four finite numbers (min_lon, min_lat, ...)")
    min_lon, min_lat, max_lon, max_lat = area
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError(
            f"bbox {area!r} is not (min_lon, min_lat, max_lon, max_lat) in WGS84 degrees "
            "with min <= max"
        )
    return shapely.box(min_lon, min_lat, max_lon, max_lat)


class SubscriptionStore(TokenAccess):
    """Subscribers, their assets, rules and channels in a SQL database.

    Parameters
    ----------
    url
        SQLAlchemy URL: ``sqlite:///path.db`` (embedded) or
        ``postgresql+psycopg://user@host:5432/db``.
    region
        Assets must lie inside it (default: anywhere on Earth).
    clock
        Returns the current time (aware, UTC); injectable for tests.

    Notes
    -----
    The schema comes from the Alembic migrations (:meth:`upgrade`); any other call on a
    database that is not at the newest revision raises :class:`SubscriptionStoreError`.
    """

    def __init__(
        self,
        url: str,
        *,
        region: RegionBounds = EARTH,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(url, "subscription store", SubscriptionStoreError)
        self._region = region
        self._clock = clock
        self._cache: dict[str, Subscription] = {}
        self._cache_lock = threading.Lock()

    # -- writing -----------------------------------------------------------------------

    def parse_json(self, body: bytes | str) -> SubscriptionRequest:
        """Validate a raw JSON request against the store's region (nothing is stored).

        Raises
        ------
        SubscriptionError
            If the body is not a valid request.
        """
        return parse_request_json(body, region=self._region)

    def register_json(self, body: bytes | str, *, by: str = "operator") -> str:
        """Validate a raw JSON request and register it; return the subscriber id.

        Raises
        ------
        SubscriptionError
            If the body is not a valid request; the database is not touched.
        """
        return self.register(self.parse_json(body), by=by)

    def register(self, request: SubscriptionRequest, *, by: str = "operator") -> str:
        """Insert or replace one subscriber's whole set atomically; return its id.

        ``by`` (who registers: the subscriber itself through the API, or the operator) is
        written to the audit log with the new version; an unchanged set writes nothing.

        Raises
        ------
        SubscriptionError
            If an asset lies outside the store's region.
        SubscriptionStoreError
            If the database refuses the write; the previous set is kept.
        """
        problems = [
            Problem(f"assets[{index}].geometry", problem)
            for index, asset in enumerate(request.assets)
            if (problem := self._region.problem(asset.geometry.to_shapely())) is not None
        ]
        if problems:
            raise SubscriptionError(problems)
        self._check_schema()
        subscriber = request.subscriber
        now = self._clock()
        try:
            with self._sessions.begin() as session:
                row = session.get(SubscriberRow, subscriber.id, with_for_update=True)
                if row is None:
                    row = SubscriberRow(id=subscriber.id, version=1, created_at=now)
                    session.add(row)
                else:
                    stored = self._read(session, _only(subscriber.id))
                    if stored and stored[0].request == request:
                        return subscriber.id
                    row.version = SubscriberRow.version + 1  # in SQL: safe under concurrency
                row.name, row.organisation = subscriber.name, subscriber.organisation
                row.sector, row.updated_at = subscriber.sector, now
                for table in _CHILDREN:
                    session.execute(delete(table).where(table.subscriber_id == subscriber.id))
                session.flush()
                session.execute(insert(AssetRow), _asset_rows(request))
                session.execute(insert(RuleRow), _rule_rows(request))
                session.execute(insert(ChannelRow), _channel_rows(request))
                session.flush()
                version = row.version  # the SQL increment, read back after the flush
                session.add(
                    subscriber_audit(
                        now,
                        by,
                        subscriber.id,
                        "registered",
                        f"version {version}: {len(request.assets)} assets, "
                        f"{len(request.rules)} rules, {len(request.channels)} channels",
                    )
                )
        except DBAPIError as err:
            raise SubscriptionStoreError(
                f"subscriber {subscriber.id!r}: the database {self._where} refused the new set "
                f"({type(err.orig).__name__}: {err.orig}); nothing was changed and the stored "
                "version is kept; fix the request or retry"
            ) from err
        return subscriber.id

    def remove(self, subscriber_id: str, *, by: str = "operator") -> bool:
        """Remove a subscriber and its whole set; return whether it existed.

        Its tokens stay valid (it may register again); :meth:`revoke_tokens` ends them.
        """
        self._check_schema()
        with self._sessions.begin() as session:
            for table in _CHILDREN:
                session.execute(delete(table).where(table.subscriber_id == subscriber_id))
            result = session.execute(delete(SubscriberRow).where(SubscriberRow.id == subscriber_id))
            removed = bool(getattr(result, "rowcount", 0))
            if removed:
                session.add(subscriber_audit(self._clock(), by, subscriber_id, "removed", ""))
            return removed

    # -- reading -----------------------------------------------------------------------

    def get(self, subscriber_id: str) -> Subscription | None:
        """Return a subscriber's stored set, or None when it is not registered."""
        self._check_schema()
        with self._sessions() as session:
            found = self._read(session, _only(subscriber_id))
        return found[0] if found else None

    def get_many(self, subscriber_ids: Sequence[str]) -> dict[str, Subscription]:
        """The stored sets of ``subscriber_ids`` (those registered), in few queries."""
        self._check_schema()
        wanted = sorted(set(subscriber_ids))
        found: dict[str, Subscription] = {}
        with self._sessions() as session:
            for start in range(0, len(wanted), 2_000):
                chunk = wanted[start : start + 2_000]
                ids = select(SubscriberRow.id).where(SubscriberRow.id.in_(chunk))
                found.update((s.subscriber_id, s) for s in self._read(session, ids))
        return found

    def subscriber_ids(self) -> list[str]:
        """Return the ids of all registered subscribers, sorted."""
        self._check_schema()
        with self._sessions() as session:
            return list(session.scalars(select(SubscriberRow.id).order_by(SubscriberRow.id)))

    def list_for(self, hazard: str) -> list[Subscription]:
        """Return the subscriptions with at least one rule for ``hazard``, by subscriber id."""
        self._check_schema()
        with self._sessions() as session:
            return self._read(session, _with_hazard(_check_hazard(hazard)))

    def assets_matching(
        self, hazard: str, area: tuple[float, float, float, float] | BaseGeometry
    ) -> list[AssetMatch]:
        """Return the assets that ``area`` reaches, for subscribers with ``hazard`` rules.

        Parameters
        ----------
        hazard
            One of :data:`~alerting.subscriptions.request.HAZARDS`.
        area
            A WGS84 box (min_lon, min_lat, max_lon, max_lat) or a shapely geometry.

        Notes
        -----
        The stored boxes (geometry grown by its buffer) prefilter in SQL; each candidate is
        then tested exactly: the area intersects the asset, or comes within its buffer
        (:func:`~alerting.subscriptions.geometry.within_distance`).
        """
        return self.assets_matching_each(hazard, [area])[0]

    def assets_matching_each(
        self,
        hazard: str,
        areas: Sequence[tuple[float, float, float, float] | BaseGeometry],
    ) -> list[list[AssetMatch]]:
        """:meth:`assets_matching` for several areas, reading the candidates once.

        Returns one list per area, in the order of ``areas``, each exactly what
        :meth:`assets_matching` returns for that area.
        """
        self._check_schema()
        shapes = [_area(area) for area in areas]
        if not shapes:
            return []
        bounds = [tuple(float(value) for value in shape.bounds) for shape in shapes]
        min_lon, min_lat = min(b[0] for b in bounds), min(b[1] for b in bounds)
        max_lon, max_lat = max(b[2] for b in bounds), max(b[3] for b in bounds)
        subscribers = _with_hazard(_check_hazard(hazard))
        with self._sessions() as session:
            candidates = session.execute(
                select(*_ASSET_COLUMNS)
                .where(
                    AssetRow.subscriber_id.in_(subscribers),
                    AssetRow.min_lon <= max_lon,
                    AssetRow.max_lon >= min_lon,
                    AssetRow.min_lat <= max_lat,
                    AssetRow.max_lat >= min_lat,
                )
                .order_by(AssetRow.subscriber_id, AssetRow.position)
            ).all()
            geometries = shapely.from_geojson([row.geometry_geojson for row in candidates])
            boxes = np.array(
                [(row.min_lon, row.min_lat, row.max_lon, row.max_lat) for row in candidates],
                dtype=float,
            ).reshape(-1, 4)
            hits_per_area = []
            for shape, (x0, y0, x1, y1) in zip(shapes, bounds, strict=True):
                boxed = np.flatnonzero(
                    (boxes[:, 0] <= x1)
                    & (boxes[:, 2] >= x0)
                    & (boxes[:, 1] <= y1)
                    & (boxes[:, 3] >= y0)
                )
                touching = shapely.intersects(geometries[boxed], shape)
                hits_per_area.append(
                    [
                        candidates[i]
                        for i, touches in zip(boxed.tolist(), touching.tolist(), strict=True)
                        if touches
                        or (
                            candidates[i].buffer_m > 0
                            and within_distance(geometries[i], candidates[i].buffer_m, shape)
                        )
                    ]
                )
            rules: dict[str, list[Rule]] = defaultdict(list)
            positions: dict[str, list[int]] = defaultdict(list)
            hit_ids = sorted({row.subscriber_id for hits in hits_per_area for row in hits})
            for start in range(0, len(hit_ids), _CHUNK):
                for rule_row in session.execute(
                    select(*_RULE_COLUMNS)
                    .where(
                        RuleRow.hazard == hazard,
                        RuleRow.subscriber_id.in_(hit_ids[start : start + _CHUNK]),
                    )
                    .order_by(RuleRow.subscriber_id, RuleRow.position)
                ):
                    rules[rule_row.subscriber_id].append(_rule(*_rule_key(rule_row)))
                    positions[rule_row.subscriber_id].append(rule_row.position)
        return [
            [
                AssetMatch(
                    row.subscriber_id,
                    _asset(*_asset_key(row)),
                    tuple(rules[row.subscriber_id]),
                    tuple(positions[row.subscriber_id]),
                )
                for row in hits
            ]
            for hits in hits_per_area
        ]

    def _read(self, session: Session, subscriber_ids: Select[str]) -> list[Subscription]:
        """Read the sets of the subscribers ``subscriber_ids`` selects.

        A subscriber whose version (and times) equal those of a set this store validated
        before is served from memory: a register changes the version in the same
        transaction as the set, so an unchanged version means an unchanged set. The others
        are read in three more queries and validated (rules and assets shared by many
        subscribers are validated once).
        """
        subscribers = session.execute(
            select(*_SUBSCRIBER_COLUMNS)
            .where(SubscriberRow.id.in_(subscriber_ids))
            .order_by(SubscriberRow.id)
        ).all()
        with self._cache_lock:
            cached = {
                row.id: hit
                for row in subscribers
                if (hit := self._cache.get(row.id)) is not None
                and (hit.version, hit.created_at, hit.updated_at)
                == (row.version, row.created_at, row.updated_at)
            }
        stale = [row.id for row in subscribers if row.id not in cached]
        children: dict[type, dict[str, list[Any]]] = {
            table: defaultdict(list) for table in _CHILDREN
        }
        for start in range(0, len(stale), _CHUNK):
            chunk = stale[start : start + _CHUNK]
            for table, columns in _CHILD_COLUMNS.items():
                for child in session.execute(
                    select(*columns)
                    .where(table.subscriber_id.in_(chunk))
                    .order_by(table.subscriber_id, table.position)
                ):
                    children[table][child.subscriber_id].append(child)
        result = []
        fresh = []
        for row in subscribers:
            hit = cached.get(row.id)
            if hit is not None:
                result.append(hit)
                continue
            data = {
                "subscriber": {
                    "id": row.id,
                    "name": row.name,
                    "organisation": row.organisation,
                    "sector": row.sector,
                },
                "assets": [_asset(*_asset_key(asset)) for asset in children[AssetRow][row.id]],
                "rules": [_rule(*_rule_key(rule)) for rule in children[RuleRow][row.id]],
                "channels": [_channel_data(channel) for channel in children[ChannelRow][row.id]],
            }
            try:
                request = SubscriptionRequest.model_validate(data)
            except (ValidationError, ValueError) as err:
                raise SubscriptionStoreError(
                    f"subscriber {row.id!r} in {self._where} no longer validates ({err}); "
                    "register it again"
                ) from None
            subscription = Subscription(request, row.version, row.created_at, row.updated_at)
            fresh.append(subscription)
            result.append(subscription)
        with self._cache_lock:
            for subscription in fresh:
                self._cache[subscription.subscriber_id] = subscription
        return result


_CHUNK = 2_000
_SUBSCRIBER_COLUMNS = tuple(SubscriberRow.__table__.columns)
_ASSET_COLUMNS = tuple(AssetRow.__table__.columns)
_RULE_COLUMNS = tuple(RuleRow.__table__.columns)
_CHILD_COLUMNS: dict[Any, tuple[Any, ...]] = {
    AssetRow: _ASSET_COLUMNS,
    RuleRow: _RULE_COLUMNS,
    ChannelRow: tuple(ChannelRow.__table__.columns),
}


def _asset_key(row: Any) -> tuple[str, str, str, str | None]:
    return (row.asset_id, row.name, row.geometry_geojson, row.buffer)


@lru_cache(maxsize=200_000)
def _asset(asset_id: str, name: str, geojson: str, buffer: str | None) -> Asset:
    """A stored asset, validated once per distinct content (the model is immutable)."""
    try:
        return Asset.model_validate(
            {"id": asset_id, "name": name, "geometry": json.loads(geojson), "buffer": buffer}
        )
    except ValidationError as err:
        raise ValueError(f"asset {asset_id!r}: {err}") from None


def _rule_key(row: Any) -> tuple[str, str, str, str, str, float | None]:
    return (
        row.hazard,
        row.variable,
        row.comparison,
        row.threshold,
        row.within,
        row.min_probability,
    )


@lru_cache(maxsize=50_000)
def _rule(
    hazard: str,
    variable: str,
    comparison: str,
    threshold: str,
    within: str,
    min_probability: float | None,
) -> Rule:
    """A stored rule, validated once per distinct content (many subscribers share rules)."""
    try:
        return Rule.model_validate(
            {
                "hazard": hazard,
                "variable": variable,
                "comparison": comparison,
                "threshold": threshold,
                "within": within,
                "min_probability": min_probability,
            }
        )
    except ValidationError as err:
        raise ValueError(f"rule {variable} {comparison} {threshold}: {err}") from None


def _only(subscriber_id: str) -> Select[str]:
    return select(SubscriberRow.id).where(SubscriberRow.id == subscriber_id)


def _with_hazard(hazard: str) -> Select[str]:
    return select(RuleRow.subscriber_id).where(RuleRow.hazard == hazard).distinct()


def _asset_rows(request: SubscriptionRequest) -> list[dict[str, Any]]:
    rows = []
    for position, asset in enumerate(request.assets):
        buffer_m = asset.buffer_m
        min_lon, min_lat, max_lon, max_lat = envelope(asset.geometry.to_shapely(), buffer_m)
        geojson = json.dumps(asset.geometry.model_dump(mode="json"), separators=(",", ":"))
        rows.append(
            {
                "subscriber_id": request.subscriber.id,
                "asset_id": asset.id,
                "position": position,
                "name": asset.name,
                "geometry_type": asset.geometry.type,
                "geometry_geojson": geojson,
                "buffer": asset.buffer,
                "buffer_m": buffer_m,
                "min_lon": min_lon,
                "min_lat": min_lat,
                "max_lon": max_lon,
                "max_lat": max_lat,
            }
        )
    return rows


def _rule_rows(request: SubscriptionRequest) -> list[dict[str, Any]]:
    return [
        {
            "subscriber_id": request.subscriber.id,
            "position": position,
            "hazard": rule.hazard,
            "variable": rule.variable,
            "comparison": rule.comparison,
            "threshold": rule.threshold,
            "threshold_value": rule.threshold_value,
            "threshold_units": VARIABLES[rule.variable].units,
            "within": rule.within,
            "within_seconds": int(rule.within_duration.total_seconds()),
            "min_probability": rule.min_probability,
        }
        for position, rule in enumerate(request.rules)
    ]


def _channel_rows(request: SubscriptionRequest) -> list[dict[str, Any]]:
    return [
        {
            "subscriber_id": request.subscriber.id,
            "position": position,
            "kind": channel.kind,
            "target": channel.target,
            "languages": ",".join(channel.languages),
        }
        for position, channel in enumerate(request.channels)
    ]


def _channel_data(row: ChannelRow) -> dict[str, Any]:
    return {
        "kind": row.kind,
        _TARGET_FIELD[row.kind]: row.target,
        "languages": row.languages.split(","),
    }
