"""Sector-operator subscriptions on real places, in SQLite and PostgreSQL.

Assets come from the shared data (SOURCES.md):

* §2.2 ``boundaries/shenzhen_districts_datav_wgs84.geojson``: the 盐田区 (Yantian) district
  polygon stands in for the Yantian container-port operator's asset; 宝安区 (Bao'an) holds
  the airport (≈113.81 E, 22.64 N).
* §5 ``waterlogging/sz_waterlogging_points_2019_geocoded_thirdparty.csv``: the officially
  listed 2019 waterlogging-prone points of Yantian and Bao'an, as a roads operator's point
  assets with a 1 km buffer. SOURCES §5 warns that some third-party geocodes are wrong, so
  only points that fall inside their listed district's polygon are used (this drops
  沙头村, listed in 盐田区 but geocoded in Bao'an).

Every test runs on SQLite (a temporary file) and on PostgreSQL at ``POSTGRES_URL`` in a
fresh schema (``search_path``) that is dropped afterwards; when PostgreSQL is not reachable
that parameter is skipped with the reason.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.pool import NullPool

import alerting.outbox.tables  # noqa: F401  (the alert-store tables share the metadata)
from alerting.subscriptions import (
    SubscriptionError,
    SubscriptionRequest,
    SubscriptionStore,
    SubscriptionStoreError,
    parse_request,
    parse_request_json,
    region_bounds,
)
from alerting.subscriptions.errors import BODY
from alerting.subscriptions.request import Asset, Rule
from alerting.subscriptions.tables import Base

YANTIAN_PORT = (114.27, 22.57)  # Yantian International Container Terminals
BAOAN_AIRPORT = (113.81, 22.64)  # Shenzhen Bao'an International Airport
# SOURCES.md §2.3: bounds of the WGS84 Shenzhen city outline, widened by about 5 km.
SHENZHEN = region_bounds(113.70, 22.35, 114.67, 22.91)
START = datetime(2026, 7, 1, tzinfo=UTC)


# -- real assets -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def districts(data_root: Path) -> dict[str, dict[str, Any]]:
    """SOURCES.md §2.2: Shenzhen district geometries (GeoJSON) by Chinese name."""
    path = data_root / "boundaries/shenzhen_districts_datav_wgs84.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    return {feature["properties"]["name"]: feature["geometry"] for feature in features}


@pytest.fixture(scope="module")
def yantian_polygon(districts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Yantian district as one GeoJSON Polygon (the file's MultiPolygon has one part)."""
    parts = districts["盐田区"]["coordinates"]
    assert districts["盐田区"]["type"] == "MultiPolygon" and len(parts) == 1
    return {"type": "Polygon", "coordinates": parts[0]}


@pytest.fixture(scope="module")
def waterlogging_points(
    data_root: Path, districts: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """SOURCES.md §5: 2019 waterlogging points of Yantian and Bao'an inside their district."""
    path = data_root / "waterlogging/sz_waterlogging_points_2019_geocoded_thirdparty.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["district"] in ("盐田区", "宝安区")]
    kept = [
        row
        for row in rows
        if shapely.geometry.shape(districts[row["district"]]).contains(
            shapely.Point(float(row["lon"]), float(row["lat"]))
        )
    ]
    assert [row["location"] for row in rows if row not in kept] == ["沙头村易发生较深积水"]
    return [
        {
            "id": f"point-{index:03d}",
            "name": f"{row['district']}{row['street']}{row['location']}",
            "geometry": {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]},
            "buffer": "1 km",
        }
        for index, row in enumerate(kept)
    ]


