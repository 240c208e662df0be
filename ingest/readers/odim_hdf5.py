"""EUMETNET OPERA ODIM_H5 2.x Cartesian radar products (composites, images) → gridded field.

Format (ODIM_H5 information model, Michelson et al., versions 2.0-2.4)
    root attribute ``Conventions``
        ``ODIM_H5/V2_x``.
    ``/what``
        ``object`` (``COMP`` composite or ``IMAGE``), ``version`` (``H5rad 2.x``), ``date``
        (``YYYYMMDD``) and ``time`` (``HHMMSS``): the nominal time, UTC.
    ``/where``
        ``projdef`` (PROJ string), ``xsize``/``ysize`` (columns/rows), ``xscale``/``yscale``
        (pixel size in metres), ``LL_lon``/``LL_lat``, ``UL_*``, ``UR_*``, ``LR_*``: the outer
        corners of the corner pixels. The first row of an image is its northern (upper) row.
    ``/datasetN/dataM/what`` (inheriting from ``/datasetN/what``, then ``/what``)
        ``quantity`` (``DBZH`` reflectivity dBZ, ``RATE`` rain rate mm/h, ``ACRR``
        accumulated precipitation mm), ``gain``, ``offset`` (physical = gain · raw + offset),
        ``nodata`` (raw code: not scanned), ``undetect`` (raw code: scanned, nothing
        detected), ``startdate``/``starttime``/``enddate``/``endtime``.
    ``/datasetN/dataM/data``
        the raw array, ``ysize`` × ``xsize``.

Output (contract "gridded field"), dims ``(time, y, x)``
    ``ACRR``
        ``pr`` (float32, mm per interval, ``cell_methods = "time: sum (interval: …)"``);
        ``time`` is ``enddate``/``endtime``, the end of the accumulation (required).
    ``RATE``, ``DBZH``
        ``pr_rate`` (float32, mm h-1); ``time`` is the nominal ``/what`` date and time. DBZH is
        converted with the configured Z–R relation (:mod:`ingest.zr`), recorded in the
        variable's ``zr_relation`` attribute.
    ``undetect`` becomes 0 (detected no rain) with flag ``below_detection``; ``nodata``
        becomes NaN with flag ``no_data``; other pixels have flag ``good`` (``<var>_flag``).
    ``x``/``y`` are cell centres in metres, from the corners projected with ``projdef``:
        ``x = LL_x + (j + 0.5) xscale``, ``y = UR_y - (i + 0.5) yscale``; the dataset attribute
        ``crs`` is ``projdef``. The corners must agree with ``xsize · xscale`` (within 1 %).

``path`` is one file or a folder (files matching ``pattern``, stacked along ``time``). Files
are read eagerly with h5py and closed before returning.

References
----------
Michelson, D. B. et al.: EUMETNET OPERA weather radar information model for implementation
with the HDF5 file format, version 2.3 (2019) and 2.4 (2021), EUMETNET OPERA.
pysteps, ``pysteps.io.importers.import_odim_hdf5`` (gain/offset, nodata/undetect handling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import h5py
import numpy as np
import xarray as xr
from pydantic import Field, model_validator

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
from ingest.zr import ZR_PRESETS, ZRRelation, rain_rate_from_dbz, zr_preset

__all__ = ["OdimHdf5Options", "OdimHdf5Reader"]

_QUANTITIES = ("ACRR", "DBZH", "RATE")
_FLAG_MEANINGS = ("good", "below_detection", "no_data")
_GOOD, _UNDETECT, _NODATA = range(len(_FLAG_MEANINGS))
_MALFORMED = "the file does not follow ODIM_H5 2.x; check the producer or download it again"


class OdimHdf5Options(ReaderOptions):
    """Options of :class:`OdimHdf5Reader`.

    Parameters
    ----------
    pattern
        Glob pattern of the files to read when the path is a folder.
    quantity
        ``ACRR``, ``RATE`` or ``DBZH``; ``None`` takes the only one of these in the file.
    zr_preset
        Name of a Z–R relation in :data:`ingest.zr.ZR_PRESETS`, used for ``DBZH``.
    zr_a, zr_b
        A custom relation ``Z = a R^b``; give both (they replace the preset) or neither.
    """

    pattern: str = Field(default="*.h5", min_length=1)
    quantity: Literal["ACRR", "DBZH", "RATE"] | None = None
    zr_preset: str = "marshall-palmer"
    zr_a: float | None = Field(default=None, gt=0)
    zr_b: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_zr(self) -> OdimHdf5Options:
        if (self.zr_a is None) != (self.zr_b is None):
            raise ValueError("give both zr_a and zr_b (Z = a R^b), or neither to use zr_preset")
        if self.zr_preset not in ZR_PRESETS:
            raise ValueError(
                f"unknown zr_preset {self.zr_preset!r}; available: {', '.join(sorted(ZR_PRESETS))}"
            )
        if self.zr_a is not None and "zr_preset" in self.model_fields_set:
            raise ValueError("give either zr_preset or zr_a/zr_b, not both")
        return self

    def relation(self) -> ZRRelation:
        """The Z–R relation these options select."""
        if self.zr_a is not None and self.zr_b is not None:
            return ZRRelation(self.zr_a, self.zr_b, "configured (zr_a, zr_b)")
        return zr_preset(self.zr_preset)


@dataclass(frozen=True)
class _Grid:
    xsize: int
    ysize: int
    xscale: float
    yscale: float
    projdef: str
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class _Frame:
    path: Path
    quantity: str
    time: datetime
    start: datetime | None
    end: datetime | None
    grid: _Grid
    values: np.ndarray  # float32, physical units, NaN at nodata
    flags: np.ndarray  # int8


class _Odim:
    """Attribute access with ODIM inheritance; a missing or malformed field names itself."""

    def __init__(self, handle: h5py.File, path: Path, source: str) -> None:
        self.handle = handle
        self.path = path
        self.source = source

    def fail(self, problem: str, fix: str = _MALFORMED) -> SourceError:
        return SourceError(self.source, str(self.path), problem, fix)

    def find(self, groups: tuple[str, ...], name: str) -> tuple[str, Any] | None:
        for group in groups:
            if group in self.handle and name in self.handle[group].attrs:
                return group, self.handle[group].attrs[name]
        return None

    def missing(self, groups: tuple[str, ...], name: str) -> SourceError:
        places = ", ".join(f"/{g.strip('/')}" for g in groups)
        return self.fail(f"attribute {name!r} is missing (looked in {places})")

    def get(self, groups: tuple[str, ...], name: str) -> tuple[str, Any]:
        found = self.find(groups, name)
        if found is None:
            raise self.missing(groups, name)
        return found

    def text(self, groups: tuple[str, ...], name: str) -> str:
        group, value = self.get(groups, name)
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.ravel()[0]
        if isinstance(value, bytes):
            return value.decode("ascii", "replace").strip()
        if isinstance(value, str):
            return value.strip()
        raise self.fail(f"attribute {group}/{name} = {value!r} is not text")

    def number(self, groups: tuple[str, ...], name: str, default: float | None = None) -> float:
        found = self.find(groups, name)
        if found is None:
            if default is not None:
                return default
            raise self.missing(groups, name)
        group, value = found
        item = np.asarray(value).ravel()
        if item.size != 1 or item.dtype.kind not in "iuf" or not np.isfinite(item[0]):
            raise self.fail(f"attribute {group}/{name} = {value!r} is not a number")
        return float(item[0])

    def instant(self, groups: tuple[str, ...], date_name: str, time_name: str) -> datetime:
        date, clock = self.text(groups, date_name), self.text(groups, time_name)
        try:
            return datetime.strptime(date + clock, "%Y%m%d%H%M%S")
        except ValueError:
            raise self.fail(
                f"{groups[0]}/{date_name}={date!r}, {time_name}={clock!r} is not "
                "YYYYMMDD and HHMMSS"
            ) from None


@register_reader
class OdimHdf5Reader:
    """Reader of ODIM_H5 Cartesian radar products (one file or a folder of files)."""

    name: ClassVar[str] = "odim-hdf5"
    contract: ClassVar[str] = "gridded field"
    Options: ClassVar[type[ReaderOptions]] = OdimHdf5Options

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read ODIM_H5 file(s) into a gridded field.

        Parameters
        ----------
        path
            One ODIM_H5 file, or a folder of them.
        options
            An :class:`OdimHdf5Options`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            ``pr`` (ACRR) or ``pr_rate`` (RATE, DBZH) with its flag on ``(time, y, x)``.

        Raises
        ------
        SourceError
            If a file is not readable HDF5, lacks a required ODIM field, holds none (or more
            than one) of the supported quantities, or differs from the first file in grid,
            quantity or interval. The message names the file and the field.
        """
        return self.read_files(path, self.inputs(path, options, source), options, source)

    def inputs(self, path: Path, options: ReaderOptions, source: str) -> list[Path]:
        """The files matching the ``pattern`` option in the folder ``path`` (sorted), or
        ``[path]`` for one file."""
        if not isinstance(options, OdimHdf5Options):
            raise TypeError(f"expected OdimHdf5Options, got {type(options).__name__}")
        if path.is_dir():
            return sorted(path.glob(options.pattern))
        if path.is_file():
            return [path]
        raise SourceError(source, str(path), "does not exist", "check the configured path")

    def read_files(
        self, path: Path, files: Sequence[Path], options: ReaderOptions, source: str
    ) -> xr.Dataset:
        """Read ``files`` of the folder ``path`` (see :meth:`read`)."""
        if not isinstance(options, OdimHdf5Options):
            raise TypeError(f"expected OdimHdf5Options, got {type(options).__name__}")
        if not files:
            raise no_matching_files(source, path, options.pattern)
        relation = options.relation()
        read, rejected = read_each(
            files, lambda file: _read_file(file, options.quantity, relation, source), source
        )
        frames, other_product = frames_in_time(
            read,
            lambda frame: frame.time,
            lambda frame, newest: _check_same(frame, newest, source),
            source,
            "what/date+time",
        )
        dataset = _build(frames, relation)
        dataset.attrs["rejected_files"] = rejected_files_text(rejected + other_product)
        return validate_gridded_field(dataset)


