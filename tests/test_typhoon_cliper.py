"""CLIPER baseline forecasts replayed on real JMA best tracks (SOURCES.md §1.1-1.3).

Mangkhut (JMA 1822) is read from ``tc/jma_rsmc_bst_2015_2021jul.txt``; the model is
trained on the JMA archive of storms that ended before 2018 (no knowledge of Mangkhut).
The error bounds are the 90th percentiles of CLIPER's errors in the 2015-2025 hindcast of
``benchmarks/typhoon_cliper.py`` (docs/typhoon_cliper.md: 341 km at 24 h, 750 km at 48 h).
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hazard_models.typhoon.cliper import DEFAULT_LEADS, CliperModel, cliper_forecast
from hazard_models.typhoon.cliper_fit import fit_cliper, training_tracks
from ingest.contracts import validate_tc_track
from ingest.readers.jma_besttrack import read_jma_best_tracks

TRAINED_UNTIL = datetime(2018, 1, 1)
ISSUE = datetime(2018, 9, 14, 0)
EARTH_RADIUS_KM = 6371.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance (km) on a sphere of radius 6371 km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlon = np.radians(lon2 - lon1)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing (degrees clockwise from north)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlon = np.radians(lon2 - lon1)
    y = np.sin(dlon) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dlon)
    return float(np.degrees(np.arctan2(y, x)) % 360.0)


@pytest.fixture(scope="module")
def model(data_root: Path) -> CliperModel:
    """CLIPER fitted on every JMA storm that ended before 2018."""
    return fit_cliper(training_tracks(data_root, TRAINED_UNTIL), trained_until=TRAINED_UNTIL)


@pytest.fixture(scope="module")
def recent_storms(data_root: Path) -> dict[str, xr.Dataset]:
    """JMA best tracks of 2015 to July 2021."""
    return read_jma_best_tracks(data_root / "tc/jma_rsmc_bst_2015_2021jul.txt")


@pytest.fixture(scope="module")
def mangkhut(recent_storms: dict[str, xr.Dataset]) -> xr.Dataset:
    return recent_storms["1822"]


@pytest.fixture(scope="module")
def forecast(model: CliperModel, mangkhut: xr.Dataset) -> xr.Dataset:
    return cliper_forecast(model, mangkhut, ISSUE)


def _at(track: xr.Dataset, when: datetime) -> tuple[float, float]:
    fix = track.sel(time=np.datetime64(when, "ns"))
    return float(fix["lat"]), float(fix["lon"])


def test_mangkhut_errors_are_within_the_hindcast_90th_percentile(
    forecast: xr.Dataset, mangkhut: xr.Dataset
) -> None:
    # JMA: 16.0 N 126.9 E at 14 Sep 00 UTC, 18.0 N 120.5 E at +24 h, 20.6 N 115.3 E at +48 h.
    bounds = {24: 341.0, 48: 750.0}
    errors = {}
    for hours, bound in bounds.items():
        valid = ISSUE + timedelta(hours=hours)
        predicted = _at(forecast, valid)
        errors[hours] = great_circle_km(*predicted, *_at(mangkhut, valid))
        assert np.isfinite(errors[hours])
        assert errors[hours] < bound, f"{hours} h error {errors[hours]:.0f} km >= {bound} km"
    # CLIPER cannot know Mangkhut was faster than usual: errors grow with lead time.
    assert 100.0 < errors[24] < errors[48]


def test_mangkhut_forecast_heads_west_north_west_like_the_storm(
    forecast: xr.Dataset, mangkhut: xr.Dataset
) -> None:
    start = _at(forecast, ISSUE)
    for hours in (24, 48):
        valid = ISSUE + timedelta(hours=hours)
        observed = bearing_deg(*start, *_at(mangkhut, valid))
        predicted = bearing_deg(*start, *_at(forecast, valid))
        assert 270.0 <= observed <= 315.0  # JMA's track itself: WNW (292.5 +- 22.5 deg)
        assert 270.0 <= predicted <= 315.0, f"{hours} h bearing {predicted:.0f} deg"


def test_forecast_follows_the_track_contract(forecast: xr.Dataset) -> None:
    validate_tc_track(forecast)
    hours = forecast["lead_time"].values / np.timedelta64(1, "h")
    np.testing.assert_array_equal(hours, np.arange(0, 73, 6))
    assert forecast.attrs["is_forecast"] == 1
    assert forecast.attrs["storm_id"] == "1822"
    assert forecast.attrs["storm_name"] == "MANGKHUT"
    assert forecast.attrs["reference_time"] == "2018-09-14T00:00Z"
    assert forecast["reference_time"].values == np.datetime64(ISSUE, "ns")
    assert "trained on JMA best tracks to 2018-01-01" in forecast.attrs["agency"]
    assert forecast["vmax"].attrs["averaging_period"] == "10 min"
    assert np.isnan(forecast["rmw"].values).all()  # JMA gives no radius of maximum wind
    # Lead 0 is JMA's analysis: 905 hPa, 110 kt (56.6 m s-1).
    assert float(forecast["psl_min"][0]) == 905.0
    assert float(forecast["vmax"][0]) == pytest.approx(110 * 1852 / 3600)


NMI_KM = 1.852


def test_forecast_persists_the_analysis_wind_radii(forecast: xr.Dataset) -> None:
    # JMA line "18091400 ... 90120 0120 30400 0300": 50-kt winds within 120 nmi all round,
    # 30-kt winds 400 nmi to the NE (code 3), 300 nmi at the shortest.
    np.testing.assert_array_equal(forecast["wind_threshold_kt"].values, [30.0, 50.0])
    n = forecast.sizes["time"]
    expected_long = np.tile([400 * NMI_KM, 120 * NMI_KM], (n, 1))
    expected_short = np.tile([300 * NMI_KM, 120 * NMI_KM], (n, 1))
    np.testing.assert_allclose(forecast["wind_radius_long"].values, expected_long)
    np.testing.assert_allclose(forecast["wind_radius_short"].values, expected_short)
    np.testing.assert_array_equal(forecast["wind_radius_long_direction"].values[:, 0], 3)
    assert forecast["wind_radius_long_direction"].dtype == np.int8


def test_a_fix_without_radii_keeps_the_latest_earlier_ones_per_threshold(
    model: CliperModel, mangkhut: xr.Dataset
) -> None:
    # Blank the 30-kt radii of 13 Sep 12 UTC to 14 Sep 00 UTC: the forecast takes those of
    # 13 Sep 06 UTC ("10300 0240": 300 nmi to the N, 240 nmi) and keeps 14 Sep 00 UTC's
    # 50-kt radii (120 nmi).
    blanked = mangkhut.copy(deep=True)
    times = blanked["time"].values
    span = (times >= np.datetime64("2018-09-13T12:00")) & (times <= np.datetime64(ISSUE))
    for name in ("wind_radius_long", "wind_radius_short"):
        blanked[name].values[span, 0] = np.nan
    blanked["wind_radius_long_direction"].values[span, 0] = -1  # the reader's "not given"
    forecast = cliper_forecast(model, blanked, ISSUE)
    np.testing.assert_allclose(forecast["wind_radius_long"].values[:, 0], 300 * NMI_KM)
    np.testing.assert_allclose(forecast["wind_radius_short"].values[:, 0], 240 * NMI_KM)
    np.testing.assert_array_equal(forecast["wind_radius_long_direction"].values[:, 0], 1)
    np.testing.assert_allclose(forecast["wind_radius_long"].values[:, 1], 120 * NMI_KM)


def test_a_track_without_radii_gives_a_forecast_without_them(
    model: CliperModel, mangkhut: xr.Dataset
) -> None:
    bare = mangkhut.drop_vars(
        ["wind_radius_long", "wind_radius_short", "wind_radius_long_direction"]
    )
    forecast = cliper_forecast(model, bare, ISSUE)
    assert "wind_radius_long" not in forecast
    validate_tc_track(forecast)


def test_analysis_time_is_the_latest_fix_before_the_issue_time(
    model: CliperModel, mangkhut: xr.Dataset, forecast: xr.Dataset
) -> None:
    later = cliper_forecast(model, mangkhut, ISSUE + timedelta(hours=5, minutes=59))
    xr.testing.assert_identical(later, forecast)


def test_pressure_and_wind_stay_physical_over_the_whole_storm(
    model: CliperModel, mangkhut: xr.Dataset
) -> None:
    times = mangkhut["time"].values[2:]
    for time in times:
        issued = cliper_forecast(model, mangkhut, time.astype("datetime64[s]").item())
        pressure = issued["psl_min"].values[1:]
        assert np.isfinite(pressure).all()
        assert ((pressure >= 870.0) & (pressure <= 1010.0)).all()
        wind = issued["vmax"].values[1:]
        # Lower pressure, stronger wind: the wind is a decreasing function of pressure.
        order = np.argsort(pressure)
        assert (np.diff(wind[order]) <= 1e-9).all()


def test_wind_pressure_relation_matches_jma(model: CliperModel) -> None:
    # Median 10-min wind of JMA's 1483 fixes at 950 hPa before 2018: 80 kt = 41.2 m s-1.
    a, b = model.wind_pressure
    assert a * (1010.0 - 950.0) ** b == pytest.approx(41.2, abs=1.5)


def test_no_look_ahead_future_fixes_do_not_matter(
    model: CliperModel, mangkhut: xr.Dataset, forecast: xr.Dataset
) -> None:
    issue = np.datetime64(ISSUE, "ns")
    truncated = mangkhut.sel(time=slice(None, issue))
    xr.testing.assert_identical(cliper_forecast(model, truncated, ISSUE), forecast)
    changed = mangkhut.copy(deep=True)
    future = changed["time"] > issue
    changed["lat"] = changed["lat"].where(~future, changed["lat"] + 5.0)
    changed["psl_min"] = changed["psl_min"].where(~future, 1000.0)
    xr.testing.assert_identical(cliper_forecast(model, changed, ISSUE), forecast)
    # Control: the past does matter (the comparison above can fail).
    past = mangkhut.copy(deep=True)
    past["lat"] = past["lat"].where(past["time"] != issue - np.timedelta64(12, "h"), 15.0)
    moved = cliper_forecast(model, past, ISSUE)
    assert not np.allclose(moved["lat"].values[1:], forecast["lat"].values[1:])


def test_training_leaves_out_storms_ending_after_the_cutoff(
    recent_storms: dict[str, xr.Dataset],
) -> None:
    tracks = [t for t in recent_storms.values() if t["time"].values[0] < np.datetime64("2018-10")]
    cutoff = datetime(2018, 9, 15)  # Mangkhut's last fix is 2018-09-17 18 UTC
    ending_after = [t for t in tracks if t["time"].values[-1] >= np.datetime64(cutoff)]
    assert "1822" in {t.attrs["storm_id"] for t in ending_after}
    with_late = fit_cliper(tracks, trained_until=cutoff)
    without = fit_cliper(
        [t for t in tracks if t["time"].values[-1] < np.datetime64(cutoff)], trained_until=cutoff
    )
    assert with_late.n_storms_after_cutoff == len(ending_after)
    assert without.n_storms_after_cutoff == 0
    assert with_late.n_samples == without.n_samples
    np.testing.assert_array_equal(with_late.track_coef, without.track_coef)
    np.testing.assert_array_equal(with_late.pressure_coef, without.pressure_coef)
    # After Mangkhut has ended it is used, and adds its fixes to the sample.
    later = fit_cliper(tracks, trained_until=datetime(2018, 9, 18))
    assert later.n_samples > without.n_samples


def test_training_tracks_returns_only_storms_that_ended_before(data_root: Path) -> None:
    before = datetime(2018, 9, 15)
    tracks = training_tracks(data_root, before)
    ids = {t.attrs["storm_id"] for t in tracks}
    assert "1822" not in ids
    assert "1713" in ids  # Hato, August 2017
    assert all(t["time"].values[-1] < np.datetime64(before) for t in tracks)
    assert len(ids) == len(tracks)  # one track per storm: the later file wins
    assert "1822" in {t.attrs["storm_id"] for t in training_tracks(data_root, datetime(2019, 1, 1))}


@pytest.fixture(scope="module")
def model_2016(data_root: Path) -> CliperModel:
    """CLIPER fitted on every JMA storm that ended before 2016 (for Dianmu, August 2016)."""
    return fit_cliper(
        training_tracks(data_root, datetime(2016, 1, 1)), trained_until=datetime(2016, 1, 1)
    )


@pytest.fixture(scope="module")
def dianmu(recent_storms: dict[str, xr.Dataset]) -> xr.Dataset:
    """Dianmu (JMA 1608): first fix 15 Aug 2016 06 UTC at 21.7 N 117.0 E, about 300 km
    east of Shenzhen, then due west past the city (21.7 N 114.0 E a day later)."""
    return recent_storms["1608"]


def test_a_storm_first_seen_near_the_city_gets_a_climatology_forecast(
    model_2016: CliperModel, dianmu: xr.Dataset
) -> None:
    forecast = cliper_forecast(model_2016, dianmu, datetime(2016, 8, 15, 7))
    assert forecast.attrs["past_motion_hours"] == 0.0
    assert forecast.attrs["forecast_method"].startswith("climatology alone")
    assert "spans 0 h" in forecast.attrs["forecast_method"]
    assert "climatology alone" in forecast.attrs["source"]
    validate_tc_track(forecast)
    # 90th percentile of the one-fix forecasts' 24 h error in docs/typhoon_cliper.md: 430 km.
    lat, lon = _at(dianmu, datetime(2016, 8, 16, 6))
    at_24 = forecast.sel(time=np.datetime64("2016-08-16T06:00", "ns"))
    assert great_circle_km(float(at_24["lat"]), float(at_24["lon"]), lat, lon) < 430.0
    assert np.isfinite(forecast["psl_min"].values).all()


def test_six_hours_of_track_give_the_motion_of_the_whole_track(
    model_2016: CliperModel, dianmu: xr.Dataset
) -> None:
    forecast = cliper_forecast(model_2016, dianmu, datetime(2016, 8, 15, 13))
    assert forecast.attrs["past_motion_hours"] == 6.0
    assert "motion of the whole 6 h track" in forecast.attrs["forecast_method"]
    # Dianmu moved due west (117.0 E to 116.3 E in 6 h); so does the forecast, and its
    # 24 h position is within CLIPER's 90th percentile (341 km) of the real one.
    at_24 = forecast.sel(time=np.datetime64("2016-08-16T12:00", "ns"))
    heading = bearing_deg(21.7, 116.3, float(at_24["lat"]), float(at_24["lon"]))
    assert 225.0 < heading < 315.0
    lat, lon = _at(dianmu, datetime(2016, 8, 16, 12))
    assert great_circle_km(float(at_24["lat"]), float(at_24["lon"]), lat, lon) < 341.0


def test_a_short_track_is_forecast_as_if_it_had_moved_steadily_for_12_hours(
    model: CliperModel, recent_storms: dict[str, xr.Dataset]
) -> None:
    """The young-storm rule: 6 h of track stand for 12 h of the same motion and deepening,
    so prepending the fix that steady motion would have had at t0 - 12 h changes nothing.
    Ewiniar (JMA 1804) formed in the South China Sea: 14.2 N 112.0 E 1004 hPa on 2 June
    2018 18 UTC, 14.5 N 111.6 E 1002 hPa six hours later."""
    young = recent_storms["1804"].isel(time=[0, 1])
    first, second = (young.isel(time=i) for i in (0, 1))
    earlier = xr.concat(
        [
            (2 * first[["lat", "lon", "psl_min", "vmax", "rmw"]] - second).assign_coords(
                time=first["time"] - np.timedelta64(6, "h")
            ),
            young[["lat", "lon", "psl_min", "vmax", "rmw"]],
        ],
        dim="time",
    ).assign_attrs(young.attrs)
    issue = datetime(2018, 6, 3, 1)
    short = cliper_forecast(model, young, issue)
    steady = cliper_forecast(model, earlier, issue)
    assert short.attrs["past_motion_hours"] == 6.0
    assert steady.attrs["past_motion_hours"] == 12.0
    for name in ("lat", "lon", "psl_min"):
        np.testing.assert_allclose(short[name].values, steady[name].values, atol=1e-9)


def test_a_single_fix_without_climatology_regressions_is_refused(
    model: CliperModel, mangkhut: xr.Dataset
) -> None:
    single = mangkhut.isel(time=[20])
    when = single["time"].values[0].astype("datetime64[s]").item()
    bare = dataclasses.replace(model, climatology=None)
    with pytest.raises(ValueError, match=r"1822 MANGKHUT: the track spans 0 h, under 6 h"):
        cliper_forecast(bare, single, when)
    assert cliper_forecast(model, single, when).attrs["past_motion_hours"] == 0.0


def test_the_climatology_regressions_see_first_fixes_too(model: CliperModel) -> None:
    assert model.past_motion
    assert model.climatology is not None
    assert not model.climatology.past_motion
    assert model.climatology.climatology is None
    # Every issue fix with 6 h of track is a sample of both; first fixes only of climatology.
    assert model.climatology.n_samples > model.n_samples
    assert model.climatology.track_coef.shape[-1] < model.track_coef.shape[-1]


def test_issue_before_the_first_fix_is_refused(model: CliperModel, mangkhut: xr.Dataset) -> None:
    with pytest.raises(ValueError, match=r"1822 MANGKHUT: issue time 2018-09-01T00:00 is before"):
        cliper_forecast(model, mangkhut, datetime(2018, 9, 1))


def test_missing_pressure_gives_nan_intensity_but_a_track(
    model: CliperModel, mangkhut: xr.Dataset, forecast: xr.Dataset
) -> None:
    gap = mangkhut.copy(deep=True)
    gap["psl_min"] = gap["psl_min"].where(gap["time"] != np.datetime64(ISSUE, "ns"))
    issued = cliper_forecast(model, gap, ISSUE)
    assert np.isnan(issued["psl_min"].values).all()
    assert np.isnan(issued["vmax"].values[1:]).all()
    np.testing.assert_array_equal(issued["lat"].values, forecast["lat"].values)
    np.testing.assert_array_equal(issued["lon"].values, forecast["lon"].values)


def test_longitudes_stay_continuous_across_the_dateline(
    model: CliperModel, mangkhut: xr.Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    # Mangkhut moved 60 degrees east: 186.9, 184.1 and 180.5 E at 14 Sep 00, 12 and 15 Sep
    # 00 UTC, so the 24 h history crosses 180 going west and the forecast carries on.
    issue = datetime(2018, 9, 15, 0)
    shifted = mangkhut.copy(deep=True)
    shifted["lon"] = shifted["lon"] + 60.0
    with caplog.at_level(logging.WARNING, logger="hazard_models.typhoon.cliper"):
        issued = cliper_forecast(model, shifted, issue)
    validate_tc_track(issued)
    lon = issued["lon"].values
    assert lon[0] == pytest.approx(180.5)
    assert lon.min() < 180.0 < lon[0]  # the forecast crosses the meridian ...
    assert np.abs(np.diff(lon)).max() < 5.0  # ... without a 360 degree jump
    assert "outside the training domain" in caplog.text
    # The same track written in (-180, 180] (jumping from 184.1 to -179.5) gives the same
    # forecast: -179.5 moving west would go below -180, so it is written from 180.5 on.
    wrapped = shifted.copy(deep=True)
    wrapped["lon"] = ((wrapped["lon"] + 180.0) % 360.0) - 180.0
    issued_wrapped = cliper_forecast(model, wrapped, issue)
    np.testing.assert_allclose(issued_wrapped["lon"].values, lon, atol=1e-9)
    np.testing.assert_allclose(issued_wrapped["lat"].values, issued["lat"].values, atol=1e-9)
    # A track in the western hemisphere written with negative longitudes keeps them.
    west = mangkhut.copy(deep=True)
    west["lon"] = west["lon"] - 240.0  # -119.5 E at 15 Sep 00 UTC
    west_lon = cliper_forecast(model, west, issue)["lon"].values
    assert west_lon[0] == pytest.approx(-119.5)
    assert (west_lon < 0).all()


def test_model_is_small_and_picklable(model: CliperModel, mangkhut: xr.Dataset) -> None:
    assert model.leads == DEFAULT_LEADS
    assert model.trained_until == TRAINED_UNTIL
    assert model.n_samples == model.samples_per_lead[0] > 20_000
    restored = pickle.loads(pickle.dumps(model))
    assert len(pickle.dumps(model)) < 50_000
    xr.testing.assert_identical(
        cliper_forecast(restored, mangkhut, ISSUE), cliper_forecast(model, mangkhut, ISSUE)
    )


def test_leads_must_be_multiples_of_six_hours(mangkhut: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="positive multiples of 6 h"):
        fit_cliper([mangkhut], trained_until=TRAINED_UNTIL, leads=[timedelta(hours=9)])
