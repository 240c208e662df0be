"""KNMI radar precipitation composites (KNMI HDF5, one file per frame) → gridded field.

Source
    ``radar/knmi_20100826/RAD_NL25_RAP_5min_*.h5`` (SOURCES.md §7.1): 92 five-minute
    precipitation accumulations of the Dutch radar composite, 2010-08-26 00:00-07:35 UTC,
    KNMI open data (copied from ``pySTEPS/pysteps-data``).

Format (KNMI HDF5, ``overview/hdftag_version_number`` 3.5)
    ``image1/image_data``
        ``uint16`` pixel values (PV), ``geo_number_rows`` × ``geo_number_columns``
        (765 × 700), first row at the top (north).
    ``image1/calibration``
        ``calibration_formulas`` such as ``GEO=0.01*PV+0.0``; ``calibration_missing_data`` and
        ``calibration_out_of_image`` (both 65535 here, so the two cannot be told apart).
    ``image1`` attribute ``image_geo_parameter``
        quantity and unit, ``ACCUMULATED_PRECIPITATION_[MM]``.
    ``overview``
        ``product_datetime_start``/``product_datetime_end`` such as
        ``26-AUG-2010;07:30:00.000`` (UTC).
    ``geographic``
        ``geo_row_offset``/``geo_column_offset`` (pixels from the projection origin to the
        upper-left corner), ``geo_pixel_size_x``/``_y`` (in ``geo_dim_pixel`` units, km;
        ``y`` negative: rows run south), ``geo_product_corners`` (lon/lat of the corners).
    ``geographic/map_projection``
        ``projection_proj4_params``, a polar stereographic projection written in km
        (``+a=6378.137 +b=6356.752``).

Output (contract "gridded field")
    dims ``(time, y, x)``. ``pr`` (float32, mm per interval) = ``a * PV + b`` with ``a`` and
    ``b`` parsed from each file's calibration formula, NaN where PV is a missing or
    out-of-image code; ``cell_methods = "time: sum (interval: 5 minute)"`` (the interval is
    ``end - start`` of the product, which must be the same in every file). ``time`` is
    ``product_datetime_end``, the end of the accumulation. ``pr_flag`` is 0 ``good`` or 1
    ``missing_or_outside_image``. ``x``/``y`` are 1-D cell-centre coordinates in metres,
    ``x = (column_offset + j + 0.5) * size_x``, ``y = (row_offset + i + 0.5) * size_y`` with
    ``i = 0`` the top row (so ``y`` descends). The dataset attribute ``crs`` is the file's
    proj4 string converted to metres (``+a``, ``+b``, ``+x_0``, ``+y_0`` × 1000,
    ``+units=m``).

Frames are read eagerly with h5py and sorted by ``time``; select times afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np
import xarray as xr
from pydantic import Field

from ingest.contracts import validate_gridded_field
from ingest.errors import SourceError
from ingest.readers import (
    ReaderOptions,
    frames_in_time,
    no_matching_files,
    read_each,
    register_reader,
    rejected_files_text,
)
from ingest.units import UnitsError, convert

__all__ = ["KnmiHdf5Options", "KnmiHdf5Reader"]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_FORMULA = re.compile(rf"\s*GEO\s*=\s*({_NUMBER})\s*\*\s*PV\s*(?:([-+])\s*({_NUMBER}))?\s*")
_PARAMETER = re.compile(r"ACCUMULATED_PRECIPITATION_\[([^\]]+)\]")
_DATETIME = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4});(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_PROJ_LENGTHS = ("a", "b", "R", "x_0", "y_0")
_MALFORMED = "the file does not follow the KNMI HDF5 format; download it again"
_FLAG_MEANINGS = ("good", "missing_or_outside_image")
_GOOD, _MISSING = range(len(_FLAG_MEANINGS))


class KnmiHdf5Options(ReaderOptions):
    """Options of :class:`KnmiHdf5Reader`.

    Parameters
    ----------
    pattern
        Glob pattern of the files to read inside the folder.
    """

    pattern: str = Field(default="RAD_NL25_RAP_5min_*.h5", min_length=1)


@dataclass(frozen=True)
class _Grid:
    """Geometry of a frame; two frames can be stacked only if their grids are equal."""

    rows: int
    columns: int
    row_offset: float
    column_offset: float
    size_x: float
    size_y: float
    metres_per_unit: float
    proj4: str


@dataclass(frozen=True)
class _Frame:
    """One file: its times, grid, unit factor, calibration and raw pixel values."""

    path: Path
    start: datetime
    end: datetime
    grid: _Grid
    scale: float
    offset: float
    no_data: tuple[int, ...]
    pixels: np.ndarray


@register_reader
class KnmiHdf5Reader:
    """Reader of a folder of KNMI HDF5 radar precipitation composites."""

    name: ClassVar[str] = "knmi-hdf5"
    contract: ClassVar[str] = "gridded field"
    Options: ClassVar[type[ReaderOptions]] = KnmiHdf5Options

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read every file matching ``options.pattern`` in the folder ``path``.

        Parameters
        ----------
        path
            The folder holding the HDF5 files.
        options
            A :class:`KnmiHdf5Options`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            ``pr`` (mm per interval) and ``pr_flag`` on ``(time, y, x)``, attribute ``crs``.

        Raises
        ------
        SourceError
            If the folder is missing or holds no matching file, a file is not readable
            HDF5 or lacks a field, its grid or interval differs from the first file's, or
            two files hold the same time. The message names the file and the field.
        """
        return self.read_files(path, self.inputs(path, options, source), options, source)

    def inputs(self, path: Path, options: ReaderOptions, source: str) -> list[Path]:
        """The files of the folder ``path`` matching the ``pattern`` option, sorted."""
        if not isinstance(options, KnmiHdf5Options):
            raise TypeError(f"expected KnmiHdf5Options, got {type(options).__name__}")
        if not path.is_dir():
            raise SourceError(
                source, str(path), "is not a folder", "give the folder holding the HDF5 files"
            )
        return sorted(path.glob(options.pattern))

    def read_files(
        self, path: Path, files: Sequence[Path], options: ReaderOptions, source: str
    ) -> xr.Dataset:
        """Read ``files`` of the folder ``path`` (see :meth:`read`)."""
        if not isinstance(options, KnmiHdf5Options):
            raise TypeError(f"expected KnmiHdf5Options, got {type(options).__name__}")
        if not files:
            raise no_matching_files(source, path, options.pattern)
        read, rejected = read_each(files, lambda file: _read_frame(file, source), source)
        frames, other_product = frames_in_time(
            read,
            lambda frame: frame.end,
            lambda frame, newest: _check_same_product(frame, newest, source),
            source,
            "overview/product_datetime_end",
        )
        dataset = _build_dataset(frames)
        dataset.attrs["rejected_files"] = rejected_files_text(rejected + other_product)
        return validate_gridded_field(dataset)


