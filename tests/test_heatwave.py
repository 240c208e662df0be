"""The heat indices and the ``heatwave-outlook`` model.

Data: ERA5 hourly 2 m temperature, March 2019, 0.25° over the UK
(``nwp/era5-2mt-2019-03-uk.grib``, SOURCES.md §8), on the demo region of
``configs/era5-uk-demo.yaml`` (0.05° cells over south-east England, 0.1° blocks as
communities). The expected values are recomputed here another way: scipy's regular-grid
interpolation, the blocks' cells found from their centres, pandas' time-based rolling
maximum.
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.interpolate import RegularGridInterpolator

from hazard_models import get_model
from hazard_models.config import SignalScheme
from hazard_models.errors import ModelError
from hazard_models.heatwave import indices
from hazard_models.heatwave.indices import heat_index
from hazard_models.heatwave.persistence import diurnal_persistence
from ingest.errors import LookAheadError

REPO = Path(__file__).resolve().parents[1]
ISSUE = datetime(2019, 3, 30, 15, tzinfo=UTC)

# NWS heat index chart (NOAA/NWS, "Heat Index Chart", weather.gov/safety/heat-index;
# the same entries are asserted by meteocalc's tests): (°F, % RH) -> heat index °F.
NWS_CHART = {
    (80, 40): 80,
    (88, 40): 88,
    (90, 40): 91,
    (96, 40): 101,
    (98, 40): 105,
    (106, 40): 124,
    (108, 40): 130,
    (110, 40): 136,
    (80, 65): 82,
    (84, 65): 89,
    (86, 65): 93,
    (96, 65): 121,
    (100, 65): 136,
    (80, 100): 87,
    (82, 100): 95,
    (86, 100): 112,
    (90, 100): 132,
}
# The chart shows the Rothfusz regression; the NWS procedure (WPC, "The Heat Index
# Equation") then adds (RH - 85)/10 x (87 - T)/5 where RH > 85 % and 80 <= T <= 87 °F.
WPC_HUMID_ADJUSTMENT = {(80, 100): 1.5 * 1.4, (82, 100): 1.5 * 1.0, (86, 100): 1.5 * 0.2}


def _celsius(fahrenheit: float) -> float:
    return (fahrenheit - 32.0) * 5.0 / 9.0


def test_heat_index_matches_the_nws_chart() -> None:
    pairs = list(NWS_CHART)
    tas = xr.DataArray([_celsius(t) for t, _ in pairs], dims="case", attrs={"units": "degC"})
    hurs = xr.DataArray([float(rh) for _, rh in pairs], dims="case", attrs={"units": "%"})
    index = heat_index(tas, hurs)
    assert index.attrs["units"] == "degC"
    fahrenheit = index.values * 9.0 / 5.0 + 32.0
    expected = [value + WPC_HUMID_ADJUSTMENT.get(pair, 0.0) for pair, value in NWS_CHART.items()]
    # The chart's values are rounded to whole degrees.
    np.testing.assert_allclose(fahrenheit, expected, atol=0.5)


def test_heat_index_is_dask_safe_and_checks_units() -> None:
    tas = xr.DataArray(np.linspace(20.0, 42.0, 12).reshape(3, 4), dims=("y", "x"))
    hurs = xr.DataArray(np.linspace(10.0, 95.0, 12).reshape(3, 4), dims=("y", "x"))
    tas.attrs["units"], hurs.attrs["units"] = "degC", "%"
    eager = heat_index(tas, hurs)
    lazy = heat_index(tas.chunk({"y": 1}), hurs.chunk({"y": 1}))
    assert lazy.chunks is not None
    xr.testing.assert_identical(lazy.compute(), eager)
    with pytest.raises(ValueError, match=r"tas has units 'K'; convert it to 'degC'"):
        heat_index(tas.assign_attrs(units="K"), hurs)


def test_index_examples_hold() -> None:
    failed, attempted = doctest.testmod(indices, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert attempted >= 4
    assert failed == 0


@pytest.fixture(scope="module")
def uk(data_root: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    """The demo settings, region and the ERA5 field as read by the configured source."""
    from hazard_models.region import load_region
    from yujing.pipeline import read_configured
    from yujing.settings import load_settings

    settings = load_settings(REPO / "configs" / "era5-uk-demo.yaml", data_root=data_root)
    region = load_region(settings.region, settings.communities, cache_dir)
    return settings, region, read_configured(settings, "era5_t2m")


def _model(settings, scheme: str = "era5-march-demo", **options):  # type: ignore[no-untyped-def]
    return get_model("heatwave-outlook")(settings.signal_schemes[scheme], options, settings.risk)


def _analysis_up_to(era5: xr.Dataset, issue: datetime) -> xr.Dataset:
    return era5.sel(reference_time=slice(None, issue.replace(tzinfo=None)))


def _analysed(era5: xr.Dataset) -> xr.DataArray:
    return era5["tas"].isel(lead_time=0).rename(reference_time="time")


def _community_series(tas: xr.DataArray, region) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Hourly community temperatures recomputed independently: bilinear interpolation of
    ``tas(time, y, x)`` to the 0.05° cell centres, the mean of each 0.1° block's four cells."""
    lat, lon = tas["lat"].values[::-1], tas["lon"].values
    values = tas.values[:, ::-1, :]  # latitude increasing
    communities = region.communities
    points = []
    for clat, clon in zip(communities["lat"].values, communities["lon"].values, strict=True):
        points += [(clat + dy, clon + dx) for dy in (-0.025, 0.025) for dx in (-0.025, 0.025)]
    points_array = np.array(points)
    cells = np.stack(
        [
            RegularGridInterpolator((lat, lon), field, method="linear")(points_array)
            for field in values
        ]
    )
    blocks = cells.reshape(len(values), -1, 4).mean(axis=-1)  # equal-area to 0.01 %
    return pd.DataFrame(
        blocks, index=pd.DatetimeIndex(tas["time"].values), columns=communities.community
    )