def _read_file(path: Path, quantity: str | None, relation: ZRRelation, source: str) -> _Frame:
    try:
        with h5py.File(path, "r") as handle:
            return _frame(_Odim(handle, path, source), quantity, relation)
    except OSError as err:
        raise SourceError(
            source,
            str(path),
            f"is not a readable HDF5 file ({err})",
            "download the file again; it may be truncated or corrupt",
        ) from None


def _find_data(odim: _Odim, quantity: str | None) -> tuple[str, str, str]:
    """Return (dataset group, data group, quantity) of the requested quantity."""
    found: list[tuple[str, str, str]] = []
    for dataset in sorted(k for k in odim.handle if k.startswith("dataset")):
        for data in sorted(k for k in odim.handle[dataset] if k.startswith("data")):
            group = f"{dataset}/{data}"
            name = odim.text((f"{group}/what", f"{dataset}/what", "what"), "quantity")
            if name in _QUANTITIES and name == (quantity or name):
                found.append((dataset, group, name))
    if not found:
        wanted = quantity or " or ".join(_QUANTITIES)
        raise odim.fail(
            f"no /datasetN/dataM/what/quantity is {wanted}",
            "set the reader's 'quantity' option to one the file holds",
        )
    if len(found) > 1:
        raise odim.fail(
            f"several data groups hold supported quantities: {[g for _, g, _ in found]}",
            "choose one with the 'quantity' option",
        )
    return found[0]