def _read_frame(path: Path, source: str) -> _Frame:
    """Read one HDF5 file; every problem becomes a :class:`SourceError` naming it."""
    try:
        with h5py.File(path, "r") as handle:
            return _frame_from(handle, path, source)
    except OSError as err:
        raise SourceError(
            source,
            str(path),
            f"is not a readable HDF5 file ({err})",
            "download the file again; it may be truncated or corrupt",
        ) from None


class _Attributes:
    """Reads scalar attributes of an open file; a missing or malformed one names the field."""

    def __init__(self, handle: h5py.File, path: Path, source: str) -> None:
        self.handle = handle
        self.path = path
        self.source = source

    def fail(self, problem: str, fix: str) -> SourceError:
        return SourceError(self.source, str(self.path), problem, fix)

    def _scalar(self, group: str, name: str) -> Any:
        if group not in self.handle or name not in self.handle[group].attrs:
            raise self.fail(f"attribute {group}/{name} is missing", _MALFORMED)
        value = np.asarray(self.handle[group].attrs[name]).ravel()
        if value.size != 1:
            raise self.fail(f"attribute {group}/{name} has {value.size} values, not 1", _MALFORMED)
        return value[0]

    def text(self, group: str, name: str) -> str:
        item = self._scalar(group, name)
        if not isinstance(item, bytes | str):
            raise self.fail(f"attribute {group}/{name} = {item!r} is not text", _MALFORMED)
        return (item.decode("ascii", "replace") if isinstance(item, bytes) else item).strip()

    def number(self, group: str, name: str) -> float:
        item = self._scalar(group, name)
        if not isinstance(item, np.integer | np.floating) or not np.isfinite(item):
            raise self.fail(f"attribute {group}/{name} = {item!r} is not a number", _MALFORMED)
        return float(item)