def port_body(yantian_polygon: dict[str, Any]) -> dict[str, Any]:
    """The Yantian port operator: gusts and typhoon rain over the district polygon."""
    return {
        "subscriber": {
            "id": "yantian-port",
            "name": "盐田港集装箱码头",
            "organisation": "Yantian International Container Terminals",
            "sector": "port",
        },
        "assets": [
            {"id": "yantian-district", "name": "盐田区", "geometry": yantian_polygon},
            {
                "id": "terminal-gate",
                "name": "码头闸口",
                "geometry": {"type": "Point", "coordinates": list(YANTIAN_PORT)},
                "buffer": "500 m",
            },
        ],
        "rules": [
            {
                "hazard": "typhoon",
                "variable": "wsgsmax",
                "comparison": ">=",
                "threshold": "17.2 m s-1",
                "within": "12 h",
                "min_probability": 0.3,
            },
            {
                "hazard": "rainstorm",
                "variable": "pr",
                "comparison": ">",
                "threshold": "40 mm h-1",
                "within": "6 h",
            },
        ],
        "channels": [
            {
                "kind": "webhook",
                "url": "https://ops.yict.example.cn/yujing",
                "languages": ["zh-CN"],
            },
            {
                "kind": "mqtt",
                "topic_prefix": "yujing/port/yantian",
                "languages": ["zh-CN", "en-US"],
            },
            {"kind": "email", "address": "duty@yict.example.cn", "languages": ["en-US"]},
        ],
    }


def roads_body(points: list[dict[str, Any]]) -> dict[str, Any]:
    """A roads operator: rain rate within 1 km of listed waterlogging points."""
    return {
        "subscriber": {
            "id": "sz-roads",
            "name": "深圳道路积水值守",
            "organisation": "Shenzhen roads",
            "sector": "roads",
        },
        "assets": points,
        "rules": [
            {
                "hazard": "rainstorm",
                "variable": "pr",
                "comparison": ">=",
                "threshold": "40 mm h-1",
                "within": "3 h",
            }
        ],
        "channels": [
            {"kind": "webhook", "url": "http://127.0.0.1:8080/hook", "languages": ["zh-CN"]}
        ],
    }


# -- stores on both backends -------------------------------------------------------------


def ticking_clock() -> Callable[[], datetime]:
    """A clock that advances one minute per call, from 2026-07-01T00:00Z."""
    ticks = iter(range(10_000))
    return lambda: START + timedelta(minutes=next(ticks))


@pytest.fixture
def store(database_url: str) -> Iterator[SubscriptionStore]:
    """A migrated store in the empty database."""
    with SubscriptionStore(database_url, clock=ticking_clock()) as migrated:
        migrated.upgrade()
        yield migrated


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every alerting table, in key order."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


# -- migrations ------------------------------------------------------------------------


def test_upgrade_is_idempotent_and_matches_the_orm(database_url: str) -> None:
    with SubscriptionStore(database_url) as fresh:
        assert fresh.current_revision() is None
        with pytest.raises(SubscriptionStoreError, match=r"upgrade\(\)"):
            fresh.get("yantian-port")
        fresh.upgrade()
        fresh.upgrade()
        assert fresh.current_revision() == "0006"  # ... heartbeats, delivery threads
        assert fresh.get("yantian-port") is None
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            tables = set(inspect(connection).get_table_names())
            assert {"subscribers", "assets", "rules", "channels", "deliveries"} <= tables
            assert {"subscriber_tokens", "audit_log"} <= tables
            assert tables == {"alembic_version", *Base.metadata.tables}
            assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
                ("0006",)
            ]
    finally:
        engine.dispose()


# -- round trips ---------------------------------------------------------------------------


def test_register_get_replace_remove(
    store: SubscriptionStore, database_url: str, yantian_polygon: dict[str, Any]
) -> None:
    body = port_body(yantian_polygon)
    assert store.register_json(json.dumps(body, ensure_ascii=False).encode()) == "yantian-port"
    first = store.get("yantian-port")
    assert first is not None
    assert first.request == parse_request(body)
    assert (first.version, first.created_at, first.updated_at) == (1, START, START)

    store.register_json(json.dumps(body))  # the same set again: nothing changes
    assert store.get("yantian-port") == first

    body["assets"] = body["assets"][1:]
    body["rules"][0]["threshold"] = "62 km h-1"  # Beaufort 8 gale, written in km/h
    store.register_json(json.dumps(body))
    second = store.get("yantian-port")
    assert second is not None and second.request == parse_request(body)
    assert second.version == 2 and second.created_at == START and second.updated_at > START
    assert second.request.rules[0].threshold_value == pytest.approx(17.22, abs=0.01)
    assert [row[1] for row in dump(database_url)["assets"]] == ["terminal-gate"]

    assert [s.subscriber_id for s in store.list_for("typhoon")] == ["yantian-port"]
    assert store.list_for("heatwave") == []
    with pytest.raises(ValueError, match="unknown hazard 'flood'"):
        store.list_for("flood")

    assert store.remove("yantian-port", by="port-ops") is True
    assert store.remove("yantian-port") is False
    assert store.get("yantian-port") is None
    rows = dump(database_url)
    assert all(rows[table] == [] for table in rows if table != "audit_log")
    # (id, at, actor, entity, entity_id, action, detail): the one unchanged call wrote nothing
    assert [(row[2], row[5], row[6].split(":")[0]) for row in rows["audit_log"]] == [
        ("operator", "registered", "version 1"),
        ("operator", "registered", "version 2"),
        ("port-ops", "removed", ""),
    ]