def _frame(odim: _Odim, quantity: str | None, relation: ZRRelation) -> _Frame:
    conventions = odim.text(("/",), "Conventions")
    if not conventions.startswith("ODIM_H5/V2"):
        raise odim.fail(f"attribute /Conventions is {conventions!r}, not ODIM_H5/V2_x")
    kind = odim.text(("what",), "object")
    if kind not in ("COMP", "IMAGE"):
        raise odim.fail(
            f"/what/object is {kind!r}", "this reader reads Cartesian products (COMP, IMAGE) only"
        )
    dataset, group, name = _find_data(odim, quantity)
    chain = (f"{group}/what", f"{dataset}/what", "what")
    gain = odim.number(chain, "gain", 1.0)
    offset = odim.number(chain, "offset", 0.0)
    nodata = odim.number(chain, "nodata")
    undetect = odim.number(chain, "undetect")
    grid = _grid(odim)
    if f"{group}/data" not in odim.handle:
        raise odim.fail(f"dataset /{group}/data is missing")
    raw = np.asarray(odim.handle[f"{group}/data"][...])
    if raw.shape != (grid.ysize, grid.xsize) or raw.dtype.kind not in "iuf":
        raise odim.fail(
            f"/{group}/data is {raw.dtype} {raw.shape}, /where says {grid.ysize} x {grid.xsize} "
            "numbers"
        )
    is_nodata = raw == nodata
    is_undetect = raw == undetect
    values = raw.astype(np.float64) * gain + offset
    if name == "DBZH":
        values = rain_rate_from_dbz(values, relation.a, relation.b)
    values[is_undetect] = 0.0
    values[is_nodata] = np.nan
    flags = np.full(raw.shape, _GOOD, dtype=np.int8)
    flags[is_undetect] = _UNDETECT
    flags[is_nodata] = _NODATA
    nominal = odim.instant(("what",), "date", "time")
    start = end = None
    if name == "ACRR":
        start = odim.instant(chain, "startdate", "starttime")
        end = odim.instant(chain, "enddate", "endtime")
        if end <= start:
            raise odim.fail(f"/{dataset}/what enddate/endtime {end} is not after start {start}")
    return _Frame(
        path=odim.path,
        quantity=name,
        time=end if end is not None else nominal,
        start=start,
        end=end,
        grid=grid,
        values=values.astype(np.float32),
        flags=flags,
    )


