"""Typhoon wind fields: track parameters, distances, exposure, ensemble and the wind kernel.

Data: JMA best track of Mangkhut 1822 (``tc/jma_rsmc_bst_2015_2021jul.txt``, SOURCES.md
§1.2), the CMA bulletin for Yinxing 2422 (``tests/fixtures/tc``), the Shenzhen SRTM DEM
(SOURCES.md §6.1). Expected values are computed by hand from the published equations named
at each test.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hazard_models.errors import ModelError
from hazard_models.typhoon.ensemble import TrackErrors, perturb_parameters
from hazard_models.typhoon.exposure import (
    gust_factors,
    land_fraction,
    mean_wind_factors,
    roughness_factor,
)
from hazard_models.typhoon.profiles import StormState, get_profile
from hazard_models.typhoon.track import (
    interpolate_parameters,
    pressure_from_wind,
    storm_parameters,
    wind_from_pressure,
)
from hazard_models.typhoon.windfield import distance_and_bearing, storm_distance, surface_wind
from ingest.readers.jma_besttrack import read_jma_best_tracks

KT = 0.514444
TEN_FROM_ONE_AT_SEA = 1.03 / 1.11  # WMO/TD-No. 1555 Table 1.1, hourly reference, at sea


@pytest.fixture(scope="module")
def mangkhut(data_root: Path) -> xr.Dataset:
    return read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]


def test_atkinson_holliday_by_hand() -> None:
    # Atkinson & Holliday (1977): V(kt, 1 min) = 6.7 (1010 - p)^0.644; 960 hPa -> 50 hPa
    # deficit -> 6.7 * 50^0.644 kt.
    expected = 6.7 * 50.0**0.644 * KT
    assert wind_from_pressure(np.array([960.0]))[0] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(83.2 * KT, rel=2e-3)
    assert pressure_from_wind(np.array([expected]))[0] == pytest.approx(960.0, abs=1e-6)
    assert wind_from_pressure(np.array([1015.0]))[0] == 0.0


def test_storm_parameters_of_a_real_best_track(mangkhut: xr.Dataset) -> None:
    parameters = storm_parameters(mangkhut)
    assert parameters.sizes["time"] == mangkhut.sizes["time"]
    fix = parameters.sel(time="2018-09-16T00:00")
    source = mangkhut.sel(time="2018-09-16T00:00")
    assert float(fix["delta_p"]) == pytest.approx(1010.0 - float(source["psl_min"]))
    # JMA's 10-min wind converted to 1 min at sea: / 0.928 (WMO/TD-No. 1555).
    assert float(fix["vmax"]) == pytest.approx(float(source["vmax"]) / TEN_FROM_ONE_AT_SEA)
    # Moving west-north-west at about 20-35 km/h on 16 September (JMA fixes).
    assert float(fix["translation_u"]) < -4.0
    assert 5.0 < np.hypot(float(fix["translation_u"]), float(fix["translation_v"])) < 10.0
    assert parameters.attrs["track_problems"] == ""
    # JMA gives 30-kt radii for the typhoon stage: the outer point comes from them.
    assert np.isfinite(float(fix["outer_radius"]))
    assert (
        "radius of maximum wind from pressure (Vickery & Wadhera 2008): "
        in (parameters.attrs["fills"])
    )


def test_the_gale_radius_is_carried_only_while_the_storm_has_gales(mangkhut: xr.Dataset) -> None:
    # JMA, Mangkhut over Guangxi: 17 Sep 00 UTC "992 045 ... 40300 0180" (30-kt winds within
    # 300/180 nmi), then 06 UTC "998 000" and 12 UTC "1002 000", depressions with no radii.
    parameters = storm_parameters(mangkhut)
    last_given = parameters.sel(time="2018-09-17T00:00")
    assert float(last_given["outer_radius"]) == pytest.approx(0.5 * (300 + 180) * 1.852)
    # No wind given: Atkinson & Holliday from 998 hPa, 6.7 * 12^0.644 = 33.2 kt (1 min), above
    # 30 kt at 10 min (32.3 kt at 1 min): the radius is carried one fix.
    assert float(parameters.sel(time="2018-09-17T06:00")["outer_radius"]) == pytest.approx(
        float(last_given["outer_radius"])
    )
    # 1002 hPa: 6.7 * 8^0.644 = 25.6 kt, no 30-kt wind left: no radius, whatever came before.
    assert np.isnan(float(parameters.sel(time="2018-09-17T12:00")["outer_radius"]))
    assert np.isnan(float(parameters.sel(time="2018-09-17T12:00")["outer_wind"]))
    assert "30-kt radius dropped, the maximum wind not above it: " in parameters.attrs["fills"]


def test_missing_values_and_negative_deficit_are_named(mangkhut: xr.Dataset) -> None:
    track = mangkhut.copy(deep=True)
    psl = track["psl_min"].values
    vmax = track["vmax"].values
    psl[10] = np.nan  # pressure missing: from the wind
    psl[11], vmax[11] = np.nan, np.nan  # both missing: left out
    psl[-1] = 1012.0  # above ambient: no wind
    parameters = storm_parameters(track)
    assert parameters.sizes["time"] == track.sizes["time"] - 1
    problems = parameters.attrs["track_problems"]
    stamp = str(track["time"].values[11])[:16]
    assert f"fix {stamp}Z: no central pressure and no maximum wind; left out" in problems
    assert "1012 hPa is not below the ambient 1010 hPa" in problems
    assert float(parameters["delta_p"][-1]) == 0.0
    expected_psl = float(pressure_from_wind(np.array([vmax[10] / TEN_FROM_ONE_AT_SEA]))[0])
    assert float(parameters["delta_p"][10]) == pytest.approx(1010.0 - expected_psl)
    assert "central pressure from wind (Atkinson & Holliday 1977): 1;" in parameters.attrs["fills"]


def test_a_track_without_pressure_or_wind_is_refused(mangkhut: xr.Dataset) -> None:
    track = mangkhut.copy(deep=True)
    track["psl_min"][:] = np.nan
    track["vmax"][:] = np.nan
    with pytest.raises(ModelError, match=r"no fix has a central pressure .* or a maximum wind"):
        storm_parameters(track)


def test_great_circle_distance_and_bearing_by_hand() -> None:
    one_degree = 6371.0 * np.pi / 180.0
    distance, bearing = distance_and_bearing(0.0, 0.0, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(distance, [one_degree, one_degree], rtol=1e-12)
    np.testing.assert_allclose(bearing, [0.0, 90.0], atol=1e-9)
    # Across the dateline: 179.5 E to 179.5 W at the equator is one degree east.
    distance, bearing = distance_and_bearing(0.0, 179.5, 0.0, -179.5)
    assert float(distance) == pytest.approx(one_degree)
    assert float(bearing) == pytest.approx(90.0)
    # Longitudes continuous past 180 (as the readers give them) are the same place.
    assert float(distance_and_bearing(10.0, 181.0, 10.0, -179.0)[0]) == pytest.approx(0.0, abs=1e-6)


def _single_step(**values: float) -> xr.Dataset:
    base = {
        "lat": 20.0,
        "lon": 115.0,
        "delta_p": 60.0,
        "rmax": 30.0,
        "vmax": 45.0,
        "outer_wind": np.nan,
        "outer_radius": np.nan,
        "translation_u": 0.0,
        "translation_v": 0.0,
        "pressure_tendency": 0.0,
    }
    base.update(values)
    return xr.Dataset(
        {key: ("time", [value]) for key, value in base.items()},
        coords={"time": [np.datetime64("2018-09-16T00:00", "ns")]},
    )


def test_stationary_storm_is_the_profile_at_ten_minutes() -> None:
    parameters = _single_step()
    lat = xr.DataArray(20.0 + np.array([0.5, 1.0, 2.0]), dims="point")
    lon = xr.DataArray(np.full(3, 115.0), dims="point")
    wind = surface_wind(parameters, lat, lon, profile="holland2008").isel(time=0).values
    distance = 6371.0 * np.radians(np.array([0.5, 1.0, 2.0]))
    state = StormState(delta_p=60.0, rmax=30.0, lat=20.0, vmax=45.0 / 0.9)
    expected = get_profile("holland2008")(distance, state) * TEN_FROM_ONE_AT_SEA
    np.testing.assert_allclose(wind, expected, rtol=1e-5)


@pytest.mark.parametrize("hemisphere", [1.0, -1.0])
def test_motion_strengthens_the_right_side_north_and_left_south(hemisphere: float) -> None:
    # Moving north at 6 m/s (poleward in both hemispheres: v has the hemisphere's sign).
    parameters = _single_step(lat=20.0 * hemisphere, translation_v=6.0 * hemisphere)
    lat = xr.DataArray(np.full(2, 20.0 * hemisphere), dims="point")
    lon = xr.DataArray([114.5, 115.5], dims="point")  # west and east of the centre
    west, east = surface_wind(parameters, lat, lon).isel(time=0).values
    # Facing poleward, the motion adds to the cyclonic flow on the right in the north and on
    # the left in the south: east of the centre in both cases.
    assert east > west + 3.0
    # The two hemispheres mirror each other exactly.
    north = surface_wind(_single_step(translation_v=6.0), lat.copy(data=[20.0, 20.0]), lon)
    south = surface_wind(
        _single_step(lat=-20.0, translation_v=-6.0), lat.copy(data=[-20.0, -20.0]), lon
    )
    np.testing.assert_allclose(north.values, south.values, rtol=1e-5)


def test_no_pressure_deficit_means_no_wind() -> None:
    parameters = _single_step(delta_p=0.0, vmax=0.0, translation_u=8.0)
    lat = xr.DataArray([20.2, 21.0], dims="point")
    lon = xr.DataArray([115.0, 115.0], dims="point")
    assert float(surface_wind(parameters, lat, lon).max()) == 0.0


def test_chunked_points_and_members_equal_in_memory(mangkhut: xr.Dataset) -> None:
    parameters = interpolate_parameters(
        storm_parameters(mangkhut).sel(time=slice("2018-09-15T18", "2018-09-16T18")),
        timedelta(hours=1),
    )
    errors = TrackErrors(
        leads=[timedelta(hours=24)],
        along_track=[100.0],
        cross_track=[60.0],
        pressure=[8.0],
        source="test",
    )
    members = perturb_parameters(parameters, parameters["time"].values[0], errors, 6, seed=3)
    lat, lon = np.meshgrid(np.linspace(21.5, 23.5, 30), np.linspace(112.5, 115.5, 40))
    lat = xr.DataArray(lat, dims=("y", "x"))
    lon = xr.DataArray(lon, dims=("y", "x"))
    eager = surface_wind(members, lat, lon)
    lazy = surface_wind(members.chunk({"member": 2}), lat.chunk({"y": 7}), lon.chunk({"y": 7}))
    assert lazy.chunks is not None
    xr.testing.assert_allclose(eager, lazy.compute())
    distance = storm_distance(members.chunk({"member": 2}), lat, lon).compute()
    assert distance.dims == ("y", "x", "member", "time")
    assert float(distance.min()) >= 0.0


def test_ensemble_spread_matches_the_configured_errors(mangkhut: xr.Dataset) -> None:
    parameters = interpolate_parameters(
        storm_parameters(mangkhut).sel(time=slice("2018-09-14T00", "2018-09-16T00")),
        timedelta(hours=6),
    )
    reference = parameters["time"].values[0]
    errors = TrackErrors(
        leads=[timedelta(hours=24), timedelta(hours=48)],
        along_track=[150.0, 300.0],
        cross_track=[100.0, 200.0],
        pressure=[10.0, 15.0],
        size=[0.2, 0.3],
        source="test",
    )
    members = perturb_parameters(parameters, reference, errors, 4000, seed=1)
    again = perturb_parameters(parameters, reference, errors, 4000, seed=1)
    xr.testing.assert_identical(members, again)
    control = members.isel(member=0)
    np.testing.assert_allclose(control["lat"], parameters["lat"])
    np.testing.assert_allclose(control["delta_p"], parameters["delta_p"])
    at_24 = members.sel(time=reference + np.timedelta64(24, "h"))
    km = 6371.0 * np.pi / 180.0
    north = (at_24["lat"] - float(parameters["lat"].sel(time=at_24["time"]))) * km
    east = (
        (at_24["lon"] - float(parameters["lon"].sel(time=at_24["time"])))
        * km
        * np.cos(np.radians(float(at_24["lat"][0])))
    )
    radial = np.sqrt(north**2 + east**2)
    # Along and cross errors independent normal: E[r^2] = σa² + σc².
    assert float(np.sqrt((radial**2).mean())) == pytest.approx(np.hypot(150, 100), rel=0.05)
    assert float(at_24["delta_p"].std()) == pytest.approx(10.0, rel=0.05)
    size = np.log(members["rmax"] / parameters["rmax"])
    assert float(size.isel(time=0).std()) == 0.0  # the analysed size at lead 0
    assert float(size.sel(time=at_24["time"]).std()) == pytest.approx(0.2, rel=0.05)
    at_36 = reference + np.timedelta64(36, "h")
    assert float(size.sel(time=at_36).std()) == pytest.approx(0.25, rel=0.05)
    outer = np.log(members["outer_radius"] / parameters["outer_radius"])
    xr.testing.assert_allclose(outer, size)  # one size factor for both radii


def test_track_errors_are_validated() -> None:
    with pytest.raises(ValueError, match="along_track has 1 values for 2 leads"):
        TrackErrors(
            leads=["24 h", "48 h"],  # type: ignore[list-item]
            along_track=[1.0],
            cross_track=[1.0, 2.0],
            pressure=[1.0, 2.0],
            source="test",
        )


def test_roughness_factor_is_the_log_law_by_hand() -> None:
    def share(z0: float) -> float:
        return float(np.log(10.0 / z0) / np.log(500.0 / z0))

    assert roughness_factor() == pytest.approx(share(0.03) / share(0.001))
    assert 0.8 < roughness_factor() < 0.9
    with pytest.raises(ValueError, match="roughness lengths"):
        roughness_factor(z0_land=0.0)


def test_land_fraction_from_the_shenzhen_dem(shenzhen_region, shenzhen_settings) -> None:  # type: ignore[no-untyped-def]
    fraction = land_fraction(shenzhen_region.grid, shenzhen_settings.communities.dem.path)
    assert fraction.dims == ("y", "x")

    def at(lon: float, lat: float) -> float:
        return float(fraction.sel(x=lon, y=lat, method="nearest"))

    assert at(114.058, 22.545) > 0.8  # Futian, the city centre
    assert at(113.848, 22.475) == 0.0  # Lingding Yang (Pearl River estuary) off Shekou
    assert at(114.548, 22.475) < 0.05  # Daya Bay south of Dapeng
    assert np.isnan(fraction.values).sum() > 0  # the grid reaches beyond the DEM
    factors = mean_wind_factors(fraction, roughness_factor())
    assert float(factors.min()) == pytest.approx(roughness_factor(), abs=1e-9)
    gusts = gust_factors(fraction)
    # WMO/TD-No. 1555 Table 1.1: 3-s gust over a 10-min mean, 1.23 at sea, 1.66 in-land.
    assert float(gusts.max()) == pytest.approx(1.66)
    assert float(gusts.sel(x=113.848, y=22.475, method="nearest")) == pytest.approx(1.23)