def test_tokens_are_stored_hashed_and_end_when_revoked(
    store: SubscriptionStore, database_url: str
) -> None:
    first = store.issue_token("yantian-port", by="ops-1", label="terminal SCADA")
    second = store.issue_token("yantian-port", by="ops-1")
    roads = store.issue_token("baoan-roads", by="ops-2")
    assert len({first, second, roads}) == 3
    assert [store.authenticate(t) for t in (first, second, roads)] == [
        "yantian-port",
        "yantian-port",
        "baoan-roads",
    ]
    assert store.authenticate(first[:-1] + ("A" if first[-1] != "A" else "B")) is None
    assert store.authenticate(first + " ") is None and store.authenticate("") is None
    stored = json.dumps(dump(database_url), default=str)
    assert not any(token[len("yjs_") :] in stored for token in (first, second, roads))

    assert store.revoke_tokens("yantian-port", by="ops-3", hint=first[:10]) == 1
    assert (store.authenticate(first), store.authenticate(second)) == (None, "yantian-port")
    assert store.revoke_tokens("yantian-port", by="ops-3") == 1
    assert store.revoke_tokens("yantian-port", by="ops-3") == 0
    assert store.authenticate(second) is None and store.authenticate(roads) == "baoan-roads"
    records = store.tokens("yantian-port")
    assert [(r.hint, r.label, r.active, r.revoked_by) for r in records] == [
        (first[:10], "terminal SCADA", False, "ops-3"),
        (second[:10], "", False, "ops-3"),
    ]
    audit = [(row[2], row[4], row[5]) for row in dump(database_url)["audit_log"]]
    assert audit == [
        ("ops-1", "yantian-port", "token issued"),
        ("ops-1", "yantian-port", "token issued"),
        ("ops-2", "baoan-roads", "token issued"),
        ("ops-3", "yantian-port", "tokens revoked"),
        ("ops-3", "yantian-port", "tokens revoked"),
    ]
    with pytest.raises(ValueError, match="not an id"):
        store.issue_token("Yantian Port", by="ops-1")
    with pytest.raises(ValueError, match="blank"):
        store.issue_token("yantian-port", by=" ")


def _without_validation(request: SubscriptionRequest, broken: str) -> SubscriptionRequest:
    """The request with a fault only the database catches (validation is bypassed)."""
    if broken == "duplicate asset id":  # primary key (subscriber_id, asset_id)
        assets = (*request.assets, request.assets[0])
        return request.model_construct(**{**dict(request), "assets": assets})
    within = Rule.model_construct(**{**dict(request.rules[0]), "within": "100 h"})
    return request.model_construct(**{**dict(request), "rules": (*request.rules, within)})


@pytest.mark.parametrize("broken", ["duplicate asset id", "window over 72 h"])
def test_replacing_is_atomic(
    store: SubscriptionStore, database_url: str, yantian_polygon: dict[str, Any], broken: str
) -> None:
    store.register_json(json.dumps(port_body(yantian_polygon)))
    before = dump(database_url)
    replacement = parse_request(port_body(yantian_polygon) | {"rules": [port_body({})["rules"][1]]})
    with pytest.raises(SubscriptionStoreError, match="nothing was changed") as caught:
        store.register(_without_validation(replacement, broken))
    assert "yantian-port" in str(caught.value)
    assert dump(database_url) == before
    stored = store.get("yantian-port")
    assert stored is not None and stored.version == 1 and len(stored.request.rules) == 2