def _levels_at(frame: pd.DataFrame, at: pd.Timestamp) -> np.ndarray:
    """The demo scheme's level per community at ``at`` from pandas' trailing 24-h maxima:
    yellow 3 days >= 14, orange a day >= 16, red a day >= 17.5 degC."""
    daily = frame.rolling("24h").max()
    day = pd.Timedelta(hours=24)
    yellow = np.all([daily.loc[at - k * day].values >= 14.0 for k in range(3)], axis=0)
    orange = daily.loc[at].values >= 16.0
    red = daily.loc[at].values >= 17.5
    return np.select([red, orange, yellow], [4, 3, 2], 0)


def test_levels_and_maxima_from_real_analyses(uk) -> None:  # type: ignore[no-untyped-def]
    settings, region, era5 = uk
    available = _analysis_up_to(era5, ISSUE)
    result = _model(settings).run({"analysis": available}, region, ISSUE)
    frame = _community_series(_analysed(available), region)
    at = pd.Timestamp(ISSUE.replace(tzinfo=None))
    expected_max = frame.rolling("24h").max().loc[at].values
    assert result.sizes["lead_time"] == 1  # analyses only: what is known now
    np.testing.assert_allclose(result["tas_max"].isel(lead_time=0), expected_max, atol=2e-3)
    np.testing.assert_allclose(result["tas"].isel(lead_time=0), frame.loc[at].values, atol=2e-3)
    expected = _levels_at(frame, at)
    assert len(set(expected)) >= 2  # the test can tell levels apart
    np.testing.assert_array_equal(result["hazard_level"].isel(lead_time=0), expected)
    met = result["probability"].isel(lead_time=0).values
    assert set(np.unique(met)) <= {0.0, 1.0}
    onset = result["onset_time"].sel(level="orange").values
    np.testing.assert_array_equal(~np.isnat(onset), expected >= 3)
    assert result.attrs["evaluation_time"] == "2019-03-30T15:00:00Z"
    assert "era5-2mt-2019-03-uk.grib" in result.attrs["evidence"]
    # Half an hour on, the latest analysis still stands for "now".
    later = _model(settings).run({"analysis": available}, region, ISSUE + timedelta(minutes=30))
    np.testing.assert_allclose(later["tas"].isel(lead_time=0), frame.loc[at].values, atol=2e-3)
    assert later.attrs["evaluation_time"] == "2019-03-30T15:00:00Z"
    # The CMA thresholds are far from a British March: no level anywhere.
    cma = _model(settings, "cma-heat").run({"analysis": available}, region, ISSUE)
    assert int(cma["hazard_level"].max()) == 0


def test_chunked_input_gives_the_same_result(uk) -> None:  # type: ignore[no-untyped-def]
    settings, region, era5 = uk
    available = _analysis_up_to(era5, ISSUE)
    eager = _model(settings).run({"analysis": available}, region, ISSUE)
    lazy = _model(settings).run(
        {"analysis": available.chunk({"reference_time": 24, "y": 11})}, region, ISSUE
    )
    xr.testing.assert_identical(lazy, eager)


