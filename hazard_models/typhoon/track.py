"""From a tropical-cyclone track to the storm parameters a wind profile needs, hour by hour.

:func:`storm_parameters` reads a track of the *tropical cyclone track* contract (any agency,
best track or forecast) and returns, per fix, everything the kernels of
:mod:`hazard_models.typhoon.windfield` use, in fixed units: centre ``lat``/``lon``
(degrees, longitude continuous along the track), pressure deficit ``delta_p`` (hPa),
radius of maximum wind ``rmax`` (km), maximum wind ``vmax`` (m s-1, **1-min surface wind at
sea**, converted explicitly from the agency's averaging period), the outer point of the
Holland (2010) profile (``outer_wind`` 1-min m s-1 at ``outer_radius`` km, NaN when the
track gives no 30-kt radius), the motion ``translation_u``/``translation_v`` (m s-1) and the
``pressure_tendency`` (hPa h-1). :func:`interpolate_parameters` puts them on an hourly (or
any) time step.

What is filled in, and from what (each fill is counted in the ``fills`` attribute)
    * no central pressure: from the maximum wind with the western North Pacific wind-pressure
      relation of Atkinson & Holliday (1977), ``V = 6.7 (1010 - p_c)^0.644`` (V in kt, 1-min);
    * no maximum wind: from the central pressure with the same relation;
    * no radius of maximum wind: Vickery & Wadhera (2008), see
      :func:`~hazard_models.typhoon.structure.radius_of_maximum_wind`;
    * no 30-kt radius at a fix: the latest earlier fix's (size persistence); none before it:
      NaN, and the Holland (2010) profile keeps the Holland (2008) shape. A fix whose
      maximum wind is not above the radius' wind has no such radius (a storm decayed to a
      depression, a forecast filling up): NaN there too, whatever earlier fixes gave.
      Without this rule a weakening depression kept the gale radius of its typhoon days
      and the Holland (2010) profile spread near-gale winds 500 km from a 1002 hPa low.

Bad input (each a clear message, never a made-up storm)
    * a fix with neither pressure nor wind is left out and named in ``track_problems``; a
      track with no usable fix raises :class:`~hazard_models.errors.ModelError`;
    * a central pressure at or above the ambient pressure (a negative deficit, e.g. a
      decaying remnant low) gives ``delta_p = 0``, i.e. no cyclonic wind, and is named;
    * the southern hemisphere works (the profiles use ``|lat|``, the asymmetry turns the other
      way); longitudes may run past 180 (continuous, as the readers give them).

Motion and pressure tendency come from centred differences of neighbouring fixes, one-sided
at the ends: for a best track cut at the issue time the last fix looks only backwards, so no
future fix is used; a forecast track's fixes are all known at its reference time.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.errors import ModelError
from hazard_models.typhoon.profiles import AMBIENT_PRESSURE_HPA
from hazard_models.typhoon.structure import radius_of_maximum_wind
from hazard_models.typhoon.wind_conversion import conversion_factor
from ingest.contracts import validate_tc_track

__all__ = [
    "PARAMETERS",
    "interpolate_parameters",
    "outer_point",
    "pressure_from_wind",
    "storm_parameters",
    "translation_velocity",
    "wind_from_pressure",
]

PARAMETERS = (
    "lat",
    "lon",
    "delta_p",
    "rmax",
    "vmax",
    "outer_wind",
    "outer_radius",
    "translation_u",
    "translation_v",
    "pressure_tendency",
)
"""The variables of a storm-parameter dataset, in the order the wind kernel takes them."""

_UNITS = {
    "lat": "degrees_north",
    "lon": "degrees_east",
    "delta_p": "hPa",
    "rmax": "km",
    "vmax": "m s-1",
    "outer_wind": "m s-1",
    "outer_radius": "km",
    "translation_u": "m s-1",
    "translation_v": "m s-1",
    "pressure_tendency": "hPa h-1",
}
_KT = 0.514444
_EARTH_RADIUS_M = 6_371_000.0
_OUTER_THRESHOLD_KT = (28.0, 35.0)  # the 30-kt (JMA, CMA) or 34-kt (ATCF) radius


def wind_from_pressure(
    psl_min: np.ndarray, ambient_pressure: float = AMBIENT_PRESSURE_HPA
) -> np.ndarray:
    """Maximum 1-min surface wind (m s-1) from the central pressure (hPa).

    Notes
    -----
    Atkinson & Holliday (1977), western North Pacific: ``V_max = 6.7 (1010 - p_c)^0.644``
    with V in kt (1-min) and p in hPa; 1010 hPa is replaced by ``ambient_pressure``.

    References
    ----------
    Atkinson, G. D., and C. R. Holliday, 1977: Tropical cyclone minimum sea level
    pressure/maximum sustained wind relationship for the western North Pacific. Mon. Wea.
    Rev., 105, 421-427.
    """
    deficit = np.clip(ambient_pressure - np.asarray(psl_min, dtype=float), 0.0, None)
    return np.asarray(6.7 * deficit**0.644 * _KT)


def pressure_from_wind(
    vmax_1min: np.ndarray, ambient_pressure: float = AMBIENT_PRESSURE_HPA
) -> np.ndarray:
    """Central pressure (hPa) from the maximum 1-min surface wind (m s-1); inverse of
    :func:`wind_from_pressure` (Atkinson & Holliday 1977)."""
    knots = np.clip(np.asarray(vmax_1min, dtype=float), 0.0, None) / _KT
    return np.asarray(ambient_pressure - (knots / 6.7) ** (1.0 / 0.644))


def outer_point(track: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The Holland (2010) outer point per fix from the track's ~30-kt wind radius.

    Returns
    -------
    ``(wind, radius)``: the threshold as a 1-min wind at sea (m s-1) and the mean radius
    (km) of that wind: the mean of JMA's longest and shortest radius, or of the four ATCF/CMA
    quadrants. NaN where the track gives no such radius or says no wind reaches it (0).
    """
    n = track.sizes["time"]
    nothing = (np.full(n, np.nan), np.full(n, np.nan))
    if "wind_threshold" not in track.coords:
        return nothing
    knots = np.asarray(
        track.coords.get("wind_threshold_kt", track["wind_threshold"] / _KT), dtype=float
    )
    chosen = np.nonzero((knots >= _OUTER_THRESHOLD_KT[0]) & (knots <= _OUTER_THRESHOLD_KT[1]))[0]
    if chosen.size == 0:
        return nothing
    index = int(chosen[0])
    if "wind_radius_long" in track:
        radius = 0.5 * (
            track["wind_radius_long"].isel(wind_threshold=index)
            + track["wind_radius_short"].isel(wind_threshold=index)
        )
    elif "wind_radius_quadrant" in track:
        radius = track["wind_radius_quadrant"].isel(wind_threshold=index).mean("quadrant")
    else:
        return nothing
    values = np.asarray(radius.values, dtype=float)
    values = np.where(values > 0.0, values, np.nan)
    period = str(track["wind_threshold"].attrs["averaging_period"])
    wind = float(track["wind_threshold"].values[index]) * conversion_factor(period, "1 min")
    return np.where(np.isfinite(values), wind, np.nan), values