# -- matching assets ---------------------------------------------------------------------


def around(lon: float, lat: float, half_width: float = 0.02) -> tuple[float, float, float, float]:
    return lon - half_width, lat - half_width, lon + half_width, lat + half_width


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance, R = 6371 km (SOURCES.md's convention)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def test_yantian_polygon_matches_near_the_port_not_at_the_airport(
    store: SubscriptionStore, yantian_polygon: dict[str, Any]
) -> None:
    store.register_json(json.dumps(port_body(yantian_polygon)))
    near_port = store.assets_matching("typhoon", around(*YANTIAN_PORT))
    assert [(m.subscriber_id, m.asset.id) for m in near_port] == [
        ("yantian-port", "yantian-district"),
        ("yantian-port", "terminal-gate"),
    ]
    assert [rule.variable for rule in near_port[0].rules] == ["wsgsmax"]
    assert store.assets_matching("typhoon", around(*BAOAN_AIRPORT)) == []
    assert store.assets_matching("heatwave", around(*YANTIAN_PORT)) == []
    # a hazard area as a polygon: Yantian's own shape reaches the district asset
    district = shapely.geometry.shape(yantian_polygon)
    assert store.assets_matching("rainstorm", district)[0].asset.id == "yantian-district"


def test_point_buffers_match_by_distance(
    store: SubscriptionStore, waterlogging_points: list[dict[str, Any]]
) -> None:
    store.register_json(json.dumps(roads_body(waterlogging_points)))
    box = around(*BAOAN_AIRPORT)
    found = {m.asset.id for m in store.assets_matching("rainstorm", box)}
    # independent check: haversine distance from each point to the nearest point of the box
    expected = set()
    for point in waterlogging_points:
        lon, lat = point["geometry"]["coordinates"]
        nearest = (min(max(lon, box[0]), box[2]), min(max(lat, box[1]), box[3]))
        if haversine_m(lon, lat, *nearest) <= 1_000:
            expected.add(point["id"])
    assert found == expected and len(found) == 1  # 福永街道 福围市场片区, 1.3 km from the airport
    assert store.assets_matching("typhoon", box) == []


@pytest.mark.parametrize(("buffer", "reached"), [("1 km", True), ("850 m", False)])
def test_buffer_distance_on_the_ellipsoid(
    store: SubscriptionStore, waterlogging_points: list[dict[str, Any]], buffer: str, reached: bool
) -> None:
    point = next(p for p in waterlogging_points if p["name"].endswith("东和社区街心公园"))
    lon, lat = point["geometry"]["coordinates"]
    store.register_json(json.dumps(roads_body([point | {"buffer": buffer}])))
    south_edge = lat + 0.0081  # a box whose south edge is ~900 m north of the point
    assert 880 < haversine_m(lon, lat, lon, south_edge) < 920
    box = (lon - 0.01, south_edge, lon + 0.01, south_edge + 0.01)
    assert bool(store.assets_matching("rainstorm", box)) is reached


def test_line_assets_match_where_the_area_touches_the_line(
    store: SubscriptionStore, waterlogging_points: list[dict[str, Any]]
) -> None:
    ends = [
        point["geometry"]["coordinates"]
        for point in waterlogging_points
        if point["name"].endswith(("海景二路", "梅沙医院下高速路口"))
    ]
    road = {
        "id": "yantian-road",
        "name": "盐田 road between two listed waterlogging points",
        "geometry": {"type": "LineString", "coordinates": ends},
    }
    store.register_json(json.dumps(roads_body([road])))
    (west, south), (east, north) = ends
    middle = ((west + east) / 2, (south + north) / 2)
    assert [m.asset.id for m in store.assets_matching("rainstorm", around(*middle, 0.001))] == [
        "yantian-road"
    ]
    # inside the line's bounding box (the SQL prefilter passes) but ~5 km from the line
    assert store.assets_matching("rainstorm", around(west, north, 0.001)) == []


# -- validation ---------------------------------------------------------------------------


