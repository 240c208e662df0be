"""The dataset contracts of yujing, written once, with their validators.

Every reader returns, and every model accepts, an ``xr.Dataset`` that follows one of the
contracts below (DESIGN.md, "Data contracts"). ``validate_*`` raise
:class:`~ingest.errors.ContractError` naming the variable and the fix; they never repair.

Times
    ``time`` (and ``reference_time``, ``valid_time``) are ``datetime64`` values in UTC
    without a zone attached (numpy cannot carry one). Timezone-aware instants enter and leave
    through :func:`utc_instant`, which refuses naive values. An accumulation is labelled
    with the *end* of its interval, so a value labelled ``T`` was available at ``T``.

station observations  (dims ``station``, ``time``)
    coords ``station_id`` (str), ``lat``, ``lon`` (degrees, WGS84), ``elevation`` (m);
    data variables among ``pr`` (mm per interval, with
    ``cell_methods = "time: sum (interval: 1 hour)"``),
    ``tas`` (degC), ``hurs`` (%), ``sfcWind`` and ``wsgsmax`` (m s-1, attribute
    ``averaging_period``), ``psl`` (hPa); for each a ``<name>_flag`` variable with CF
    ``flag_values``/``flag_meanings``.

gridded field  (dims ``time`` or ``reference_time`` + ``lead_time``, opt. ``member``, ``y``, ``x``)
    ``lat``/``lon`` coordinates or a ``crs`` attribute (proj string / WKT / EPSG) with ``x``/``y``
    in its units; ``units`` on every variable; forecasts carry a ``valid_time`` coordinate.

tropical cyclone track  (dim ``time``, optional ``member``)
    ``lat``, ``lon``, ``psl_min`` (hPa), ``vmax`` (m s-1 with ``averaging_period``), ``rmw``
    (km, NaN where unknown), attributes ``agency`` and ``is_forecast``; optional wind radii
    (km) on ``(time, wind_threshold[, quadrant])`` as described in :mod:`ingest.tracks`.

community layer  (dim ``community``)
    coords ``community_id``, ``community_name``, ``district_code``, ``district_name``,
    ``subdistrict_code`` (GB/T 2260 codes; empty string where unknown); variables
    ``geometry_wkt``, ``lon``, ``lat`` (centroid), ``area`` (km2), exposure and vulnerability
    attributes each with ``units`` and ``source``.

hazard result  (dims ``community``, ``lead_time``, ``level``)
    ``probability`` (1, per community, lead time and level), ``hazard_level`` and ``risk_level``
    (0-4), ``onset_time`` (per community and level, NaT if none), an intensity variable,
    attributes ``hazard``, ``model``, ``model_version``, ``issue_time``, ``inputs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ingest.errors import ContractError, LookAheadError
from ingest.units import UnitsError, units_of

__all__ = [
    "CANONICAL_UNITS",
    "COMMUNITY_COORDS",
    "accumulation_interval",
    "assert_no_lookahead",
    "utc_instant",
    "validate_community_layer",
    "validate_gridded_field",
    "validate_hazard_result",
    "validate_station_obs",
    "validate_tc_track",
]

#: Units every CF variable must carry once it has entered the pipeline.
CANONICAL_UNITS: dict[str, str] = {
    "pr": "mm",
    "tas": "degC",
    "hurs": "%",
    "sfcWind": "m s-1",
    "wsgsmax": "m s-1",
    "psl": "hPa",
}
_WIND = ("sfcWind", "wsgsmax")
_INTERVAL = re.compile(r"time:\s*sum\s*\(interval:\s*([^)]+)\)")


def utc_instant(value: Any, what: str = "time") -> datetime:
    """Return a timezone-aware UTC ``datetime``; refuse naive values.

    Parameters
    ----------
    value
        ``datetime``, ``pd.Timestamp`` or ISO 8601 string with an offset (``Z`` or ``+08:00``).
    what
        What the value is, for the error message.
    """
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ContractError(
            "time", what, f"= {value!r} is not a time", "write ISO 8601, e.g. 2023-09-08T03:00Z"
        ) from None
    if stamp.tzinfo is None:
        raise ContractError(
            "time",
            what,
            f"= {value!r} has no timezone",
            "add 'Z' for UTC or an offset such as '+08:00' (local time is ambiguous)",
        )
    result: datetime = stamp.tz_convert(UTC).to_pydatetime()
    return result


def _naive_utc(instant: datetime) -> np.datetime64:
    return np.datetime64(instant.astimezone(UTC).replace(tzinfo=None), "ns")


def _require(ds: xr.Dataset, contract: str, names: Iterable[str], fix: str) -> None:
    for name in names:
        if name not in ds.variables:
            raise ContractError(contract, name, "is missing", fix)


def _check_units(ds: xr.Dataset, contract: str, name: str, expected: str | None) -> None:
    units = ds[name].attrs.get("units")
    if units is None:
        raise ContractError(
            contract, name, "has no 'units' attribute", "set it where the data enter"
        )
    if expected is None:
        try:
            units_of(str(units))
        except UnitsError as err:
            raise ContractError(contract, name, f"has {err}", "use a CF/udunits unit") from None
        return
    try:
        same = units_of(str(units)) == units_of(expected)
    except UnitsError as err:
        raise ContractError(contract, name, f"has {err}", f"convert to {expected!r}") from None
    if not same:
        raise ContractError(
            contract,
            name,
            f"has units {units!r}, the contract says {expected!r}",
            f"convert to {expected!r} in the reader (ingest.units.convert)",
        )


def _check_not_all_nan(ds: xr.Dataset, contract: str, name: str) -> None:
    values = ds[name].data
    if values.size == 0:
        raise ContractError(contract, name, "is empty", "check the source covers the period")
    if not np.issubdtype(values.dtype, np.floating):
        return
    all_nan = np.isnan(values).all()
    if bool(all_nan.compute() if hasattr(all_nan, "compute") else all_nan):
        raise ContractError(
            contract,
            name,
            "holds only missing values (NaN)",
            "check the source's missing-value code and the time/area requested",
        )


def _check_time(ds: xr.Dataset, contract: str, name: str) -> None:
    if not np.issubdtype(ds[name].dtype, np.datetime64):
        raise ContractError(
            contract, name, f"has dtype {ds[name].dtype}", "decode it to datetime64 in UTC"
        )


def _check_latlon(ds: xr.Dataset, contract: str) -> None:
    for name, low, high in (("lat", -90.0, 90.0), ("lon", -180.0, 360.0)):
        values = np.asarray(ds[name].values, dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size and (finite.min() < low or finite.max() > high):
            raise ContractError(
                contract,
                name,
                f"has values outside [{low}, {high}]",
                "give WGS84 degrees (projected coordinates belong in x/y with a crs)",
            )


def accumulation_interval(ds: xr.Dataset, name: str = "pr") -> timedelta:
    """Return the accumulation interval declared in ``cell_methods`` of ``ds[name]``."""
    from ingest.units import parse_duration

    methods = str(ds[name].attrs.get("cell_methods", ""))
    match = _INTERVAL.search(methods)
    if match is None:
        raise ContractError(
            "precipitation",
            name,
            f"has cell_methods={methods!r} without an accumulation interval",
            "set cell_methods to 'time: sum (interval: 1 hour)' (or the real interval)",
        )
    try:
        return parse_duration(match.group(1))
    except UnitsError as err:
        raise ContractError("precipitation", name, f"interval: {err}", "fix cell_methods") from None


def _check_flags(ds: xr.Dataset, contract: str, name: str) -> None:
    flag = f"{name}_flag"
    if flag not in ds:
        raise ContractError(
            contract, flag, "is missing", f"add a QC flag variable for {name} (0 = good)"
        )
    for attr in ("flag_values", "flag_meanings"):
        if attr not in ds[flag].attrs:
            raise ContractError(contract, flag, f"lacks attribute {attr!r}", "follow CF flags")


def validate_station_obs(ds: xr.Dataset) -> xr.Dataset:
    """Check a station-observation dataset against its contract and return it unchanged."""
    contract = "station observations"
    for dim in ("station", "time"):
        if dim not in ds.dims:
            raise ContractError(
                contract, dim, "dimension is missing", "dims must be (station, time)"
            )
    _require(ds, contract, ("station_id", "lat", "lon", "elevation"), "add it as a coordinate")
    _check_time(ds, contract, "time")
    _check_latlon(ds, contract)
    present = [name for name in CANONICAL_UNITS if name in ds.data_vars]
    if not present:
        raise ContractError(
            contract,
            "data variables",
            f"none of {sorted(CANONICAL_UNITS)} is present",
            "rename the feed's variables to their CF names in the reader",
        )
    for name in present:
        _check_units(ds, contract, name, CANONICAL_UNITS[name])
        _check_flags(ds, contract, name)
        _check_not_all_nan(ds, contract, name)
        if name in _WIND and "averaging_period" not in ds[name].attrs:
            raise ContractError(
                contract,
                name,
                "has no 'averaging_period' attribute",
                "record it (e.g. '10 min'); wind averaging differs by agency",
            )
    if "pr" in present:
        accumulation_interval(ds, "pr")
    return ds


def validate_gridded_field(ds: xr.Dataset, variables: Iterable[str] | None = None) -> xr.Dataset:
    """Check a gridded field (radar QPE, NWP) against its contract and return it unchanged."""
    contract = "gridded field"
    for dim in ("y", "x"):
        if dim not in ds.dims:
            raise ContractError(contract, dim, "dimension is missing", "name the grid dims y, x")
    is_forecast = "reference_time" in ds.dims or "lead_time" in ds.dims
    if is_forecast:
        for dim in ("reference_time", "lead_time"):
            if dim not in ds.dims:
                raise ContractError(contract, dim, "dimension is missing", "forecasts need both")
        _require(ds, contract, ("valid_time",), "add valid_time = reference_time + lead_time")
        _check_time(ds, contract, "reference_time")
    elif "time" in ds.dims:
        _check_time(ds, contract, "time")
    else:
        raise ContractError(
            contract, "time", "dimension is missing", "use time, or reference_time and lead_time"
        )
    has_latlon = "lat" in ds.variables and "lon" in ds.variables
    if not has_latlon and not ds.attrs.get("crs"):
        raise ContractError(
            contract,
            "crs",
            "is missing and there are no lat/lon",
            "set attrs['crs'] or add lat/lon",
        )
    if has_latlon:
        _check_latlon(ds, contract)
    names = [str(n) for n in (variables if variables is not None else ds.data_vars)]
    for name in names:
        if name not in ds.data_vars:
            raise ContractError(contract, name, "is missing", "check the source's variable map")
        if "flag_values" in ds[name].attrs:
            continue  # QC flags are dimensionless codes, not quantities
        _check_units(ds, contract, name, CANONICAL_UNITS.get(name))
        _check_not_all_nan(ds, contract, name)
    return ds


def validate_tc_track(ds: xr.Dataset) -> xr.Dataset:
    """Check a tropical-cyclone track against its contract and return it unchanged."""
    contract = "tropical cyclone track"
    if "time" not in ds.dims:
        raise ContractError(contract, "time", "dimension is missing", "dims must be (time,)")
    _require(ds, contract, ("lat", "lon", "psl_min", "vmax", "rmw"), "add it (NaN where unknown)")
    _check_time(ds, contract, "time")
    _check_latlon(ds, contract)
    _check_units(ds, contract, "psl_min", "hPa")
    _check_units(ds, contract, "vmax", "m s-1")
    _check_units(ds, contract, "rmw", "km")
    if "averaging_period" not in ds["vmax"].attrs:
        raise ContractError(
            contract, "vmax", "has no 'averaging_period'", "JMA/HKO 10 min, JTWC 1 min, CMA 2 min"
        )
    for attr in ("agency", "is_forecast"):
        if attr not in ds.attrs:
            raise ContractError(contract, attr, "attribute is missing", "set it in the reader")
    _check_wind_radii(ds, contract)
    return ds


_WIND_RADII = ("wind_radius_quadrant", "wind_radius_long", "wind_radius_short")


def _check_wind_radii(ds: xr.Dataset, contract: str) -> None:
    """Optional wind radii (ingest.tracks): km, >= 0, on a wind_threshold in m s-1."""
    present = [name for name in _WIND_RADII if name in ds.data_vars]
    if not present:
        return
    fix = "see ingest.tracks for the wind radius variables"
    if "wind_threshold" not in ds.coords:
        raise ContractError(contract, "wind_threshold", "coordinate is missing", fix)
    _check_units(ds, contract, "wind_threshold", "m s-1")
    if "averaging_period" not in ds["wind_threshold"].attrs:
        raise ContractError(contract, "wind_threshold", "has no 'averaging_period'", fix)
    for name in present:
        if ds[name].dims[:2] != ("time", "wind_threshold"):
            raise ContractError(
                contract, name, f"has dims {ds[name].dims}", "use (time, wind_threshold, ...)"
            )
        if name == "wind_radius_quadrant" and ds[name].dims[2:] != ("quadrant",):
            raise ContractError(contract, name, "has no 'quadrant' dimension", fix)
        _check_units(ds, contract, name, "km")
        if bool((ds[name] < 0).any()):
            raise ContractError(contract, name, "has negative radii", "check the source's units")
    if "quadrant" in ds.coords and not set(ds["quadrant"].values.tolist()) <= {
        "NE",
        "SE",
        "SW",
        "NW",
    }:
        raise ContractError(contract, "quadrant", "is not among NE, SE, SW, NW", fix)


#: Coordinates that identify a community in every dataset on the community dimension.
COMMUNITY_COORDS = (
    "community_id",
    "community_name",
    "district_code",
    "district_name",
    "subdistrict_code",
)


def validate_community_layer(ds: xr.Dataset) -> xr.Dataset:
    """Check a community layer against its contract and return it unchanged."""
    contract = "community layer"
    if "community" not in ds.dims:
        raise ContractError(
            contract, "community", "dimension is missing", "dims must be (community,)"
        )
    if ds.sizes["community"] == 0:
        raise ContractError(
            contract, "community", "is empty", "check the layer overlaps the region's grid"
        )
    _require(ds, contract, (*COMMUNITY_COORDS, "geometry_wkt", "lon", "lat", "area"), "add it")
    ids = ds["community_id"].values
    if len(set(ids.tolist())) != len(ids):
        raise ContractError(contract, "community_id", "has duplicates", "make the ids unique")
    _check_latlon(ds, contract)
    for name, var in ds.data_vars.items():
        if name == "geometry_wkt" or var.dtype.kind in "USO":
            continue
        if "units" not in var.attrs:
            raise ContractError(
                contract, str(name), "has no 'units'", "state the unit ('1' if none)"
            )
        if "source" not in var.attrs:
            raise ContractError(
                contract, str(name), "has no 'source'", "state where the attribute comes from"
            )
    return ds


def validate_hazard_result(ds: xr.Dataset) -> xr.Dataset:
    """Check a hazard result against its contract and return it unchanged."""
    contract = "hazard result"
    for dim in ("community", "lead_time", "level"):
        if dim not in ds.dims:
            raise ContractError(contract, dim, "dimension is missing", "see DESIGN.md contracts")
    _require(
        ds,
        contract,
        ("community_id", "probability", "hazard_level", "risk_level", "onset_time"),
        "the model must return it",
    )
    for attr in ("hazard", "model", "model_version", "issue_time", "inputs"):
        if attr not in ds.attrs:
            raise ContractError(contract, attr, "attribute is missing", "record the provenance")
    probability = ds["probability"].values
    finite = probability[np.isfinite(probability)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ContractError(contract, "probability", "is outside [0, 1]", "fix the model")
    for name in ("hazard_level", "risk_level"):
        levels = ds[name].values
        if levels.min() < 0 or levels.max() > 4:
            raise ContractError(contract, name, "is outside 0..4", "map levels to 0..4")
    return ds


def assert_no_lookahead(ds: xr.Dataset, issue_time: datetime, source: str = "input") -> None:
    """Raise :class:`LookAheadError` if ``ds`` holds data valid after ``issue_time``."""
    limit = _naive_utc(issue_time)
    # valid_time of a forecast lies in the future by design; its reference_time must not.
    # A forecast track's ``time`` is its valid time (with ``lead_time`` beside it).
    forecast_track = "lead_time" in ds.coords and "reference_time" in ds.coords
    if forecast_track and "time" in ds.dims and ds.attrs.get("is_forecast") == 1:
        names: tuple[str, ...] = ("reference_time",)
    else:
        names = ("time", "reference_time")
    for name in names:
        if name in ds.variables and ds[name].size:
            latest = ds[name].values.max()
            if latest > limit:
                raise LookAheadError(
                    f"{source}: {name} reaches {pd.Timestamp(latest).isoformat()}Z, after the "
                    f"issue time {issue_time.isoformat()}; select data up to the issue time"
                )
