"""The generic station-table reader, on a gauge network cut from real radar data.

There is no real hourly gauge network in the shared data (SOURCES.md, "Known gaps"), so the
table is made from the KNMI radar composites of 2010-08-26 (SOURCES.md §7.1): 40 pixels
become "stations" at their real positions (the pixel centre, converted to WGS84 with the
file's projection), their 5-minute accumulations summed to hourly totals and written the
way the Dutch hourly station files write rainfall: ``RH`` in 0.1 mm, local time. Values
asserted are the radar sums themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest
import xarray as xr
from pydantic import ValidationError

from ingest.errors import SourceError
from ingest.readers import read_source
from ingest.readers.station_table import StationTableOptions

KNMI_DIR = "radar/knmi_20100826"
N_STATIONS = 40


@pytest.fixture(scope="module")
def radar_hourly(data_root: Path) -> xr.DataArray:
    """Hourly rainfall (mm) at 40 wet radar pixels, labelled with the end of the hour."""
    radar = read_source(
        "knmi-hdf5", data_root / KNMI_DIR, {"pattern": "RAD_NL25_RAP_5min_20100826*.h5"}, "knmi"
    )
    # 00:05 ... 07:00 make seven whole hours ending 01:00 ... 07:00.
    hours = radar["pr"].sel(time=slice("2010-08-26T00:05", "2010-08-26T07:00"))
    hourly = hours.resample(time="1h", label="right", closed="right").sum(min_count=12)
    total = hourly.sum("time")
    wet = np.argwhere(np.isfinite(total.values) & (total.values > 5.0))
    chosen = wet[np.linspace(0, len(wet) - 1, N_STATIONS).astype(int)]
    y = xr.DataArray(chosen[:, 0], dims="station")
    x = xr.DataArray(chosen[:, 1], dims="station")
    points = hourly.isel(y=y, x=x)
    to_wgs84 = pyproj.Transformer.from_crs(radar.attrs["crs"], "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(points["x"].values, points["y"].values)
    return points.assign_coords(
        station_id=("station", [f"RADAR{i:03d}" for i in range(N_STATIONS)]),
        lat=("station", lat),
        lon=("station", lon),
    )


def _long_table(hourly: xr.DataArray) -> pd.DataFrame:
    """One row per station and hour, like a station network's export."""
    rows = []
    for index, station in enumerate(hourly["station_id"].values):
        for step, end in enumerate(pd.DatetimeIndex(hourly["time"].values)):
            value = float(hourly.values[step, index])
            rows.append(
                {
                    "stn": station,
                    "utc": end.tz_localize("UTC"),
                    "lat": float(hourly["lat"].values[index]),
                    "lon": float(hourly["lon"].values[index]),
                    "hgt": 0.0,
                    "RH": round(value * 10),  # 0.1 mm, as the Dutch hourly files write it
                }
            )
    return pd.DataFrame(rows)


def _csv_local(table: pd.DataFrame, path: Path) -> Path:
    local = table.assign(
        time=table["utc"].dt.tz_convert("Europe/Amsterdam").dt.strftime("%Y-%m-%d %H:%M")
    ).drop(columns="utc")
    local.to_csv(path, index=False)
    return path


OPTIONS = {
    "station_id": "stn",
    "time": "time",
    "timezone": "Europe/Amsterdam",
    "lat": "lat",
    "lon": "lon",
    "elevation": "hgt",
    "variables": {"pr": {"column": "RH", "units": "0.1 mm", "interval": "1 h"}},
}


def test_local_time_csv_gives_the_radar_sums_in_utc(
    radar_hourly: xr.DataArray, tmp_path: Path
) -> None:
    path = _csv_local(_long_table(radar_hourly), tmp_path / "network.csv")
    obs = read_source("station-table", path, OPTIONS, "city-aws")
    assert obs.sizes == {"station": N_STATIONS, "time": 7}
    # 03:00 in Amsterdam (CEST, UTC+2) on 26 Aug is 01:00 UTC: the first hour's end.
    assert str(obs["time"].values[0]) == "2010-08-26T01:00:00.000000000"
    expected = radar_hourly.transpose("station", "time").values
    np.testing.assert_allclose(obs["pr"].values, expected, atol=0.05 + 1e-6)
    assert obs["pr"].attrs["units"] == "mm" and obs["pr"].attrs["source_units"] == "0.1 mm"
    assert obs["pr"].attrs["cell_methods"] == "time: sum (interval: 1 h)"
    assert (obs["pr_flag"].values == 0).all()
    np.testing.assert_allclose(obs["lat"].values, radar_hourly["lat"].values)


def test_parquet_with_a_station_table_reads_the_same(
    radar_hourly: xr.DataArray, tmp_path: Path
) -> None:
    table = _long_table(radar_hourly)
    csv = read_source("station-table", _csv_local(table, tmp_path / "n.csv"), OPTIONS, "a")
    table[["stn", "utc", "RH"]].to_parquet(tmp_path / "n.parquet")
    stations = table.groupby("stn", as_index=False)[["lat", "lon", "hgt"]].first()
    stations.to_csv(tmp_path / "stations.csv", index=False)
    options = {
        "station_id": "stn",
        "time": "utc",
        "stations": tmp_path / "stations.csv",
        "station_columns": {"station_id": "stn", "elevation": "hgt"},
        "variables": {"pr": {"column": "RH", "units": "0.1 mm", "interval": "1 h"}},
    }
    parquet = read_source("station-table", tmp_path / "n.parquet", options, "a")
    xr.testing.assert_equal(parquet["pr"], csv["pr"])


