"""The ``rainstorm-nowcast`` hazard model on 100 × 100 km of the KNMI radar event.

Data: the KNMI composites of 2010-08-26 (SOURCES.md §7.1), cropped around the event's
wettest pixel (the ``knmi_crop`` fixture), with 10 × 10 km blocks as communities. The frames
after the issue time are the truth the forecast probabilities are checked against.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import xarray as xr

from hazard_models import get_model
from hazard_models.config import SignalScheme
from hazard_models.errors import ModelError
from hazard_models.rainstorm import nowcast as nowcast_module

ISSUE = datetime(2010, 8, 26, 4, 30, tzinfo=UTC)
# Thresholds low enough for a Dutch summer storm: they test the machinery, they are not a
# warning scheme anyone uses (the demo configuration uses Hong Kong's).
SCHEME = SignalScheme.model_validate(
    {
        "hazard": "rainstorm",
        "source": "test thresholds for the KNMI crop (not an agency scheme)",
        "levels": [
            {"name": "wet", "rank": 1, "criteria": [{"window": "1 h", "threshold": "5 mm"}]},
            {"name": "very wet", "rank": 2, "criteria": [{"window": "1 h", "threshold": "10 mm"}]},
        ],
    }
)
OPTIONS = {"members": 8, "lead_time": "1 h", "areal_statistic": "max", "seed": 3}


@pytest.fixture(scope="module")
def nowcast(knmi_crop):  # type: ignore[no-untyped-def]
    crop, region = knmi_crop
    model = get_model("rainstorm-nowcast")(SCHEME, OPTIONS)
    available = crop.sel(time=slice(None, "2010-08-26T04:30"))
    return model.run({"radar": available}, region, ISSUE)


def test_lead_zero_is_the_observed_state(knmi_crop, nowcast: xr.Dataset) -> None:  # type: ignore[no-untyped-def]
    crop, region = knmi_crop
    observed = get_model("rainstorm-observed")(SCHEME, {"areal_statistic": "max"}).run(
        {"pr": crop.sel(time=slice(None, "2010-08-26T04:30"))}, region, ISSUE
    )
    np.testing.assert_allclose(
        nowcast["accumulation"].isel(lead_time=0).sel(window="1 h").values,
        observed["accumulation"].isel(lead_time=0).sel(window="1 h").values,
        rtol=1e-5,
    )
    known = np.isfinite(observed["probability"].isel(lead_time=0).values)
    np.testing.assert_array_equal(
        nowcast["probability"].isel(lead_time=0).values[known],
        observed["probability"].isel(lead_time=0).values[known],
    )


def test_shape_units_and_onsets(nowcast: xr.Dataset) -> None:
    assert nowcast.sizes["lead_time"] == 13  # 0, 5 ... 60 min
    assert str(nowcast["valid_time"].values[-1]) == "2010-08-26T05:30:00.000000000"
    probability = nowcast["probability"].values
    finite = probability[np.isfinite(probability)]
    assert finite.min() >= 0 and finite.max() <= 1 and 0 < finite.mean() < 1
    onset = nowcast["onset_time"].sel(level="wet").values
    forecast = (nowcast["probability"].sel(level="wet") >= 0.5).any("lead_time").values
    assert np.isnat(onset[~forecast]).all() and not np.isnat(onset[forecast]).any()
    assert (onset[forecast] >= np.datetime64("2010-08-26T04:30")).all()
    assert nowcast.attrs["blending"].startswith("none")
    assert nowcast.attrs["model"] == "rainstorm-nowcast"


@pytest.mark.parametrize(("issue", "later"), [("04:30", "05:00"), ("05:00", "05:30")])
def test_probabilities_are_higher_where_the_level_was_then_observed(
    knmi_crop,  # type: ignore[no-untyped-def]
    issue: str,
    later: str,
) -> None:
    # Truth: the observed model 30 minutes later, on frames the nowcast never saw.
    # Measured when written: mean probability of "wet" at +30 min was 0.34 where it then
    # happened vs 0.03 where it did not (04:30), and 0.77 vs 0.02 (05:00). At +60 min on this
    # 100-km crop most blocks are unknown (rain advected in from outside the crop).
    crop, region = knmi_crop
    at = datetime.fromisoformat(f"2010-08-26T{issue}+00:00")
    then = datetime.fromisoformat(f"2010-08-26T{later}+00:00")
    model = get_model("rainstorm-nowcast")(SCHEME, OPTIONS)
    result = model.run({"radar": crop.sel(time=slice(None, at.replace(tzinfo=None)))}, region, at)
    truth = get_model("rainstorm-observed")(SCHEME, {"areal_statistic": "max"}).run(
        {"pr": crop.sel(time=slice(None, then.replace(tzinfo=None)))}, region, then
    )
    happened = truth["probability"].isel(lead_time=0).sel(level="wet").values == 1
    forecast = result["probability"].sel(level="wet").sel(lead_time=np.timedelta64(30, "m"))
    assert 0 < happened.sum() < happened.size
    assert np.nanmean(forecast.values[happened]) > np.nanmean(forecast.values[~happened]) + 0.25


def test_same_seed_same_result_and_a_dry_field_gives_zero(knmi_crop) -> None:  # type: ignore[no-untyped-def]
    crop, region = knmi_crop
    model = get_model("rainstorm-nowcast")(SCHEME, OPTIONS)
    available = crop.sel(time=slice("2010-08-26T03:00", "2010-08-26T04:30"))
    first = model.run({"radar": available}, region, ISSUE)
    nowcast_module._ENSEMBLES.clear()  # the same rainfall would reuse the first ensemble
    again = model.run({"radar": available.chunk({"y": 50, "x": 50})}, region, ISSUE)
    xr.testing.assert_allclose(first, again)
    dry = available.assign(pr=available["pr"].where(available["pr"].isnull(), 0.0))
    result = model.run({"radar": dry}, region, ISSUE)
    assert result.attrs["motion_quality"] == "no_rain"
    assert np.nanmax(result["probability"].values) == 0
    assert (result["hazard_level"].values == 0).all()


def test_nowcast_beats_persistence_at_30_and_60_minutes(data_root) -> None:  # type: ignore[no-untyped-def]
    # The whole KNMI grid, issued 04:00 UTC from the frames up to 04:00; the later frames of
    # the event are the truth. Measured when written (CSI at 1 mm/h): 0.58 vs 0.27 at 30
    # min, 0.43 vs 0.12 at 60 min for extrapolation vs Eulerian persistence.
    from hazard_models.rainstorm.skill import nowcast_skill
    from ingest.readers import read_source

    radar = read_source("knmi-hdf5", data_root / "radar/knmi_20100826", {}, "knmi")
    scores = nowcast_skill(radar, datetime(2010, 8, 26, 4, tzinfo=UTC))
    for lead in (30.0, 60.0):
        row = scores.loc[lead]
        assert row["csi_1_nowcast"] > row["csi_1_persistence"] + 0.1
        assert row["fss_nowcast"] > row["fss_persistence"] + 0.1
    assert list(scores.index) == [10.0 * k for k in range(1, 13)]


def test_nwp_takes_over_beyond_the_ramp(knmi_crop) -> None:  # type: ignore[no-untyped-def]
    # No NWP rainfall exists in the shared data, so the later radar frames stand in for a
    # perfect NWP run issued at 04:30 (a test of the wiring, not of any NWP). With the
    # ramp ending at 5 min (starting at 1 s: durations must be positive) the forecast
    # beyond it is that "NWP", so the probabilities at +30 min must equal what the
    # observed model then found, block by block.
    crop, region = knmi_crop
    at = datetime(2010, 8, 26, 4, 30, tzinfo=UTC)
    later = crop["pr"].sel(time=slice("2010-08-26T04:35", "2010-08-26T05:30"))
    leads = later["time"].values - np.datetime64("2010-08-26T04:30", "ns")
    nwp = xr.Dataset(
        {"pr": (("reference_time", "lead_time", "y", "x"), later.values[np.newaxis])},
        coords={
            "reference_time": [np.datetime64("2010-08-26T04:30", "ns")],
            "lead_time": leads,
            "valid_time": (("reference_time", "lead_time"), later["time"].values[np.newaxis]),
            "y": crop["y"],
            "x": crop["x"],
        },
        attrs={"crs": crop.attrs["crs"], "source": "later KNMI frames standing in for NWP"},
    )
    nwp["pr"].attrs = dict(crop["pr"].attrs)
    options = {**OPTIONS, "nwp_ramp_start": "1 s", "nwp_skill_horizon": "5 min"}
    model = get_model("rainstorm-nowcast")(SCHEME, options)
    radar = crop.sel(time=slice(None, "2010-08-26T04:30"))
    result = model.run({"radar": radar, "nwp": nwp}, region, at)
    assert result.attrs["blending"].startswith("linear weight from 1 s to 300 s")
    truth = get_model("rainstorm-observed")(SCHEME, {"areal_statistic": "max"}).run(
        {"pr": crop.sel(time=slice(None, "2010-08-26T05:00"))},
        region,
        datetime(2010, 8, 26, 5, tzinfo=UTC),
    )
    expected = truth["probability"].isel(lead_time=0).values
    got = result["probability"].sel(lead_time=np.timedelta64(30, "m")).values
    known = np.isfinite(expected) & np.isfinite(got)
    assert known.sum() > 50
    np.testing.assert_array_equal(got[known], expected[known])


def test_a_failing_hazard_does_not_cost_the_others_their_cycle(
    data_root,
    tmp_path,
    cache_dir,  # type: ignore[no-untyped-def]
) -> None:
    # The nowcast reads a copy of the KNMI folder in which one frame was delivered twice,
    # the second time under the next frame's name: its reader refuses the folder. The
    # observed hazard reads the real folder and must still produce its result; the failure
    # is reported, not hidden.
    import shutil
    from pathlib import Path

    from hazard_models.region import load_region
    from yujing.pipeline import run_cycle
    from yujing.settings import load_settings

    repo = Path(__file__).resolve().parents[1]
    settings = load_settings(repo / "configs/knmi-demo.yaml", data_root=data_root)
    folder = tmp_path / "radar"
    folder.mkdir()
    source = data_root / "radar/knmi_20100826"
    for name in ("RAD_NL25_RAP_5min_201008260350.h5", "RAD_NL25_RAP_5min_201008260355.h5"):
        shutil.copy(source / name, folder / name)
    shutil.copy(
        source / "RAD_NL25_RAP_5min_201008260355.h5", folder / "RAD_NL25_RAP_5min_201008260400.h5"
    )
    broken = settings.sources["knmi_radar"].model_copy(update={"path": folder})
    nowcast = settings.hazards["rainstorm_nowcast"].model_copy(update={"inputs": {"radar": "dup"}})
    settings = settings.model_copy(
        update={
            "sources": {**settings.sources, "dup": broken},
            "hazards": {"rainstorm": settings.hazards["rainstorm"], "rainstorm_nowcast": nowcast},
        }
    )
    region = load_region(settings.region, settings.communities, cache_dir)
    issue = datetime(2010, 8, 26, 4, tzinfo=UTC)
    cycle = run_cycle(settings, issue, output_dir=tmp_path / "out", region=region)
    assert list(cycle.results) == ["rainstorm"]
    assert "is also the time of" in cycle.failures["rainstorm_nowcast"]


def test_ensemble_probabilities_have_skill_over_the_base_rate(data_root) -> None:  # type: ignore[no-untyped-def]
    # Pixel probabilities of >= 1 mm/h from 20 members issued at 03:55 (the frame available
    # at 04:00), scored on the later frames. Measured when written: Brier skill score 0.57
    # at 30 min and 0.34 at 60 min against the sample base rate (about 0.17).
    from hazard_models.rainstorm.skill import probability_skill
    from ingest.readers import read_source

    radar = read_source("knmi-hdf5", data_root / "radar/knmi_20100826", {}, "knmi")
    scores, reliability = probability_skill(radar, datetime(2010, 8, 26, 3, 55, tzinfo=UTC))
    assert scores.loc[30.0, "brier_skill_score"] > 0.4
    assert scores.loc[60.0, "brier_skill_score"] > 0.2
    assert reliability["count"].sum() == scores["pairs"].sum()


def test_community_window_totals_equal_a_plain_rolling_sum(knmi_crop) -> None:  # type: ignore[no-untyped-def]
    # Observed rain to the issue time, then an 8-member ensemble: the window total at lead
    # k is the plain sum of the 12 intervals ending there (observed gaps as 0, an unknown
    # forecast cell unknown), aggregated by the community maximum and mean.
    from hazard_models.rainstorm.ensemble import ensemble_nowcast
    from hazard_models.rainstorm.motion import estimate_motion

    crop, region = knmi_crop
    observed = crop["pr"].sel(time=slice("2010-08-26T03:30", "2010-08-26T04:30"))
    rate = (observed * 12.0).assign_attrs(units="mm h-1")
    frames = rate.isel(time=slice(-3, None))
    members = ensemble_nowcast(frames, estimate_motion(frames), n_members=8, n_steps=9, seed=5)
    forecast = (members / 12.0).transpose("member", "lead_time", "y", "x")
    amounts = forecast.values
    assert np.isnan(amounts).any() and (amounts > 0).any()  # edges unknown, rain inside
    history = np.nan_to_num(observed.values[-12:])
    for statistic in ("max", "mean"):
        got = nowcast_module._community_window_totals(
            observed, forecast, 12, region.weights, statistic
        ).values
        assert got.shape == (8, 10, region.weights.n_community)
        for member in (0, 7):
            series = np.concatenate([history, amounts[member]])
            expected = np.stack([series[k : k + 12].sum(axis=0) for k in range(10)])
            field = xr.DataArray(expected, dims=("lead_time", "y", "x"))
            want = region.weights.apply(field, statistic).values
            np.testing.assert_allclose(got[member], want, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_each_level_is_warned_from_its_own_probability(knmi_crop, nowcast) -> None:  # type: ignore[no-untyped-def]
    """Per-level ``warn_probability`` ('wet' from 0.2, 'very wet' from 0.9) on the same
    ensemble (shared per cycle): the probabilities are the fixture's (every level from
    0.5), the levels and onsets follow each level's own threshold. (At 04:30 no block of
    the crop has any chance of 'very wet'; 'wet' has probabilities between 0.2 and 0.5.)"""
    crop, region = knmi_crop
    options = {**OPTIONS, "warn_probability": {"wet": 0.2, "very wet": 0.9}}
    model = get_model("rainstorm-nowcast")(SCHEME, options)
    result = model.run({"radar": crop.sel(time=slice(None, "2010-08-26T04:30"))}, region, ISSUE)

    xr.testing.assert_identical(result["probability"], nowcast["probability"])
    wet = nowcast["probability"].sel(level="wet").values
    very_wet = nowcast["probability"].sel(level="very wet").values
    between = (wet >= 0.2) & (wet < 0.5)
    assert between.sum() > 10
    assert (nowcast["hazard_level"].values[between] == 0).all()
    expected = np.where(very_wet >= 0.9, 2, np.where(wet >= 0.2, 1, 0))
    np.testing.assert_array_equal(result["hazard_level"].values, expected)
    assert result["hazard_level"].attrs["comment"] == "warn_probability: wet 0.2, very wet 0.9"
    earlier = result["onset_time"].sel(level="wet").values
    before = nowcast["onset_time"].sel(level="wet").values
    both = ~np.isnat(before)
    assert (earlier[both] <= before[both]).all() and (~np.isnat(earlier)).sum() > both.sum()


def test_per_level_probabilities_must_name_every_level_of_the_scheme() -> None:
    from hazard_models.errors import ModelError

    with pytest.raises(ModelError, match=r"names \['black'\].*lacks \['very wet'\]"):
        get_model("rainstorm-nowcast")(SCHEME, {"warn_probability": {"wet": 0.5, "black": 0.2}})


def test_a_cycle_off_the_radar_cadence_starts_from_the_newest_frame_or_says_why(
    knmi_crop,  # type: ignore[no-untyped-def]
) -> None:
    # The 6-minute warning DAG on 5-minute KNMI frames with a 5-minute delivery delay: at
    # 04:31 the newest frame delivered is 04:25, six minutes old.
    crop, region = knmi_crop
    delivered = crop.sel(time=slice(None, "2010-08-26T04:25"))
    off_cadence = datetime(2010, 8, 26, 4, 31, tzinfo=UTC)
    strict = get_model("rainstorm-nowcast")(SCHEME, OPTIONS)
    with pytest.raises(ModelError, match="radar frame of 2010-08-26T04:30Z, which has no data"):
        strict.run({"radar": delivered}, region, off_cadence)
    patient = get_model("rainstorm-nowcast")(SCHEME, {**OPTIONS, "max_age": "10 min"})
    late = patient.run({"radar": delivered}, region, off_cadence)
    on_time = patient.run({"radar": delivered}, region, datetime(2010, 8, 26, 4, 25, tzinfo=UTC))
    assert late.attrs["evaluation_time"] == "2010-08-26T04:25:00Z"
    assert str(late["valid_time"].values[0]) == "2010-08-26T04:25:00.000000000"
    xr.testing.assert_identical(late["probability"], on_time["probability"])
    assert np.isfinite(late["probability"].values).any()