def problems_of(body: Any, **options: Any) -> list[str]:
    with pytest.raises(SubscriptionError) as caught:
        parse_request_json(body if isinstance(body, bytes | str) else json.dumps(body), **options)
    return [str(problem) for problem in caught.value.problems]


def test_messages_name_the_field_and_the_fix(yantian_polygon: dict[str, Any]) -> None:
    body = port_body(yantian_polygon)
    body["rules"][0]["threshold"] = "17.2 km"
    body["rules"][1]["threshold"] = "50 mm"  # an accumulation, not a rate
    body["channels"][1]["topic_prefix"] = "yujing/+/alerts"
    assert problems_of(body) == [
        "rules[0].threshold: '17.2 km' is not a wind speed; write e.g. '17.2 m s-1'",
        "rules[1].threshold: '50 mm' is not a rain rate; write e.g. '50 mm h-1'",
        "channels[1].topic_prefix: 'yujing/+/alerts' contains an MQTT wildcard ('+' or '#'), "
        "which is for subscribing, not publishing; give a fixed prefix such as "
        "'yujing/port/yantian'",
    ]


def test_units_are_converted_once() -> None:
    rule = Rule.model_validate(
        {"hazard": "heatwave", "variable": "heat_index", "comparison": ">="}
        | {"threshold": "314.15 K", "within": "1 d"}
    )
    assert rule.threshold_value == pytest.approx(41.0)
    assert rule.within_duration == timedelta(hours=24)
    assert rule.exceeded_by(41.0) and not rule.exceeded_by(40.9)
    asset = Asset.model_validate(
        {"id": "gate", "name": "gate", "geometry": {"type": "Point", "coordinates": [114, 22]}}
        | {"buffer": "1.5 km"}
    )
    assert asset.buffer_m == 1500.0


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://ops.example.cn/hook?token=abc", True),
        ("http://localhost:8080/hook", True),
        ("http://127.0.0.1/hook", True),
        ("http://ops.example.cn/hook", False),
        ("https://user:secret@ops.example.cn/hook", False),
    ],
)
def test_webhooks_need_https_except_on_this_machine(
    yantian_polygon: dict[str, Any], url: str, accepted: bool
) -> None:
    body = port_body(yantian_polygon)
    body["channels"][0]["url"] = url
    if accepted:
        assert parse_request(body).channels[0].kind == "webhook"
    else:
        assert problems_of(body)[0].startswith("channels[0].url: ")


def test_region_bounds_refuse_assets_elsewhere(
    database_url: str, yantian_polygon: dict[str, Any]
) -> None:
    body = port_body(yantian_polygon)
    body["assets"][1]["geometry"]["coordinates"] = [116.40, 39.90]  # Beijing
    (problem,) = problems_of(body, region=SHENZHEN)
    assert problem.startswith("assets[1].geometry: lies outside the configured region")
    assert parse_request(body).assets[1].id == "terminal-gate"  # default: anywhere on Earth
    with (
        SubscriptionStore(database_url, region=SHENZHEN) as shenzhen,
        pytest.raises(SubscriptionError, match=r"assets\[1\]\.geometry"),
    ):
        shenzhen.register(parse_request(body))  # the store checks its region too


# -- fuzz: 1,000 malformed requests ---------------------------------------------------------

