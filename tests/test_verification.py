"""Verification: contingency scores, FSS, Brier/reliability, warning lead times.

Published values asserted here and where they come from:

- Finley (1884) tornado forecasts, a=28, b=72, c=23, d=2680, and the scores quoted on the
  WWRP/WGNE Joint Working Group on Forecast Verification Research page
  https://www.cawcr.gov.au/projects/verification/Finley/Finley_Tornados.html
  ("96.6% of the forecasts were correct", FAR "72%", threat score "23%", Hanssen-Kuipers
  "52%", bias "roughly twice", POD "slightly more than half", random hits "about 2" so
  "the ETS is almost the same as the TS").
- Roberts & Lean (2008, Mon. Wea. Rev. 136, 78-97): FSS = 1 for a perfect forecast, 0 for
  no overlap, FSS_random = f0, FSS_uniform = 0.5 + f0/2, and the large-scale asymptote
  AFSS = 2 f0 fM / (f0^2 + fM^2).
- Murphy (1973) / Wilks (2011, Section 8.4.3): BS = REL - RES + UNC for forecasts issued
  as discrete values.

Real data: KNMI radar composites of 26 Aug 2010 and the Hong Kong Observatory daily
rainfall and rainstorm-warning list, from ``../shared/data`` (see ``SOURCES.md``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hazard_models.verification import (
    ContingencyTable,
    brier_decomposition,
    brier_score,
    brier_skill_score,
    compare_issue_times,
    contingency_from_threshold,
    contingency_table,
    fractions_skill_score,
    fractions_skill_score_by_lead_time,
    fractions_skill_score_target,
    lead_time_summary,
    reliability_table,
    warning_lead_times,
)
from ingest.readers import read_source

FINLEY = ContingencyTable(hits=28, misses=23, false_alarms=72, correct_negatives=2680)
HK_LEVELS = ("Amber", "Red", "Black")


# --------------------------------------------------------------------------- categorical


def test_finley_scores_match_the_wwrp_worked_example() -> None:
    # cawcr.gov.au/projects/verification/Finley/Finley_Tornados.html
    assert FINLEY.total == 2803
    assert round(FINLEY.accuracy, 3) == 0.966  # "96.6% of the forecasts were correct"
    assert round(FINLEY.far, 2) == 0.72  # "72% ... turned out to be false alarms"
    assert round(FINLEY.csi, 2) == 0.23  # "23% of those were correctly forecast"
    assert round(FINLEY.peirce_skill_score, 2) == 0.52  # "52% able to separate"
    assert round(FINLEY.frequency_bias) == 2  # "roughly twice as often"
    assert 0.5 < FINLEY.pod < 0.6  # "slightly more than half"
    # Hand-computed from the same table (Wilks 2011, Section 8.2.2 formulas):
    assert FINLEY.pod == pytest.approx(28 / 51)  # 0.549
    assert FINLEY.frequency_bias == pytest.approx(100 / 51)  # 1.96
    assert FINLEY.pofd == pytest.approx(72 / 2752)
    assert FINLEY.hss == pytest.approx(2 * (28 * 2680 - 72 * 23) / (51 * 2703 + 100 * 2752))
    assert round(FINLEY.hss, 3) == 0.355
    random_hits = 100 * 51 / 2803  # "only about 2 out of a total of 2803"
    assert round(random_hits) == 2
    assert FINLEY.ets == pytest.approx((28 - random_hits) / (123 - random_hits))
    assert round(FINLEY.ets, 3) == 0.216  # "almost the same as the TS" (0.228)


def _finley_arrays() -> tuple[np.ndarray, np.ndarray]:
    forecast = np.array([True] * 28 + [True] * 72 + [False] * 23 + [False] * 2680)
    observed = np.array([True] * 28 + [False] * 72 + [True] * 23 + [False] * 2680)
    return forecast, observed


def test_contingency_table_from_boolean_arrays_counts_finley() -> None:
    forecast, observed = _finley_arrays()
    table = contingency_table(forecast, observed)
    counts = [table.hits, table.misses, table.false_alarms, table.correct_negatives]
    assert [int(value) for value in counts] == [28, 23, 72, 2680]
    assert float(table.csi) == pytest.approx(FINLEY.csi)


def test_contingency_table_per_lead_time_and_mask() -> None:
    forecast, observed = _finley_arrays()
    # Lead time 0: Finley's forecasts; lead time 1: forecast "no tornado" everywhere.
    stacked_forecast = xr.DataArray(
        np.stack([forecast, np.zeros_like(forecast)]), dims=("lead_time", "cell")
    )
    stacked_observed = xr.DataArray(np.stack([observed, observed]), dims=("lead_time", "cell"))
    table = contingency_table(stacked_forecast, stacked_observed, dim="cell")
    assert table.hits.values.tolist() == [28, 0]
    assert table.misses.values.tolist() == [23, 51]
    np.testing.assert_allclose(table.pod.values, [28 / 51, 0.0])
    # No yes-forecast at lead time 1: FAR is undefined, so NaN (not 0, not an error).
    assert np.isnan(table.far.values[1])
    assert table.accuracy.values[1] == pytest.approx(2752 / 2803)  # the critic's 98.2 %
    # The mask drops pairs: keep only the 100 tornado forecasts.
    masked = contingency_table(forecast, observed, mask=forecast)
    assert (int(masked.hits), int(masked.false_alarms), int(masked.misses)) == (28, 72, 0)


def test_contingency_table_is_lazy_and_equal_on_dask() -> None:
    forecast, observed = _finley_arrays()
    eager = contingency_table(
        xr.DataArray(forecast, dims="cell"), xr.DataArray(observed, dims="cell")
    )
    lazy = contingency_table(
        xr.DataArray(forecast, dims="cell").chunk({"cell": 500}),
        xr.DataArray(observed, dims="cell").chunk({"cell": 500}),
    )
    assert lazy.hss.chunks is not None
    assert float(lazy.hss.compute()) == pytest.approx(float(eager.hss))


def test_undefined_scores_are_nan_not_errors() -> None:
    nothing = ContingencyTable(hits=0, misses=0, false_alarms=0, correct_negatives=10)
    for score in ("pod", "far", "csi", "frequency_bias", "hss", "ets"):
        assert np.isnan(getattr(nothing, score)), score
    assert nothing.accuracy == 1.0
    assert nothing.pofd == 0.0
    empty = ContingencyTable(0, 0, 0, 0)
    assert np.isnan(empty.accuracy) and np.isnan(empty.ets)


def test_contingency_from_threshold_excludes_missing_pairs() -> None:
    forecast = xr.DataArray([35.0, 10.0, 40.0, np.nan, 55.0, 0.0], dims="station")
    observed = xr.DataArray([31.0, 33.0, 5.0, 60.0, np.nan, 30.0], dims="station")
    table = contingency_from_threshold(forecast, observed, 30.0, comparison=">")
    # Pairs: (35,31) hit, (10,33) miss, (40,5) false alarm, NaN pairs out, (0,30) not > 30.
    counts = (table.hits, table.misses, table.false_alarms, table.correct_negatives)
    assert tuple(int(value) for value in counts) == (1, 1, 1, 1)
    inclusive = contingency_from_threshold(forecast, observed, 30.0, comparison=">=")
    assert int(inclusive.misses) == 2  # 30 >= 30
    with pytest.raises(TypeError, match="contingency_from_threshold"):
        contingency_table(forecast, observed)
    with pytest.raises(ValueError, match="comparison"):
        contingency_from_threshold(forecast, observed, 30.0, comparison="=>")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- spatial


@pytest.fixture(scope="module")
def radar(data_root: Path) -> xr.DataArray:
    """KNMI 5-min rainfall (mm), 26 Aug 2010 06:00-06:55 UTC, NaN outside radar range."""
    dataset = read_source(
        "knmi-hdf5",
        data_root / "radar/knmi_20100826",
        {"pattern": "RAD_NL25_RAP_5min_2010082606*.h5"},
        "knmi",
    )
    return dataset["pr"].load()


def test_fss_hand_computed_example() -> None:
    # 3 x 3 domain, forecast event at (0, 0), observed at (0, 1); scale 3, zero padding.
    # M = 1/9 on the 4 cells whose window holds (0, 0); O = 1/9 on the 6 cells whose
    # window holds (0, 1). FBS sum = 2 * (1/9)^2, worst sum = (4 + 6) / 81, FSS = 0.8.
    forecast = np.zeros((3, 3))
    forecast[0, 0] = 1.0
    observed = np.zeros((3, 3))
    observed[0, 1] = 1.0
    assert fractions_skill_score(forecast, observed, 1.0, 1) == 0.0  # no overlap
    assert fractions_skill_score(forecast, observed, 1.0, 3) == pytest.approx(0.8)


def test_fss_asymptote_at_domain_scale() -> None:
    # Roberts & Lean: at n = 2N - 1 every window covers the whole domain, so
    # FSS = AFSS = 2 f0 fM / (f0^2 + fM^2); 3 forecast events vs 1 observed -> 0.6.
    forecast = np.zeros((5, 5))
    forecast[0, :3] = 1.0
    observed = np.zeros((5, 5))
    observed[4, 4] = 1.0
    f_model, f_observed = 3 / 25, 1 / 25
    afss = 2 * f_observed * f_model / (f_observed**2 + f_model**2)
    assert afss == pytest.approx(0.6)
    assert fractions_skill_score(forecast, observed, 1.0, 9) == pytest.approx(afss)
    # An unbiased but displaced forecast reaches 1 at that scale.
    shifted = np.zeros((5, 5))
    shifted[4, :3] = 1.0
    assert fractions_skill_score(forecast, shifted, 1.0, 1) == 0.0
    assert fractions_skill_score(forecast, shifted, 1.0, 9) == pytest.approx(1.0)


def test_fss_random_forecast_scores_its_base_rate() -> None:
    # Roberts & Lean: FSS_random = f0 at the grid scale; the useful target is 0.5 + f0/2.
    rng = np.random.default_rng(20080101)
    base_rate = 0.2
    observed = (rng.random((400, 400)) < base_rate).astype(float)
    forecast = (rng.random((400, 400)) < base_rate).astype(float)
    assert fractions_skill_score(forecast, observed, 1.0, 1) == pytest.approx(base_rate, abs=0.01)
    assert fractions_skill_score_target(base_rate) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="share"):
        fractions_skill_score_target(20.0)


def test_fss_on_real_radar_persistence(radar: xr.DataArray) -> None:
    observed = radar.sel(time="2010-08-26T06:30").values
    forecast = radar.sel(time="2010-08-26T06:00").values  # 30-min persistence
    threshold = 0.2  # mm in 5 min, i.e. 2.4 mm/h
    assert fractions_skill_score(observed, observed, threshold, 1) == 1.0
    scores = [fractions_skill_score(forecast, observed, threshold, n) for n in (1, 5, 11, 21, 41)]
    assert all(0.0 < score < 1.0 for score in scores)
    assert np.all(np.diff(scores) > 0), scores  # skill grows towards the asymptote
    # NaN pixels are left out of both fields: blanking the forecast where it rains keeps
    # a perfect forecast perfect (counting the holes as "no rain" would not).
    holes = observed.copy()
    holes[observed >= threshold * 2] = np.nan
    assert fractions_skill_score(holes, observed, threshold, 5) == 1.0
    with pytest.raises(ValueError, match="odd width"):
        fractions_skill_score(forecast, observed, threshold, 4)
    with pytest.raises(ValueError, match="same shape"):
        fractions_skill_score(forecast, observed[:-1], threshold, 3)


def test_fss_by_lead_time_matches_2d_and_dask(radar: xr.DataArray) -> None:
    issue = radar.isel(time=0, drop=True)
    observed = radar.isel(time=slice(1, 7))
    lead_times = pd.to_timedelta((observed["time"] - radar["time"][0]).values)
    observed = observed.rename(time="lead_time").assign_coords(lead_time=lead_times)
    forecast = issue.expand_dims(lead_time=lead_times)
    eager = fractions_skill_score_by_lead_time(forecast, observed, 0.2, 11)
    assert eager.dims == ("lead_time",)
    expected = [
        fractions_skill_score(forecast.values[i], observed.values[i], 0.2, 11) for i in range(6)
    ]
    np.testing.assert_allclose(eager.values, expected)
    lazy = fractions_skill_score_by_lead_time(
        forecast.chunk({"lead_time": 2}), observed.chunk({"lead_time": 2}), 0.2, 11
    )
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.compute().values, eager.values)
    assert eager.attrs["scale_pixels"] == 11


# --------------------------------------------------------------------------- probabilistic


def test_brier_and_reliability_hand_checked() -> None:
    probability = np.array([0.05, 0.15, 0.15, 0.85, 0.95])
    observed = np.array([0, 0, 1, 1, 1])
    # BS = (0.05^2 + 0.15^2 + 0.85^2 + 0.15^2 + 0.05^2) / 5 = 0.7725 / 5
    assert float(brier_score(probability, observed)) == pytest.approx(0.1545)
    table = reliability_table(probability, observed, bins=10)
    assert table["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 1, 1]
    np.testing.assert_allclose(table["forecast_mean"].iloc[[0, 1, 8, 9]], [0.05, 0.15, 0.85, 0.95])
    np.testing.assert_allclose(table["observed_frequency"].iloc[[0, 1, 8, 9]], [0, 0.5, 1, 1])
    assert table["observed_frequency"].iloc[2:8].isna().all()
    parts = brier_decomposition(probability, observed, bins=10)
    # REL = (0.05^2 + 2 * 0.35^2 + 0.15^2 + 0.05^2) / 5; RES = (0.36 + 2 * 0.01 + 0.32) / 5
    assert parts.reliability == pytest.approx(0.0545)
    assert parts.resolution == pytest.approx(0.14)
    assert parts.uncertainty == pytest.approx(0.24)
    # BSS against the sample climatology 0.6: 1 - 0.1545 / 0.24
    assert float(brier_skill_score(probability, observed)) == pytest.approx(0.35625)
    assert float(brier_skill_score(probability, observed, climatology=0.6)) == pytest.approx(
        0.35625
    )
    assert float(brier_skill_score(probability, observed, climatology=0.5)) == pytest.approx(
        1 - 0.1545 / 0.25
    )


def test_brier_missing_and_degenerate_cases() -> None:
    observed = xr.DataArray([1.0, np.nan, 0.0], dims="day")
    probability = xr.DataArray([0.8, 0.3, np.nan], dims="day")
    assert float(brier_score(probability, observed)) == pytest.approx(0.04)
    # The event always happened: the sample-climatology reference is perfect, BSS is NaN.
    assert np.isnan(float(brier_skill_score([0.7, 0.9], [1, 1])))
    with pytest.raises(ValueError, match="outside"):
        reliability_table([0.5, 50.0], [0, 1])


@pytest.fixture(scope="module")
def hko_daily_rain(data_root: Path) -> pd.Series:
    """HKO Headquarters daily rainfall (mm) since 1884; Trace -> 0, unavailable -> NaN."""
    raw = pd.read_csv(
        data_root / "obs/hko/daily_HKO_RF_ALL.csv",
        skiprows=2,
        names=["year", "month", "day", "value", "completeness"],
        dtype=str,
    )
    raw = raw[pd.to_numeric(raw["year"], errors="coerce").notna()]
    values = pd.to_numeric(raw["value"].replace("Trace", "0"), errors="coerce")
    # The file holds one impossible date (1900-02-29): coerced to NaT and dropped.
    index = pd.to_datetime(raw[["year", "month", "day"]].astype(int), errors="coerce")
    series = pd.Series(values.to_numpy(), index=index)
    return series[series.index.notna()].sort_index()


def test_brier_decomposition_identity_on_hko_rainfall(hko_daily_rain: pd.Series) -> None:
    # A persistence forecast of "rain day" (>= 1 mm): a logistic of yesterday's rainfall,
    # issued as the 10 discrete probabilities 0.05, 0.15, ..., 0.95 (one per bin), for
    # which Murphy's (1973) partition BS = REL - RES + UNC is exact (Wilks 2011, 8.4.3).
    yesterday = hko_daily_rain.shift(1)
    continuous = 1.0 / (1.0 + np.exp(-(-1.2 + 0.9 * np.log1p(yesterday))))
    discrete = (np.floor(continuous * 10).clip(0, 9) + 0.5) / 10
    rain_day = (hko_daily_rain >= 1.0).astype(float).where(hko_daily_rain.notna())
    probability = xr.DataArray(discrete.to_numpy(), dims="day")
    observed = xr.DataArray(rain_day.to_numpy(), dims="day")
    assert int((probability.notnull() & observed.notnull()).sum()) > 45_000
    parts = brier_decomposition(probability, observed, bins=10)
    assert parts.brier_score == pytest.approx(
        parts.reliability - parts.resolution + parts.uncertainty, abs=1e-12
    )
    # and BSS against the sample climatology = (RES - REL) / UNC
    assert float(brier_skill_score(probability, observed)) == pytest.approx(
        (parts.resolution - parts.reliability) / parts.uncertainty, abs=1e-12
    )
    # With continuous probabilities binned, the partition is only approximate.
    loose = brier_decomposition(xr.DataArray(continuous.to_numpy(), dims="day"), observed)
    gap = loose.brier_score - (loose.reliability - loose.resolution + loose.uncertainty)
    assert abs(gap) > 1e-6


# --------------------------------------------------------------------------- lead time


@pytest.fixture(scope="module")
def hko_july_2025(data_root: Path) -> pd.DataFrame:
    """The real HKO rainstorm warnings that started in July 2025, times in UTC."""
    warnings = pd.read_csv(
        data_root / "warnings/hko_rainstorm_warnings_1998_2025jul.csv",
        parse_dates=["start", "end"],
    )
    july = warnings[warnings["start"] >= "2025-07-01"].copy()
    for column in ("start", "end"):
        july[column] = july[column].dt.tz_localize("Asia/Hong_Kong").dt.tz_convert("UTC")
    return july.rename(columns={"signal": "level"}).assign(area="Hong Kong")


def _hkt(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="Asia/Hong_Kong").tz_convert("UTC")


def _onsets() -> pd.DataFrame:
    # Observed onsets, chosen by hand against the real warning times (HKT).
    rows = [
        ("Amber", "2025-07-09 23:30"),  # Amber from 23:00          -> +30 min
        ("Amber", "2025-07-10 09:00"),  # Amber from 08:35          -> +25 min
        ("Amber", "2025-07-15 14:00"),  # no warning                -> miss
        ("Amber", "2025-07-29 08:00"),  # Amber only from 08:05     -> late, -5 min
        ("Red", "2025-07-10 10:00"),  # Red from 09:36              -> +24 min
        ("Red", "2025-07-10 14:00"),  # Red from 12:40              -> +80 min
        ("Red", "2025-07-29 08:50"),  # Red from 08:40 (then Black) -> +10 min
        ("Black", "2025-07-29 09:40"),  # Black from 09:10          -> +30 min
    ]
    return pd.DataFrame(
        {
            "area": "Hong Kong",
            "level": [level for level, _ in rows],
            "onset": [_hkt(time) for _, time in rows],
        }
    )


def test_warning_lead_times_on_real_hko_warnings(hko_july_2025: pd.DataFrame) -> None:
    assert len(hko_july_2025) == 21
    table = warning_lead_times(hko_july_2025, _onsets(), HK_LEVELS)
    assert list(table.columns) == ["area", "level", "onset", "first_warned", "lead_time", "outcome"]
    hits = table[table["outcome"] == "hit"]
    minutes = dict(
        zip(
            zip(
                hits["level"],
                hits["onset"].dt.tz_convert("Asia/Hong_Kong").dt.strftime("%d %H:%M"),
                strict=True,
            ),
            hits["lead_time"].dt.total_seconds() / 60,
            strict=True,
        )
    )
    assert minutes == {
        ("Amber", "09 23:30"): 30,
        ("Amber", "10 09:00"): 25,
        ("Amber", "29 08:00"): -5,
        ("Red", "10 10:00"): 24,
        ("Red", "10 14:00"): 80,
        ("Red", "29 08:50"): 10,
        ("Black", "29 09:40"): 30,
    }
    miss = table[table["outcome"] == "miss"]
    assert len(miss) == 1 and miss["lead_time"].iloc[0] == pd.Timedelta(0)
    assert miss["first_warned"].isna().all()
    # False alarms: >= Amber periods starting 18, 20, 22, 25 Jul; >= Red 9, 20, 25 Jul.
    false_alarms = table[table["outcome"] == "false_alarm"]
    starts = false_alarms["first_warned"].dt.tz_convert("Asia/Hong_Kong").dt.strftime("%d %H:%M")
    assert dict(zip(starts, false_alarms["level"], strict=True)) == {
        "18 11:15": "Amber",
        "20 15:10": "Amber",
        "22 20:00": "Amber",
        "25 19:10": "Amber",
        "09 23:45": "Red",
        "20 15:45": "Red",
        "25 19:40": "Red",
    }

    summary = lead_time_summary(table)
    amber, red, black = (summary.loc[level] for level in HK_LEVELS)
    assert (amber["hits"], amber["misses"], amber["false_alarms"]) == (3, 1, 4)
    assert (amber["pod"], amber["far"], amber["csi"]) == pytest.approx((3 / 4, 4 / 7, 3 / 8))
    # Amber lead times [30, 25, -5, 0 (miss)]: median 12.5, p10 -3.5, p90 28.5 (linear).
    assert amber["median_lead_time_min"] == pytest.approx(12.5)
    assert amber["p10_lead_time_min"] == pytest.approx(-3.5)
    assert amber["p90_lead_time_min"] == pytest.approx(28.5)
    assert amber["share_lead_time_at_least_target"] == 0.0
    assert (red["pod"], red["far"], red["csi"]) == pytest.approx((1.0, 0.5, 0.5))
    assert red["median_lead_time_min"] == pytest.approx(24.0)
    assert red["mean_lead_time_min"] == pytest.approx(38.0)
    assert red["share_lead_time_at_least_target"] == pytest.approx(1 / 3)
    assert (black["pod"], black["far"], black["csi"]) == (1.0, 0.0, 1.0)


def test_late_warning_without_grace_is_a_miss_and_a_false_alarm(
    hko_july_2025: pd.DataFrame,
) -> None:
    table = warning_lead_times(hko_july_2025, _onsets(), HK_LEVELS, late_window=timedelta(0))
    amber = lead_time_summary(table).loc["Amber"]
    assert (amber["hits"], amber["misses"], amber["false_alarms"]) == (2, 2, 5)


def test_lead_time_inputs_are_checked(hko_july_2025: pd.DataFrame) -> None:
    naive = _onsets().assign(onset=lambda frame: frame["onset"].dt.tz_localize(None))
    with pytest.raises(ValueError, match="timezone-naive"):
        warning_lead_times(hko_july_2025, naive, HK_LEVELS)
    with pytest.raises(ValueError, match=r"level\(s\) \['Purple'\]"):
        warning_lead_times(hko_july_2025, _onsets().assign(level="Purple"), HK_LEVELS)
    with pytest.raises(ValueError, match="lacks column"):
        warning_lead_times(hko_july_2025.drop(columns="end"), _onsets(), HK_LEVELS)


def test_compare_issue_times_against_real_hko_july_2025(hko_july_2025: pd.DataFrame) -> None:
    theirs = hko_july_2025.drop(columns=["area", "duration_min"])
    # Ours: every signal decided 20 min earlier, the 18 Jul Amber missed, and an extra
    # Amber on 27 Jul that HKO never issued.
    ours = theirs.assign(start=theirs["start"] - pd.Timedelta(minutes=20))
    ours = ours[ours["start"].dt.tz_convert("Asia/Hong_Kong").dt.day != 18]
    extra = pd.DataFrame(
        {"level": ["Amber"], "start": [_hkt("2025-07-27 12:00")], "end": [_hkt("2025-07-27 13:00")]}
    )
    ours = pd.concat([ours, extra], ignore_index=True)
    result = compare_issue_times(ours, theirs, HK_LEVELS)
    assert "area" not in result.columns
    assert result["level"].value_counts().to_dict() == {"Amber": 8, "Red": 6, "Black": 1}
    paired = result.dropna(subset=["our_start", "their_start"])
    assert len(paired) == 13
    assert (paired["difference"] == pd.Timedelta(minutes=-20)).all()
    # The >= Red period of 29 Jul runs Red 08:40 -> Black -> Red until 11:45 HKT.
    red_29 = paired[(paired["level"] == "Red") & (paired["their_end"] == _hkt("2025-07-29 11:45"))]
    assert red_29["their_start"].tolist() == [_hkt("2025-07-29 08:40")]
    unpaired_theirs = result[result["our_start"].isna()]
    assert unpaired_theirs["their_start"].tolist() == [_hkt("2025-07-18 11:15")]
    unpaired_ours = result[result["their_start"].isna()]
    assert unpaired_ours["our_start"].tolist() == [_hkt("2025-07-27 12:00")]
    assert unpaired_ours["difference"].isna().all()


def test_warnings_without_any_observed_event_are_all_false_alarms(
    hko_july_2025: pd.DataFrame,
) -> None:
    # HKO's own July 2025 periods against a truth that saw nothing (e.g. a one-cycle replay).
    nothing = _onsets().iloc[:0]
    table = warning_lead_times(hko_july_2025, nothing, HK_LEVELS)
    assert (table["outcome"] == "false_alarm").all() and len(table) > 0
    assert pd.api.types.is_timedelta64_dtype(table["lead_time"]) and table["lead_time"].isna().all()
    summary = lead_time_summary(table)
    assert (summary["hits"] == 0).all() and (summary["far"] == 1.0).all()
