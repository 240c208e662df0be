"""Database tables of the subscription store (SQLAlchemy 2 ORM, typed).

::

    subscribers  id (pk), name, organisation, sector, version, created_at, updated_at
    ├── assets    (subscriber_id, asset_id) pk, position, name, geometry_type,
    │             geometry_geojson, buffer, buffer_m, min_lon, min_lat, max_lon, max_lat
    ├── rules     (subscriber_id, position) pk, hazard, variable, comparison, threshold,
    │             threshold_value, threshold_units, within, within_seconds, min_probability
    └── channels  (subscriber_id, position) pk, kind, target, languages
    subscriber_tokens  token_hash (pk), subscriber_id, hint, label, created_at/_by,
                       revoked_at/_by: who may manage which subscriber through the API

Child rows are never updated: registering a subscriber replaces its whole set in one
transaction and increments ``subscribers.version``, so a child's time is its subscriber's
``updated_at``. Texts are stored as written (``"17.2 m s-1"``, ``"12 h"``) beside their
converted values, so a request reads back equal. The asset box columns hold the box of the
geometry grown by its buffer (:func:`~alerting.subscriptions.geometry.envelope`): an index
prefilter for :meth:`SubscriptionStore.assets_matching`.

The schema is created by the Alembic migrations in ``alerting/migrations`` only; a test
checks that they and these classes agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Double, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alerting.database import Base, UTCDateTime

__all__ = [
    "AssetRow",
    "Base",
    "ChannelRow",
    "RuleRow",
    "SubscriberRow",
    "TokenRow",
    "UTCDateTime",
]


class SubscriberRow(Base):
    """One subscriber and the version of its current set."""

    __tablename__ = "subscribers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)


class AssetRow(Base):
    """One asset of a subscriber, with its prefilter box."""

    __tablename__ = "assets"

    subscriber_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    geometry_type: Mapped[str] = mapped_column(String(16))
    geometry_geojson: Mapped[str] = mapped_column(Text)
    buffer: Mapped[str | None] = mapped_column(String(64))
    buffer_m: Mapped[float] = mapped_column(Double)
    min_lon: Mapped[float] = mapped_column(Double)
    min_lat: Mapped[float] = mapped_column(Double)
    max_lon: Mapped[float] = mapped_column(Double)
    max_lat: Mapped[float] = mapped_column(Double)

    __table_args__ = (
        CheckConstraint("min_lon <= max_lon AND min_lat <= max_lat", name="box_ordered"),
        CheckConstraint("buffer_m >= 0", name="buffer_not_negative"),
        Index(None, "min_lon", "max_lon", "min_lat", "max_lat"),
    )


class RuleRow(Base):
    """One rule of a subscriber (applies to all its assets)."""

    __tablename__ = "rules"

    subscriber_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    hazard: Mapped[str] = mapped_column(String(32), index=True)
    variable: Mapped[str] = mapped_column(String(32))
    comparison: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[str] = mapped_column(String(64))
    threshold_value: Mapped[float] = mapped_column(Double)
    threshold_units: Mapped[str] = mapped_column(String(16))
    within: Mapped[str] = mapped_column(String(64))
    within_seconds: Mapped[int] = mapped_column(Integer)
    min_probability: Mapped[float | None] = mapped_column(Double)

    __table_args__ = (
        CheckConstraint("comparison IN ('>=', '>')", name="comparison_known"),
        CheckConstraint("within_seconds > 0 AND within_seconds <= 259200", name="within_72h"),
    )


class ChannelRow(Base):
    """One delivery channel of a subscriber."""

    __tablename__ = "channels"

    subscriber_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(2048))
    languages: Mapped[str] = mapped_column(String(64))

    __table_args__ = (CheckConstraint("kind IN ('webhook', 'mqtt', 'email')", name="kind_known"),)


class TokenRow(Base):
    """One access token of a subscriber: only its SHA-256 is kept (:mod:`.tokens`).

    Not a child of ``subscribers``: a token is issued before the subscriber registers its
    first set and outlives a removed set, until it is revoked.
    """

    __tablename__ = "subscriber_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscriber_id: Mapped[str] = mapped_column(String(64), index=True)
    hint: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(128))
