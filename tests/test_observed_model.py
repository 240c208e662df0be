"""The observed-accumulation rainstorm model on real rainfall.

HKO daily rainfall (SOURCES.md 4.1) against the China national 24-h rainfall categories of
GB/T 28592-2012 (降水量等级): 暴雨 ≥ 50 mm, 大暴雨 ≥ 100 mm, 特大暴雨 ≥ 250 mm in 24 h.
Expected numbers are read from the CSV by this test itself, not from the reader.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hazard_models import get_model
from hazard_models.config import SignalScheme
from hazard_models.errors import ModelError
from hazard_models.rainstorm.accumulation import rolling_accumulation
from ingest.errors import LookAheadError
from ingest.readers import read_source

GB_T_28592 = SignalScheme.model_validate(
    {
        "hazard": "rainstorm",
        "source": "GB/T 28592-2012 降水量等级, 24-h categories",
        "levels": [
            {
                "name": "rainstorm",
                "rank": 2,
                "criteria": [{"window": "24 h", "threshold": "50 mm"}],
            },
            {"name": "heavy", "rank": 3, "criteria": [{"window": "24 h", "threshold": "100 mm"}]},
            {"name": "extreme", "rank": 4, "criteria": [{"window": "24 h", "threshold": "250 mm"}]},
        ],
    }
)
HKO_STATION = {
    "station_id": "HKO",
    "station_name": "Hong Kong Observatory Headquarters",
    "lat": 22.3019,  # 22°18'07"N
    "lon": 114.1742,  # 114°10'27"E
    "elevation": "32 m",
    "station_source": "HKO station information: Observatory Headquarters, 32 m above MSL",
}


@pytest.fixture(scope="module")
def hko_daily(data_root: Path) -> xr.Dataset:
    return read_source(
        "hko-daily-rainfall", data_root / "obs/hko/daily_HKO_RF_ALL.csv", HKO_STATION, "hko_daily"
    )


def _csv_daily(data_root: Path) -> dict[tuple[int, int, int], float]:
    values = {}
    with open(data_root / "obs/hko/daily_HKO_RF_ALL.csv", encoding="utf-8-sig") as handle:
        for row in csv.reader(handle):
            if len(row) >= 4 and row[0].isdigit() and row[3] not in ("***",):
                amount = 0.0 if row[3] == "Trace" else float(row[3])
                values[(int(row[0]), int(row[1]), int(row[2]))] = amount
    return values


def _run(dataset: xr.Dataset, region, issue: datetime, **options: object) -> xr.Dataset:  # type: ignore[no-untyped-def]
    model = get_model("rainstorm-observed")(GB_T_28592, {"station_radius": "40 km", **options})
    return model.run(
        {"pr": dataset.sel(time=dataset.time <= np.datetime64(issue.replace(tzinfo=None), "ns"))},
        region,
        issue,
    )


def test_september_2023_record_rain_reaches_the_extreme_category(
    hko_daily: xr.Dataset,
    shenzhen_region,
    data_root: Path,  # type: ignore[no-untyped-def]
) -> None:
    daily = _csv_daily(data_root)
    # HKT day 2023-09-08 ends at 2023-09-08T16:00Z
    issue = datetime(2023, 9, 8, 16, 0, tzinfo=UTC)
    result = _run(hko_daily, shenzhen_region, issue)
    layer = shenzhen_region.communities
    distance_km = 6371.0088 * np.radians(
        np.hypot(
            (layer["lon"].values - 114.1742) * np.cos(np.radians(22.3)),
            layer["lat"].values - 22.3019,
        )
    )
    near, far = distance_km < 39.0, distance_km > 41.0
    assert near.sum() > 100 and far.sum() > 100
    accumulation = result["accumulation"].isel(lead_time=0).sel(window="24 h").values
    assert accumulation[near] == pytest.approx(daily[(2023, 9, 8)])
    assert np.isnan(accumulation[far]).all()
    level = result["hazard_level"].isel(lead_time=0).values
    assert daily[(2023, 9, 8)] >= 250 and (level[near] == 4).all()
    assert (level[far] == 0).all()
    probability = result["probability"].isel(lead_time=0)
    assert (probability.values[near] == 1).all()
    assert np.isnan(probability.values[far]).all()  # no data there: unknown, not "no"
    # 2023-09-06 was dry, 09-07 had >= 50 mm: the ongoing rainstorm began at the end of 09-07
    assert daily[(2023, 9, 6)] < 50 <= daily[(2023, 9, 7)]
    onset = result["onset_time"].sel(level="rainstorm").values[near]
    assert (onset == np.datetime64("2023-09-07T16:00", "ns")).all()
    assert (
        result["onset_time"].sel(level="extreme").values[near]
        == np.datetime64("2023-09-08T16:00", "ns")
    ).all()
    assert result.attrs["evaluation_time"] == "2023-09-08T16:00:00Z"


def test_issue_time_between_reports_uses_the_last_complete_day(
    hko_daily: xr.Dataset,
    shenzhen_region,
    data_root: Path,  # type: ignore[no-untyped-def]
) -> None:
    daily = _csv_daily(data_root)
    result = _run(hko_daily, shenzhen_region, datetime(2023, 9, 9, 3, 0, tzinfo=UTC))
    assert result.attrs["evaluation_time"] == "2023-09-08T16:00:00Z"
    values = result["accumulation"].isel(lead_time=0).sel(window="24 h").values
    assert np.nanmax(values) == pytest.approx(daily[(2023, 9, 8)])


def test_rolling_sums_match_the_csv(hko_daily: xr.Dataset, data_root: Path) -> None:
    daily = _csv_daily(data_root)
    pr = hko_daily["pr"].isel(station=0).sel(time=slice("2023-09-01", "2023-09-12"))
    total, coverage = rolling_accumulation(pr, 3)
    expected = daily[(2023, 9, 6)] + daily[(2023, 9, 7)] + daily[(2023, 9, 8)]
    assert float(total.sel(time="2023-09-08T16:00")) == pytest.approx(expected)
    assert float(coverage.sel(time="2023-09-08T16:00")) == 1.0


def test_rolling_sums_equal_pandas_rolling_with_gaps(hko_daily: xr.Dataset) -> None:
    # HKO daily rainfall 2023 with every seventh day blanked: the trailing sums and data
    # shares must equal pandas' own rolling window (min_periods=1) on the same series.
    pr = hko_daily["pr"].isel(station=0).sel(time=slice("2023-01-01", "2023-12-31")).copy()
    pr[::7] = np.nan
    series = pr.to_series()
    for steps in (1, 3, 30):
        total, coverage = rolling_accumulation(pr, steps)
        expected = series.rolling(steps, min_periods=1).sum()
        np.testing.assert_allclose(total.values, expected.values, rtol=1e-12, atol=1e-9)
        shares = series.notna().astype(float).rolling(steps, min_periods=1).sum() / steps
        np.testing.assert_allclose(coverage.values, shares.values)


def test_chunked_input_gives_identical_results(
    hko_daily: xr.Dataset,
    shenzhen_region,  # type: ignore[no-untyped-def]
) -> None:
    issue = datetime(2023, 9, 8, 16, 0, tzinfo=UTC)
    in_memory = _run(hko_daily, shenzhen_region, issue, lookback="30 d")
    chunked = _run(hko_daily.chunk({"time": 7}), shenzhen_region, issue, lookback="30 d")
    xr.testing.assert_identical(chunked, in_memory)


def test_gaps_make_levels_unknown_not_zero(
    hko_daily: xr.Dataset,
    shenzhen_region,  # type: ignore[no-untyped-def]
) -> None:
    # The HKO file has no records for 1940-1946 (war years, SOURCES.md 4.1): a cycle in 1941
    # finds the latest report in 1939 and must say "unknown", never "no rainstorm".
    result = _run(hko_daily, shenzhen_region, datetime(1941, 6, 1, 16, 0, tzinfo=UTC))
    coverage = result["accumulation_coverage"].isel(lead_time=0).sel(window="24 h").values
    assert np.nanmax(coverage) == 0
    assert np.isnan(result["probability"].values).all()
    assert (result["hazard_level"].values == 0).all()


def test_future_data_is_refused(hko_daily: xr.Dataset, shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    model = get_model("rainstorm-observed")(GB_T_28592, {"station_radius": "40 km"})
    with pytest.raises(LookAheadError, match="after the issue time"):
        model.run(
            {"pr": hko_daily.sel(time=slice("2023-09-01", "2023-09-10"))},
            shenzhen_region,
            datetime(2023, 9, 8, 16, 0, tzinfo=UTC),
        )


def test_window_shorter_than_the_data_interval_is_refused(
    hko_daily: xr.Dataset,
    shenzhen_region,
    shenzhen_settings,  # type: ignore[no-untyped-def]
) -> None:
    hourly_scheme = shenzhen_settings.signal_schemes["hko-rainstorm"]
    model = get_model("rainstorm-observed")(hourly_scheme, {"station_radius": "40 km"})
    with pytest.raises(
        ModelError, match="window 1 h is not a whole number of the data interval 24 h"
    ):
        model.run(
            {"pr": hko_daily.sel(time=slice("2023-09-01", "2023-09-08T16:00"))},
            shenzhen_region,
            datetime(2023, 9, 8, 16, 0, tzinfo=UTC),
        )


def test_station_input_without_radius_is_refused(
    hko_daily: xr.Dataset,
    shenzhen_region,  # type: ignore[no-untyped-def]
) -> None:
    model = get_model("rainstorm-observed")(GB_T_28592, {})
    with pytest.raises(ModelError, match="station_radius"):
        model.run(
            {"pr": hko_daily.sel(time=slice("2023-09-01", "2023-09-08T16:00"))},
            shenzhen_region,
            datetime(2023, 9, 8, 16, 0, tzinfo=UTC),
        )


def test_unknown_model_lists_the_registered_ones() -> None:
    with pytest.raises(
        ValueError,
        match="available models: heatwave-outlook, rainstorm-nowcast, rainstorm-observed",
    ):
        get_model("rainstorm-nowcast-typo")


@pytest.mark.parametrize("statistic", ["max", "mean"])
def test_radar_block_accumulations_match_the_pixels(
    knmi_crop,
    shenzhen_settings,  # type: ignore[no-untyped-def]
    statistic: str,
) -> None:
    crop, region = knmi_crop
    issue = datetime(2010, 8, 26, 5, 25, tzinfo=UTC)
    scheme = shenzhen_settings.signal_schemes["hko-rainstorm"]
    model = get_model("rainstorm-observed")(
        scheme, {"areal_statistic": statistic, "lookback": "1 h"}
    )
    available = crop.sel(time=slice(None, "2010-08-26T05:25"))
    result = model.run({"pr": available}, region, issue)
    # the last hour: the twelve 5-minute frames labelled 04:30 ... 05:25
    hour = crop["pr"].sel(time=slice("2010-08-26T04:30", "2010-08-26T05:25"))
    assert hour.sizes["time"] == 12
    pixels = hour.sum("time", skipna=True).values.reshape(10, 10, 10, 10)
    reducer = np.nanmax if statistic == "max" else np.nanmean
    expected = reducer(pixels, axis=(1, 3)).ravel()
    got = result["accumulation"].sel(window="1 h").isel(lead_time=0).values
    order = [
        int(i.split("-")[1]) * 10 + int(i.split("-")[2]) for i in result["community_id"].values
    ]
    assert got == pytest.approx(expected[order], rel=1e-5)
    if statistic == "max":
        assert got.max() == pytest.approx(float(hour.sum("time").max()), rel=1e-5)
    chunked = model.run({"pr": available.chunk({"time": 5, "y": 50, "x": 50})}, region, issue)
    xr.testing.assert_allclose(chunked, result)
