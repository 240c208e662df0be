"""Tests of the readers against the real files in ``../shared/data`` (SOURCES.md §4.1, §4.2, §7.1).

Values asserted here are read off the published files themselves; bad-input tests write
corrupted copies of those files into ``tmp_path``. Everything runs offline.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyproj
import pytest
import xarray as xr
from pydantic import ValidationError

from ingest.contracts import accumulation_interval, validate_gridded_field, validate_station_obs
from ingest.errors import SourceError
from ingest.readers import available_readers, get_reader, read_source

HKO_CSV = Path("obs/hko/daily_HKO_RF_ALL.csv")
POWER_JSON = Path("obs/shenzhen_2023_0907/nasa_power_prectotcorr_20230907_20230909_utc.json")
KNMI_DIR = Path("radar/knmi_20100826")
KNMI_0000 = "RAD_NL25_RAP_5min_201008260000.h5"
KNMI_0005 = "RAD_NL25_RAP_5min_201008260005.h5"

# Hong Kong Observatory Headquarters, from HKO's list of weather stations (22°18'07"N,
# 114°10'27"E, ground 32 m above mean sea level). The CSV itself carries no coordinates.
HKO_OPTIONS: dict[str, Any] = {
    "station_id": "HKO",
    "station_name": "Hong Kong Observatory Headquarters",
    "lat": 22.3019,
    "lon": 114.1742,
    "elevation": "32 m",
    "station_source": "HKO list of weather stations (Hong Kong Observatory Headquarters)",
}
POWER_OPTIONS: dict[str, Any] = {"station_id": "POWER-113.98E-22.56N", "station_name": "Shenzhen"}


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared data folder (``YUJING_DATA_ROOT`` or ``../shared/data``)."""
    root = Path(
        os.environ.get("YUJING_DATA_ROOT")
        or Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    if not root.is_dir():
        pytest.fail(
            f"shared data folder {root} not found; set YUJING_DATA_ROOT to the folder holding "
            "SOURCES.md (obs/, radar/ ...)"
        )
    return root


def flag_value(ds: xr.Dataset, name: str, meaning: str) -> int:
    """Return the value of flag ``meaning`` of variable ``name``."""
    attrs = ds[f"{name}_flag"].attrs
    return int(attrs["flag_values"][attrs["flag_meanings"].split().index(meaning)])


def at(ds: xr.Dataset, name: str, time: str) -> Any:
    """Value of ``ds[name]`` at the one station and ``time`` (UTC)."""
    return ds[name].isel(station=0).sel(time=np.datetime64(time, "ns")).item()


# --------------------------------------------------------------------------- registry


def test_registry_lists_the_three_readers() -> None:
    names = available_readers()
    assert {"hko-daily-rainfall", "knmi-hdf5", "nasa-power-hourly"} <= set(names)
    assert get_reader("knmi-hdf5").contract == "gridded field"
    with pytest.raises(ValueError, match="available readers"):
        get_reader("no-such-reader")


# --------------------------------------------------------------------------- HKO daily


@pytest.fixture(scope="module")
def hko(data_root: Path) -> xr.Dataset:
    return read_source("hko-daily-rainfall", data_root / HKO_CSV, HKO_OPTIONS, "hko-daily")


def test_hko_daily_values_labelled_with_end_of_hkt_day(hko: xr.Dataset) -> None:
    # daily_HKO_RF_ALL.csv: "2023,9,8,425.0,C" and "2023,9,7,215.7,C" (Haikui remnant).
    assert at(hko, "pr", "2023-09-08T16:00") == 425.0
    assert at(hko, "pr", "2023-09-07T16:00") == 215.7
    assert at(hko, "pr_flag", "2023-09-08T16:00") == flag_value(hko, "pr", "good")
    assert hko["pr"].attrs["units"] == "mm"
    assert accumulation_interval(hko).days == 1
    validate_station_obs(hko)


def test_hko_daily_trace_is_zero_with_trace_flag(hko: xr.Dataset) -> None:
    # daily_HKO_RF_ALL.csv: "2026,2,25,Trace,C".
    assert at(hko, "pr", "2026-02-25T16:00") == 0.0
    assert at(hko, "pr_flag", "2026-02-25T16:00") == flag_value(hko, "pr", "trace")


def test_hko_daily_keeps_only_days_present(hko: xr.Dataset) -> None:
    times = hko["time"].values
    assert hko.sizes == {"station": 1, "time": 49307}
    assert np.all(np.diff(times) > np.timedelta64(0))
    war = (times >= np.datetime64("1940-01-01")) & (times < np.datetime64("1946-12-31T16:00"))
    assert not war.any()
    assert hko.attrs["days_without_rows"] == "1940-01-01 to 1946-12-31 (2557 days)"
    assert hko["station_id"].item() == "HKO"
    assert hko["elevation"].item() == 32.0
    assert hko["elevation"].attrs["units"] == "m"


def test_hko_daily_nonexistent_date_row_is_reported_not_invented(hko: xr.Dataset) -> None:
    # The file has "1900,2,29,***," but 1900 was not a leap year: no day to place it on.
    assert "line 5847" in hko.attrs["skipped_rows"]
    assert "1900-2-29" in hko.attrs["skipped_rows"]
    # Fixed HKT (UTC+8) by default: days end at 16:00Z; no day is invented for 29 Feb.
    feb_march = hko["time"].sel(time=slice("1900-02-28", "1900-03-01T23:00")).values
    assert list(feb_march) == [
        np.datetime64("1900-02-28T16:00", "ns"),
        np.datetime64("1900-03-01T16:00", "ns"),
    ]


def test_hko_daily_zone_history_is_an_option(hko: xr.Dataset, data_root: Path) -> None:
    # Default: fixed UTC+8. With timezone="Asia/Hong_Kong" the IANA history applies: local
    # mean time +07:36:42 before 1904-10-30 and summer time (+09:00) in July 1950.
    assert hko["time"].values[0] == np.datetime64("1884-03-01T16:00", "ns")
    assert at(hko, "pr", "1950-07-01T16:00") == 7.2
    civil = read_source(
        "hko-daily-rainfall",
        data_root / HKO_CSV,
        {**HKO_OPTIONS, "timezone": "Asia/Hong_Kong"},
        "hko",
    )
    assert at(civil, "pr", "1950-07-01T15:00") == 7.2
    assert civil["time"].values[0] == np.datetime64("1884-03-01T16:23:18", "ns")


def _hko_copy(data_root: Path, tmp_path: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    lines = (data_root / HKO_CSV).read_text(encoding="utf-8-sig").splitlines()
    copy = tmp_path / "daily_HKO_RF_ALL.csv"
    copy.write_text("\n".join(edit(lines)) + "\n", encoding="utf-8-sig")
    return copy


def test_hko_daily_missing_and_incomplete_flags(data_root: Path, tmp_path: Path) -> None:
    def edit(lines: list[str]) -> list[str]:
        rows = ["2023,9,6,***,", "2023,9,7,215.7,#", "2023,9,8,Trace,#", "2023,9,9,1.0,C"]
        return [*lines[:3], *rows, *lines[-6:]]

    ds = read_source("hko-daily-rainfall", _hko_copy(data_root, tmp_path, edit), HKO_OPTIONS, "h")
    assert np.isnan(at(ds, "pr", "2023-09-06T16:00"))
    assert at(ds, "pr_flag", "2023-09-06T16:00") == flag_value(ds, "pr", "missing")
    assert at(ds, "pr", "2023-09-07T16:00") == 215.7
    assert at(ds, "pr_flag", "2023-09-07T16:00") == flag_value(ds, "pr", "incomplete")
    assert at(ds, "pr_flag", "2023-09-08T16:00") == flag_value(ds, "pr", "trace_incomplete")
    assert at(ds, "pr_flag", "2023-09-09T16:00") == flag_value(ds, "pr", "good")
    assert ds.attrs["skipped_rows"] == "none"
    validate_station_obs(ds)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda ls: [x.replace("2023,9,8,425.0,C", "2023,9,8,abc,C") for x in ls], "line 48407"),
        (lambda ls: [*ls[:2], "Year,Month,Day,Value,Completeness", *ls[3:]], "line 3: header"),
        (lambda ls: [x.replace("2023,9,8,425.0,C", "2023,9,31,425.0,C") for x in ls], "2023-9-31"),
        (lambda ls: [x.replace("2023,9,8,425.0,C", "2023,9,6,425.0,C") for x in ls], "line 48407"),
        (lambda ls: [*ls, "2026,3,1,0.0,C"], "follows the footer"),
        (lambda ls: [ls[0], "Daily Maximum Temperature (degC)", *ls[2:]], "line 2: title"),
    ],
    ids=[
        "garbled-value",
        "wrong-header",
        "impossible-date",
        "out-of-order",
        "after-footer",
        "title",
    ],
)
def test_hko_daily_bad_input_names_the_line(
    data_root: Path, tmp_path: Path, edit: Callable[[list[str]], list[str]], expected: str
) -> None:
    path = _hko_copy(data_root, tmp_path, edit)
    with pytest.raises(SourceError, match=expected) as caught:
        read_source("hko-daily-rainfall", path, HKO_OPTIONS, "hko-daily")
    assert caught.value.source == "hko-daily"
    assert caught.value.location == str(path)


