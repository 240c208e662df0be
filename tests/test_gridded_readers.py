"""Tests of the gridded readers (odim-hdf5, netcdf-grid, grib), Z–R and bbox subsetting.

Real files (SOURCES.md §7.1, §8): the KNMI radar frame of 2010-08-26 04:00 UTC, the ERA5
2 m temperature GRIB1 over the UK and the ERA-Interim u/v/z NetCDF files. There is no real
ODIM_H5 file in the shared data, so ODIM fixtures are *derived* from the KNMI frame at test
time (:func:`write_odim_from_knmi`, see ``tests/fixtures/grids/README.md``); time-dimensioned
NetCDF fixtures are the ERA5 GRIB and the KNMI frames written back with xarray. Bad-input
files are copies of real files, cut or overwritten in ``tmp_path``. Everything runs offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np
import pyproj
import pytest
import xarray as xr
from pydantic import ValidationError

from ingest.contracts import accumulation_interval, validate_gridded_field
from ingest.errors import SourceError
from ingest.readers import get_reader
from ingest.readers.grib import GribOptions, GribReader, grib_message_count
from ingest.readers.knmi_hdf5 import KnmiHdf5Options, KnmiHdf5Reader
from ingest.readers.netcdf_grid import (
    STANDARD_GRAVITY,
    NetcdfGridOptions,
    NetcdfGridReader,
    open_netcdf_grid,
)
from ingest.readers.odim_hdf5 import OdimHdf5Options, OdimHdf5Reader
from ingest.subset import subset_to_bbox
from ingest.zr import (
    MARSHALL_PALMER,
    ZR_PRESETS,
    ZRRelation,
    accumulation_from_rate,
    dbz_from_rain_rate,
    rain_rate_from_dbz,
    zr_preset,
)

KNMI_DIR = Path("radar/knmi_20100826")
KNMI_0400 = "RAD_NL25_RAP_5min_201008260400.h5"
ERA5_GRIB = Path("nwp/era5-2mt-2019-03-uk.grib")
ERAINT = Path("nwp/eraint_uvz.nc")
ERAINT_SOUTH_CHINA = Path("nwp/eraint_uvz_southchina_100-130E_10-35N.nc")
SOUTH_CHINA = (100.0, 10.0, 130.0, 35.0)  # the bbox SOURCES.md §8 used for the derived file

# DBZH encoding of the derived fixture: uint8, 0.5 dB steps from -32 dBZ (a common ODIM
# composite encoding); 0 = undetect, 255 = nodata. Half a step, 0.25 dB, is a relative rain
# rate error of 10**(0.25 / (10 b)) - 1 = 3.66 % for b = 1.6.
DBZH_GAIN, DBZH_OFFSET, DBZH_UNDETECT, DBZH_NODATA = 0.5, -32.0, 0, 255


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def knmi_frame(data_root: Path) -> xr.Dataset:
    """The real KNMI frame of 2010-08-26 04:00 UTC, read by the existing knmi-hdf5 reader."""
    return KnmiHdf5Reader().read(data_root / KNMI_DIR, KnmiHdf5Options(pattern=KNMI_0400), "knmi")


def write_odim_from_knmi(
    knmi: xr.Dataset, path: Path, quantity: str, relation: ZRRelation = MARSHALL_PALMER
) -> None:
    """Write a KNMI frame as an ODIM_H5 2.3 composite (``ACRR`` or ``DBZH``).

    Derivation: ``ACRR`` stores the KNMI 5-minute depth as uint16 with gain 0.01 mm (KNMI's
    own 0.01 mm step), 0 mm as ``undetect`` = 0 and missing as ``nodata`` = 65535. ``DBZH``
    converts the depth to a rate (× 12 per hour) and the rate to dBZ with the inverse Z–R
    relation, encoded as uint8 (0.5 dB from -32 dBZ), 0 mm as ``undetect``. The corners are
    the outer corners of the KNMI grid projected back to lon/lat with its own CRS.
    """
    depth = knmi["pr"].isel(time=0).values.astype(np.float64)
    x, y = knmi["x"].values, knmi["y"].values
    size = float(x[1] - x[0])
    left, right = x[0] - size / 2, x[-1] + size / 2
    top, bottom = y[0] + size / 2, y[-1] - size / 2
    to_lonlat = pyproj.Transformer.from_crs(knmi.attrs["crs"], "EPSG:4326", always_xy=True)
    missing, zero = np.isnan(depth), depth == 0
    end = knmi["time"].values[0].astype("datetime64[s]").item()
    start = end - accumulation_interval(knmi)
    with h5py.File(path, "w") as handle:
        handle.attrs["Conventions"] = np.bytes_("ODIM_H5/V2_3")
        what = handle.create_group("what")
        for key, value in {
            "object": "COMP",
            "version": "H5rad 2.3",
            "date": f"{start:%Y%m%d}",
            "time": f"{start:%H%M%S}",
            "source": "ORG:KNMI (derived for yujing tests)",
        }.items():
            what.attrs[key] = np.bytes_(value)
        where = handle.create_group("where")
        where.attrs["projdef"] = np.bytes_(knmi.attrs["crs"])
        where.attrs["xsize"], where.attrs["ysize"] = np.int64(x.size), np.int64(y.size)
        where.attrs["xscale"], where.attrs["yscale"] = size, size
        for corner, cx, cy in (
            ("LL", left, bottom), ("UL", left, top), ("UR", right, top), ("LR", right, bottom)
        ):  # fmt: skip
            lon, lat = to_lonlat.transform(cx, cy)
            where.attrs[f"{corner}_lon"], where.attrs[f"{corner}_lat"] = lon, lat
        dataset_what = handle.create_group("dataset1/what")
        for key, value in {
            "product": "COMP",
            "startdate": f"{start:%Y%m%d}",
            "starttime": f"{start:%H%M%S}",
            "enddate": f"{end:%Y%m%d}",
            "endtime": f"{end:%H%M%S}",
        }.items():
            dataset_what.attrs[key] = np.bytes_(value)
        data_what = handle.create_group("dataset1/data1/what")
        if quantity == "ACRR":
            raw = np.round(np.nan_to_num(depth) / 0.01).astype(np.uint16)
            raw[zero], raw[missing] = 0, 65535
            gain, offset, undetect, nodata = 0.01, 0.0, 0, 65535
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                dbz = dbz_from_rain_rate(depth * 12.0, relation.a, relation.b)
            codes = np.round((np.nan_to_num(dbz, neginf=0.0) - DBZH_OFFSET) / DBZH_GAIN)
            raw = np.clip(codes, 1, 254).astype(np.uint8)
            raw[zero], raw[missing] = DBZH_UNDETECT, DBZH_NODATA
            gain, offset, undetect, nodata = DBZH_GAIN, DBZH_OFFSET, DBZH_UNDETECT, DBZH_NODATA
        data_what.attrs["quantity"] = np.bytes_(quantity)
        data_what.attrs["gain"], data_what.attrs["offset"] = gain, offset
        data_what.attrs["undetect"], data_what.attrs["nodata"] = float(undetect), float(nodata)
        handle.create_dataset("dataset1/data1/data", data=raw, compression="gzip")


def grib_raw(data_root: Path) -> xr.Dataset:
    """The ERA5 GRIB opened directly with cfgrib, to compare the reader against."""
    return xr.open_dataset(
        data_root / ERA5_GRIB, engine="cfgrib", decode_timedelta=True,
        backend_kwargs={"indexpath": ""},
    ).load()  # fmt: skip


def read_eraint(path: Path, **options: Any) -> xr.Dataset:
    base: dict[str, Any] = {"variables": {"u": "ua", "v": "va", "z": "zg"}}
    return open_netcdf_grid(path, NetcdfGridOptions(**{**base, **options}), "era-interim")


# --------------------------------------------------------------------------- Z–R


def test_marshall_palmer_one_mm_per_hour_is_23_dbz() -> None:
    # Z = 200 · 1**1.6 = 200 mm6 m-3 → 10 log10(200) = 23.0103 dBZ
    assert dbz_from_rain_rate(1.0) == pytest.approx(23.0103, abs=1e-4)
    assert rain_rate_from_dbz(23.0103) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("preset", "dbz_at_10_mm_h"),
    [
        ("marshall-palmer", 10 * np.log10(200) + 16.0),  # 200 · 10**1.6 → 39.01 dBZ
        ("wsr88d-convective", 10 * np.log10(300) + 14.0),  # 300 · 10**1.4 → 38.77 dBZ
        ("rosenfeld-tropical", 10 * np.log10(250) + 12.0),  # 250 · 10**1.2 → 35.98 dBZ
    ],
)
def test_presets_match_hand_computed_reflectivity(preset: str, dbz_at_10_mm_h: float) -> None:
    relation = zr_preset(preset)
    assert dbz_from_rain_rate(10.0, relation.a, relation.b) == pytest.approx(dbz_at_10_mm_h)
    assert rain_rate_from_dbz(dbz_at_10_mm_h, relation.a, relation.b) == pytest.approx(10.0)


def test_zr_is_dask_safe_and_inverse() -> None:
    rates = np.array([[0.1, 1.0], [np.nan, 120.0]])
    lazy = xr.DataArray(da.from_array(rates, chunks=1), dims=("y", "x"))
    dbz = dbz_from_rain_rate(lazy, 300.0, 1.4)
    back = rain_rate_from_dbz(dbz, 300.0, 1.4)
    assert isinstance(back.data, da.Array)  # still lazy
    np.testing.assert_allclose(back.compute().values, rates)
    np.testing.assert_allclose(dbz.compute().values, dbz_from_rain_rate(rates, 300.0, 1.4))


def test_accumulation_and_bad_coefficients() -> None:
    assert accumulation_from_rate(12.0, 5 / 60) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive"):
        rain_rate_from_dbz(30.0, a=-200.0)
    with pytest.raises(ValueError, match="positive"):
        accumulation_from_rate(1.0, 0.0)
    with pytest.raises(ValueError, match="marshall-palmer"):
        zr_preset("nonsense")
    assert set(ZR_PRESETS) == {"marshall-palmer", "rosenfeld-tropical", "wsr88d-convective"}


# --------------------------------------------------------------------------- subset


def test_subset_descending_lat_and_0_360_lon_give_the_same_values(data_root: Path) -> None:
    era5 = GribReader().read(data_root / ERA5_GRIB, GribOptions(variables={"t2m": "tas"}), "era5")
    assert era5["lat"].values[0] > era5["lat"].values[-1]  # ERA5 runs north to south
    shifted = era5.assign_coords(lon=era5["lon"] % 360).isel(
        x=np.argsort(era5["lon"].values % 360)
    )  # the same field on a 0–360 grid: 0 … 2, 350 … 359.75
    box = (-6.0, 50.5, 1.0, 54.0)
    expected = subset_to_bbox(era5, *box)
    box_0_360 = (354.0, 50.5, 1.0, 54.0)
    for grid, bbox in ((shifted, box), (shifted, box_0_360), (era5, box_0_360)):
        cut = subset_to_bbox(grid, *bbox)
        np.testing.assert_array_equal(cut["lon"].values, expected["lon"].values)
        np.testing.assert_array_equal(cut["tas"].values, expected["tas"].values)
    assert expected.sizes["y"] == 15 and expected.sizes["x"] == 29  # 54…50.5, -6…1 by 0.25°
    assert expected["lat"].values[0] == 54.0 and expected["lon"].values[0] == -6.0


def test_subset_projected_grid_covers_the_box(knmi_frame: xr.Dataset) -> None:
    box = (4.5, 51.5, 6.0, 52.5)  # around De Bilt, in the KNMI polar stereographic grid
    cut = subset_to_bbox(knmi_frame, *box)
    assert 0 < cut.sizes["x"] < knmi_frame.sizes["x"] and 0 < cut.sizes["y"] < 200
    to_grid = pyproj.Transformer.from_crs("EPSG:4326", knmi_frame.attrs["crs"], always_xy=True)
    lon = np.concatenate([np.linspace(4.5, 6.0, 20), np.full(20, 6.0), np.linspace(4.5, 6.0, 20)])
    lat = np.concatenate([np.full(20, 51.5), np.linspace(51.5, 52.5, 20), np.full(20, 52.5)])
    x, y = to_grid.transform(lon, lat)
    half = 500.0  # half a 1 km pixel: the cut's outer cell edges enclose the box ...
    assert cut["x"].min() - half <= x.min() and x.max() <= cut["x"].max() + half
    assert cut["y"].min() - half <= y.min() and y.max() <= cut["y"].max() + half
    # ... and no more than that: the outermost cells still meet the box
    assert x.min() <= cut["x"].min() + half and cut["x"].max() - half <= x.max()
    assert y.min() <= cut["y"].min() + half and cut["y"].max() - half <= y.max()
    np.testing.assert_array_equal(
        cut["pr"].values, knmi_frame["pr"].sel(x=cut["x"], y=cut["y"]).values
    )


def test_subset_outside_the_grid_names_both_extents(knmi_frame: xr.Dataset) -> None:
    with pytest.raises(SourceError, match=r"113.*22.*does not intersect.*x .* to .*crs") as err:
        subset_to_bbox(knmi_frame, 113.7, 22.4, 114.7, 22.9, source="knmi", location="frames")
    assert err.value.source == "knmi"
    with pytest.raises(SourceError, match="south >= north"):
        subset_to_bbox(knmi_frame, 4.0, 53.0, 6.0, 52.0)


# --------------------------------------------------------------------------- odim-hdf5


def test_odim_acrr_round_trip_recovers_the_knmi_frame(
    knmi_frame: xr.Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "knmi_0400_acrr.h5"
    write_odim_from_knmi(knmi_frame, path, "ACRR")
    ds = get_reader("odim-hdf5").read(path, OdimHdf5Options(), "odim")
    validate_gridded_field(ds)
    knmi = knmi_frame["pr"].values
    assert ds["pr"].attrs["units"] == "mm"
    assert accumulation_interval(ds).total_seconds() == 300
    assert ds["time"].values[0] == np.datetime64("2010-08-26T04:00", "ns")
    np.testing.assert_array_equal(np.isnan(ds["pr"].values), np.isnan(knmi))
    np.testing.assert_allclose(ds["pr"].values, knmi, atol=1e-6, equal_nan=True)
    flags = ds["pr_flag"].values[0]
    assert (flags == 1).sum() == (knmi[0] == 0).sum() > 0  # undetect → 0 mm, flagged
    assert (flags == 2).sum() == np.isnan(knmi[0]).sum() == 398271  # nodata → NaN
    np.testing.assert_allclose(ds["x"].values, knmi_frame["x"].values, atol=1.0)
    np.testing.assert_allclose(ds["y"].values, knmi_frame["y"].values, atol=1.0)
    assert pyproj.CRS(ds.attrs["crs"]) == pyproj.CRS(knmi_frame.attrs["crs"])


@pytest.mark.parametrize("preset", ["marshall-palmer", "wsr88d-convective"])
def test_odim_dbzh_round_trip_within_quantisation(
    knmi_frame: xr.Dataset, tmp_path: Path, preset: str
) -> None:
    relation = zr_preset(preset)
    path = tmp_path / "knmi_0400_dbzh.h5"
    write_odim_from_knmi(knmi_frame, path, "DBZH", relation)
    ds = OdimHdf5Reader().read(path, OdimHdf5Options(zr_preset=preset), "odim")
    rate = ds["pr_rate"].values
    expected = knmi_frame["pr"].values * 12.0  # 5-minute depth → mm/h
    assert ds["pr_rate"].attrs["units"] == "mm h-1"
    assert f"Z = {relation.a:g} R^{relation.b:g}" in ds["pr_rate"].attrs["zr_relation"]
    half_step = 10 ** (DBZH_GAIN / 2 / (10 * relation.b)) - 1  # 3.66 % (MP), 4.2 % (WSR-88D)
    np.testing.assert_allclose(rate, expected, rtol=half_step * 1.001, equal_nan=True)
    assert np.array_equal(rate[expected == 0], expected[expected == 0])  # undetect → 0
    # the same file read with another relation gives other rates: the option is used
    other = OdimHdf5Reader().read(path, OdimHdf5Options(zr_a=250.0, zr_b=1.2), "odim")
    wet = expected > 1.0
    assert not np.allclose(other["pr_rate"].values[wet], expected[wet], rtol=0.05)


def test_odim_folder_stacks_frames_in_time(knmi_frame: xr.Dataset, tmp_path: Path) -> None:
    write_odim_from_knmi(knmi_frame, tmp_path / "a.h5", "ACRR")
    later = knmi_frame.assign_coords(time=knmi_frame["time"] + np.timedelta64(5, "m"))
    write_odim_from_knmi(later, tmp_path / "b.h5", "ACRR")
    ds = OdimHdf5Reader().read(tmp_path, OdimHdf5Options(), "odim")
    assert ds.sizes["time"] == 2
    assert list(ds["time"].values) == [
        np.datetime64("2010-08-26T04:00", "ns"), np.datetime64("2010-08-26T04:05", "ns")
    ]  # fmt: skip
    # Another product in the folder (reflectivity, nominal time 03:55: the oldest) is left
    # out and named; the frames of the newest one's product are read.
    write_odim_from_knmi(knmi_frame, tmp_path / "c.h5", "DBZH")
    mixed = OdimHdf5Reader().read(tmp_path, OdimHdf5Options(), "odim")
    assert mixed.sizes["time"] == 2 and "pr" in mixed
    assert mixed.attrs["rejected_files"] == (
        "c.h5: quantity DBZH differs from ACRR in b.h5 (read files of one product together "
        "('pattern'))"
    )
    shutil.copyfile(tmp_path / "b.h5", tmp_path / "d.h5")  # the same time twice: ambiguous
    with pytest.raises(SourceError, match=r"d\.h5.*2010-08-26T04:05:00Z is also the time of b\.h5"):
        OdimHdf5Reader().read(tmp_path, OdimHdf5Options(), "odim")


def test_odim_options_are_validated() -> None:
    with pytest.raises(ValidationError, match="both zr_a and zr_b"):
        OdimHdf5Options(zr_a=300.0)
    with pytest.raises(ValidationError, match="unknown zr_preset"):
        OdimHdf5Options(zr_preset="nonsense")
    with pytest.raises(ValidationError, match="either zr_preset or zr_a"):
        OdimHdf5Options(zr_preset="marshall-palmer", zr_a=300.0, zr_b=1.4)


def test_odim_truncated_file_names_the_file(knmi_frame: xr.Dataset, tmp_path: Path) -> None:
    path = tmp_path / "whole.h5"
    write_odim_from_knmi(knmi_frame, path, "ACRR")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SourceError, match=r"cut\.h5.*not a readable HDF5.*download") as err:
        OdimHdf5Reader().read(cut, OdimHdf5Options(), "odim")
    assert err.value.location == str(cut)


def test_odim_missing_required_attribute_names_the_field(
    knmi_frame: xr.Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "no_enddate.h5"
    write_odim_from_knmi(knmi_frame, path, "ACRR")
    with h5py.File(path, "a") as handle:
        del handle["dataset1/what"].attrs["enddate"]
    with pytest.raises(
        SourceError,
        match=r"'enddate' is missing \(looked in /dataset1/data1/what, /dataset1/what, /what\)",
    ):
        OdimHdf5Reader().read(path, OdimHdf5Options(), "odim")
    with h5py.File(path, "a") as handle:
        handle["where"].attrs["xscale"] = 2000.0
    with pytest.raises(SourceError, match=r"corners LL/UR span 700000.0 m in x.*1400000.0 m"):
        OdimHdf5Reader().read(path, OdimHdf5Options(quantity="ACRR"), "odim")


def test_odim_real_knmi_file_is_not_odim(data_root: Path) -> None:
    with pytest.raises(SourceError, match=r"'Conventions' is missing \(looked in /\)"):
        OdimHdf5Reader().read(data_root / KNMI_DIR / KNMI_0400, OdimHdf5Options(), "odim")


# --------------------------------------------------------------------------- netcdf-grid


def test_eraint_packed_int16_decodes_and_subsets_like_the_derived_file(data_root: Path) -> None:
    # SOURCES.md §8: the derived file is sel(latitude=slice(35, 10), longitude=slice(100, 130))
    # of the global one, cast to float32; the difference must stay below 4e-6.
    glob = read_eraint(data_root / ERAINT, subset=SOUTH_CHINA)
    derived = read_eraint(data_root / ERAINT_SOUTH_CHINA)
    assert dict(glob.sizes) == {"month": 2, "level": 3, "y": 33, "x": 40}
    np.testing.assert_array_equal(glob["lat"].values, derived["lat"].values)
    np.testing.assert_array_equal(glob["lon"].values, derived["lon"].values)
    for name in ("ua", "va"):
        np.testing.assert_allclose(glob[name].values, derived[name].values, rtol=0, atol=4e-6)
    # z ~ 1.2e5 m2 s-2: float32 keeps 7 digits, so compare relatively
    np.testing.assert_allclose(glob["zg"].values, derived["zg"].values, rtol=1e-7)
    # unpacking by hand: value = int16 · scale_factor + add_offset (scale_factor < 0 here)
    with xr.open_dataset(data_root / ERAINT, decode_cf=False) as raw:
        u = raw["u"]
        packed = int(u.isel(month=1, level=2).sel(latitude=22.5, longitude=114.0).item())
        by_hand = packed * u.attrs["scale_factor"] + u.attrs["add_offset"]
    assert glob["ua"].sel(month=7, level=850).isel(
        y=int(np.flatnonzero(glob["lat"].values == 22.5)[0]),
        x=int(np.flatnonzero(glob["lon"].values == 114.0)[0]),
    ).item() == pytest.approx(by_hand)  # fmt: skip
    # zg is the geopotential divided by standard gravity; units recorded
    assert glob["zg"].attrs["units"] == "m" and glob["zg"].attrs["original_units"] == "m**2 s**-2"
    assert glob["zg"].sel(level=500).mean().item() * STANDARD_GRAVITY == pytest.approx(
        derived["zg"].sel(level=500).mean().item() * STANDARD_GRAVITY, rel=1e-7
    )
    assert 5500 < glob["zg"].sel(level=500).mean().item() < 5950  # 500 hPa height, subtropics


def test_eraint_level_selection(data_root: Path) -> None:
    one = read_eraint(data_root / ERAINT_SOUTH_CHINA, level=850)
    assert "level" not in one.dims and one["level"].item() == 850
    two = read_eraint(data_root / ERAINT_SOUTH_CHINA, level=[500.0, 200.0])
    assert list(two["level"].values) == [500, 200]
    with pytest.raises(SourceError, match=r"level\(s\) \[700.0\] not in level"):
        read_eraint(data_root / ERAINT_SOUTH_CHINA, level=700)


def test_monthly_climatology_is_refused_with_the_reason(data_root: Path) -> None:
    options = NetcdfGridOptions(variables={"u": "ua"})
    with pytest.raises(SourceError, match=r"no time axis 'time'.*'month' is a climatology") as e:
        NetcdfGridReader().read(data_root / ERAINT_SOUTH_CHINA, options, "era-interim")
    assert "open_netcdf_grid" in e.value.fix
    with pytest.raises(SourceError, match=r"axis 'month' holds int32 values \[1, 7\], not times"):
        NetcdfGridReader().read(
            data_root / ERAINT_SOUTH_CHINA, NetcdfGridOptions(variables={"u": "ua"}, time="month"),
            "era-interim",
        )  # fmt: skip


def test_netcdf_analysis_and_forecast_from_era5_written_to_netcdf(
    data_root: Path, tmp_path: Path
) -> None:
    raw = grib_raw(data_root)
    path = tmp_path / "era5_t2m.nc"
    raw.drop_vars("valid_time").to_netcdf(path)  # time (744), scalar step, K
    analysis = NetcdfGridReader().read(
        path, NetcdfGridOptions(variables={"t2m": "tas"}, subset=(-6, 50, 0, 55)), "era5-nc"
    )
    assert analysis["tas"].dims == ("time", "y", "x")
    assert analysis["tas"].attrs["units"] == "degC"
    expected = raw["t2m"].sel(latitude=slice(55, 50), longitude=slice(-6, 0)) - 273.15
    np.testing.assert_allclose(analysis["tas"].values, expected.values, atol=1e-4)
    forecast = NetcdfGridReader().read(
        path,
        NetcdfGridOptions(variables={"t2m": "tas"}, reference_time="time", lead_time="step"),
        "era5-nc",
    )
    assert forecast["tas"].dims == ("reference_time", "lead_time", "y", "x")
    np.testing.assert_array_equal(
        forecast["valid_time"].values[:, 0], forecast["reference_time"].values
    )


def test_netcdf_projected_radar_frames_eager_and_lazy(
    knmi_frame: xr.Dataset, tmp_path: Path
) -> None:
    path = tmp_path / "knmi.nc"
    knmi_frame.to_netcdf(path)
    options: dict[str, Any] = {"variables": {"pr": "pr", "pr_flag": "pr_flag"}}
    eager = NetcdfGridReader().read(path, NetcdfGridOptions(**options), "knmi-nc")
    np.testing.assert_array_equal(eager["pr"].values, knmi_frame["pr"].values)
    assert eager.attrs["crs"] == knmi_frame.attrs["crs"]
    assert eager["pr"].attrs["cell_methods"] == "time: sum (interval: 5 minute)"
    lazy = NetcdfGridReader().read(
        path, NetcdfGridOptions(**options, chunks={"y": 200}, subset=(4.5, 51.5, 6.0, 52.5)),
        "knmi-nc",
    )  # fmt: skip
    assert isinstance(lazy["pr"].data, da.Array)
    expected = subset_to_bbox(knmi_frame, 4.5, 51.5, 6.0, 52.5)["pr"].values
    np.testing.assert_array_equal(lazy["pr"].values, expected)
    lazy.close()


def test_netcdf_wrong_units_missing_units_and_missing_variable(
    data_root: Path, tmp_path: Path
) -> None:
    derived = data_root / ERAINT_SOUTH_CHINA
    with pytest.raises(SourceError, match=r"'u' \(→ tas\) has units 'm s\*\*-1'.*'degC'"):
        open_netcdf_grid(derived, NetcdfGridOptions(variables={"u": "tas"}), "era-interim")
    with pytest.raises(SourceError, match=r"variable\(s\) \['t2m'\] not found.*'u', 'v', 'z'"):
        open_netcdf_grid(derived, NetcdfGridOptions(variables={"t2m": "tas"}), "era-interim")
    with xr.open_dataset(derived) as ds:
        no_units = ds.load()
    del no_units["u"].attrs["units"]
    path = tmp_path / "no_units.nc"
    no_units.to_netcdf(path)
    with pytest.raises(SourceError, match=r"no_units\.nc.*'u' \(→ ua\) has no 'units'") as err:
        open_netcdf_grid(path, NetcdfGridOptions(variables={"u": "ua"}), "era-interim")
    assert "add units" in err.value.fix


def test_netcdf_corrupt_file_is_a_source_error(data_root: Path, tmp_path: Path) -> None:
    data = bytearray((data_root / ERAINT_SOUTH_CHINA).read_bytes())
    data[0:512] = b"\xff" * 512  # HDF5 superblock and root header overwritten
    path = tmp_path / "corrupt.nc"
    path.write_bytes(bytes(data))
    options = NetcdfGridOptions(variables={"u": "ua"})
    with pytest.raises(SourceError, match=r"corrupt\.nc.*not a readable NetCDF"):
        NetcdfGridReader().read(path, options, "era-interim")


def test_netcdf_options_are_validated() -> None:
    with pytest.raises(ValidationError, match="both reference_time and lead_time"):
        NetcdfGridOptions(variables={"t2m": "tas"}, reference_time="time")
    with pytest.raises(ValidationError, match="two file variables to one CF name"):
        NetcdfGridOptions(variables={"t2m": "tas", "t": "tas"})
    with pytest.raises(ValidationError, match="extra"):
        NetcdfGridOptions(variables={"t2m": "tas"}, bbox=[0, 0, 1, 1])  # type: ignore[call-arg]


# --------------------------------------------------------------------------- grib


def test_grib_era5_maps_to_the_forecast_contract(data_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / ERA5_GRIB.name
    shutil.copy(data_root / ERA5_GRIB, copy)
    ds = get_reader("grib").read(copy, GribOptions(variables={"t2m": "tas"}), "era5")
    assert list(tmp_path.iterdir()) == [copy]  # no .idx written next to the data
    validate_gridded_field(ds)
    assert ds["tas"].dims == ("reference_time", "lead_time", "y", "x")
    assert dict(ds.sizes) == {"reference_time": 744, "lead_time": 1, "y": 33, "x": 49}
    assert ds["reference_time"].values[0] == np.datetime64("2019-03-01T00:00", "ns")
    assert ds["reference_time"].values[-1] == np.datetime64("2019-03-31T23:00", "ns")
    np.testing.assert_array_equal(ds["valid_time"].values[:, 0], ds["reference_time"].values)
    assert ds["lat"].values[0] == 58.0 and ds["lon"].values[0] == -10.0
    assert ds["tas"].attrs["units"] == "degC" and ds["tas"].attrs["original_units"] == "K"
    assert ds["tas"].attrs["standard_name"] == "air_temperature"
    raw = grib_raw(data_root)
    np.testing.assert_allclose(
        ds["tas"].values[:, 0], raw["t2m"].values - 273.15, atol=1e-4
    )  # K → degC, converted once and recorded
    assert "member" not in ds.dims and "number" not in ds.variables
    assert grib_message_count(copy) == 744


def test_grib_subset_filter_and_lazy(data_root: Path) -> None:
    path = data_root / ERA5_GRIB
    ds = GribReader().read(
        path,
        GribOptions(
            variables={"t2m": "tas"}, filter_by_keys={"shortName": "2t"},
            subset=(354.0, 51.0, 1.0, 53.0), chunks={"reference_time": 100},
        ),
        "era5",
    )  # fmt: skip
    assert isinstance(ds["tas"].data, da.Array)
    assert ds["lon"].values[0] == -6.0 and ds["lon"].values[-1] == 1.0
    assert ds["lat"].values[0] == 53.0 and ds["lat"].values[-1] == 51.0
    eager = GribReader().read(path, GribOptions(variables={"t2m": "tas"}), "era5")
    np.testing.assert_array_equal(
        ds["tas"].values, eager["tas"].sel(y=slice(20, 29), x=slice(16, 45)).values
    )
    ds.close()
    with pytest.raises(SourceError, match=r"\['t2m'\] not found"):
        GribReader().read(
            path, GribOptions(variables={"t2m": "tas"}, filter_by_keys={"shortName": "10u"}),
            "era5",
        )  # fmt: skip


def test_grib_truncated_file_is_detected(data_root: Path, tmp_path: Path) -> None:
    data = (data_root / ERA5_GRIB).read_bytes()
    cut = tmp_path / "cut.grib"
    cut.write_bytes(data[: len(data) // 2 + 100])  # 372 whole messages of 3360 B, and 100 B
    # cfgrib alone returns the 372 complete messages without an error: hence the check
    alone = xr.open_dataset(cut, engine="cfgrib", decode_timedelta=True,
                            backend_kwargs={"indexpath": ""})  # fmt: skip
    assert alone.sizes["time"] == 372
    alone.close()
    with pytest.raises(SourceError, match=r"cut\.grib.*message 373 at byte 1249920.*truncated"):
        GribReader().read(cut, GribOptions(variables={"t2m": "tas"}), "era5")


def test_grib_damaged_and_wrong_units(data_root: Path, tmp_path: Path) -> None:
    data = bytearray((data_root / ERA5_GRIB).read_bytes())
    data[3360 + 3338 : 3360 + 3342] = b"XXXX"  # the end marker of message 2
    path = tmp_path / "damaged.grib"
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=r"message 2 at byte 3360 does not end with '7777'"):
        GribReader().read(path, GribOptions(variables={"t2m": "tas"}), "era5")
    with pytest.raises(SourceError, match=r"'t2m' \(→ pr\) has units 'K'.*'mm'"):
        GribReader().read(data_root / ERA5_GRIB, GribOptions(variables={"t2m": "pr"}), "era5")


def test_readers_are_registered_under_their_names() -> None:
    for name, cls in (
        ("odim-hdf5", OdimHdf5Reader), ("netcdf-grid", NetcdfGridReader), ("grib", GribReader)
    ):  # fmt: skip
        reader = get_reader(name)
        assert isinstance(reader, cls) and reader.contract == "gridded field"