def _frame_from(handle: h5py.File, path: Path, source: str) -> _Frame:
    """Read times, grid, calibration and pixels of an open file."""
    attrs = _Attributes(handle, path, source)
    fail = attrs.fail
    parameter = attrs.text("image1", "image_geo_parameter")
    match = _PARAMETER.fullmatch(parameter)
    if match is None:
        raise fail(f"image1/image_geo_parameter is {parameter!r}", "read a precipitation product")
    formula = attrs.text("image1/calibration", "calibration_formulas")
    calibration = _FORMULA.fullmatch(formula)
    if calibration is None:
        raise fail(
            f"image1/calibration/calibration_formulas {formula!r} is not 'GEO=a*PV+b'",
            "this reader supports linear calibrations only",
        )
    dim_pixel = attrs.text("geographic", "geo_dim_pixel")
    pixel_units = {unit.strip().lower() for unit in dim_pixel.split(",")}
    pixel_def = attrs.text("geographic", "geo_pixel_def")
    if len(pixel_units) != 1 or pixel_def != "LU":
        raise fail(
            f"geographic/geo_dim_pixel {sorted(pixel_units)} or geo_pixel_def {pixel_def!r} "
            "is not one unit for both axes with offsets to the upper-left corner ('LU')",
            "this reader supports the KNMI 'LU' pixel definition only",
        )
    try:
        to_mm = float(convert(1.0, match.group(1).lower(), "mm"))
        metres = float(convert(1.0, pixel_units.pop(), "m"))
    except UnitsError as err:
        raise fail(
            f"unit of image1/image_geo_parameter or geographic/geo_dim_pixel: {err}",
            "expected a depth (MM) and a pixel length (KM)",
        ) from None
    sign = -1.0 if calibration.group(2) == "-" else 1.0
    grid = _Grid(
        rows=int(attrs.number("geographic", "geo_number_rows")),
        columns=int(attrs.number("geographic", "geo_number_columns")),
        row_offset=attrs.number("geographic", "geo_row_offset"),
        column_offset=attrs.number("geographic", "geo_column_offset"),
        size_x=attrs.number("geographic", "geo_pixel_size_x"),
        size_y=attrs.number("geographic", "geo_pixel_size_y"),
        metres_per_unit=metres,
        proj4=_proj4_in_metres(
            attrs.text("geographic/map_projection", "projection_proj4_params"), metres, fail
        ),
    )
    if "image1/image_data" not in handle:
        raise fail("dataset image1/image_data is missing", _MALFORMED)
    pixels = np.asarray(handle["image1/image_data"][...])
    if pixels.shape != (grid.rows, grid.columns) or pixels.dtype.kind not in "ui":
        raise fail(
            f"image1/image_data is {pixels.dtype} {pixels.shape}, geographic says "
            f"{grid.rows} x {grid.columns} integers",
            "download the file again",
        )
    start = _parse_time(attrs.text("overview", "product_datetime_start"), fail)
    end = _parse_time(attrs.text("overview", "product_datetime_end"), fail)
    if end <= start:
        raise fail(
            f"overview/product_datetime_end {end} is not after product_datetime_start {start}",
            "download the file again",
        )
    return _Frame(
        path=path,
        start=start,
        end=end,
        grid=grid,
        scale=float(calibration.group(1)) * to_mm,
        offset=sign * float(calibration.group(3) or 0.0) * to_mm,
        no_data=(
            int(attrs.number("image1/calibration", "calibration_missing_data")),
            int(attrs.number("image1/calibration", "calibration_out_of_image")),
        ),
        pixels=pixels,
    )


def _parse_time(text: str, fail: Callable[[str, str], SourceError]) -> datetime:
    """Parse ``26-AUG-2010;07:30:00.000`` (UTC) without depending on the locale."""
    match = _DATETIME.fullmatch(text)
    month = match.group(2).upper() if match else ""
    if match is None or month not in _MONTHS:
        raise fail(
            f"overview time {text!r} is not DD-MON-YYYY;HH:MM:SS.fff", "download the file again"
        )
    day, _, year, hour, minute, second, fraction = match.groups()
    microsecond = int((fraction or "0").ljust(6, "0"))
    try:
        return datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second),
            microsecond,
        )  # fmt: skip
    except ValueError as err:
        raise fail(f"overview time {text!r} is not a valid time ({err})", _MALFORMED) from None