def test_hko_daily_garbled_value_is_quoted(data_root: Path, tmp_path: Path) -> None:
    def edit(lines: list[str]) -> list[str]:
        return [line.replace("2023,9,8,425.0,C", "2023,9,8,abc,C") for line in lines]

    with pytest.raises(SourceError, match=r"line 48407: 數值/Value 'abc' is not a number"):
        read_source("hko-daily-rainfall", _hko_copy(data_root, tmp_path, edit), HKO_OPTIONS, "h")


def test_hko_daily_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        read_source("hko-daily-rainfall", tmp_path / "absent.csv", HKO_OPTIONS, "hko-daily")


@pytest.mark.parametrize(
    "change",
    [{"timezone": "Asia/Nowhere"}, {"elevation": "32"}, {"elevation": "32 s"}, {"colour": "red"}],
)
def test_hko_daily_options_are_validated(change: dict[str, Any]) -> None:
    reader = get_reader("hko-daily-rainfall")
    with pytest.raises(ValidationError):
        reader.Options.model_validate({**HKO_OPTIONS, **change})


# --------------------------------------------------------------------------- NASA POWER


@pytest.fixture(scope="module")
def power(data_root: Path) -> xr.Dataset:
    return read_source("nasa-power-hourly", data_root / POWER_JSON, POWER_OPTIONS, "power")


