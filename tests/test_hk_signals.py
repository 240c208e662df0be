"""Hong Kong July 2025 check: district hourly rainfall, HKO's warnings, our signals.

Real files (SOURCES.md §3.1, §4.1, §4.1b); each asserted value cites the line of the file
it is read from (line 1 is the header). Bad-row tests write corrupted copies into
``tmp_path``. Offline and deterministic.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hazard_models.errors import ModelError
from hazard_models.rainstorm import hk_signals
from ingest.contracts import accumulation_interval, validate_station_obs
from ingest.errors import SourceError
from ingest.readers import read_source
from ingest.readers.hko_district_hourly import HkoDistrictHourlyOptions, HkoDistrictHourlyReader
from ingest.readers.hko_warnings import HkoWarningsOptions, HkoWarningsReader, read_hko_warnings

HOURLY = Path("obs/hko/hko_district_hourly_rainfall_202507.csv")
WARNINGS = Path("warnings/hko_rainstorm_warnings_1998_2025jul.csv")
DAILY = Path("obs/hko/daily_HKO_RF_ALL.csv")
# Hong Kong Observatory Headquarters (HKO list of weather stations), as in test_readers.py.
DAILY_OPTIONS: dict[str, Any] = {
    "station_id": "HKO",
    "station_name": "Hong Kong Observatory Headquarters",
    "lat": 22.3019,
    "lon": 114.1742,
    "elevation": "32 m",
    "station_source": "HKO list of weather stations (Hong Kong Observatory Headquarters)",
}


def _read_hourly(path: Path) -> xr.Dataset:
    return HkoDistrictHourlyReader().read(path, HkoDistrictHourlyOptions(), "hko-district")


def _value(ds: xr.Dataset, name: str, district: str, utc: str) -> Any:
    station = list(ds["station_id"].values).index(f"district:{district}")
    return ds[name].isel(station=station).sel(time=np.datetime64(utc, "ns")).item()


def _flag(ds: xr.Dataset, meaning: str) -> int:
    attrs = ds["pr_flag"].attrs
    return int(attrs["flag_values"][attrs["flag_meanings"].split().index(meaning)])


@pytest.fixture(scope="module")
def hourly(data_root: Path) -> xr.Dataset:
    return _read_hourly(data_root / HOURLY)


@pytest.fixture(scope="module")
def warnings(data_root: Path) -> pd.DataFrame:
    return read_hko_warnings(data_root / WARNINGS, "hko-warnings")


# ------------------------------------------------------------------ district hourly reader


def test_district_hourly_values_from_rows(hourly: xr.Dataset) -> None:
    # line 2: "20250701-0002,2025-06-30 23:00:00,Yau Tsim Mong,3,7" (HKT -> 15:00Z)
    assert _value(hourly, "pr", "Yau Tsim Mong", "2025-06-30T15:00") == 7.0
    assert _value(hourly, "pr_district_min", "Yau Tsim Mong", "2025-06-30T15:00") == 3.0
    assert _value(hourly, "pr_flag", "Yau Tsim Mong", "2025-06-30T15:00") == _flag(hourly, "good")
    # line 2519: "20250729-1001,2025-07-29 09:00:00,Eastern District,62,94"
    assert _value(hourly, "pr", "Eastern District", "2025-07-29T01:00") == 94.0
    assert _value(hourly, "pr_district_min", "Eastern District", "2025-07-29T01:00") == 62.0
    # available_at is the poll, 2025-07-29 10:01 HKT, not the window end
    available = hourly["available_at"].sel(time=np.datetime64("2025-07-29T01:00", "ns"))
    assert available.values == np.datetime64("2025-07-29T02:01", "ns")
    assert hourly["pr"].attrs["cell_methods"] == "time: sum (interval: 1 hour)"
    assert accumulation_interval(hourly).total_seconds() == 3600
    assert np.isnan(hourly["lat"].values).all()
    validate_station_obs(hourly)


def test_district_hourly_no_rain_inferences(hourly: xr.Dataset) -> None:
    # lines 2-17 (poll 20250701-0002) list 16 districts; Kwun Tong is not among them -> 0.0
    assert _value(hourly, "pr", "Kwun Tong", "2025-06-30T15:00") == 0.0
    assert _value(hourly, "pr_flag", "Kwun Tong", "2025-06-30T15:00") == _flag(hourly, "not_listed")
    # line 170: "20250701-2001,2025-07-01 19:00:00,,0,0": no rain anywhere -> 0.0, good
    dry = hourly.sel(time=np.datetime64("2025-07-01T11:00", "ns"))
    assert (dry["pr"].values == 0.0).all()
    assert (dry["pr_flag"].values == _flag(hourly, "good")).all()


def test_district_hourly_missing_hours_and_stale_row(hourly: xr.Dataset) -> None:
    # No poll reported the hours ending 2025-07-06 01:00 and 2025-07-07 00:00 HKT: line 349,
    # "20250707-0102,2025-07-06 01:00:00,,0,0", is a day older than its poll -> rejected.
    assert hourly.sizes == {"station": 18, "time": 745}
    for utc in ("2025-07-05T17:00", "2025-07-06T16:00"):
        hour = hourly.sel(time=np.datetime64(utc, "ns"))
        assert np.isnan(hour["pr"].values).all()
        assert (hour["pr_flag"].values == _flag(hourly, "missing")).all()
        assert np.isnat(hour["available_at"].values)
    assert hourly.attrs["missing_hours"] == "2025-07-06 01:00 HKT; 2025-07-07 00:00 HKT"
    assert hourly.attrs["rejected_rows"].startswith("line 349: report_time '2025-07-06 01:00:00'")
    assert hourly.attrs["poll_conflicts"] == 0
    assert hourly.attrs["polls_read"] == 743


def _hourly_copy(data_root: Path, tmp_path: Path, extra: list[str], drop: int = 0) -> Path:
    lines = (data_root / HOURLY).read_text(encoding="utf-8").splitlines()[: 29 - drop]
    copy = tmp_path / "district.csv"
    copy.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    return copy


def test_district_hourly_bad_rows_and_repeated_polls(data_root: Path, tmp_path: Path) -> None:
    # Keep lines 1-29 (polls 20250701-0002 and 20250701-0102, the latter truncated) and add:
    extra = [
        # lo > hi for Wan Chai in the 00:00 poll: Wan Chai's line 19 "8,10" is also in it
        "20250701-0102,2025-07-01 00:00:00,Wan Chai,12,10",
        # an unknown district in the 00:00 poll: unlisted districts can no longer be zero
        "20250701-0102,2025-07-01 00:00:00,Atlantis,1,2",
        # a later re-poll of the 23:00 hour: Yau Tsim Mong 3,7 -> 3,9, others as before
        *[
            row.replace("20250701-0002", "20250701-0030").replace(
                "Yau Tsim Mong,3,7", "Yau Tsim Mong,3,9"
            )
            for row in (data_root / HOURLY).read_text(encoding="utf-8").splitlines()[1:17]
        ],
        # the same row twice in one poll: counted, used once
        "20250701-0030,2025-06-30 23:00:00,Sai Kung,0,1",
        "not-a-time,2025-06-30 23:00:00,Sai Kung,0,1",
    ]
    ds = _read_hourly(_hourly_copy(data_root, tmp_path, extra))
    rejected = ds.attrs["rejected_rows"]
    assert "line 30: rain_lo_mm 12 > rain_hi_mm 10" in rejected
    assert "line 31: district 'Atlantis' is not one of the configured districts" in rejected
    assert "snapshot 'not-a-time' is not YYYYmmdd-HHMM" in rejected
    rejected_flag = _flag(ds, "rejected")
    # Wan Chai (bad row) and an unlisted district (North District) are NaN, rejected ...
    for district in ("Wan Chai", "North District"):
        assert np.isnan(_value(ds, "pr", district, "2025-06-30T16:00"))
        assert _value(ds, "pr_flag", district, "2025-06-30T16:00") == rejected_flag
    # ... while the good rows of that poll stand: line 22 "Kwun Tong,29,40"
    assert _value(ds, "pr", "Kwun Tong", "2025-06-30T16:00") == 40.0
    # The later poll of 23:00 is kept; Yau Tsim Mong changed 7 -> 9: one conflict
    assert _value(ds, "pr", "Yau Tsim Mong", "2025-06-30T15:00") == 9.0
    assert ds["available_at"].values[0] == np.datetime64("2025-06-30T16:30", "ns")
    assert ds.attrs["poll_conflicts"] == 1
    assert (
        "Yau Tsim Mong: poll 20250701-0002 7 mm, kept poll 20250701-0030 9 mm"
        in (ds.attrs["conflicting_polls"])
    )
    assert ds.attrs["duplicate_rows"] == 1


def test_district_hourly_wrong_header_or_no_rows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,district,rain\n", encoding="utf-8")
    with pytest.raises(SourceError, match="header 'time,district,rain' is not"):
        _read_hourly(bad)
    bad.write_text(
        "snapshot,report_time,district,rain_lo_mm,rain_hi_mm\n"
        "20250701-0002,2025-06-30 23:00:00,Wan Chai,x,7\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match=r"no usable data row.*rain_lo_mm 'x' is not a number"):
        _read_hourly(bad)


def test_district_hourly_through_the_registry(data_root: Path) -> None:
    ds = read_source("hko-district-hourly", data_root / HOURLY, {}, "hko-district")
    assert ds.sizes["station"] == 18
    with pytest.raises(ValueError, match="is not an offset"):
        HkoDistrictHourlyOptions(utc_offset="HKT")


# ------------------------------------------------------------------ warnings reader


def test_warnings_values_from_rows(warnings: pd.DataFrame) -> None:
    # 854 data rows (SOURCES.md §3.1);
    # line 853: "Black,2025-07-29 09:10:00,2025-07-29 11:05:00,115.0"
    assert len(warnings) == 854
    black = warnings[warnings["line"] == 853].iloc[0]
    assert (black["level"], black["duration_min"]) == ("black", 115.0)
    assert black["start"] == pd.Timestamp("2025-07-29T01:10Z")
    assert black["end"] == pd.Timestamp("2025-07-29T03:05Z")
    # line 2: "Amber,1998-04-12 05:15:00,1998-04-12 08:00:00,165.0"
    assert warnings.iloc[0]["start"] == pd.Timestamp("1998-04-11T21:15Z")
    assert (warnings["problem"] == "").all()
    assert warnings.attrs["rejected_rows"] == []


def test_warnings_bad_rows_listed(data_root: Path, tmp_path: Path) -> None:
    lines = (data_root / WARNINGS).read_text(encoding="utf-8").splitlines()
    lines[851] = "Black,2025-07-29 09:10:00,2025-07-29 11:05:00,120.0"  # line 852: duration off
    lines[852] = "Purple,2025-07-29 11:05:00,2025-07-29 11:45:00,40.0"  # line 853: no such signal
    lines[853] = "Amber,2025-07-29 11:45:00,2025-07-29 11:45:00,0.0"  # line 854: zero length
    copy = tmp_path / "warnings.csv"
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_hko_warnings(copy, "hko-warnings")
    assert len(table) == 853
    problems = table.set_index("line")["problem"]
    assert problems[852].startswith("duration_min 120 differs from end - start = 115 min")
    assert problems[854].startswith("end 2025-07-29 11:45:00 is not after start")
    assert table.attrs["rejected_rows"] == [
        "line 853: signal 'Purple' is not Amber, Red or Black; correct the signal name"
    ]
    ds = HkoWarningsReader().read(copy, HkoWarningsOptions(), "hko-warnings")
    assert ds.sizes == {"warning": 853}
    assert ds.attrs["rejected_rows"].startswith("line 853: signal 'Purple'")
    copy.write_text("kind,from,to\n", encoding="utf-8")
    with pytest.raises(SourceError, match="header 'kind,from,to' is not"):
        read_hko_warnings(copy, "hko-warnings")


# ------------------------------------------------------------------ our signals vs HKO's


def test_black_rainstorm_of_29_july_2025_is_detected(
    hourly: xr.Dataset, warnings: pd.DataFrame
) -> None:
    options = hk_signals.SignalOptions()
    table = hk_signals.hourly_levels(hourly, options)
    # line 2519: Eastern District 94 mm in the hour ending 09:00 HKT, polled 10:01 HKT
    hour = table.loc[pd.Timestamp("2025-07-29T01:00Z")]
    assert (hour["level"], hour["max_pr"], hour["max_district"]) == (
        "black",
        94.0,
        "district:Eastern District",
    )
    ours = hk_signals.our_periods(table, "black", options)
    start, end = hk_signals.data_coverage(hourly)
    theirs = hk_signals.observatory_periods(warnings, "black", options, start, end)
    # warnings line 853: Black 09:10-11:05 HKT, the only Black of July 2025
    assert list(theirs["lines"]) == ["853"]
    matches = hk_signals.match_periods(ours, theirs)
    assert matches.loc[0, "our_start"] == pd.Timestamp("2025-07-29T02:01Z")
    # decided 10:01 HKT, issued 09:10 HKT: we were 51 minutes later
    assert matches.loc[0, "decision_minus_issue_min"] == 51.0


def test_july_2025_counts(hourly: xr.Dataset, warnings: pd.DataFrame) -> None:
    scores = {
        s.level: s for s in hk_signals.compare_levels(hourly, warnings, hk_signals.SignalOptions())
    }
    counts = {k: (s.ours, s.theirs, s.hits, s.misses, s.false_alarms) for k, s in scores.items()}
    # Computed once, then checked by hand on these events:
    # * amber miss-free: every HKO Amber-or-higher period (warnings lines 834-855, merged into
    #   8) has an hour over 30 mm in its span, e.g. line 843 (18 Jul 11:15-13:00) <- hourly
    #   line for 2025-07-18 12:00 with 63 mm (our evidence window 11:00-12:00).
    # * amber false alarm: hourly line 827 "20250712-0501,2025-07-12 04:00:00,Southern
    #   District,8,38"; the warnings file has no signal between line 842 (10 Jul) and 843
    #   (18 Jul). Likewise line 1082 (14 Jul, 40 mm) and line 2031 (22 Jul 15:00, 37 mm,
    #   before the Amber of line 847 at 20:00).
    # * red miss: warnings line 839, Red 10 Jul 09:36-10:40; the hours ending 09:00 and 10:00
    #   peak at 40 mm (hourly line 545) and 46 mm (line 563), below 50.
    # * black false alarms: 82 mm on 10 Jul 00:00 HKT, 85 mm on 25 Jul 20:00, 79 mm on
    #   20 Jul 16:00, ... while HKO's only Black is line 853.
    assert counts == {
        "amber": (13, 8, 8, 0, 3),
        "red": (8, 6, 5, 1, 3),
        "black": (6, 1, 1, 0, 5),
    }
    assert scores["red"].delays_min == (76.0, 81.0, 76.0, 81.0, 81.0)
    assert scores["amber"].median_delay_min == 96.5
    assert scores["black"].csi == pytest.approx(1 / 6)


def test_stricter_criterion_and_options(hourly: xr.Dataset, warnings: pd.DataFrame) -> None:
    three = hk_signals.compare_levels(hourly, warnings, hk_signals.SignalOptions(min_districts=3))
    assert [(s.hits, s.misses, s.false_alarms) for s in three] == [(8, 0, 1), (3, 3, 1), (1, 0, 1)]
    with pytest.raises(ValueError, match="strictly increasing"):
        hk_signals.SignalOptions(levels=(("red", 50.0), ("amber", 30.0)))
    with pytest.raises(ModelError, match="unknown level 'purple'"):
        hk_signals.our_periods(
            hk_signals.hourly_levels(hourly, hk_signals.SignalOptions()),
            "purple",
            hk_signals.SignalOptions(),
        )


# ------------------------------------------------------------------ climatology


def test_signal_counts_july_2025_is_the_record(warnings: pd.DataFrame) -> None:
    counts = hk_signals.signal_counts(warnings)
    # warnings lines 835-855: 13 Amber, 7 Red (836, 839, 841, 845, 849, 852, 854), 1 Black
    # (853); line 834 starts 30 Jun and counts for June.
    assert tuple(counts.loc[2025, ["amber_july", "red_july", "black_july"]]) == (13, 7, 1)
    assert counts["amber_july"].idxmax() == 2025
    assert counts.loc[1998:2024, "red_july"].max() == 3


def test_july_2025_rainfall_against_1991_2020(data_root: Path) -> None:
    daily = read_source("hko-daily-rainfall", data_root / DAILY, DAILY_OPTIONS, "hko-daily")
    clim = hk_signals.july_rainfall_climatology(daily, 2025)
    # Independent sum of the rows "2025,7,1,5.5,C" (line 49069) to "2025,7,31,...".
    with (data_root / DAILY).open(encoding="utf-8-sig") as handle:
        rows = [r for r in csv.reader(handle) if r[:2] == ["2025", "7"]]
    assert len(rows) == 31
    assert clim["total_mm"] == pytest.approx(
        sum(0.0 if r[3] == "Trace" else float(r[3]) for r in rows)
    )
    assert clim["total_mm"] == pytest.approx(601.7)
    assert clim["percentile"] == pytest.approx(26 / 30 * 100)
    assert clim["rank_in_reference"] == 5.0
    with pytest.raises(ModelError, match="July 2030 is not complete"):
        hk_signals.july_rainfall_climatology(daily, 2030)