def _grid(odim: _Odim) -> _Grid:
    import pyproj

    where = ("where",)
    projdef = odim.text(where, "projdef")
    try:
        crs = pyproj.CRS.from_user_input(projdef)
    except pyproj.exceptions.CRSError as err:
        raise odim.fail(f"/where/projdef {projdef!r} is not a PROJ definition ({err})") from None
    if crs.axis_info and crs.axis_info[0].unit_name not in ("metre", "meter"):
        raise odim.fail(
            f"/where/projdef {projdef!r} is in {crs.axis_info[0].unit_name}, not metres",
            "ODIM xscale/yscale are metres; write projdef with metre units",
        )
    xsize = int(odim.number(where, "xsize"))
    ysize = int(odim.number(where, "ysize"))
    xscale = odim.number(where, "xscale")
    yscale = odim.number(where, "yscale")
    corners = {
        c: (odim.number(where, f"{c}_lon"), odim.number(where, f"{c}_lat")) for c in ("LL", "UR")
    }
    transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    ll_x, ll_y = transformer.transform(*corners["LL"])
    ur_x, ur_y = transformer.transform(*corners["UR"])
    for axis, extent, size, scale in (
        ("x", ur_x - ll_x, xsize, xscale),
        ("y", ur_y - ll_y, ysize, yscale),
    ):
        if not abs(extent - size * scale) <= 0.01 * scale:
            raise odim.fail(
                f"/where corners LL/UR span {extent:.1f} m in {axis}, but {axis}size·{axis}scale "
                f"= {size * scale:.1f} m",
                "check /where LL_lon/LL_lat/UR_lon/UR_lat, xscale/yscale and projdef",
            )
    x = ll_x + (np.arange(xsize) + 0.5) * xscale
    y = ur_y - (np.arange(ysize) + 0.5) * yscale
    return _Grid(xsize, ysize, xscale, yscale, projdef, tuple(x.tolist()), tuple(y.tolist()))


