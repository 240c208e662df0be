"""Generic CF NetCDF grids (radar QPE, NWP, reanalysis) → gridded field.

What the options say (:class:`NetcdfGridOptions`)
    ``variables`` maps file names to CF names (``{t2m: tas}``, ``{u: ua, v: va, z: zg}``);
    the units of each are read from the file and converted to the CF name's canonical unit
    (:data:`TARGET_UNITS`, or the ``units`` option). Geopotential (m2 s-2) mapped to ``zg``
    is divided by standard gravity, ``zg = Φ / g0`` with ``g0 = 9.80665 m s-2``.
    ``time`` names the time dimension of an analysis or radar product; a forecast names
    ``reference_time`` and ``lead_time`` (e.g. ``time`` and ``step``) instead. ``member``,
    ``level_dim``/``level`` and ``subset`` (``[west, south, east, north]`` degrees) are
    optional. ``lat``/``lon`` are found by name (``lat``/``latitude``, ``lon``/``longitude``);
    a projected grid gives ``x``/``y`` and its ``crs`` (or the file's ``grid_mapping``).

Output (contract "gridded field")
    dims ``(time, [member,] [level,] y, x)`` or ``(reference_time, lead_time, [member,]
    [level,] y, x)`` with ``valid_time = reference_time + lead_time`` (2-D coordinate);
    ``lat(y)``/``lon(x)`` (1-D or 2-D) or ``x``/``y`` with attribute ``crs``; every variable
    with ``units`` (the file's original unit in ``original_units``).

Decoding
    Packed integers are unpacked with ``scale_factor``/``add_offset`` (CF). A ``_FillValue``
    or ``missing_value`` of NaN on an integer variable can never match a stored integer, so
    it is dropped before decoding (instead of letting xarray warn) and no value is masked.

Climatologies
    A file whose only calendar axis is e.g. ``month`` (ERA-Interim monthly means, SOURCES.md
    §8) has no times: it does not say which years it averages. :meth:`NetcdfGridReader.read`
    refuses it with an error saying so; :func:`open_netcdf_grid` does every other step
    (decode, rename, convert, level, subset) and returns it with its own axes.

Laziness
    ``chunks=None`` (default) loads the values and closes the file before returning.
    ``chunks={...}`` returns dask-backed variables; xarray reopens the file when they are
    computed, and ``ds.close()`` releases it. Corruption inside the data then surfaces at
    compute time, not at read time.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from ingest.contracts import CANONICAL_UNITS, validate_gridded_field
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.subset import subset_to_bbox
from ingest.units import UnitsError, convert, units_of

__all__ = [
    "STANDARD_GRAVITY",
    "STANDARD_NAMES",
    "TARGET_UNITS",
    "NetcdfGridOptions",
    "NetcdfGridReader",
    "conform_grid",
    "convert_variable",
    "open_netcdf_grid",
]

#: Standard acceleration of gravity (m s-2), defining the geopotential metre.
STANDARD_GRAVITY = 9.80665

#: Canonical units of the CF names gridded readers produce.
TARGET_UNITS: dict[str, str] = {
    **CANONICAL_UNITS,
    "pr_rate": "mm h-1",
    "ua": "m s-1",
    "va": "m s-1",
    "zg": "m",
    "ta": "degC",
}

#: CF standard names of those CF names (the file's own is dropped when it is ``unknown``).
STANDARD_NAMES: dict[str, str] = {
    "pr": "lwe_thickness_of_precipitation_amount",
    "pr_rate": "lwe_precipitation_rate",
    "tas": "air_temperature",
    "ta": "air_temperature",
    "hurs": "relative_humidity",
    "psl": "air_pressure_at_mean_sea_level",
    "sfcWind": "wind_speed",
    "wsgsmax": "wind_speed_of_gust",
    "ua": "eastward_wind",
    "va": "northward_wind",
    "zg": "geopotential_height",
}
_DIM_ORDER = ("time", "reference_time", "lead_time", "member", "level", "y", "x")
_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("lon", "longitude")

BBox = tuple[float, float, float, float]


class NetcdfGridOptions(ReaderOptions):
    """Options of :class:`NetcdfGridReader`.

    Parameters
    ----------
    variables
        File variable name → CF name, e.g. ``{"t2m": "tas"}``.
    units
        CF name → unit to convert to, overriding :data:`TARGET_UNITS`.
    time
        Name of the time dimension of an analysis/radar product (ignored for forecasts).
    reference_time, lead_time
        Names of a forecast's issue-time and lead-time axes (give both, or neither).
    member
        Name of the ensemble-member dimension, if any.
    level_dim, level
        Name of the vertical dimension, and the level value(s) to keep (``None``: all).
    lat, lon
        Names of the latitude/longitude coordinates (``None``: ``lat``/``latitude`` ...).
    x, y, crs
        Names of the projected dimensions and their CRS, for grids without lat/lon; ``crs``
        ``None`` takes it from the variable's ``grid_mapping`` or the global ``crs``.
    subset
        ``[west, south, east, north]`` in degrees; ``None`` keeps the whole grid.
    chunks
        Dask chunks (``{}`` for the file's own); ``None`` loads eagerly and closes the file.
    """

    variables: dict[str, str] = Field(min_length=1)
    units: dict[str, str] = Field(default_factory=dict)
    time: str = "time"
    reference_time: str | None = None
    lead_time: str | None = None
    member: str | None = None
    level_dim: str = "level"
    level: float | list[float] | None = None
    lat: str | None = None
    lon: str | None = None
    x: str = "x"
    y: str = "y"
    crs: str | None = None
    subset: BBox | None = None
    chunks: dict[str, int] | None = None

    @model_validator(mode="after")
    def _check(self) -> NetcdfGridOptions:
        if (self.reference_time is None) != (self.lead_time is None):
            raise ValueError("give both reference_time and lead_time (a forecast), or neither")
        targets = list(self.variables.values())
        if len(set(targets)) != len(targets):
            raise ValueError(f"variables maps two file variables to one CF name: {targets}")
        for name, unit in self.units.items():
            try:
                units_of(unit)
            except UnitsError as err:
                raise ValueError(f"units[{name!r}]: {err}") from None
        return self


def convert_variable(
    da: xr.DataArray, target: str, name: str, source: str, location: str
) -> xr.DataArray:
    """Convert ``da`` from its ``units`` attribute to ``target``, lazily.

    Every unit pint knows is affine, so the conversion is ``value · scale + offset`` with
    ``scale``, ``offset`` computed once from two points; dask arrays stay lazy. Geopotential
    (m2 s-2) to a length is divided by :data:`STANDARD_GRAVITY`.

    Raises
    ------
    SourceError
        If ``da`` has no ``units`` or they are unknown or not convertible to ``target``.
    """
    original = da.attrs.get("units")
    label = f"variable {da.name!r} (→ {name})"
    if original is None:
        raise SourceError(
            source,
            location,
            f"{label} has no 'units' attribute",
            f"add units to the file, or map another variable to {name!r}",
        )
    try:
        source_unit, target_unit = units_of(str(original)), units_of(target)
    except UnitsError as err:
        raise SourceError(source, location, f"{label}: {err}", "write CF/udunits units") from None
    factor = 1.0
    if (
        str(source_unit.dimensionality) == "[length] ** 2 / [time] ** 2"
        and str(target_unit.dimensionality) == "[length]"
    ):
        factor, original = 1.0 / STANDARD_GRAVITY, "m"
    try:
        offset = float(convert(0.0, str(original), target))
        scale = float(convert(1.0, str(original), target)) - offset
    except UnitsError:
        raise SourceError(
            source,
            location,
            f"{label} has units {da.attrs['units']!r}, which cannot be converted to {target!r}",
            f"map {da.name!r} to a CF name of that dimension, or set units[{name!r}]",
        ) from None
    scale *= factor
    converted = da if (scale == 1.0 and offset == 0.0) else da * scale + offset
    if converted.dtype == np.float64 and da.dtype == np.float32:
        converted = converted.astype(np.float32)
    attrs = {k: v for k, v in da.attrs.items() if k not in ("units", "GRIB_units")}
    attrs.update(units=target, original_units=str(da.attrs["units"]))
    if name in STANDARD_NAMES:
        attrs["standard_name"] = STANDARD_NAMES[name]
    elif attrs.get("standard_name") == "unknown":
        del attrs["standard_name"]
    return converted.assign_attrs(attrs).rename(name)


def _drop_impossible_fill(ds: xr.Dataset) -> xr.Dataset:
    """Drop NaN ``_FillValue``/``missing_value`` of integer variables (they match nothing)."""
    for name, var in ds.variables.items():
        if var.dtype.kind not in "iu":
            continue
        for attr in ("_FillValue", "missing_value"):
            value = var.attrs.get(attr)
            if value is not None and np.all(np.isnan(np.asarray(value, dtype=float))):
                del ds[name].attrs[attr]
    return ds


def _find(ds: xr.Dataset, given: str | None, names: tuple[str, ...]) -> str | None:
    if given is not None:
        return given if given in ds.variables else None
    return next((n for n in names if n in ds.variables), None)


def _rename_space(ds: xr.Dataset, options: NetcdfGridOptions, where: tuple[str, str]) -> xr.Dataset:
    lat = _find(ds, options.lat, _LAT_NAMES)
    lon = _find(ds, options.lon, _LON_NAMES)
    if lat is not None and lon is not None:
        if ds[lat].ndim == 1 and ds[lon].ndim == 1:
            ds = ds.rename_dims({ds[lat].dims[0]: "y", ds[lon].dims[0]: "x"})
        elif ds[lat].ndim == 2 and ds[lat].dims == ds[lon].dims:
            ds = ds.rename_dims(dict(zip(ds[lat].dims, ("y", "x"), strict=True)))
        else:
            raise SourceError(
                *where,
                f"{lat}/{lon} have dims {ds[lat].dims}/{ds[lon].dims}",
                "give 1-D lat/lon or 2-D lat/lon on the same dims",
            )
        return ds.rename_vars({lat: "lat", lon: "lon"}) if (lat, lon) != ("lat", "lon") else ds
    if options.x in ds.dims and options.y in ds.dims:
        crs = options.crs or _file_crs(ds)
        if not crs:
            raise SourceError(
                *where,
                f"has projected dims {options.y!r}, {options.x!r} but no CRS "
                "(no grid_mapping crs_wkt/spatial_ref, no global 'crs')",
                "set the reader's 'crs' option",
            )
        ds = (
            ds.rename({options.y: "y", options.x: "x"})
            if (options.y, options.x)
            != (
                "y",
                "x",
            )
            else ds
        )
        return ds.assign_attrs(crs=crs)
    raise SourceError(
        *where,
        f"has no lat/lon coordinates ({'/'.join(_LAT_NAMES)}, {'/'.join(_LON_NAMES)}) and no "
        f"projected dims {options.y!r}, {options.x!r}; it has {sorted(map(str, ds.variables))}",
        "set the 'lat'/'lon' options, or 'x'/'y' and 'crs'",
    )


def _file_crs(ds: xr.Dataset) -> str | None:
    for var in ds.data_vars.values():
        mapping = var.attrs.get("grid_mapping")
        if mapping and mapping in ds.variables:
            attrs = ds[mapping].attrs
            text = attrs.get("crs_wkt") or attrs.get("spatial_ref")
            if text:
                return str(text)
    crs = ds.attrs.get("crs")
    return str(crs) if crs else None


def _times(ds: xr.Dataset, options: NetcdfGridOptions, where: tuple[str, str]) -> xr.Dataset:
    """Rename the time axes to the contract's and add ``valid_time`` for forecasts."""
    if options.reference_time is None or options.lead_time is None:
        if options.time not in ds.variables:
            climatology = [d for d in ("month", "season", "dayofyear") if d in ds.dims]
            hint = (
                f"; its calendar axis {climatology[0]!r} is a climatology without years, which "
                "the file does not give"
                if climatology
                else ""
            )
            raise SourceError(
                *where,
                f"has no time axis {options.time!r} (dims {dict(ds.sizes)}){hint}",
                "name the file's time dimension with the 'time' option (or 'reference_time' "
                "and 'lead_time' for a forecast); a climatology must first be given real times "
                "(read it with ingest.readers.netcdf_grid.open_netcdf_grid)",
            )
        ds = _as_dim(ds, options.time, "time")
        _require_kind(ds, "time", "M", options.time, where)
        return ds
    for name, new, kind in (
        (options.reference_time, "reference_time", "M"),
        (options.lead_time, "lead_time", "m"),
    ):
        if name not in ds.variables:
            raise SourceError(
                *where,
                f"has no {new} axis {name!r} (variables {sorted(map(str, ds.variables))})",
                f"set the '{new}' option to the file's name for it",
            )
        ds = _as_dim(ds, name, new)
        _require_kind(ds, new, kind, name, where)
    ds = ds.drop_vars(["valid_time"], errors="ignore")
    valid = ds["reference_time"] + ds["lead_time"]
    return ds.assign_coords(valid_time=valid.assign_attrs(standard_name="time"))


def _as_dim(ds: xr.Dataset, name: str, new: str) -> xr.Dataset:
    if name != new:
        ds = ds.drop_vars([new], errors="ignore").rename({name: new})
    if new not in ds.dims:
        ds = ds.expand_dims(new)
    return ds


def _require_kind(
    ds: xr.Dataset, name: str, kind: str, original: str, where: tuple[str, str]
) -> None:
    if ds[name].dtype.kind != kind:
        what = "times (datetime64)" if kind == "M" else "durations (timedelta64)"
        values = np.asarray(ds[name].values).ravel()[:4].tolist()
        raise SourceError(
            *where,
            f"axis {original!r} holds {ds[name].dtype} values {values}, not {what}",
            "give it CF units such as 'hours since 2019-03-01' (or 'hours' for a lead time)",
        )


def conform_grid(
    ds: xr.Dataset, options: NetcdfGridOptions, source: str, location: str, *, times: bool = True
) -> xr.Dataset:
    """Map a decoded dataset to the gridded-field layout described in the module docstring.

    Parameters
    ----------
    ds
        A CF-decoded dataset (NetCDF or cfgrib).
    options
        Names, units, level and subset.
    source, location
        For error messages.
    times
        ``False`` leaves the time axes as they are (for climatologies).
    """
    where = (source, location)
    missing = [name for name in options.variables if name not in ds.data_vars]
    if missing:
        raise SourceError(
            *where,
            f"variable(s) {missing} not found; the file has {sorted(map(str, ds.data_vars))}",
            "fix the 'variables' option (file name → CF name)",
        )
    converted = {
        cf: convert_variable(
            ds[name],
            options.units.get(cf) or TARGET_UNITS.get(cf) or str(ds[name].attrs.get("units")),
            cf,
            source,
            location,
        )
        for name, cf in options.variables.items()
    }
    ds = ds.drop_vars(list(ds.data_vars)).assign(converted)
    if options.member is not None:
        if options.member not in ds.dims:
            raise SourceError(
                *where,
                f"has no member dimension {options.member!r}",
                f"dims are {sorted(map(str, ds.dims))}; fix the 'member' option",
            )
        ds = ds.rename({options.member: "member"}) if options.member != "member" else ds
    if options.level_dim in ds.dims:
        ds = _select_level(ds, options, where)
    ds = _rename_space(ds, options, where)
    if times:
        ds = _times(ds, options, where)
    if options.subset is not None:
        ds = subset_to_bbox(ds, *options.subset, source=source, location=location)
    return ds.transpose(*[d for d in _DIM_ORDER if d in ds.dims], ...)


def _select_level(ds: xr.Dataset, options: NetcdfGridOptions, where: tuple[str, str]) -> xr.Dataset:
    name = options.level_dim
    if name != "level":
        ds = ds.rename({name: "level"})
    if options.level is None:
        return ds
    wanted = options.level if isinstance(options.level, list) else [options.level]
    present = np.asarray(ds["level"].values, dtype=float)
    absent = [w for w in wanted if not np.isclose(present, w).any()]
    if absent:
        raise SourceError(
            *where,
            f"level(s) {absent} not in {name} {present.tolist()}",
            "choose levels the file holds",
        )
    indices = [int(np.flatnonzero(np.isclose(present, w))[0]) for w in wanted]
    return ds.isel(level=indices[0] if not isinstance(options.level, list) else indices)


def open_netcdf_grid(
    path: Path, options: NetcdfGridOptions, source: str, *, times: bool = False
) -> xr.Dataset:
    """Open, decode and conform a CF NetCDF grid; with ``times=False`` keep its own axes.

    This is :meth:`NetcdfGridReader.read` without the time contract (and validation), for
    files such as climatologies whose calendar axis is not a time.

    Raises
    ------
    SourceError
        If the file is missing or unreadable, or a variable, unit or axis is wrong.
    """
    location = str(path)
    if not path.is_file():
        raise SourceError(source, location, "does not exist", "check the configured path")
    try:
        raw = xr.open_dataset(path, engine="netcdf4", decode_cf=False, chunks=options.chunks)
    except (OSError, ValueError, RuntimeError) as err:
        raise SourceError(
            source,
            location,
            f"is not a readable NetCDF file ({err})",
            "download the file again; it may be truncated or corrupt",
        ) from None
    try:
        decoded = xr.decode_cf(_drop_impossible_fill(raw), decode_timedelta=True)
        result = conform_grid(decoded, options, source, location, times=times)
        if options.chunks is None:
            result = result.load()
    except (OSError, RuntimeError) as err:
        raise SourceError(
            source,
            location,
            f"cannot read the values ({err})",
            "download the file again; it may be corrupt",
        ) from None
    finally:
        if options.chunks is None:
            raw.close()
    return result


@register_reader
class NetcdfGridReader:
    """Reader of CF NetCDF grids (analysis, radar QPE or forecast)."""

    name: ClassVar[str] = "netcdf-grid"
    contract: ClassVar[str] = "gridded field"
    Options: ClassVar[type[ReaderOptions]] = NetcdfGridOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read one CF NetCDF file into a gridded field (see the module docstring).

        Raises
        ------
        SourceError
            If the file is missing, unreadable or corrupt, a variable or axis named in the
            options is absent, a unit is missing or unconvertible, or the file has no time
            axis (e.g. a monthly climatology); the message names the file, field and fix.
        """
        if not isinstance(options, NetcdfGridOptions):
            raise TypeError(f"expected NetcdfGridOptions, got {type(options).__name__}")
        ds = open_netcdf_grid(path, options, source, times=True)
        return validate_gridded_field(ds.assign_attrs(source=f"{path.name} (CF NetCDF)"))
