"""The typhoon analysis (the replays' truth) on JMA's best track of Mangkhut (1822).

Data: ``tc/jma_rsmc_bst_2015_2021jul.txt`` (SOURCES.md 1.2), on the Shenzhen 1-km
community layer. At 2018-09-16 06 UTC JMA puts the centre at 21.7 N 113.5 E, about 110 km
south-west of Futian, with 50-kt winds out to 167 km: Shenzhen inside them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import xarray as xr

from hazard_models import get_model
from hazard_models.errors import ModelError
from ingest.errors import LookAheadError
from ingest.readers.jma_besttrack import read_jma_best_tracks

LATENCY = timedelta(hours=1)  # a fix is known one hour after its time, as in the replays


@pytest.fixture(scope="module")
def mangkhut(data_root) -> xr.Dataset:  # type: ignore[no-untyped-def]
    track: xr.Dataset = read_jma_best_tracks(data_root / "tc/jma_rsmc_bst_2015_2021jul.txt")["1822"]
    return track


def _analyse(settings: Any, region: Any, track: xr.Dataset, issue: datetime) -> xr.Dataset:
    config = settings.hazards["typhoon_analysis"]
    model = get_model(config.model)(settings.signal_schemes[config.scheme], config.options)
    known = track.sel(time=slice(None, issue.replace(tzinfo=None) - LATENCY))
    result: xr.Dataset = model.run({"track": known}, region, issue)
    return result


def test_closest_approach_is_analysed_hour_by_hour(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, mangkhut: xr.Dataset
) -> None:
    result = _analyse(
        shenzhen_settings, shenzhen_region, mangkhut, datetime(2018, 9, 16, 7, tzinfo=UTC)
    )
    # The span: the 6 h up to the latest fix known (06 UTC), hourly.
    assert result.attrs["evaluation_time"] == "2018-09-16T06:00:00Z"
    assert result.attrs["analysed_from"] == "2018-09-16T01:00:00Z"
    assert "not observed winds" in result.attrs["evidence"]
    wind = result["wind_speed"].isel(lead_time=0).values
    # JMA: 50 kt (25.7 m/s, 10 min, at sea) reach Shenzhen's distance. At most the
    # strongest fix bounding the span (80 kt, 41.2 m/s, on the 15th at 18 UTC) plus the
    # share of the forward speed (420 km in 12 h, 9.7 m/s) the asymmetric vortex adds on
    # the right of the track (asymmetry_fraction 0.55).
    assert 25.7 <= wind.max() <= 41.2 + 0.55 * 9.7
    level = result["hazard_level"].isel(lead_time=0).values
    assert (level >= 3).mean() > 0.5  # orange or red over most of the city
    onset = result["onset_time"].sel(level="orange").values
    met = result["probability"].isel(lead_time=0).sel(level="orange").values == 1
    assert (~np.isnat(onset) == met).all()
    span = (np.datetime64("2018-09-16T01:00"), np.datetime64("2018-09-16T06:00"))
    assert ((onset[met] >= span[0]) & (onset[met] <= span[1])).all()
    # A community at a level has met every level below it with a wind criterion.
    probability = result["probability"].isel(lead_time=0)
    red = probability.sel(level="red").values == 1
    assert (probability.sel(level="orange").values[red] == 1).all()


def test_a_storm_1400_km_away_meets_no_gale_level(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, mangkhut: xr.Dataset
) -> None:
    # 14 September 00 UTC: 16 N 126 E, a 905-hPa typhoon east of Luzon.
    result = _analyse(
        shenzhen_settings, shenzhen_region, mangkhut, datetime(2018, 9, 14, 1, tzinfo=UTC)
    )
    assert int(result["hazard_level"].max()) <= 1  # no yellow (Beaufort 8) anywhere
    assert float(result["wind_speed"].max()) < 17.2


def test_fixes_after_the_issue_time_are_refused(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, mangkhut: xr.Dataset
) -> None:
    config = shenzhen_settings.hazards["typhoon_analysis"]
    model = get_model(config.model)(shenzhen_settings.signal_schemes[config.scheme], config.options)
    with pytest.raises(LookAheadError, match="after the issue time"):
        model.run({"track": mangkhut}, shenzhen_region, datetime(2018, 9, 16, 7, tzinfo=UTC))


def test_a_forecast_track_or_a_lost_storm(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, mangkhut: xr.Dataset
) -> None:
    config = shenzhen_settings.hazards["typhoon_analysis"]
    model = get_model(config.model)(shenzhen_settings.signal_schemes[config.scheme], config.options)
    forecast = mangkhut.sel(time=slice(None, "2018-09-16T00:00")).assign_attrs(is_forecast=1)
    with pytest.raises(ModelError, match="needs the best track"):
        model.run({"track": forecast}, shenzhen_region, datetime(2018, 9, 16, 1, tzinfo=UTC))
    # Dissipated on 17 September: nothing met a week later, and the reason is kept.
    later = _analyse(
        shenzhen_settings, shenzhen_region, mangkhut, datetime(2018, 9, 25, tzinfo=UTC)
    )
    assert "no longer tracked" in later.attrs["no_storm"]
    assert int(later["hazard_level"].max()) == 0