def _proj4_in_metres(
    proj4: str, metres_per_unit: float, fail: Callable[[str, str], SourceError]
) -> str:
    """Scale the length parameters of a proj4 string written in pixel units (km) to metres.

    KNMI writes the ellipsoid in km (``+a=6378.137``) so that projected coordinates come out
    in km; PROJ reads ``+a``, ``+b``, ``+R``, ``+x_0``, ``+y_0`` as metres, hence the scaling.
    """
    tokens: list[str] = []
    semi_major: float | None = None
    for token in proj4.split():
        key, _, value = token.lstrip("+").partition("=")
        if key in ("units", "to_meter", "no_defs"):
            continue
        if _is_number(value):
            number = float(value) * (metres_per_unit if key in _PROJ_LENGTHS else 1.0)
            value = f"{number:.6f}".rstrip("0").rstrip(".")
            semi_major = number if key in ("a", "R") else semi_major
        tokens.append(f"+{key}={value}" if value else f"+{key}")
    if semi_major is not None and not 6.3e6 < semi_major < 6.4e6:
        raise fail(
            f"geographic/map_projection/projection_proj4_params {proj4!r}: the Earth radius "
            f"scaled to metres would be {semi_major:g} m",
            "the ellipsoid must be written in the pixel unit (geo_dim_pixel), as KNMI does",
        )
    return " ".join([*tokens, "+units=m", "+no_defs"])


def _is_number(text: str) -> bool:
    return re.fullmatch(_NUMBER, text) is not None


def _check_same_product(frame: _Frame, newest: _Frame, source: str) -> None:
    """Refuse a frame whose grid or accumulation interval differs from the newest one."""
    if frame.grid != newest.grid:
        raise SourceError(
            source,
            str(frame.path),
            f"grid {frame.grid} differs from the grid of {newest.path.name} ({newest.grid})",
            "read files of one product (same grid) together; adjust the 'pattern' option",
        )
    if frame.end - frame.start != newest.end - newest.start:
        raise SourceError(
            source,
            str(frame.path),
            f"accumulation interval {frame.end - frame.start} differs from "
            f"{newest.end - newest.start} in {newest.path.name}",
            "read files of one product (same interval) together",
        )


def _interval_text(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    return f"{seconds // 60} minute" if seconds % 60 == 0 else f"{seconds} second"


def _build_dataset(frames: list[_Frame]) -> xr.Dataset:
    """Calibrate the frames and assemble the contract dataset."""
    grid = frames[0].grid
    shape = (len(frames), grid.rows, grid.columns)
    pr = np.empty(shape, dtype=np.float32)
    flags = np.empty(shape, dtype=np.int8)
    for index, frame in enumerate(frames):
        missing = np.isin(frame.pixels, frame.no_data)
        values = frame.pixels.astype(np.float32) * np.float32(frame.scale)
        values += np.float32(frame.offset)
        values[missing] = np.nan
        pr[index] = values
        flags[index] = np.where(missing, _MISSING, _GOOD)
    interval = frames[0].end - frames[0].start
    x = (grid.column_offset + np.arange(grid.columns) + 0.5) * grid.size_x * grid.metres_per_unit
    y = (grid.row_offset + np.arange(grid.rows) + 0.5) * grid.size_y * grid.metres_per_unit
    times = np.array([frame.end for frame in frames], dtype="datetime64[ns]")
    dims = ("time", "y", "x")
    return xr.Dataset(
        data_vars={
            "pr": (
                dims,
                pr,
                {
                    "standard_name": "lwe_thickness_of_precipitation_amount",
                    "long_name": "radar precipitation accumulation",
                    "units": "mm",
                    "cell_methods": f"time: sum (interval: {_interval_text(interval)})",
                    "ancillary_variables": "pr_flag",
                },
            ),
            "pr_flag": (
                dims,
                flags,
                {
                    "long_name": "quality flag of pr",
                    "standard_name": "status_flag",
                    "units": "1",
                    "flag_values": np.arange(len(_FLAG_MEANINGS), dtype=np.int8),
                    "flag_meanings": " ".join(_FLAG_MEANINGS),
                },
            ),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": "end of interval"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m"}),
        },
        attrs={
            "title": "KNMI radar precipitation accumulation composite",
            "source": f"{frames[0].path.name} ... {frames[-1].path.name}, KNMI (KNMI HDF5)",
            "institution": "KNMI (Royal Netherlands Meteorological Institute)",
            "references": "KNMI Data Platform, https://dataplatform.knmi.nl/ (open data)",
            "crs": grid.proj4,
        },
    )