def _check_same(frame: _Frame, first: _Frame, source: str) -> None:
    """Refuse a frame whose quantity, grid or interval differs from ``first``'s."""
    problem = None
    if frame.quantity != first.quantity:
        problem = f"quantity {frame.quantity} differs from {first.quantity} in {first.path.name}"
    elif frame.grid != first.grid:
        problem = f"its /where grid differs from that of {first.path.name}"
    elif (
        frame.start is not None
        and first.start is not None
        and first.end is not None
        and (frame.end is None or frame.end - frame.start != first.end - first.start)
    ):
        problem = f"its accumulation interval differs from that of {first.path.name}"
    if problem is not None:
        raise SourceError(
            source, str(frame.path), problem, "read files of one product together ('pattern')"
        )


def _interval_text(seconds: int) -> str:
    return f"{seconds // 60} minute" if seconds % 60 == 0 else f"{seconds} second"


def _build(frames: list[_Frame], relation: ZRRelation) -> xr.Dataset:
    first = frames[0]
    dims = ("time", "y", "x")
    if first.quantity == "ACRR":
        assert first.start is not None and first.end is not None
        interval = int((first.end - first.start).total_seconds())
        name = "pr"
        attrs: dict[str, Any] = {
            "standard_name": "lwe_thickness_of_precipitation_amount",
            "long_name": "radar precipitation accumulation (ODIM ACRR)",
            "units": "mm",
            "cell_methods": f"time: sum (interval: {_interval_text(interval)})",
        }
    else:
        name = "pr_rate"
        attrs = {
            "standard_name": "lwe_precipitation_rate",
            "long_name": f"radar rain rate (ODIM {first.quantity})",
            "units": "mm h-1",
        }
        if first.quantity == "DBZH":
            attrs["zr_relation"] = f"Z = {relation.a:g} R^{relation.b:g} ({relation.reference})"
    attrs["ancillary_variables"] = f"{name}_flag"
    grid = first.grid
    times = np.array([frame.time for frame in frames], dtype="datetime64[ns]")
    time_label = "end of interval" if first.quantity == "ACRR" else "nominal time (/what)"
    return xr.Dataset(
        data_vars={
            name: (dims, np.stack([frame.values for frame in frames]), attrs),
            f"{name}_flag": (
                dims,
                np.stack([frame.flags for frame in frames]),
                {
                    "long_name": f"quality flag of {name}",
                    "standard_name": "status_flag",
                    "units": "1",
                    "flag_values": np.arange(len(_FLAG_MEANINGS), dtype=np.int8),
                    "flag_meanings": " ".join(_FLAG_MEANINGS),
                },
            ),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": time_label}),
            "y": (
                "y",
                np.array(grid.y),
                {"standard_name": "projection_y_coordinate", "units": "m"},
            ),
            "x": (
                "x",
                np.array(grid.x),
                {"standard_name": "projection_x_coordinate", "units": "m"},
            ),
        },
        attrs={
            "title": f"radar {first.quantity} product (ODIM_H5)",
            "source": f"{frames[0].path.name} ... {frames[-1].path.name} (ODIM_H5)",
            "references": "EUMETNET OPERA ODIM_H5 information model, version 2.x",
            "crs": grid.projdef,
        },
    )