def test_times_without_a_zone_need_the_timezone_option(
    radar_hourly: xr.DataArray, tmp_path: Path
) -> None:
    path = _csv_local(_long_table(radar_hourly), tmp_path / "network.csv")
    options = {k: v for k, v in OPTIONS.items() if k != "timezone"}
    with pytest.raises(SourceError, match=r"'time' holds '2010-08-26 03:00'.*set the 'timezone'"):
        read_source("station-table", path, options, "city-aws")


def test_a_missing_column_is_named(radar_hourly: xr.DataArray, tmp_path: Path) -> None:
    path = _csv_local(_long_table(radar_hourly).drop(columns="RH"), tmp_path / "n.csv")
    with pytest.raises(SourceError, match=r"column\(s\) \['RH'\] missing.*fix the column map"):
        read_source("station-table", path, OPTIONS, "city-aws")


def test_bad_cells_and_rows_are_flagged_or_listed_and_the_rest_kept(
    radar_hourly: xr.DataArray, tmp_path: Path
) -> None:
    table = _long_table(radar_hourly)
    path = _csv_local(table, tmp_path / "n.csv")
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    value_at, time_at = header.index("RH"), header.index("time")
    broken = lines[1].split(",")
    broken[value_at] = "12,5"  # a decimal comma splits the row: one field too many
    lines[1] = ",".join(broken)
    cell = lines[2].split(",")
    cell[value_at] = "abc"
    lines[2] = ",".join(cell)
    empty = lines[3].split(",")
    empty[value_at] = ""
    lines[3] = ",".join(empty)
    bad_time = lines[4].split(",")
    bad_time[time_at] = "2010-08-26 25:00"
    lines[4] = ",".join(bad_time)
    path.write_text("\n".join(lines) + "\n")
    lines.append(lines[5])  # the same report sent twice
    path.write_text("\n".join(lines) + "\n")
    obs = read_source("station-table", path, OPTIONS, "city-aws")
    flags = obs["pr_flag"].isel(station=0).values
    assert flags[0] == 1  # the split row (line 2) was rejected: no report, so missing
    assert flags[1] == 2 and np.isnan(obs["pr"].values[0, 1])  # unreadable "abc"
    assert flags[2] == 1  # empty cell: missing
    assert flags[3] == 1  # row rejected for its time: missing
    assert obs.attrs["rejected_rows"] == (
        "2: n.csv line 2: 7 fields, the header has 6; n.csv line 5: time '2010-08-26 25:00' "
        "is not a time"
    )
    assert obs.attrs["unreadable_cells"] == 1
    assert obs.attrs["duplicate_reports"] == 1 and obs.attrs["duplicate_conflicts"] == 0
    assert int((obs["pr_flag"] == 0).sum()) == N_STATIONS * 7 - 4


def test_late_reports_in_a_later_file_win_deterministically(
    radar_hourly: xr.DataArray, tmp_path: Path
) -> None:
    table = _long_table(radar_hourly)
    folder = tmp_path / "feed"
    folder.mkdir()
    first, late = table.iloc[::2], table.iloc[1::2]
    corrected = table.iloc[:5].assign(RH=table["RH"].iloc[:5] + 7)  # a re-sent, corrected report
    _csv_local(first, folder / "20100826T0700.csv")
    _csv_local(pd.concat([late, corrected]), folder / "20100826T0800.csv")
    options = {**OPTIONS, "pattern": "*.csv"}
    obs = read_source("station-table", folder, options, "city-aws")
    expected = radar_hourly.transpose("station", "time").values.copy()
    expected[0, :5] = (table["RH"].iloc[:5].to_numpy() + 7) / 10
    np.testing.assert_allclose(obs["pr"].values, expected, atol=0.05 + 1e-6)
    # rows 0, 2, 4 were also in the first file, rows 1, 3 also earlier in the late file
    assert obs.attrs["duplicate_conflicts"] == 5


def test_options_are_checked_before_reading() -> None:
    base = {k: v for k, v in OPTIONS.items() if k != "variables"}
    cases = {
        "precipitation": {"precipitation": {"column": "RH", "units": "mm", "interval": "1 h"}},
        "needs 'interval'": {"pr": {"column": "RH", "units": "mm"}},
        "needs 'averaging_period'": {"sfcWind": {"column": "FF", "units": "0.1 m s-1"}},
        "cannot convert": {"tas": {"column": "T", "units": "mm"}},
        "unknown unit": {"tas": {"column": "T", "units": "furlongs per degree"}},
    }
    for message, variables in cases.items():
        with pytest.raises(ValidationError, match=message):
            StationTableOptions.model_validate({**base, "variables": variables})
    with pytest.raises(ValidationError, match="'stations' table"):
        StationTableOptions.model_validate(
            {"station_id": "s", "time": "t", "variables": OPTIONS["variables"]}
        )


def test_a_local_time_that_does_not_exist_is_rejected_not_guessed(
    radar_hourly: xr.DataArray, tmp_path: Path
) -> None:
    table = _long_table(radar_hourly)
    path = _csv_local(table, tmp_path / "n.csv")
    lines = path.read_text().splitlines()
    at = lines[0].split(",").index("time")
    fields = lines[1].split(",")
    fields[at] = "2010-03-28 02:30"  # clocks went from 02:00 to 03:00 in Amsterdam that night
    lines[1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    obs = read_source("station-table", path, OPTIONS, "city-aws")
    assert obs.attrs["rejected_rows"] == (
        "1: n.csv line 2: time '2010-03-28 02:30' is ambiguous or does not exist in "
        "Europe/Amsterdam"
    )
    assert obs.sizes["time"] == 7