def test_forecast_members_give_probabilities(uk) -> None:  # type: ignore[no-untyped-def]
    settings, region, era5 = uk
    available = _analysis_up_to(era5, ISSUE)
    forecast = diurnal_persistence(available, ISSUE, members=3)
    # Member 1 repeats the day that ended 24 h before the issue time: lead 5 h is 43 h ago.
    five = forecast["tas"].sel(member=1, lead_time=np.timedelta64(5, "h")).isel(reference_time=0)
    then = available["tas"].sel(reference_time=np.datetime64("2019-03-28T20:00")).isel(lead_time=0)
    np.testing.assert_array_equal(five.values, then.values)
    result = _model(settings).run({"analysis": available, "forecast": forecast}, region, ISSUE)
    assert result.sizes["lead_time"] == 49
    assert result["lead_time"].values[-1] == np.timedelta64(48, "h")
    observed = _community_series(_analysed(available), region)
    communities = np.arange(0, region.communities.sizes["community"], 23)
    probabilities = []
    for member in range(3):
        run = forecast["tas"].isel(member=member, reference_time=0)
        run = run.assign_coords(time=("lead_time", forecast["valid_time"].values[0]))
        ahead = _community_series(run.swap_dims(lead_time="time"), region)
        frame = pd.concat([observed, ahead]).iloc[:, communities]
        at = [pd.Timestamp(ISSUE.replace(tzinfo=None)) + pd.Timedelta(hours=h) for h in (0, 12, 30)]
        probabilities.append([_levels_at(frame, t) >= 3 for t in at])  # orange or red
    expected = np.mean(probabilities, axis=0)  # lead, community
    assert ((expected > 0) & (expected < 1)).any()  # the members disagree somewhere
    orange = result["probability"].sel(level=["orange", "red"]).max("level")
    got = orange.isel(community=communities).sel(
        lead_time=[np.timedelta64(h, "h") for h in (0, 12, 30)]
    )
    np.testing.assert_allclose(got.transpose("lead_time", "community"), expected)
    assert 0.0 < float(orange.max()) <= 1.0
    assert result.attrs["members"] == 3


def test_sector_rules_read_the_heat_result(uk) -> None:  # type: ignore[no-untyped-def]
    from alerting.impact import assess
    from alerting.subscriptions.request import Asset, Rule
    from alerting.subscriptions.store import AssetMatch

    settings, region, era5 = uk
    available = _analysis_up_to(era5, ISSUE)
    forecast = diurnal_persistence(available, ISSUE, members=3)
    result = _model(settings).run({"analysis": available, "forecast": forecast}, region, ISSUE)
    site = Asset.model_validate(
        {
            "id": "site",
            "name": "outdoor site",
            "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]},
        }
    )
    rules = tuple(
        Rule.model_validate(
            {
                "hazard": "heatwave",
                "variable": variable,
                "comparison": ">=",
                "threshold": limit,
                "within": "24 h",
            }
        )
        for variable, limit in (("tas", "12 degC"), ("heat_index", "41 degC"))
    )
    forecasts, unassessed = assess(
        result, region.communities, [AssetMatch("builder", site, rules, (0, 1))], ISSUE
    )
    (met,) = forecasts
    inside = np.isin(result["community_id"].values, list(met.communities))
    window = result["tas"].isel(community=np.flatnonzero(inside), lead_time=slice(0, 25))
    assert met.variable == "tas" and met.value == pytest.approx(float(window.max()), abs=0.01)
    (reason,) = unassessed
    assert "does not hold 'heat_index'" in reason.reason  # ERA5 here has no humidity


HKO_FEED = REPO / "tests" / "fixtures" / "hko"