def translation_velocity(
    times: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Eastward and northward motion (m s-1) of a centre at ``lat``/``lon`` (degrees, time on
    the last axis): centred differences, one-sided at the ends; needs at least two times."""
    seconds = (times - times[0]) / np.timedelta64(1, "s")
    u = np.gradient(np.radians(lon), seconds, axis=-1) * _EARTH_RADIUS_M * np.cos(np.radians(lat))
    v = np.gradient(np.radians(lat), seconds, axis=-1) * _EARTH_RADIUS_M
    return np.asarray(u), np.asarray(v)


def _motion(
    times: np.ndarray, lat: np.ndarray, lon: np.ndarray, psl: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Translation (m s-1, east and north) and pressure tendency (hPa h-1) per fix."""
    if times.size < 2:
        zero = np.zeros(times.size)
        return zero, zero.copy(), zero.copy()
    u, v = translation_velocity(times, lat, lon)
    seconds = (times - times[0]) / np.timedelta64(1, "s")
    tendency = np.gradient(psl, seconds / 3600.0)
    return np.asarray(u), np.asarray(v), np.asarray(np.nan_to_num(tendency))


def storm_parameters(
    track: xr.Dataset, ambient_pressure: float = AMBIENT_PRESSURE_HPA
) -> xr.Dataset:
    """Storm parameters per usable fix of ``track`` (see the module docstring).

    Parameters
    ----------
    track
        A track of the tropical-cyclone-track contract.
    ambient_pressure
        Environmental pressure (hPa) from which the deficit is counted.

    Returns
    -------
    Dataset on ``time`` with :data:`PARAMETERS`; attributes ``track_problems`` (one line
    per fix left out or changed, ``""`` if none), ``fills`` and the track's ``storm_id``,
    ``storm_name``, ``agency``.

    Raises
    ------
    ModelError
        If no fix has a central pressure or a maximum wind.
    """
    validate_tc_track(track)
    name = f"{track.attrs.get('storm_name', '?')} ({track.attrs.get('storm_id', '?')})"
    to_one_minute = conversion_factor(str(track["vmax"].attrs["averaging_period"]), "1 min")
    times = np.asarray(track["time"].values, dtype="datetime64[ns]")
    psl = np.asarray(track["psl_min"].values, dtype=float)
    vmax = np.asarray(track["vmax"].values, dtype=float) * to_one_minute
    rmw = np.asarray(track["rmw"].values, dtype=float)
    problems: list[str] = []
    stamp = list(pd.DatetimeIndex(times).strftime("%Y-%m-%dT%H:%MZ"))
    usable = np.isfinite(psl) | np.isfinite(vmax)
    for i in np.nonzero(~usable)[0]:
        problems.append(f"fix {stamp[i]}: no central pressure and no maximum wind; left out")
    if not usable.any():
        raise ModelError(
            f"track of storm {name} ({track.attrs.get('source', '?')}): no fix has a central "
            "pressure (psl_min) or a maximum wind (vmax); the wind field needs one of them per "
            "fix: check the track source"
        )
    missing_p = usable & ~np.isfinite(psl)
    missing_v = usable & ~np.isfinite(vmax)
    psl = np.where(missing_p, pressure_from_wind(vmax, ambient_pressure), psl)
    vmax = np.where(missing_v, wind_from_pressure(psl, ambient_pressure), vmax)
    deficit = ambient_pressure - psl
    for i in np.nonzero(usable & (deficit <= 0.0))[0]:
        problems.append(
            f"fix {stamp[i]}: central pressure {psl[i]:g} hPa is not below the ambient "
            f"{ambient_pressure:g} hPa (pressure deficit {deficit[i]:g} hPa <= 0): no "
            "cyclonic wind modelled at this fix"
        )
    deficit = np.clip(deficit, 0.0, None)
    vmax = np.where(deficit > 0.0, vmax, 0.0)
    lat = np.asarray(track["lat"].values, dtype=float)
    lon = np.asarray(track["lon"].values, dtype=float)
    estimated_r = ~(np.isfinite(rmw) & (rmw > 0.0))
    rmax = np.where(estimated_r, radius_of_maximum_wind(psl, lat, ambient_pressure), rmw)
    wind_n, radius_n = outer_point(track)
    # A fix without its own ~30-kt radius keeps the latest earlier one (size persistence;
    # forecasts often give radii at the analysis only). Never an earlier fix's from later.
    given_n = np.isfinite(radius_n)
    latest = np.maximum.accumulate(np.where(given_n, np.arange(radius_n.size), -1))
    carried = (latest >= 0) & ~given_n
    wind_n = np.where(latest >= 0, wind_n[np.maximum(latest, 0)], np.nan)
    radius_n = np.where(latest >= 0, radius_n[np.maximum(latest, 0)], np.nan)
    too_weak = np.isfinite(radius_n) & ~(vmax > wind_n)  # no wind reaches the radius' speed
    wind_n = np.where(too_weak, np.nan, wind_n)
    radius_n = np.where(too_weak, np.nan, radius_n)
    keep = np.nonzero(usable)[0]
    u, v, tendency = _motion(times[keep], lat[keep], lon[keep], psl[keep])
    values = {
        "lat": lat[keep],
        "lon": lon[keep],
        "delta_p": deficit[keep],
        "rmax": rmax[keep],
        "vmax": vmax[keep],
        "outer_wind": wind_n[keep],
        "outer_radius": radius_n[keep],
        "translation_u": u,
        "translation_v": v,
        "pressure_tendency": tendency,
    }
    fills = (
        f"central pressure from wind (Atkinson & Holliday 1977): {int(missing_p.sum())}; "
        f"maximum wind from pressure: {int(missing_v.sum())}; radius of maximum wind from "
        f"pressure (Vickery & Wadhera 2008): {int((estimated_r & usable).sum())}; 30-kt "
        f"radius carried from an earlier fix: {int((carried & usable & ~too_weak).sum())}; "
        f"30-kt radius dropped, the maximum wind not above it: {int((too_weak & usable).sum())}; "
        f"of {int(usable.sum())} usable fixes"
    )
    return xr.Dataset(
        {
            key: ("time", np.asarray(value, dtype=float), {"units": _UNITS[key]})
            for key, value in values.items()
        },
        coords={"time": times[keep]},
        attrs={
            "storm_id": str(track.attrs.get("storm_id", "")),
            "storm_name": str(track.attrs.get("storm_name", "")),
            "agency": str(track.attrs.get("agency", "")),
            "ambient_pressure": f"{ambient_pressure:g} hPa",
            "vmax_conversion": (
                f"{track['vmax'].attrs['averaging_period']} -> 1 min at sea x {to_one_minute:.4f} "
                "(WMO/TD-No. 1555)"
            ),
            "fills": fills,
            "track_problems": "\n".join(problems),
        },
    )


def interpolate_parameters(parameters: xr.Dataset, step: timedelta) -> xr.Dataset:
    """Storm parameters linearly interpolated to every ``step`` from the first fix.

    Works on any leading dimensions (e.g. ``member``). The outer point is interpolated only
    between fixes that both have one (NaN otherwise). A single fix is returned as it is.
    """
    times = parameters["time"].values
    if times.size < 2:
        return parameters
    start, end = pd.Timestamp(times[0]), pd.Timestamp(times[-1])
    target = pd.date_range(start, end, freq=pd.Timedelta(step)).values
    return parameters.interp(time=target, method="linear").assign_attrs(parameters.attrs)