def test_power_hourly_amounts_labelled_with_end_of_hour(power: xr.Dataset) -> None:
    # The answer: "2023090700": 2.64 (mm/hour over 00-01Z), "2023090723": 11.55 (the maximum).
    assert power.sizes == {"station": 1, "time": 72}
    assert power["time"].values[0] == np.datetime64("2023-09-07T01:00", "ns")
    assert at(power, "pr", "2023-09-07T01:00") == pytest.approx(2.64)
    peak = int(np.nanargmax(power["pr"].values[0]))
    assert power["pr"].values[0, peak] == pytest.approx(11.55)
    assert power["time"].values[peak] == np.datetime64("2023-09-08T00:00", "ns")
    assert np.all(np.diff(power["time"].values) == np.timedelta64(1, "h"))
    assert accumulation_interval(power).total_seconds() == 3600
    assert power["pr"].attrs["units"] == "mm"
    assert (power["lon"].item(), power["lat"].item(), power["elevation"].item()) == (
        113.98,
        22.56,
        17.55,
    )
    assert int((power["pr_flag"] != 0).sum()) == 0
    validate_station_obs(power)


def _power_copy(data_root: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    document = json.loads((data_root / POWER_JSON).read_text(encoding="utf-8"))
    edit(document)
    copy = tmp_path / POWER_JSON.name
    copy.write_text(json.dumps(document), encoding="utf-8")
    return copy


def test_power_fill_value_is_missing(data_root: Path, tmp_path: Path) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["properties"]["parameter"]["PRECTOTCORR"]["2023090723"] = -999.0

    path = _power_copy(data_root, tmp_path, edit)
    ds = read_source("nasa-power-hourly", path, POWER_OPTIONS, "power")
    assert np.isnan(at(ds, "pr", "2023-09-08T00:00"))
    assert at(ds, "pr_flag", "2023-09-08T00:00") == flag_value(ds, "pr", "missing")
    assert at(ds, "pr", "2023-09-08T01:00") == pytest.approx(10.73)


def test_power_rate_units_are_converted(data_root: Path, tmp_path: Path) -> None:
    def edit(document: dict[str, Any]) -> None:
        document["parameters"]["PRECTOTCORR"]["units"] = "mm/day"

    path = _power_copy(data_root, tmp_path, edit)
    ds = read_source("nasa-power-hourly", path, POWER_OPTIONS, "power")
    assert at(ds, "pr", "2023-09-07T01:00") == pytest.approx(2.64 / 24)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["header"].update(time_standard="LST"), "header.time_standard is 'LST'"),
        (lambda d: d["parameters"]["PRECTOTCORR"].update(units="C"), "parameters.PRECTOTCORR"),
        (lambda d: d["header"].pop("fill_value"), "'header.fill_value' is missing"),
        (lambda d: d["properties"]["parameter"]["PRECTOTCORR"].update({"2023-09": 1}), "2023-09"),
        (lambda d: d["properties"]["parameter"]["PRECTOTCORR"].update({"2023091000": "x"}), "'x'"),
        (lambda d: d["properties"]["parameter"].clear(), "properties.parameter.PRECTOTCORR"),
    ],
    ids=["local-time", "not-a-rate", "no-fill-value", "bad-time", "bad-value", "no-parameter"],
)
def test_power_bad_input_names_the_field(
    data_root: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], expected: str
) -> None:
    with pytest.raises(SourceError, match=expected):
        read_source(
            "nasa-power-hourly", _power_copy(data_root, tmp_path, edit), POWER_OPTIONS, "power"
        )