@pytest.fixture(scope="module")
def hko_observations(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """The real HKO ``rhrread`` answer of 2023-08-19 17:02 HKT (tests/fixtures/hko/README.md):
    27 stations' temperature, humidity at the Observatory; only the Observatory's position
    is known (the other stations have no coordinates)."""
    from ingest.readers.hko_regional import HkoRegionalOptions, HkoRegionalReader

    folder = tmp_path_factory.mktemp("rhrread")
    recorded = HKO_FEED / "recorded" / "rhrread_home_assistant_20230819.json"
    (folder / "20230819T090230Z_00000000000000aa.json").write_bytes(recorded.read_bytes())
    options = HkoRegionalOptions(station_metadata=HKO_FEED / "stations.csv")
    return HkoRegionalReader().read(folder, options, "hko")


def test_heat_index_from_the_hko_station_feed(  # type: ignore[no-untyped-def]
    hko_observations: xr.Dataset, data_root: Path, cache_dir: Path
) -> None:
    from hazard_models.region import load_region
    from yujing.settings import load_settings

    settings = load_settings(REPO / "configs" / "hongkong.yaml", data_root=data_root)
    region = load_region(settings.region, settings.communities, cache_dir)
    scheme = _scheme({"variable": "heat_index", "window": "1 d", "threshold": "32 degC"})
    model = get_model("heatwave-outlook")(scheme, {}, settings.risk)
    issue = datetime(2023, 8, 19, 9, 30, tzinfo=UTC)
    result = model.run({"analysis": hko_observations}, region, issue)
    # The Observatory: 29 degC (84.2 degF) at 74 %. NWS chart: 84 degF -> 90 (70 %), 92
    # (75 %); 86 degF -> 95, 97: 92.1 degF there, the chart rounded to whole degrees.
    fahrenheit = float(result["heat_index"].isel(lead_time=0, community=0)) * 9 / 5 + 32
    assert fahrenheit == pytest.approx(92.1, abs=1.0)
    assert float(result["tas"].isel(lead_time=0, community=0)) == pytest.approx(29.0)
    assert int(result["hazard_level"].isel(lead_time=0, community=0)) == 2  # 89.6 degF met
    assert "without coordinates left out" in result.attrs["evidence"]
    assert "no height correction" in result.attrs["evidence"]  # no DEM in this layer


def test_station_temperature_follows_the_terrain(  # type: ignore[no-untyped-def]
    hko_observations: xr.Dataset, shenzhen_settings, shenzhen_region
) -> None:
    # The Observatory (32 m) across the border: Shenzhen's communities within 35 km get its
    # temperature carried to their DEM mean height at 6.5 K per km.
    model = get_model("heatwave-outlook")(
        shenzhen_settings.signal_schemes["cma-heat"],
        {"station_gridding": {"radius": "35 km"}},
        shenzhen_settings.risk,
    )
    issue = datetime(2023, 8, 19, 9, 30, tzinfo=UTC)
    result = model.run({"analysis": hko_observations}, shenzhen_region, issue)
    tas = result["tas"].isel(lead_time=0).values
    reached = np.isfinite(tas)
    assert 0 < reached.sum() < tas.size  # the southern communities only
    heights = shenzhen_region.communities["elevation_mean"].values
    expected = 29.0 + 6.5e-3 * (32.0 - heights)
    np.testing.assert_allclose(tas[reached], expected[reached], atol=1e-6)
    assert np.ptp(tas[reached]) > 1.0  # hills and coast differ
    assert "6.5 K km-1 to the communities' heights" in result.attrs["evidence"]


def test_persistence_needs_the_past_days(uk) -> None:  # type: ignore[no-untyped-def]
    _, _, era5 = uk
    early = datetime(2019, 3, 3, 12, tzinfo=UTC)  # the analyses begin on 1 March
    with pytest.raises(ModelError, match=r"member 2 needs .* use fewer members"):
        diurnal_persistence(_analysis_up_to(era5, early), early, members=3)


def test_refuses_future_analyses(uk) -> None:  # type: ignore[no-untyped-def]
    settings, region, era5 = uk
    with pytest.raises(LookAheadError, match="after the issue time"):
        _model(settings).run({"analysis": era5}, region, ISSUE)


def _scheme(criterion: dict[str, str]) -> SignalScheme:
    return SignalScheme.model_validate(
        {
            "hazard": "heatwave",
            "source": "test scheme (not an agency's)",
            "levels": [{"name": "yellow", "rank": 2, "criteria": [criterion]}],
        }
    )


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        ({"variable": "tas", "window": "36 h", "threshold": "35 degC"}, "whole number of days"),
        ({"variable": "pr", "window": "1 d", "threshold": "50 mm"}, "tests pr over 24 h"),
        ({"variable": "heat_index", "window": "1 d", "threshold": "41 degC"}, "lacks hurs"),
    ],
)
def test_bad_schemes_are_refused(uk, criterion, message) -> None:  # type: ignore[no-untyped-def]
    settings, region, era5 = uk
    model = get_model("heatwave-outlook")(_scheme(criterion), {}, settings.risk)
    with pytest.raises(ModelError, match=message):
        model.run({"analysis": _analysis_up_to(era5, ISSUE)}, region, ISSUE)


def test_no_data_in_the_window_is_an_error(uk) -> None:  # type: ignore[no-untyped-def]
    settings, region, era5 = uk
    late = ISSUE + timedelta(days=10)  # the analyses end on 31 March
    with pytest.raises(ModelError, match="no analysis or forecast of tas"):
        _model(settings).run({"analysis": era5}, region, late)
    with pytest.raises(ModelError, match="needs an 'analysis' or a 'forecast'"):
        _model(settings).run({}, region, ISSUE)
