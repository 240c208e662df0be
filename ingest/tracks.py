"""Building blocks shared by the tropical-cyclone track readers.

The readers of :mod:`ingest.readers.jma_besttrack`, :mod:`ingest.readers.atcf` and
:mod:`ingest.readers.tc_bulletin` all return the *tropical cyclone track* contract of
:mod:`ingest.contracts`; this module assembles it once so that every agency's track has the
same variables, units and attributes.

Track dataset  (dim ``time``; the readers defined here never use ``member``)
    ``lat`` (degrees_north), ``lon`` (degrees_east, continuous along the track, see
    :func:`continuous_longitude`), ``psl_min`` (hPa), ``vmax`` (m s-1, attribute
    ``averaging_period``: ``"10 min"`` for JMA/HKO, ``"1 min"`` for JTWC/NHC, ``"2 min"``
    for CMA; winds are never converted between averaging periods here), ``rmw`` (km, NaN
    where the source gives none). Missing values are NaN.

    Attributes: ``agency``, ``is_forecast`` (``0`` best track, ``1`` forecast; an integer
    because netCDF attributes cannot be booleans), ``storm_id``, ``storm_name``, ``source``,
    ``line_problems`` (one ``"line N: reason"`` per line left out or partly left out,
    saying what was left out; ``""`` if none) and ``line_problem_count``.

Forecast tracks
    ``time`` is the *valid* time; coordinate ``lead_time(time)`` (timedelta) and scalar
    coordinate ``reference_time`` (the base/initial time; also attribute
    ``reference_time`` as ISO 8601 text).

Wind radii (where the source gives them)
    Coordinate ``wind_threshold`` (m s-1, ascending, attribute ``averaging_period`` of the
    agency) with auxiliary coordinate ``wind_threshold_kt(wind_threshold)`` (knot, the value
    the agency states). Radii are in km, ``0`` where the agency says no wind reaches the
    threshold, NaN where it gives nothing.

    * ``wind_radius_quadrant(time, wind_threshold, quadrant)``: the largest distance from the
      centre of winds ≥ the threshold in each quadrant; ``quadrant`` is ``NE``, ``SE``,
      ``SW``, ``NW`` (ATCF, CMA bulletins).
    * ``wind_radius_long(time, wind_threshold)``, ``wind_radius_short(time, wind_threshold)``
      and ``wind_radius_long_direction(time, wind_threshold)``: JMA's longest and shortest
      radius and the direction of the longest one (JMA codes, see
      :data:`JMA_DIRECTION_MEANINGS`; ``9`` symmetric circle).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
import xarray as xr

from ingest.units import convert

__all__ = [
    "JMA_DIRECTION_AZIMUTH",
    "JMA_DIRECTION_MEANINGS",
    "QUADRANTS",
    "RADIUS_VARIABLES",
    "LineProblem",
    "TrackColumns",
    "build_track",
    "continuous_longitude",
    "knots_to_ms",
    "nautical_miles_to_km",
    "record_problems",
]

#: Quadrants of ``wind_radius_quadrant``, clockwise from north-east.
QUADRANTS: tuple[str, ...] = ("NE", "SE", "SW", "NW")

#: JMA direction codes of the longest wind radius (jma_bst_format.txt), with ``-1`` added
#: for "not given" (blank columns). ``0`` is what JMA writes when no wind reaches the
#: threshold (radius ``0000``).
JMA_DIRECTION_MEANINGS: dict[int, str] = {
    -1: "not_given",
    0: "no_wind_of_this_speed",
    1: "northeast",
    2: "east",
    3: "southeast",
    4: "south",
    5: "southwest",
    6: "west",
    7: "northwest",
    8: "north",
    9: "symmetric_circle",
}

#: Azimuth (degrees clockwise from north) of JMA direction codes 1-8.
JMA_DIRECTION_AZIMUTH: dict[int, float] = {
    1: 45.0,
    2: 90.0,
    3: 135.0,
    4: 180.0,
    5: 225.0,
    6: 270.0,
    7: 315.0,
    8: 0.0,
}

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineProblem:
    """A line of a source file that was left out (or partly left out), and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class TrackColumns:
    """The per-time values of one track, in the contract's units, before assembly.

    ``times`` are naive UTC ``datetime``; every other list has one entry per time. Wind
    radii are passed to :func:`build_track` separately.
    """

    times: list[datetime]
    lat: list[float]
    lon: list[float]
    psl_min: list[float]
    vmax: list[float]
    rmw: list[float]