REQUIRED = {
    "": ["subscriber", "assets", "rules", "channels"],
    "subscriber": ["id", "name", "organisation", "sector"],
    "assets": ["id", "name", "geometry"],
    "geometry": ["type", "coordinates"],
    "rules": ["hazard", "variable", "comparison", "threshold", "within"],
    "webhook": ["kind", "url", "languages"],
    "mqtt": ["kind", "topic_prefix", "languages"],
    "email": ["kind", "address", "languages"],
}
BOWTIE = [[114.2, 22.55], [114.3, 22.6], [114.3, 22.55], [114.2, 22.6], [114.2, 22.55]]
SQUARE = [[114.2, 22.55], [114.3, 22.55], [114.3, 22.6], [114.2, 22.6], [114.2, 22.55]]
OUTSIDE = [[115.0, 23.0], [115.1, 23.0], [115.1, 23.1], [115.0, 23.0]]
# field (``*`` = any item) -> values that are each wrong there
WRONG_VALUES: dict[str, list[Any]] = {
    "subscriber.id": ["Yantian Port", "-port", "a", "x" * 65, "港口", 7],
    "subscriber.sector": ["navy", "Port", "", "airport", None],
    "subscriber.name": ["", "   ", "x" * 201, 3.5, None],
    "assets[*].buffer": ["-1 km", "1 kg", "500 km", "near", 5, ""],
    "assets[0].geometry": [
        {"type": "Polygon", "coordinates": [BOWTIE]},  # self-intersecting
        {"type": "Polygon", "coordinates": [[*BOWTIE[:-1], [114.21, 22.55]]]},  # not closed
        {"type": "Polygon", "coordinates": [BOWTIE[:3]]},  # too few positions
        {"type": "Polygon", "coordinates": [[*SQUARE[:2], [114.4, 22.55], SQUARE[0]]]},  # flat
        {"type": "Polygon", "coordinates": [SQUARE, OUTSIDE]},  # hole outside the shell
        {"type": "Polygon", "coordinates": []},
        {"type": "MultiPolygon", "coordinates": [[SQUARE]]},
        {"type": "Point"},
        [],
    ],
    "assets[1].geometry.coordinates": [
        [200.0, 22.5],
        [114.0, -95.0],
        [22.57, 114.27],
        [114.2],
        [114.2, 22.5, 3.0],
        [True, 22.5],
        ["114.2", "22.5"],
        [1e400, 22.5],
    ],
    "rules[*].hazard": ["flood", "Typhoon", "", "earthquake", "rain storm", None],
    "rules[*].variable": ["rain", "PR", "tasmax", "gust", 1],
    "rules[0].variable": ["tas", "heat_index", "water_depth"],  # not in typhoon forecasts
    "rules[*].comparison": ["<=", "==", "", "≥", "<"],
    "rules[*].threshold": [
        "17.2 km",
        "41 degC",
        "41",
        "hot",
        "",
        "17.2 parsec",
        "1e9 m s-1",
        "-5 m s-1",
        "0.3 1",
        "5 kg",
        17.2,
        None,
        "m s-1 17.2",
    ],
    "rules[*].within": ["-3 h", "0 h", "100 h", "4 d", "3", "3 kg", 12, "soon", "-1e3 min", ""],
    "rules[*].min_probability": [1.5, -0.1, "0.5", True, 1e400],
    "channels[0].url": [
        "ftp://ops.example.cn/",
        "http://ops.example.cn/hook",
        "https://",
        "",
        "https://u:p@ops.example.cn/",
        "https://ops example.cn/",
        "javascript:alert(1)",
        443,
        "https://[::1/hook",
        "https://ops.example.cn:99999/",
        "https://港口.cn/hook",
    ],
    "channels[1].topic_prefix": [
        "yujing/+/port",
        "yujing/#",
        "#",
        "+",
        "$SYS/alerts",
        "",
        "/yujing",
        "yujing/",
        "yujing//port",
        "yujing port",
        "预警/港口",
        "a" * 201,
        ["yujing"],
    ],
    "channels[2].address": [
        "duty",
        "duty@",
        "@yict.example.cn",
        "du ty@yict.example.cn",
        "duty@localhost",
        "duty@yict..cn",
        "x" * 65 + "@yict.example.cn",
        ".duty@x.cn",
        "",
    ],
    "channels[*].languages": [["fr-FR"], [], ["zh-CN", "zh-CN"], "zh-CN", ["zh-cn"], [None]],
    "channels[*].kind": ["sms", "Webhook", "", None],
    "assets": [[], "assets", {}, None],
    "rules": [[], "rules", [None]],
    "channels": [[], "channels", [[]]],
}