def test_power_truncated_or_missing_file(data_root: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes((data_root / POWER_JSON).read_bytes()[:500])
    with pytest.raises(SourceError, match="not valid JSON"):
        read_source("nasa-power-hourly", truncated, POWER_OPTIONS, "power")
    with pytest.raises(SourceError, match="file not found"):
        read_source("nasa-power-hourly", tmp_path / "absent.json", POWER_OPTIONS, "power")


# --------------------------------------------------------------------------- KNMI HDF5


@pytest.fixture(scope="module")
def knmi(data_root: Path) -> xr.Dataset:
    return read_source("knmi-hdf5", data_root / KNMI_DIR, {}, "knmi")


def test_knmi_frames_times_and_grid(knmi: xr.Dataset, data_root: Path) -> None:
    assert knmi.sizes == {"time": 92, "y": 765, "x": 700}
    # overview/product_datetime_end of RAD_NL25_RAP_5min_201008260000.h5 is
    # "26-AUG-2010;00:00:00.000" (start 25-AUG-2010;23:55): file names carry the end time.
    with h5py.File(data_root / KNMI_DIR / KNMI_0000, "r") as handle:
        assert handle["overview"].attrs["product_datetime_end"][0] == b"26-AUG-2010;00:00:00.000"
    assert knmi["time"].values[0] == np.datetime64("2010-08-26T00:00", "ns")
    assert knmi["time"].values[-1] == np.datetime64("2010-08-26T07:35", "ns")
    assert np.all(np.diff(knmi["time"].values) == np.timedelta64(5, "m"))
    assert knmi["pr"].attrs["cell_methods"] == "time: sum (interval: 5 minute)"
    assert accumulation_interval(knmi).total_seconds() == 300
    assert knmi["pr"].dtype == np.float32
    assert knmi["x"].values[0] == 500.0
    assert knmi["x"].values[-1] == 699_500.0
    assert knmi["y"].values[0] == -3_650_500.0
    assert knmi["y"].values[-1] == -4_414_500.0
    validate_gridded_field(knmi)


def test_knmi_crs_corners_match_the_file(knmi: xr.Dataset, data_root: Path) -> None:
    assert knmi.attrs["crs"] == (
        "+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +a=6378137 +b=6356752 +x_0=0 +y_0=0 "
        "+units=m +no_defs"
    )
    with h5py.File(data_root / KNMI_DIR / KNMI_0000, "r") as handle:
        corners = handle["geographic"].attrs["geo_product_corners"].reshape(4, 2)
    to_lonlat = pyproj.Transformer.from_crs(knmi.attrs["crs"], "EPSG:4326", always_xy=True)
    half = 500.0  # the corners are the outer edges of the corner cells
    west, east = knmi["x"].values[0] - half, knmi["x"].values[-1] + half
    north, south = knmi["y"].values[0] + half, knmi["y"].values[-1] - half
    # geo_product_corners: lower-left, upper-left, upper-right, lower-right (lon, lat).
    for (x, y), (lon, lat) in zip(
        [(west, south), (west, north), (east, north), (east, south)], corners, strict=True
    ):
        got_lon, got_lat = to_lonlat.transform(x, y)
        assert got_lon == pytest.approx(float(lon), abs=0.01)
        assert got_lat == pytest.approx(float(lat), abs=0.01)


def test_knmi_pixels_are_calibrated_from_the_file(knmi: xr.Dataset, data_root: Path) -> None:
    with h5py.File(data_root / KNMI_DIR / "RAD_NL25_RAP_5min_201008260400.h5", "r") as handle:
        pixels = handle["image1/image_data"][...]
        assert handle["image1/calibration"].attrs["calibration_formulas"] == b"GEO=0.01*PV+0.0"
    frame = knmi.sel(time=np.datetime64("2010-08-26T04:00", "ns"))
    assert pixels[461, 391] == 171  # the wettest pixel of that frame
    assert frame["pr"].values[461, 391] == pytest.approx(171 * 0.01, rel=1e-6)
    good = pixels != 65535
    np.testing.assert_allclose(frame["pr"].values[good], pixels[good] * 0.01, rtol=1e-6)
    assert np.isnan(frame["pr"].values[~good]).all()
    assert (frame["pr_flag"].values == np.where(good, 0, 1)).all()
    assert frame["pr_flag"].attrs["flag_meanings"] == "good missing_or_outside_image"


def _knmi_copy(data_root: Path, folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    copies = []
    for name in names:
        copy = folder / name
        shutil.copyfile(data_root / KNMI_DIR / name, copy)
        copies.append(copy)
    return copies


def test_knmi_truncated_file_is_left_out_and_named(data_root: Path, tmp_path: Path) -> None:
    first, second = _knmi_copy(data_root, tmp_path / "radar", KNMI_0000, KNMI_0005)
    second.write_bytes(second.read_bytes()[:1000])  # a download cut short
    ds = read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")
    assert list(ds["time"].values) == [np.datetime64("2010-08-26T00:00", "ns")]  # 0000 kept
    assert ds.attrs["rejected_files"].startswith(
        f"{KNMI_0005}: is not a readable HDF5 file ("
    ) and ds.attrs["rejected_files"].endswith(
        "(download the file again; it may be truncated or corrupt)"
    )
    second.write_text("<html>not found</html>")  # an error page saved under the frame's name
    assert (
        KNMI_0005
        in read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi").attrs["rejected_files"]
    )
    first.write_bytes(first.read_bytes()[:1000])  # nothing readable left: the error, named
    with pytest.raises(SourceError, match="not a readable HDF5 file") as caught:
        read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")
    assert caught.value.location == str(first)


def test_knmi_frames_of_another_grid_than_the_newest_are_left_out(
    data_root: Path, tmp_path: Path
) -> None:
    first, second, third = _knmi_copy(
        data_root, tmp_path / "radar", KNMI_0000, KNMI_0005, "RAD_NL25_RAP_5min_201008260010.h5"
    )
    with h5py.File(second, "r+") as handle:  # one odd frame between two good ones
        handle["geographic"].attrs["geo_row_offset"] = np.array([3651.0], dtype=np.float32)
    ds = read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")
    assert [str(t)[11:16] for t in ds["time"].values] == ["00:00", "00:10"]
    assert ds.attrs["rejected_files"].startswith(f"{KNMI_0005}: grid ")
    assert (
        "differs from the grid of RAD_NL25_RAP_5min_201008260010.h5" in ds.attrs["rejected_files"]
    )
    # The product changed for good at 00:05: the newest grid counts, the older frame is out.
    with h5py.File(third, "r+") as handle:
        handle["geographic"].attrs["geo_row_offset"] = np.array([3651.0], dtype=np.float32)
    ds = read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")
    assert [str(t)[11:16] for t in ds["time"].values] == ["00:05", "00:10"]
    assert ds.attrs["rejected_files"].startswith(f"{first.name}: grid ")


def test_knmi_duplicate_time_is_refused(data_root: Path, tmp_path: Path) -> None:
    (first,) = _knmi_copy(data_root, tmp_path / "radar", KNMI_0000)
    shutil.copyfile(first, first.with_name("RAD_NL25_RAP_5min_201008260000_copy.h5"))
    with pytest.raises(SourceError, match="product_datetime_end 2010-08-26T00:00:00Z"):
        read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")


def test_knmi_calibration_is_parsed_not_assumed(data_root: Path, tmp_path: Path) -> None:
    (copy,) = _knmi_copy(data_root, tmp_path / "radar", "RAD_NL25_RAP_5min_201008260400.h5")
    with h5py.File(copy, "r+") as handle:
        handle["image1/calibration"].attrs["calibration_formulas"] = np.bytes_(b"GEO=0.02*PV-0.5")
        pixels = handle["image1/image_data"][...]
    ds = read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")
    assert ds["pr"].values[0, 461, 391] == pytest.approx(pixels[461, 391] * 0.02 - 0.5, rel=1e-6)


@pytest.mark.parametrize(
    ("group", "attribute", "value", "expected"),
    [
        ("image1/calibration", "calibration_formulas", b"GEO=log(PV)", "calibration_formulas"),
        ("overview", "product_datetime_end", b"31-FEB-2010;00:00:00.000", "not a valid time"),
        ("geographic", "geo_number_rows", b"765", "geo_number_rows"),
        ("image1", "image_geo_parameter", b"REFLECTIVITY_[DBZ]", "image_geo_parameter"),
    ],
)
def test_knmi_malformed_attribute_is_named(
    data_root: Path, tmp_path: Path, group: str, attribute: str, value: bytes, expected: str
) -> None:
    (copy,) = _knmi_copy(data_root, tmp_path / "radar", KNMI_0000)
    with h5py.File(copy, "r+") as handle:
        handle[group].attrs[attribute] = np.bytes_(value)
    with pytest.raises(SourceError, match=expected) as caught:
        read_source("knmi-hdf5", tmp_path / "radar", {}, "knmi")
    assert caught.value.location == str(copy)


def test_knmi_folder_problems(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="is not a folder"):
        read_source("knmi-hdf5", tmp_path / "absent", {}, "knmi")
    with pytest.raises(SourceError, match="holds no file matching"):
        read_source("knmi-hdf5", tmp_path, {}, "knmi")
    with pytest.raises(ValidationError):
        get_reader("knmi-hdf5").Options.model_validate({"max_files": 3})
