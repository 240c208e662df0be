"""The waterlogging models on 100 × 100 km of the KNMI radar event.

Data: the KNMI composites of 2010-08-26 (SOURCES.md §7.1), cropped around the event's
wettest pixel (the ``knmi_crop`` fixture), 10 × 10 km blocks as communities. The drainage
capacity and the levels are test values, low enough for a Dutch summer storm.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr
from pydantic import ValidationError

from hazard_models import get_model
from hazard_models.config import SignalScheme
from hazard_models.errors import ModelError
from hazard_models.rainstorm import nowcast as nowcast_module

ISSUE = datetime(2010, 8, 26, 4, 30, tzinfo=UTC)
CAPACITY = 3.0  # mm/h
DRAINAGE = {"drainage_capacity": "3 mm h-1", "drainage_source": "test value, not a standard"}


def _scheme(hazard: str, variable: str, thresholds: tuple[float, float]) -> SignalScheme:
    return SignalScheme.model_validate(
        {
            "hazard": hazard,
            "source": "test thresholds for the KNMI crop (not an agency scheme)",
            "levels": [
                {
                    "name": name,
                    "rank": rank,
                    "criteria": [{"variable": variable, "window": "1 h", "threshold": f"{t} mm"}],
                }
                for name, rank, t in zip(("yellow", "orange"), (2, 3), thresholds, strict=True)
            ],
        }
    )


# 2 and 7 mm beyond a 3 mm/h capacity is 5 and 10 mm of rain in the hour.
EXCESS = _scheme("waterlogging", "pr_excess", (2, 7))
RAIN = _scheme("rainstorm", "pr", (5, 10))
NOWCAST = {"members": 8, "lead_time": "1 h", "areal_statistic": "max", "seed": 3}


def _values(array: xr.DataArray) -> xr.DataArray:
    """``array`` without the criteria's wording (``pr_excess >= 2 mm`` vs ``pr >= 5 mm``)."""
    return array.drop_vars("level_criteria", errors="ignore")


@pytest.fixture(scope="module")
def available(knmi_crop):  # type: ignore[no-untyped-def]
    crop, _ = knmi_crop
    return crop.sel(time=slice("2010-08-26T02:00", "2010-08-26T04:30"))


def test_excess_is_the_hour_beyond_the_capacity(knmi_crop, available) -> None:  # type: ignore[no-untyped-def]
    _, region = knmi_crop
    model = get_model("waterlogging-observed")(EXCESS, {"areal_statistic": "max", **DRAINAGE})
    result = model.run({"pr": available}, region, ISSUE)
    # By hand: the 12 five-minute frames labelled 03:35 ... 04:30, summed per 1-km cell;
    # each 10-km block's wettest cell, less 3 mm.
    hour = available["pr"].sel(time=slice("2010-08-26T03:35", "2010-08-26T04:30"))
    assert hour.sizes["time"] == 12
    cells = np.nan_to_num(hour.values).sum(axis=0)
    blocks = cells.reshape(10, 10, 10, 10).max(axis=(1, 3))
    excess = result["drainage_excess"].sel(window="1 h").isel(lead_time=0).values
    assert np.nanmax(excess) == pytest.approx(blocks.max() - CAPACITY, abs=1e-3)
    assert int((excess > 0).sum()) == int((blocks > CAPACITY).sum())
    assert result["drainage_excess"].attrs["units"] == "mm"
    assert result.attrs["drainage_capacity"] == "3 mm h-1"
    assert result.attrs["hazard"] == "waterlogging"


def test_observed_levels_are_the_rainstorm_levels_at_threshold_plus_capacity(
    knmi_crop,  # type: ignore[no-untyped-def]
    available,
) -> None:
    _, region = knmi_crop
    waterlogging = get_model("waterlogging-observed")(
        EXCESS, {"areal_statistic": "max", **DRAINAGE}
    ).run({"pr": available}, region, ISSUE)
    rainstorm = get_model("rainstorm-observed")(RAIN, {"areal_statistic": "max"}).run(
        {"pr": available}, region, ISSUE
    )
    assert int(waterlogging["hazard_level"].max()) >= 2  # the storm does reach the levels
    for name in ("hazard_level", "probability", "onset_time"):
        xr.testing.assert_equal(_values(waterlogging[name]), _values(rainstorm[name]))


def test_chunked_input_gives_the_same_result(knmi_crop, available) -> None:  # type: ignore[no-untyped-def]
    _, region = knmi_crop
    model = get_model("waterlogging-observed")(EXCESS, {"areal_statistic": "max", **DRAINAGE})
    eager = model.run({"pr": available}, region, ISSUE)
    lazy = model.run({"pr": available.chunk({"time": 6, "y": 50, "x": 50})}, region, ISSUE)
    xr.testing.assert_allclose(eager, lazy)


