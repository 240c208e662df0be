"""The ``typhoon-ensemble`` model end to end on real tracks.

Data: CMA forecast bulletins for Yinxing 2422 and Pabuk 2426 (``tests/fixtures/tc``, see its
README), the JMA best track of Mangkhut 1822 (SOURCES.md §1.2) replayed with the baseline
forecaster, and the Shenzhen region (SOURCES.md §2, §6).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from hazard_models import get_model
from hazard_models.config import Criterion, SignalScheme
from hazard_models.errors import ModelError
from ingest.errors import LookAheadError
from ingest.readers import read_source
from ingest.readers.jma_besttrack import read_jma_best_tracks

FIXTURES = Path(__file__).parent / "fixtures" / "tc"
YINXING_ISSUE = datetime(2024, 11, 7, 13, tzinfo=UTC)


def _bulletin(name: str, month: str = "2024-11") -> xr.Dataset:
    return read_source("tc-bulletin", FIXTURES / name, {"issue_month": month}, "cma")


@pytest.fixture(scope="module")
def yinxing() -> xr.Dataset:
    return _bulletin("cma_wtpq20_babj_yinxing_2024110712.txt")


def _model(settings: Any, scheme: str = "shenzhen-typhoon", **options: Any) -> Any:
    configured = dict(settings.hazards["typhoon"].options)
    configured.update(members=20, **options)
    return get_model("typhoon-ensemble")(settings.signal_schemes[scheme], configured, settings.risk)


@pytest.fixture(scope="module")
def yinxing_result(shenzhen_settings, shenzhen_region, yinxing) -> xr.Dataset:  # type: ignore[no-untyped-def]
    return _model(shenzhen_settings).run({"track": yinxing}, shenzhen_region, YINXING_ISSUE)


def test_result_contract_and_consistency(yinxing_result: xr.Dataset) -> None:
    result = yinxing_result
    assert result.attrs["model"] == "typhoon-ensemble"
    assert result.attrs["forecast_agency"].startswith("China Meteorological Administration")
    assert result.sizes["lead_time"] == 73  # hourly to 72 h
    assert list(result["level"].values) == ["white", "blue", "yellow", "orange", "red"]
    exceed = result["exceedance_probability"]
    # Longer windows and lower thresholds can only be more likely.
    assert (exceed.diff("window") >= 0).all()
    means = exceed.sel(threshold=[t for t in exceed["threshold"].values if "mean" in t])
    assert (means.diff("threshold") <= 0).all()
    # The storm passes 400 km south of the city: some members bring gales within 48 h.
    assert 0.0 < float(exceed.sel(threshold="Beaufort 6 mean", window="48 h").max()) < 1.0
    assert float(exceed.sel(threshold="Beaufort 12 mean", window="6 h").max()) == 0.0
    warned = result["probability"] >= 0.3
    ranks = result["level_rank"]
    expected = (warned * ranks).max("level")
    np.testing.assert_array_equal(result["hazard_level"].values, expected.values)
    arrival = result["arrival_time"].values
    assert (arrival[~np.isnat(arrival)] >= np.datetime64("2024-11-07T13:00")).all()
    reached = result["arrival_probability"]
    assert ((reached > 0) == ~np.isnat(result["arrival_time"])).all()
    assert result["wind_speed"].attrs["averaging_period"] == "10 min"
    assert float(result["track_lat"][0]) == pytest.approx(18.6)


def test_member_chunks_do_not_change_the_result(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, yinxing, yinxing_result
) -> None:
    chunked = _model(shenzhen_settings, member_chunk=3).run(
        {"track": yinxing}, shenzhen_region, YINXING_ISSUE
    )
    xr.testing.assert_allclose(chunked, yinxing_result)


def test_land_exposure_lowers_the_mean_and_raises_the_gust_factor(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, yinxing
) -> None:
    sea = _model(shenzhen_settings, exposure="sea").run(
        {"track": yinxing}, shenzhen_region, YINXING_ISSUE
    )
    land = _model(shenzhen_settings, exposure="land").run(
        {"track": yinxing}, shenzhen_region, YINXING_ISSUE
    )
    ratio = land["wind_speed"].max() / sea["wind_speed"].max()
    assert float(ratio) == pytest.approx(0.8514, abs=2e-3)  # exposure.roughness_factor()
    gust_ratio = (land["wind_speed_of_gust"] / land["wind_speed"]).median()
    assert float(gust_ratio) == pytest.approx(1.66, abs=1e-3)  # WMO/TD-No. 1555, in-land


def test_a_storm_far_away_is_no_hazard(shenzhen_settings, shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    pabuk = _bulletin("cma_wtpq20_babj_pabuk_2024122418_cca.txt", "2024-12")  # 11 N 111 E, ~1300 km
    issue = datetime(2024, 12, 24, 19, tzinfo=UTC)
    result = _model(shenzhen_settings).run({"track": pabuk}, shenzhen_region, issue)
    assert float(result["probability"].max()) == 0.0
    assert int(result["hazard_level"].max()) == 0
    assert np.isnat(result["arrival_time"].values).all()
    assert float(result["wind_speed"].max()) < 8.0  # a breeze, far below Beaufort 6


def test_a_storm_no_longer_tracked_is_no_hazard(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, data_root
) -> None:
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    issue = datetime(2018, 9, 25, tzinfo=UTC)  # Mangkhut dissipated on 17 September
    result = _model(shenzhen_settings).run({"track": track}, shenzhen_region, issue)
    assert "the storm is no longer tracked" in result.attrs["no_storm"]
    assert float(result["probability"].max()) == 0.0


def test_future_fixes_are_refused(shenzhen_settings, shenzhen_region, data_root) -> None:  # type: ignore[no-untyped-def]
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    with pytest.raises(LookAheadError, match="after the issue time"):
        _model(shenzhen_settings).run(
            {"track": track}, shenzhen_region, datetime(2018, 9, 15, tzinfo=UTC)
        )
    yinxing = _bulletin("cma_wtpq20_babj_yinxing_2024110712.txt")
    with pytest.raises(LookAheadError, match="reference_time"):
        _model(shenzhen_settings).run(
            {"track": yinxing}, shenzhen_region, datetime(2024, 11, 7, 11, tzinfo=UTC)
        )


def test_best_track_without_training_data_is_a_clear_error(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, data_root
) -> None:
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    issue = datetime(2018, 9, 15, tzinfo=UTC)
    with pytest.raises(ModelError, match=r"set options\.training_data"):
        _model(shenzhen_settings, training_data=None).run(
            {"track": track.sel(time=slice(None, "2018-09-15T00:00"))}, shenzhen_region, issue
        )


def test_mangkhut_replayed_with_the_baseline_forecaster(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, data_root
) -> None:
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    issue = datetime(2018, 9, 16, 1, tzinfo=UTC)  # latest fix 00 UTC, known one hour later
    known = track.sel(time=slice(None, "2018-09-16T00:00"))
    result = _model(shenzhen_settings).run({"track": known}, shenzhen_region, issue)
    assert "CLIPER" in result.attrs["forecast_agency"]
    assert "trained on JMA best tracks to 2018-01-01" in result.attrs["forecast_agency"]
    # Mangkhut passed about 110 km south-west of the city as a typhoon on 16 September:
    # gales are all but certain and the red level (Beaufort 12 or gusts 14 within 6 h) is
    # possible somewhere in the city.
    exceed = result["exceedance_probability"]
    assert float(exceed.sel(threshold="Beaufort 8 mean", window="12 h").min()) > 0.8
    red = result["probability"].sel(level="red").isel(lead_time=0)
    assert 0.1 < float(red.max()) < 1.0
    assert int(result["hazard_level"].isel(lead_time=0).max()) >= 3
    hko = _model(shenzhen_settings, scheme="hko-typhoon").run(
        {"track": known}, shenzhen_region, issue
    )
    assert float(hko["probability"].sel(level="no8").isel(lead_time=0).max()) > 0.9


def test_typhoon_scheme_criteria_are_validated() -> None:
    with pytest.raises(ValueError, match="averaging_period applies to winds"):
        Criterion(window="3 h", threshold="50 mm", averaging_period="10 min")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not one of"):
        Criterion(
            variable="sfcWind",
            window="6 h",  # type: ignore[arg-type]
            threshold="17.2 m s-1",
            averaging_period="5 min",
        )
    hk = Criterion(variable="sfcWind", window="12 h", threshold="63 km h-1")  # type: ignore[arg-type]
    assert hk.threshold_value == pytest.approx(17.5)
    distance = Criterion(
        variable="storm_distance",
        window="12 h",  # type: ignore[arg-type]
        threshold="800 km",
        comparison="<=",
    )
    assert distance.describe() == "storm_distance within 12 h <= 800 km"


def test_rainstorm_models_refuse_wind_criteria(shenzhen_settings, shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    scheme = SignalScheme(
        hazard="rainstorm",
        source="a wrong scheme for a test",
        levels=[
            {
                "name": "blue",
                "rank": 1,
                "criteria": [{"variable": "sfcWind", "window": "3 h", "threshold": "10 m s-1"}],
            }
        ],
    )
    from hazard_models.rainstorm.scheme import scheme_windows

    with pytest.raises(ModelError, match=r"tests sfcWind within 3 h .*this model tests pr over"):
        scheme_windows(scheme, np.timedelta64(1, "h").astype(object), "rainstorm-observed")


def test_a_storm_over_land_far_away_decays_to_no_warning(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, data_root
) -> None:
    # Mangkhut's last JMA fixes lie over Guangxi, 500-800 km west of the city, as a
    # weakening depression: the cycle runs and warrants no warning level in the city.
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    known = track.sel(time=slice(None, "2018-09-17T12:00"))
    assert float(known["lon"][-1]) < 108.0
    result = _model(shenzhen_settings).run(
        {"track": known}, shenzhen_region, datetime(2018, 9, 17, 13, tzinfo=UTC)
    )
    assert int(result["hazard_level"].isel(lead_time=0).max()) == 0
    # The baseline forecast fills the low to the ambient pressure within a day: those fixes
    # are named, and they carry no wind.
    assert "is not below the ambient 1010 hPa" in result.attrs["track_problems"]


def test_a_storm_at_its_first_fix_is_forecast_with_the_wider_climatology_spread(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, data_root
) -> None:
    """Dianmu (JMA 1608) was first fixed 300 km east of the city (15 Aug 2016 06 UTC) and
    passed 95 km south of it a day later: the first cycle must give a forecast, not fail."""
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1608"]
    issue = datetime(2016, 8, 15, 7, tzinfo=UTC)  # the first fix, known one hour later
    known = track.sel(time=slice(None, "2016-08-15T06:00"))
    result = _model(shenzhen_settings).run({"track": known}, shenzhen_region, issue)
    assert "climatology alone" in result.attrs["evidence"]
    assert "climatology-alone regressions" in result.attrs["ensemble"]
    # A tropical storm of 996 hPa heading for the coast: gales somewhere in the city within
    # 48 h are a real possibility, and the forecast says so without certainty.
    gale = result["exceedance_probability"].sel(threshold="Beaufort 8 mean", window="48 h")
    assert 0.0 < float(gale.max()) < 1.0
    later = _model(shenzhen_settings).run(
        {"track": track.sel(time=slice(None, "2016-08-15T18:00"))},
        shenzhen_region,
        datetime(2016, 8, 15, 19, tzinfo=UTC),
    )
    assert "motion of the last 12 h" in later.attrs["evidence"]
    assert "climatology-alone" not in later.attrs["ensemble"]


def test_a_stale_bulletin_fails_the_cycle_instead_of_warning(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, yinxing
) -> None:
    """CMA's Yinxing bulletin of 7 Nov 2024 12 UTC used 15 h later: the cycle fails loudly
    (retried and seen) rather than warn from a forecast the agency has long replaced."""
    late = datetime(2024, 11, 8, 3, tzinfo=UTC)
    with pytest.raises(ModelError, match=r"is from 2024-11-07T12:00Z, 15 h before the issue"):
        _model(shenzhen_settings).run({"track": yinxing}, shenzhen_region, late)
    lenient = _model(shenzhen_settings, max_forecast_age="18 h")
    assert "no_storm" not in lenient.run({"track": yinxing}, shenzhen_region, late).attrs
