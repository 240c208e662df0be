"""Sector-operator subscriptions: who wants to hear about which hazard, where, and how.

Sector operators (metro, roads, port, power, water, health, construction) register their
assets (GeoJSON points, lines, polygons with an optional buffer), the rules they care about
("gust >= 17.2 m s-1 within 12 h") and their delivery channels (webhook, MQTT, e-mail).

Modules
-------
``request``   the validated request model (pydantic, frozen) and JSON parsing
``geometry``  GeoJSON checks with shapely, region bounds, distances in metres
``channels``  webhook, MQTT and e-mail channels
``tables``    the SQLAlchemy tables; the schema itself comes from ``alerting/migrations``
``store``     :class:`SubscriptionStore`: register, get, remove, list, match assets; tokens
``tokens``    subscriber access tokens (issued by the operator, only their hash stored)
``errors``    :class:`SubscriptionError` (with field-named problems), store errors
"""

from alerting.subscriptions.channels import EmailChannel, MqttChannel, WebhookChannel
from alerting.subscriptions.errors import Problem, SubscriptionError, SubscriptionStoreError
from alerting.subscriptions.geometry import EARTH, RegionBounds, region_bounds
from alerting.subscriptions.request import (
    HAZARDS,
    SECTORS,
    VARIABLES,
    Asset,
    Rule,
    Subscriber,
    SubscriptionRequest,
    parse_request,
    parse_request_json,
)
from alerting.subscriptions.store import AssetMatch, Subscription, SubscriptionStore

__all__ = [
    "EARTH",
    "HAZARDS",
    "SECTORS",
    "VARIABLES",
    "Asset",
    "AssetMatch",
    "EmailChannel",
    "MqttChannel",
    "Problem",
    "RegionBounds",
    "Rule",
    "Subscriber",
    "Subscription",
    "SubscriptionError",
    "SubscriptionRequest",
    "SubscriptionStore",
    "SubscriptionStoreError",
    "WebhookChannel",
    "parse_request",
    "parse_request_json",
    "region_bounds",
]