@cache
def _factor(from_units: str, to_units: str) -> float:
    return float(convert(1.0, from_units, to_units))


def knots_to_ms(values: Any) -> np.ndarray:
    """Convert knots to m s-1 (1 kt = 1852 m / 3600 s), NaN stays NaN."""
    return np.asarray(values, dtype=float) * _factor("knot", "m s-1")


def nautical_miles_to_km(values: Any) -> np.ndarray:
    """Convert nautical miles to km (1 nmi = 1.852 km), NaN stays NaN."""
    return np.asarray(values, dtype=float) * _factor("nmi", "km")


def continuous_longitude(lon: Any) -> np.ndarray:
    """Return longitudes that run continuously along a track, in [-180, 360).

    Parameters
    ----------
    lon
        Longitudes in degrees east in any convention (``-175`` or ``185`` for 175° W).

    Returns
    -------
    np.ndarray
        The same positions with no jump of 180° or more between consecutive fixes. A
        track that crosses the 180° meridian keeps going past 180 (``179.8`` then
        ``180.7``) rather than jumping to ``-179.3``; a track wholly in the western
        hemisphere keeps negative values. NaN stays NaN.

    Notes
    -----
    Each value is first brought into (-180, 180]; each step is then replaced by the
    equivalent step of less than 180° in size (``numpy.unwrap`` with period 360); if the
    result dips below -180 the whole track is shifted by +360.

    Examples
    --------
    >>> continuous_longitude([-179.3, 179.8]).tolist()  # Halola 1512 crossing 180°
    [180.7, 179.8]
    """
    values = np.asarray(lon, dtype=float)
    result = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if not finite.any():
        return result
    wrapped = -((-values[finite] + 180.0) % 360.0 - 180.0)  # into (-180, 180]
    unwrapped = np.unwrap(wrapped, period=360.0)
    if unwrapped.min() < -180.0:
        unwrapped = unwrapped + 360.0
    result[finite] = np.round(unwrapped, 6)
    return result


def record_problems(dataset: xr.Dataset, problems: Sequence[LineProblem], where: str) -> xr.Dataset:
    """Record left-out lines (or values) in ``dataset.attrs`` and log each as a warning.

    Parameters
    ----------
    dataset
        The track the lines belonged to (changed in place and returned).
    problems
        The lines left out.
    where
        The file (and storm), for the log message.
    """
    for problem in problems:
        _LOG.warning("%s: %s", where, problem)
    dataset.attrs["line_problems"] = "\n".join(str(problem) for problem in problems)
    dataset.attrs["line_problem_count"] = len(problems)
    return dataset