def _objects(body: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(path, object, kind of object) for every object of a request."""
    found = [("", body, ""), ("subscriber", body["subscriber"], "subscriber")]
    for index, asset in enumerate(body["assets"]):
        found.append((f"assets[{index}]", asset, "assets"))
        found.append((f"assets[{index}].geometry", asset["geometry"], "geometry"))
    found += [(f"rules[{index}]", rule, "rules") for index, rule in enumerate(body["rules"])]
    found += [
        (f"channels[{index}]", channel, channel["kind"])
        for index, channel in enumerate(body["channels"])
    ]
    return found


def _field(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def missing_field(rng: random.Random, body: dict[str, Any]) -> tuple[str, str]:
    path, obj, kind = rng.choice(_objects(body))
    key = rng.choice(REQUIRED[kind])
    del obj[key]
    return json.dumps(body), _field(path, key)


def extra_field(rng: random.Random, body: dict[str, Any]) -> tuple[str, str]:
    path, obj, _ = rng.choice(_objects(body))
    key = rng.choice(["colour", "priority", "Threshold", "bbox", f"x{rng.randrange(100)}"])
    obj[key] = rng.choice([1, "x", None, [], {}])
    return json.dumps(body), _field(path, key)


def wrong_type(rng: random.Random, body: dict[str, Any]) -> tuple[str, str]:
    path, obj, kind = rng.choice(_objects(body))
    key = rng.choice(REQUIRED[kind])
    structured = isinstance(obj[key], dict | list)  # give objects and arrays a scalar
    obj[key] = rng.choice([7, 2.5, True, None, "text"] if structured else [7, True, None, {}, [1]])
    return json.dumps(body), _field(path, key)


def wrong_value(rng: random.Random, body: dict[str, Any]) -> tuple[str, str]:
    field = rng.choice(sorted(WRONG_VALUES))
    value = copy.deepcopy(rng.choice(WRONG_VALUES[field]))
    *parents, key = field.replace("[", ".[").split(".")
    target: Any = body
    for part in parents:
        if part == "[*]":
            part = f"[{rng.randrange(len(target))}]"
            field = field.replace("[*]", part, 1)
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    target[key] = value
    text = json.dumps(body).replace("Infinity", "1e400")  # JSON has no inf; 1e400 parses as inf
    return text, field.removesuffix(".coordinates")


def garbage(rng: random.Random, body: dict[str, Any]) -> tuple[bytes | str, str]:
    text = json.dumps(body)
    payloads: list[bytes | str] = [
        rng.randbytes(rng.randrange(1, 64)),  # random bytes
        text[: rng.randrange(len(text) - 1)],  # truncated
        b"\xff\xfe" + text.encode(),  # not UTF-8
        text.replace('"min_probability": 0.3', '"min_probability": NaN'),
        text[:-1] + ', "rules": []}',  # a duplicate key
        rng.choice(["[]", "null", "42", '"subscription"', "", " ", "[{}]"]),  # not an object
        "[" * 5_000 + "]" * 5_000,  # nested too deep
    ]
    return rng.choice(payloads), BODY


MUTATIONS: list[Callable[[random.Random, dict[str, Any]], tuple[bytes | str, str]]] = [
    missing_field,
    extra_field,
    wrong_type,
    wrong_value,
    wrong_value,
    wrong_value,
    garbage,
]


def test_a_thousand_malformed_requests_are_refused_and_change_nothing(
    store: SubscriptionStore,
    database_url: str,
    yantian_polygon: dict[str, Any],
    waterlogging_points: list[dict[str, Any]],
) -> None:
    store.register_json(json.dumps(port_body(yantian_polygon)))
    store.register_json(json.dumps(roads_body(waterlogging_points[:3])))
    before = dump(database_url)
    valid = port_body(yantian_polygon)
    rng = random.Random(20260724)
    fields: Counter[str] = Counter()
    for case in range(1_000):
        payload, expected = rng.choice(MUTATIONS)(rng, copy.deepcopy(valid))
        fields[expected] += 1
        with pytest.raises(SubscriptionError) as caught:
            store.register_json(payload)
        problems = caught.value.problems
        assert problems and all(problem.field for problem in problems), (case, problems)
        if expected == BODY:
            assert any(p.field == BODY and "JSON" in p.message for p in problems), (case, problems)
        else:
            assert any(p.field.startswith(expected) for p in problems), (case, expected, problems)
    assert fields[BODY] > 100 and len(fields) > 60  # every kind of fault, in many places
    assert dump(database_url) == before
