"""Impact forecasts for sector operators on a real typhoon: Mangkhut 2018 over Shenzhen.

The hazard result is the ``typhoon-ensemble`` model on the JMA best track of Mangkhut 1822
(SOURCES.md §1.2) with the baseline forecaster, 10 members, issued 2018-09-16 01 UTC, built
as in ``tests/test_lifecycle.py``. Assets are real places (SOURCES.md):

* §2.2 ``boundaries/shenzhen_districts_datav_wgs84.geojson``: the 盐田区 (Yantian) district
  polygon, standing in for the Yantian container-port operator;
* the Yantian International Container Terminals gate (≈114.27 E, 22.57 N) and Shenzhen
  Bao'an International Airport (≈113.81 E, 22.64 N), as in
  ``tests/services/test_subscriptions.py``.

Subscriptions are registered in a real :class:`SubscriptionStore` on a temporary SQLite
file and matched with ``assets_matching``; every expected number is read from the result
with plain xarray selections, not through the code under test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import xarray as xr

from alerting.impact import ImpactForecast, assess, asset_communities, impact_forecasts
from alerting.subscriptions import SubscriptionStore
from alerting.subscriptions.request import Asset
from alerting.subscriptions.store import AssetMatch
from hazard_models import get_model
from ingest.readers.jma_besttrack import read_jma_best_tracks

ISSUE = datetime(2018, 9, 16, 1, tzinfo=UTC)
YANTIAN_PORT = (114.27, 22.57)  # Yantian International Container Terminals
BAOAN_AIRPORT = (113.81, 22.64)  # Shenzhen Bao'an International Airport
SHENZHEN_BOX = (113.70, 22.35, 114.67, 22.91)  # SOURCES.md §2.3 outline, widened ~5 km

PORT_RULES: list[dict[str, Any]] = [
    {  # 0: the brief's gust rule (Beaufort 8 gust, a computed threshold and window)
        "hazard": "typhoon",
        "variable": "wsgsmax",
        "comparison": ">=",
        "threshold": "17.2 m s-1",
        "within": "12 h",
        "min_probability": 0.3,
    },
    {  # a rainstorm rule between typhoon rules: not in the typhoon match
        "hazard": "rainstorm",
        "variable": "pr",
        "comparison": ">",
        "threshold": "40 mm h-1",
        "within": "6 h",
    },
    {  # 1: Beaufort 10 mean wind, demanding 90 %
        "hazard": "typhoon",
        "variable": "sfcWind",
        "comparison": ">=",
        "threshold": "24.5 m s-1",
        "within": "12 h",
        "min_probability": 0.9,
    },
    {  # 2: 38 m s-1 within 9 h: neither computed (32.7 / 41.5 m s-1; 6 / 12 h)
        "hazard": "typhoon",
        "variable": "wsgsmax",
        "comparison": ">=",
        "threshold": "38 m s-1",
        "within": "9 h",
        "min_probability": 0.5,
    },
    {  # 3: typhoon rain rate: allowed by the request model, not produced by this model
        "hazard": "typhoon",
        "variable": "pr",
        "comparison": ">=",
        "threshold": "40 mm h-1",
        "within": "1 h",
    },
    {  # 4: deterministic: no min_probability
        "hazard": "typhoon",
        "variable": "wsgsmax",
        "comparison": ">=",
        "threshold": "17.2 m s-1",
        "within": "12 h",
    },
]


@pytest.fixture(scope="module")
def mangkhut_result(shenzhen_settings, shenzhen_region, data_root) -> xr.Dataset:  # type: ignore[no-untyped-def]
    """Mangkhut 1822, issued 2018-09-16 01 UTC, 10 members (as tests/test_lifecycle.py)."""
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    options = {**shenzhen_settings.hazards["typhoon"].options, "members": 10}
    scheme = shenzhen_settings.signal_schemes["shenzhen-typhoon"]
    model = get_model("typhoon-ensemble")(scheme, options, shenzhen_settings.risk)
    known = track.sel(time=slice(None, ISSUE.replace(tzinfo=None) - timedelta(hours=1)))
    result: xr.Dataset = model.run({"track": known}, shenzhen_region, ISSUE)
    return result


@pytest.fixture(scope="module")
def layer(shenzhen_region) -> xr.Dataset:  # type: ignore[no-untyped-def]
    """The Shenzhen community layer (1-km grid cells) the result is on."""
    communities: xr.Dataset = shenzhen_region.communities
    return communities


@pytest.fixture(scope="module")
def yantian_polygon(data_root: Path) -> dict[str, Any]:
    """SOURCES.md §2.2: the Yantian district as one GeoJSON Polygon."""
    path = data_root / "boundaries/shenzhen_districts_datav_wgs84.geojson"
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    geometry = next(f["geometry"] for f in features if f["properties"]["name"] == "盐田区")
    assert geometry["type"] == "MultiPolygon" and len(geometry["coordinates"]) == 1
    return {"type": "Polygon", "coordinates": geometry["coordinates"][0]}


def _body(subscriber: str, assets: list[dict[str, Any]], rules: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "subscriber": {
                "id": subscriber,
                "name": subscriber,
                "organisation": subscriber,
                "sector": "port",
            },
            "assets": assets,
            "rules": rules,
            "channels": [
                {"kind": "webhook", "url": "https://ops.example.cn/hook", "languages": ["zh-CN"]}
            ],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Any:
    """A migrated subscription store on a temporary SQLite file, with two operators."""
    with SubscriptionStore(f"sqlite:///{tmp_path / 'subscriptions.db'}") as migrated:
        migrated.upgrade()
        yield migrated


@pytest.fixture
def matches(store: SubscriptionStore, yantian_polygon: dict[str, Any]) -> list[AssetMatch]:
    """The port operator's assets and typhoon rules that Shenzhen's box reaches."""
    store.register_json(
        _body(
            "yantian-port",
            [
                {"id": "yantian-district", "name": "盐田区", "geometry": yantian_polygon},
                {
                    "id": "terminal-gate",
                    "name": "码头闸口",
                    "geometry": {"type": "Point", "coordinates": list(YANTIAN_PORT)},
                    "buffer": "1 km",
                },
            ],
            PORT_RULES,
        )
    )
    found = store.assets_matching("typhoon", SHENZHEN_BOX)
    assert [m.asset.id for m in found] == ["yantian-district", "terminal-gate"]
    # the hazard's rules in stored order: the rainstorm rule is left out
    stored = store.get("yantian-port")
    assert stored is not None
    typhoon_rules = [r for r in stored.request.rules if r.hazard == "typhoon"]
    assert list(found[0].rules) == typhoon_rules and len(typhoon_rules) == 5
    assert found[0].rule_positions == (0, 2, 3, 4, 5)  # positions among all its rules
    return found


def _select(result: xr.Dataset, communities: tuple[str, ...]) -> xr.Dataset:
    """Plain xarray: the result at the given community ids."""
    return result.isel(community=np.isin(result["community_id"].values, list(communities)))


def _by(forecasts: list[ImpactForecast], asset: str, position: int) -> ImpactForecast | None:
    chosen = [f for f in forecasts if f.asset_id == asset and f.rule_position == position]
    assert len(chosen) <= 1
    return chosen[0] if chosen else None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance, R = 6371 km (SOURCES.md's convention)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


# -- probabilities ------------------------------------------------------------------------


def test_port_gust_rule_takes_the_worst_of_the_asset_communities(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    issue = ISSUE + timedelta(minutes=6)
    forecasts, _ = assess(mangkhut_result, layer, matches, issue)
    for asset in ("yantian-district", "terminal-gate"):
        forecast = _by(forecasts, asset, 0)
        assert forecast is not None
        assert matches[0].rules[matches[0].rule_positions.index(0)].threshold == "17.2 m s-1"
        at_asset = _select(mangkhut_result, forecast.communities)
        assert at_asset.sizes["community"] == len(forecast.communities) > 0
        table = at_asset["exceedance_probability"].sel(threshold="gust Beaufort 8", window="12 h")
        assert forecast.probability == pytest.approx(float(table.max()))
        arrival = at_asset["arrival_time"].sel(threshold="gust Beaufort 8").min().values
        assert forecast.first_time == datetime.fromisoformat(f"{arrival}"[:19]).replace(tzinfo=UTC)
        assert forecast.bound == "exact" and forecast.value is None
        assert forecast.basis == (
            "exceedance_probability[threshold=17.2 m s-1 (gust Beaufort 8), window=12 h]"
        )
        assert forecast.issue_time == issue
        assert forecast.model.startswith("typhoon-ensemble 0.6.0")
    # Mangkhut passed ~100 km south-west of Shenzhen on the 16th: gusts of Beaufort 8
    # reached the whole coast, so every member has them at the port.
    assert _by(forecasts, "terminal-gate", 0).probability == 1.0  # type: ignore[union-attr]


def test_a_rule_demanding_more_than_the_result_gives_is_not_sent(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    forecasts, unassessed = assess(mangkhut_result, layer, matches, ISSUE)
    gate = asset_communities(matches[1].asset, layer)
    at_gate = _select(mangkhut_result, gate)["exceedance_probability"]
    expected = float(at_gate.sel(threshold="Beaufort 10 mean", window="12 h").max())
    assert 0.0 < expected < 0.9  # 8 of 10 members: below the rule's 90 %
    assert _by(forecasts, "terminal-gate", 2) is None
    assert not [u for u in unassessed if u.rule_position == 2]  # evaluated, just not met


def test_a_rule_in_force_and_no_longer_met_comes_back_as_its_end(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    in_force = {("yantian-port", "terminal-gate", 2)}  # Beaufort 10 mean at 90 %: not met
    forecasts, _ = assess(mangkhut_result, layer, matches, ISSUE, not_met=in_force)
    met = impact_forecasts(mangkhut_result, layer, matches, ISSUE)
    assert [f for f in forecasts if f.met] == met  # the rules met are as without not_met
    (ended,) = [f for f in forecasts if not f.met]
    assert (ended.asset_id, ended.rule_position) == ("terminal-gate", 2)
    at_gate = _select(mangkhut_result, ended.communities)["exceedance_probability"]
    expected = float(at_gate.sel(threshold="Beaufort 10 mean", window="12 h").max())
    assert ended.probability == pytest.approx(expected) and ended.first_time is None
    assert ended.state_key == "yantian-port/terminal-gate/typhoon/2:ended"
    assert json.loads(ended.to_json())["status"] == "ended"
    assert "no longer forecast, probability 80 %" in ended.subject("en-US")
    assert "不再预报" in ended.subject("zh-CN") and "Expected first" not in ended.text(("en-US",))


def test_a_threshold_between_computed_ones_is_an_upper_bound(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    forecasts = impact_forecasts(mangkhut_result, layer, matches, ISSUE)
    forecast = _by(forecasts, "terminal-gate", 3)
    assert forecast is not None and forecast.bound == "upper"
    # 38 m s-1 within 9 h lies between the computed 32.7 and 41.5 m s-1 and 6 and 12 h:
    # P(gust >= 38 within 9 h) <= P(gust >= 32.7 within 12 h).
    assert forecast.basis == (
        "upper bound from exceedance_probability[threshold=32.7 m s-1 (gust Beaufort 12), "
        "window=12 h]"
    )
    at_gate = _select(mangkhut_result, forecast.communities)["exceedance_probability"]
    expected = float(at_gate.sel(threshold="gust Beaufort 12", window="12 h").max())
    assert forecast.probability == pytest.approx(expected) and expected >= 0.5
    assert "at most" in forecast.subject("en-US") and "≤" in forecast.subject("zh-CN")


def test_rules_the_result_cannot_answer_are_reported(
    mangkhut_result: xr.Dataset,
    layer: xr.Dataset,
    matches: list[AssetMatch],
    store: SubscriptionStore,
) -> None:
    store.register_json(
        _body(
            "airport-health",
            [
                {
                    "id": "airport",
                    "name": "宝安机场",
                    "geometry": {"type": "Point", "coordinates": list(BAOAN_AIRPORT)},
                }
            ],
            [
                {
                    "hazard": "heatwave",
                    "variable": "heat_index",
                    "comparison": ">=",
                    "threshold": "41 degC",
                    "within": "24 h",
                }
            ],
        )
    )
    heat = store.assets_matching("heatwave", SHENZHEN_BOX)
    outside = AssetMatch(
        "yantian-port",
        Asset.model_validate(
            {
                "id": "offshore",
                "name": "外海锚地",
                "geometry": {"type": "Point", "coordinates": [115.5, 21.5]},
            }
        ),
        matches[0].rules[:1],
    )
    forecasts, unassessed = assess(mangkhut_result, layer, [*matches, *heat, outside], ISSUE)
    reasons = {(u.asset_id, u.rule_position): u.reason for u in unassessed}
    assert "does not hold 'pr'" in reasons[("terminal-gate", 4)]
    assert "does not hold 'pr'" in reasons[("yantian-district", 4)]
    assert "rule is for heatwave" in reasons[("airport", 0)]
    assert "reaches no community" in reasons[("offshore", 0)]
    assert len(unassessed) == 4
    assert not [f for f in forecasts if (f.asset_id, f.rule_position) in reasons]


# -- deterministic values, messages, JSON -------------------------------------------------


def test_a_rule_without_probability_gets_the_forecast_value(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    forecast = _by(impact_forecasts(mangkhut_result, layer, matches, ISSUE), "terminal-gate", 5)
    assert forecast is not None and forecast.probability is None
    at_gate = _select(mangkhut_result, forecast.communities)
    window = at_gate["valid_time"] <= np.datetime64(
        ISSUE.replace(tzinfo=None) + timedelta(hours=12)
    )
    gust = at_gate["wind_speed_of_gust"].isel(lead_time=window.values)
    assert at_gate["wind_speed_of_gust"].attrs["units"] == "m s-1"
    assert forecast.value == pytest.approx(float(gust.max())) and forecast.units == "m s-1"
    first = gust["valid_time"].values[(gust >= 17.2).any("community").values].min()
    assert forecast.first_time == datetime.fromisoformat(f"{first}"[:19]).replace(tzinfo=UTC)


def test_json_is_deterministic_and_names_units(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    first = impact_forecasts(mangkhut_result, layer, matches, ISSUE)
    again = impact_forecasts(mangkhut_result, layer, matches, ISSUE)
    assert [f.to_json() for f in first] == [f.to_json() for f in again]
    gate = [f for f in first if f.asset_id == "terminal-gate"]
    decoded = {f.rule_position: json.loads(f.to_json().decode("utf-8")) for f in gate}
    assert decoded[0]["probability_units"] == "1" and decoded[0]["threshold"] == "17.2 m s-1"
    assert decoded[0]["issue_time"] == "2018-09-16T01:00:00Z"
    assert decoded[0]["first_time"].endswith("Z")
    assert decoded[0]["asset_name"] == "码头闸口"
    assert decoded[5]["units"] == "m s-1" and decoded[5]["value"] > 17.2
    assert list(decoded[0]) == sorted(decoded[0])


def test_messages_in_chinese_and_english_with_beijing_time(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    forecast = _by(impact_forecasts(mangkhut_result, layer, matches, ISSUE), "terminal-gate", 0)
    assert forecast is not None and forecast.first_time is not None
    local = (forecast.first_time + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")  # UTC+8
    chinese = forecast.text(("zh-CN",))
    assert re.search("[\u4e00-\u9fff]", chinese.replace("码头闸口", ""))
    assert "阵风" in chinese and f"{local}（北京时间）" in chinese
    english = forecast.text(("en-US",)).replace("码头闸口", "")
    assert english.isascii() and "gust >= 17.2 m s-1 within 12 h" in english
    assert f"{local} (Beijing time)" in english and "09:00 (Beijing time)" in english
    both = forecast.text(("zh-CN", "en-US"))
    assert both == f"{chinese}\n\n{forecast.text(('en-US',))}"
    with pytest.raises(ValueError, match="zh-CN"):
        forecast.subject("fr-FR")


def test_state_key_changes_only_when_the_impact_does(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    forecast = _by(impact_forecasts(mangkhut_result, layer, matches, ISSUE), "terminal-gate", 3)
    assert forecast is not None
    base = dataclasses.replace(
        forecast, probability=0.61, first_time=datetime(2018, 9, 16, 5, 10, tzinfo=UTC)
    )
    same = dataclasses.replace(
        base,
        probability=0.68,
        first_time=datetime(2018, 9, 16, 5, 20, tzinfo=UTC),
        issue_time=ISSUE + timedelta(minutes=6),
    )
    assert same.state_key == base.state_key
    assert dataclasses.replace(base, probability=0.71).state_key != base.state_key
    later = dataclasses.replace(base, first_time=datetime(2018, 9, 16, 5, 40, tzinfo=UTC))
    assert later.state_key != base.state_key


# -- where an asset is --------------------------------------------------------------------


def test_a_point_with_a_1_km_buffer_reaches_the_cells_within_1_km(layer: xr.Dataset) -> None:
    lon, lat = YANTIAN_PORT
    asset = Asset.model_validate(
        {
            "id": "terminal-gate",
            "name": "码头闸口",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "buffer": "1 km",
        }
    )
    found = set(asset_communities(asset, layer))
    # independent: haversine from the point to each cell polygon (boundary densified to
    # ~10 m; zero inside); cells within 20 m of the 1 km edge may go either way
    distances = {}
    for community, wkt in zip(
        layer["community_id"].values, layer["geometry_wkt"].values, strict=True
    ):
        polygon = shapely.from_wkt(str(wkt))
        if abs(polygon.centroid.x - lon) > 0.05 or abs(polygon.centroid.y - lat) > 0.05:
            continue
        if polygon.contains(shapely.Point(lon, lat)):
            distances[str(community)] = 0.0
            continue
        edge = shapely.get_coordinates(shapely.segmentize(polygon.boundary, 0.0001))
        distances[str(community)] = min(haversine_m(lon, lat, x, y) for x, y in edge)
    surely = {c for c, d in distances.items() if d <= 980.0}
    maybe = {c for c, d in distances.items() if d <= 1_020.0}
    assert surely <= found <= maybe and len(surely) >= 3
    # the gate itself lies on the quay, outside every (land) grid cell: without its buffer
    # the asset reaches no community and would not be assessed
    bare = asset.model_copy(update={"buffer": None})
    assert min(distances.values()) > 0.0 and asset_communities(bare, layer) == ()


def test_the_district_polygon_reaches_its_cells(
    layer: xr.Dataset, yantian_polygon: dict[str, Any]
) -> None:
    asset = Asset.model_validate({"id": "yantian", "name": "盐田区", "geometry": yantian_polygon})
    found = set(asset_communities(asset, layer))
    yantian = layer["community_id"].values[layer["district_code"].values == "440308"]
    assert set(yantian.astype(str)) <= found  # GB/T 2260: 440308 盐田区
    assert len(found) < 2 * len(yantian)


# -- dask and argument checks -------------------------------------------------------------


def test_a_chunked_result_gives_the_same_forecasts(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    eager = assess(mangkhut_result, layer, matches, ISSUE)
    chunked = mangkhut_result.chunk({"community": 200, "lead_time": 24})
    assert chunked["exceedance_probability"].chunks is not None
    lazy = assess(chunked, layer, matches, ISSUE)
    assert lazy == eager
    assert [f.to_json() for f in lazy[0]] == [f.to_json() for f in eager[0]]


def test_a_naive_issue_time_is_refused(
    mangkhut_result: xr.Dataset, layer: xr.Dataset, matches: list[AssetMatch]
) -> None:
    with pytest.raises(ValueError, match="timezone"):
        assess(mangkhut_result, layer, matches, ISSUE.replace(tzinfo=None))


def test_the_records_module_examples_hold() -> None:
    import doctest

    from alerting import impact_records

    failed, attempted = doctest.testmod(impact_records)
    assert attempted >= 6 and failed == 0