def test_the_nowcast_shares_the_rainstorm_ensemble(
    knmi_crop,  # type: ignore[no-untyped-def]
    available,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, region = knmi_crop
    nowcast_module._ENSEMBLES.clear()
    calls = []
    compute = nowcast_module._run_ensemble

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return compute(*args, **kwargs)

    monkeypatch.setattr(nowcast_module, "_run_ensemble", counting)
    rainstorm = get_model("rainstorm-nowcast")(RAIN, NOWCAST).run(
        {"radar": available}, region, ISSUE
    )
    waterlogging = get_model("waterlogging-nowcast")(
        EXCESS, {**NOWCAST, "warn_probability": 0.3, **DRAINAGE}
    ).run({"radar": available}, region, ISSUE)
    assert len(calls) == 1  # one ensemble for both hazards
    xr.testing.assert_equal(_values(waterlogging["probability"]), _values(rainstorm["probability"]))
    expected = (rainstorm["accumulation"] - CAPACITY).clip(min=0)
    np.testing.assert_allclose(waterlogging["drainage_excess"].values, expected.values)
    # A different seed is a different ensemble: computed anew.
    get_model("waterlogging-nowcast")(EXCESS, {**NOWCAST, "seed": 4, **DRAINAGE}).run(
        {"radar": available}, region, ISSUE
    )
    assert len(calls) == 2


def test_a_rainfall_scheme_is_refused_with_the_variable_to_use(knmi_crop, available) -> None:  # type: ignore[no-untyped-def]
    _, region = knmi_crop
    on_rain = _scheme("waterlogging", "pr", (5, 10))
    model = get_model("waterlogging-observed")(on_rain, {"areal_statistic": "max", **DRAINAGE})
    with pytest.raises(ModelError, match="pr_excess"):
        model.run({"pr": available}, region, ISSUE)
    with pytest.raises(ModelError, match="is for 'waterlogging' but the scheme is for 'rainstorm'"):
        get_model("waterlogging-nowcast")(RAIN, {**NOWCAST, **DRAINAGE})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"drainage_capacity": "20 mm h-1"}, "drainage_source"),
        ({"drainage_capacity": "20 mm", "drainage_source": "RIONED"}, "drainage_capacity"),
        ({"drainage_capacity": "0 mm h-1", "drainage_source": "RIONED"}, "greater than 0"),
        ({"drainage_source": "RIONED"}, "drainage_capacity"),
    ],
)
def test_the_capacity_needs_a_rate_and_its_source(options: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        get_model("waterlogging-observed")(EXCESS, options)


def test_sector_rules_on_rain_are_answered_and_on_water_depth_are_not(
    knmi_crop,  # type: ignore[no-untyped-def]
    available,
) -> None:
    from alerting.impact import assess
    from alerting.subscriptions.request import Asset, Rule
    from alerting.subscriptions.store import AssetMatch

    _, region = knmi_crop
    result = get_model("waterlogging-observed")(EXCESS, {"areal_statistic": "max", **DRAINAGE}).run(
        {"pr": available}, region, ISSUE
    )
    wettest = int(
        np.nanargmax(result["drainage_excess"].sel(window="1 h").isel(lead_time=0).values)
    )
    lon, lat = (float(region.communities[c].values[wettest]) for c in ("lon", "lat"))
    asset = Asset.model_validate(
        {
            "id": "underpass",
            "name": "underpass",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
    )
    rain = Rule(
        hazard="waterlogging", variable="pr", comparison=">=", threshold="4 mm h-1", within="1 h"
    )
    depth = Rule(
        hazard="waterlogging",
        variable="water_depth",
        comparison=">=",
        threshold="0.3 m",
        within="1 h",
    )
    match = AssetMatch("metro", asset, (rain, depth), (0, 1))
    forecasts, unassessed = assess(result, region.communities, [match], ISSUE)
    hour = float(result["accumulation"].sel(window="1 h").isel(lead_time=0).values[wettest])
    assert hour > 4
    assert [(f.rule_position, f.value) for f in forecasts] == [(0, pytest.approx(hour, abs=0.01))]
    assert [u.rule_position for u in unassessed] == [1]
    assert "water_depth" in unassessed[0].reason


def test_the_memo_misses_on_other_rainfall_and_never_remembers_lazy_input(knmi_crop) -> None:  # type: ignore[no-untyped-def]
    from hazard_models.rainstorm.memo import ResultMemo

    crop, region = knmi_crop
    frames = crop["pr"].isel(time=slice(40, 44))
    memo: ResultMemo[int] = ResultMemo(size=2)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    first = memo.get_or_compute((frames.values,), "1 h", region.weights, compute)
    assert memo.get_or_compute((frames.values.copy(),), "1 h", region.weights, compute) == first
    wetter = frames.values + np.float32(0.01)
    assert memo.get_or_compute((wetter,), "1 h", region.weights, compute) == 2
    assert memo.get_or_compute((frames.values,), "3 h", region.weights, compute) == 3
    lazy = frames.chunk({"time": 2}).data
    memo.get_or_compute((lazy,), "1 h", region.weights, compute)
    memo.get_or_compute((lazy,), "1 h", region.weights, compute)
    assert len(calls) == 5