def build_track(
    columns: TrackColumns,
    *,
    averaging_period: str,
    agency: str,
    attrs: Mapping[str, Any],
    reference_time: datetime | None = None,
    wind_thresholds_kt: Sequence[float] = (),
    radii: Mapping[str, np.ndarray] | None = None,
    extra: Mapping[str, tuple[Iterable[Any], Mapping[str, Any]]] | None = None,
) -> xr.Dataset:
    """Assemble a track dataset following the contract (see the module docstring).

    Parameters
    ----------
    columns
        Times and the core variables, already in degrees, hPa, m s-1 and km.
    averaging_period
        Averaging period of ``vmax`` and of the wind thresholds, e.g. ``"10 min"``.
    agency
        Agency that issued the track.
    attrs
        Further global attributes (``storm_id``, ``storm_name``, ``source`` ...).
    reference_time
        Base time of a forecast; ``None`` for a best track (``is_forecast = 0``).
    wind_thresholds_kt
        Thresholds of the wind radii, in knots, ascending.
    radii
        Wind radius variables by name, each shaped ``(time, wind_threshold[, quadrant])``.
    extra
        Further per-time variables: name → (values, attributes).
    """
    times = np.asarray(columns.times, dtype="datetime64[ns]")
    data_vars: dict[str, Any] = {
        "lat": (
            "time",
            np.asarray(columns.lat, dtype=float),
            {"units": "degrees_north", "standard_name": "latitude", "long_name": "centre"},
        ),
        "lon": (
            "time",
            continuous_longitude(columns.lon),
            {
                "units": "degrees_east",
                "standard_name": "longitude",
                "long_name": "centre",
                "comment": "continuous along the track: may exceed 180 after crossing 180°",
            },
        ),
        "psl_min": (
            "time",
            np.asarray(columns.psl_min, dtype=float),
            {"units": "hPa", "long_name": "central (minimum sea-level) pressure"},
        ),
        "vmax": (
            "time",
            np.asarray(columns.vmax, dtype=float),
            {
                "units": "m s-1",
                "long_name": "maximum sustained wind speed",
                "averaging_period": averaging_period,
            },
        ),
        "rmw": (
            "time",
            np.asarray(columns.rmw, dtype=float),
            {"units": "km", "long_name": "radius of maximum wind"},
        ),
    }
    for name, (values, var_attrs) in (extra or {}).items():
        data_vars[name] = ("time", np.asarray(list(values)), dict(var_attrs))
    coords: dict[str, Any] = {"time": ("time", times, {"standard_name": "time"})}
    if wind_thresholds_kt:
        knots = np.asarray(wind_thresholds_kt, dtype=float)
        coords["wind_threshold"] = (
            "wind_threshold",
            np.round(knots_to_ms(knots), 3),
            {
                "units": "m s-1",
                "long_name": "wind speed threshold of the wind radii",
                "averaging_period": averaging_period,
            },
        )
        coords["wind_threshold_kt"] = ("wind_threshold", knots, {"units": "knot"})
        for name, values in (radii or {}).items():
            dims: tuple[str, ...] = ("time", "wind_threshold")
            if values.ndim == 3:
                dims = (*dims, "quadrant")
                coords["quadrant"] = ("quadrant", list(QUADRANTS))
            data_vars[name] = (dims, values, _RADIUS_ATTRS.get(name, {"units": "km"}))
    global_attrs: dict[str, Any] = {
        "agency": agency,
        "is_forecast": int(reference_time is not None),
        "line_problems": "",
        "line_problem_count": 0,
        **attrs,
    }
    dataset = xr.Dataset(data_vars, coords=coords, attrs=global_attrs)
    if reference_time is not None:
        base = np.datetime64(reference_time, "ns")
        dataset = dataset.assign_coords(
            reference_time=((), base, {"long_name": "base (initial) time of the forecast"}),
            lead_time=("time", times - base, {"long_name": "time since reference_time"}),
        )
        dataset.attrs["reference_time"] = f"{reference_time:%Y-%m-%dT%H:%MZ}"
    return dataset


_RADIUS_ATTRS: dict[str, dict[str, Any]] = {
    "wind_radius_quadrant": {
        "units": "km",
        "long_name": "largest distance from the centre of winds >= wind_threshold, per quadrant",
    },
    "wind_radius_long": {
        "units": "km",
        "long_name": "longest radius of winds >= wind_threshold",
    },
    "wind_radius_short": {
        "units": "km",
        "long_name": "shortest radius of winds >= wind_threshold",
    },
    "wind_radius_long_direction": {
        "long_name": "direction of the longest radius of winds >= wind_threshold (JMA code)",
        "flag_values": np.asarray(list(JMA_DIRECTION_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(JMA_DIRECTION_MEANINGS.values()),
        "units": "1",
    },
}

#: The wind-radius variables of the contract, the distances before the JMA direction code.
RADIUS_VARIABLES: tuple[str, ...] = tuple(_RADIUS_ATTRS)
