"""CLIPER baseline: typhoon track and central-pressure forecasts from climatology and persistence.

A forecast is made from the best track known up to the issue time and nothing else, so a
historical storm can be replayed as a forecast without any knowledge of its future. This is
the no-skill reference of track forecasting (CLIPER, Neumann 1972; CLIPER5, Aberson 1998;
WPCLPR in the western North Pacific) and of intensity forecasting (SHIFOR5, Knaff et al.
2003): a forecast that does not beat it has no skill.

Method
    Predictors at the issue fix ``t0`` (the latest fix at or before the issue time):

    * track: latitude, longitude, the displacement over the last 12 h (``t0 - 12 h`` to
      ``t0``) and over the 12 h before that (``t0 - 24 h`` to ``t0 - 12 h``), east and north
      in km, and the day of the year as ``sin``/``cos``. The six position and motion
      predictors also enter as all their squares and pairwise products (the quadratic
      polynomial of Neumann 1972 and Aberson 1998; the day of year stays linear);
    * pressure: the track predictors plus the central pressure at ``t0`` and its change
      over the last 12 h, with the same squares and products.

    Positions before ``t0`` are interpolated linearly in time between the fixes (they are
    the fixes themselves for a 6-hourly best track). When the track starts less than 24 h
    before ``t0``, the earlier displacement is taken equal to the last 12 h one (steady
    motion); training samples are treated the same way, so the regressions see the
    substitution too.

Young storms
    A storm that forms near the city (Roke 2017, Lupit and Cempaka 2021 in the South China
    Sea) must still get a forecast at its first fixes, when a warning matters most. With
    6 to 12 h of track the motion over the whole track, scaled to 12 h, stands for the last
    12 h displacement and so does the pressure change (steady motion and deepening; the
    training samples with 6 to 12 h of history are treated the same way). With less than
    6 h of track (one fix) the past motion is unknown and a second set of regressions is
    used, fitted on the same samples plus the storms' first fixes with the motion and
    pressure-change predictors left out: climatology alone (the "CLI" of CLIPER). Its
    errors are larger (``docs/typhoon_cliper.md`` measures them), so the typhoon model
    draws its ensemble with wider errors for it (``climatology_track_errors``). The
    forecast says which was done in its ``forecast_method`` attribute and gives the hours
    of past motion used in ``past_motion_hours`` (12, 6 to 12, or 0).

    Predictands, for each lead (default 6, 12, ..., 72 h): the displacement east and north
    (km) and the central-pressure change (hPa) from ``t0``. Each is one ridge regression
    (``sklearn.linear_model.Ridge``, ``alpha = 1`` on standardised predictors, nearly
    ordinary least squares with ~20 000 samples). Displacements are on the plane tangent at
    ``t0``: east ``Δλ cos φ0 · 111.195 km``, north ``Δφ · 111.195 km``, and are turned back
    into degrees the same way, so longitudes run on continuously across 180°. The input
    longitudes are first made continuous (:func:`ingest.tracks.continuous_longitude`, so a
    track written as 179.8 then -179.3 also works) and the forecast keeps the convention of
    the analysis longitude as given, unless that takes it below -180° (then all forecast
    longitudes get +360°, the rule of ``continuous_longitude``).

Training sample
    JMA best-track fixes at 00, 06, 12 and 18 UTC with the issue fix inside the domain
    10-32° N, 104-135° E: the South China Sea, the Philippine Sea west of 135° E and the
    coast from Vietnam to Zhejiang, which holds every fix within 1000 km of Shenzhen. (In
    the 2015-2025 hindcast of ``benchmarks/typhoon_cliper.py`` this domain gave 24/48/72 h
    mean errors of 181/422/690 km, against 190/446/732 km for the whole basin, 0-50° N,
    95-180° E; dropping the quadratic terms gave 190/442/712 km. The domain was chosen on
    that hindcast, so its scores are slightly optimistic.) A fix enters the regression of a
    lead only if the storm has a fix exactly at that lead (storms that have dissipated do
    not bias the displacements towards zero). Only storms whose **last** fix is before
    ``trained_until`` are used; later ones are left out, counted in
    :attr:`CliperModel.n_storms_after_cutoff` and logged at INFO. A forecast issued outside
    the domain is still made (the regressions are extrapolated) and logged as a warning.

Pressure and wind
    The pressure forecast is clipped to [870, 1010] hPa. The maximum wind follows from it
    by the wind-pressure relation ``V = a (1010 - p)^b`` fitted (log-log least squares) to
    the training fixes, and scaled by the analysis ratio ``V0 / (a (1010 - p0)^b)`` where
    the analysis gives a wind; the output wind has the input's ``averaging_period``. Lead 0
    is the analysis itself (its wind is NaN where JMA gives none, below 35 kt); without an
    analysis wind the later leads take the relation unscaled, converted at sea from the
    training winds' averaging period (JMA, 10 min) to the input's (WMO/TD-No. 1555, see
    :mod:`~hazard_models.typhoon.wind_conversion`). A missing pressure at ``t0`` or
    ``t0 - 12 h`` gives a NaN pressure and wind forecast but the track is still produced.
    The radius of maximum wind is persisted from ``t0`` (NaN if unknown).

Size
    The wind radii of the best track (JMA's 30- and 50-kt radii, ATCF's quadrants) are
    persisted from the latest fix at or before ``t0`` that gives them, per threshold, as
    :func:`~hazard_models.typhoon.track.storm_parameters` persists them between fixes. The
    wind field's Holland (2010) profile passes through the 30-kt radius; without it the
    forecast storm took the narrower default shape while the analysis it is verified
    against kept the agency's size, and the probability of gales far from the centre (the
    yellow signal) came out too low (``docs/typhoon_reliability.md``). Persistence is the
    size part of a climatology-and-persistence forecast (Knaff et al. 2007 add climatology
    and decay over land; we do not).

References
----------
Neumann, C. J., 1972: An alternate to the HURRAN tropical cyclone forecast system. NOAA
Tech. Memo. NWS SR-62.

Aberson, S. D., 1998: Five-day tropical cyclone track forecasts in the North Atlantic basin.
*Wea. Forecasting*, 13, 1005-1015.

Knaff, J. A., M. DeMaria, C. R. Sampson and J. M. Gross, 2003: Statistical, 5-day tropical
cyclone intensity forecasts derived from climatology and persistence. *Wea. Forecasting*,
18, 80-92.

Knaff, J. A., C. R. Sampson, M. DeMaria, T. P. Marchok, J. M. Gross and C. J. McAdie, 2007:
Statistical tropical cyclone wind radii prediction using climatology and persistence.
*Wea. Forecasting*, 22, 781-791.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import xarray as xr

from hazard_models.typhoon.wind_conversion import conversion_factor
from ingest.contracts import validate_tc_track
from ingest.tracks import RADIUS_VARIABLES, TrackColumns, build_track, continuous_longitude

__all__ = ["DEFAULT_LEADS", "CliperModel", "cliper_forecast"]

_LOG = logging.getLogger(__name__)

#: Forecast leads of the default model: 6, 12, ..., 72 h.
DEFAULT_LEADS: tuple[timedelta, ...] = tuple(timedelta(hours=h) for h in range(6, 73, 6))


KM_PER_DEGREE = 111.195  # 2 π 6371 km / 360
AMBIENT_PRESSURE_HPA = 1010.0
MIN_PRESSURE_HPA = 870.0
HISTORY_HOURS = 12.0
MIN_HISTORY_HOURS = 6.0
_HOUR = np.timedelta64(3600, "s")


@dataclass(frozen=True)
class CliperModel:
    """Fitted CLIPER regressions: displacement and pressure change per lead time.

    Attributes
    ----------
    leads
        Forecast leads, ascending.
    trained_until
        Only storms whose last fix is before this time were used.
    n_samples
        Issue fixes used for the shortest lead (the longer leads use fewer).
    n_storms
        Storms that gave at least one sample.
    n_storms_after_cutoff
        Storms passed in but left out because their last fix is not before
        ``trained_until``.
    domain
        ``(lat_min, lat_max, lon_min, lon_max)`` of the issue fixes used, degrees.
    track_center, track_scale
        Mean and standard deviation of the track predictors (standardisation).
    track_coef, track_intercept
        Shapes ``(lead, 2, predictor)`` and ``(lead, 2)``: east and north displacement, km.
    pressure_center, pressure_scale, pressure_coef, pressure_intercept
        The same for the central-pressure change, hPa; shapes ``(predictor,)`` and
        ``(lead, predictor)``, ``(lead,)``.
    wind_pressure
        ``(a, b)`` of ``V = a (1010 - p)^b`` (m s-1, hPa) fitted to the training fixes.
    averaging_period
        Averaging period of the training winds (JMA: ``"10 min"``).
    samples_per_lead
        Samples of each lead's track regression.
    past_motion
        Whether the regressions use the past motion and pressure change (CLIPER) or only
        the position, season and pressure (climatology alone).
    climatology
        The climatology-alone regressions for storms with less than 6 h of track (fitted
        with the same call; ``None`` on the climatology model itself).
    """

    leads: tuple[timedelta, ...]
    trained_until: datetime
    n_samples: int
    n_storms: int
    n_storms_after_cutoff: int
    domain: tuple[float, float, float, float]
    track_center: np.ndarray = field(compare=False, repr=False)
    track_scale: np.ndarray = field(compare=False, repr=False)
    track_coef: np.ndarray = field(compare=False, repr=False)
    track_intercept: np.ndarray = field(compare=False, repr=False)
    pressure_center: np.ndarray = field(compare=False, repr=False)
    pressure_scale: np.ndarray = field(compare=False, repr=False)
    pressure_coef: np.ndarray = field(compare=False, repr=False)
    pressure_intercept: np.ndarray = field(compare=False, repr=False)
    wind_pressure: tuple[float, float] = (0.0, 0.0)
    averaging_period: str = "10 min"
    samples_per_lead: tuple[int, ...] = ()
    past_motion: bool = True
    climatology: CliperModel | None = field(default=None, compare=False, repr=False)


# --------------------------------------------------------------------------- predictors


def _quadratic(columns: np.ndarray) -> np.ndarray:
    """Squares and pairwise products of the columns of ``columns`` (n, k)."""
    k = columns.shape[1]
    rows, cols = np.triu_indices(k)
    return columns[:, rows] * columns[:, cols]


def _track_predictors(
    lat0: np.ndarray,
    lon0: np.ndarray,
    motion: np.ndarray,
    day_of_year: np.ndarray,
) -> np.ndarray:
    """Track predictors: position and motion (``motion`` may have no columns, for the
    climatology-alone regressions), their quadratic terms, and the season."""
    base = np.column_stack([lat0, lon0, motion])
    angle = 2.0 * np.pi * day_of_year / 365.25
    return np.column_stack([base, _quadratic(base), np.sin(angle), np.cos(angle)])


def _pressure_predictors(
    track: np.ndarray, lat0: np.ndarray, pressure: np.ndarray, change: np.ndarray | None
) -> np.ndarray:
    """Pressure predictors: the track ones, pressure and its 12 h change (left out when
    ``change`` is None) with quadratics."""
    base = np.column_stack([lat0, pressure] if change is None else [lat0, pressure, change])
    return np.column_stack([track, base[:, 1:], _quadratic(base)[:, 1:]])


def _utc64(moment: datetime, unit: str) -> Any:
    """``moment`` as a numpy UTC time; an aware datetime is converted, a naive one is UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.asarray(moment, dtype=f"datetime64[{unit}]")[()]


def _hours(times: np.ndarray) -> np.ndarray:
    """Hours since 1970 of datetime64 values, as float."""
    return (times.astype("datetime64[s]") - np.datetime64(0, "s")) / _HOUR


def _day_of_year(hours: np.ndarray) -> np.ndarray:
    """Fractional day of the year (0 on 1 January 00 UTC) of hours since 1970."""
    times = (hours * 3600.0).astype("int64").astype("datetime64[s]")
    years = times.astype("datetime64[Y]")
    return np.asarray((times - years) / np.timedelta64(1, "D"), dtype=float)


def _displacement_km(
    lat_from: np.ndarray,
    lon_from: np.ndarray,
    lat_to: np.ndarray,
    lon_to: np.ndarray,
    lat0: np.ndarray,
) -> np.ndarray:
    """East and north displacement (km) on the plane tangent at latitude ``lat0``."""
    east = (lon_to - lon_from) * np.cos(np.radians(lat0)) * KM_PER_DEGREE
    north = (lat_to - lat_from) * KM_PER_DEGREE
    return np.column_stack([east, north])


@dataclass
class _Fixes:
    """Predictors of a set of issue fixes of one storm (or of one forecast)."""

    hours: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    motion: np.ndarray  # (n, 4): last 12 h east, north; 12 h before east, north (km)
    pressure: np.ndarray
    pressure_change: np.ndarray
    history: np.ndarray  # hours of track before each fix used for the motion (<= 12)


def _issue_predictors(
    hours: np.ndarray, lat: np.ndarray, lon: np.ndarray, psl: np.ndarray, issue: np.ndarray
) -> _Fixes:
    """Predictors at the fixes ``issue`` (indices) using only fixes up to each of them.

    Positions and pressures at ``t0 - 12 h`` and ``t0 - 24 h`` are interpolated linearly in
    time; ``np.interp`` on the whole track is fine because every query time is at or
    before its issue fix and not before the first fix. A fix with less than 12 h of track
    before it takes the motion and pressure change over the whole track, scaled to 12 h
    (NaN for a first fix): the young-storm rule of the module docstring.
    """
    t0 = hours[issue]
    lat0, lon0 = lat[issue], lon[issue]
    history = np.minimum(HISTORY_HOURS, t0 - hours[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(history > 0, HISTORY_HOURS / history, np.nan)
    lat12 = np.interp(t0 - history, hours, lat)
    lon12 = np.interp(t0 - history, hours, lon)
    last = _displacement_km(lat12, lon12, lat0, lon0, lat0) * scale[:, None]
    has_24 = t0 - 2 * HISTORY_HOURS >= hours[0]
    lat24 = np.interp(t0 - 2 * HISTORY_HOURS, hours, lat)
    lon24 = np.interp(t0 - 2 * HISTORY_HOURS, hours, lon)
    before = np.where(has_24[:, None], _displacement_km(lat24, lon24, lat12, lon12, lat0), last)
    p0 = psl[issue]
    p12 = _interp_nan(t0 - history, hours, psl)
    motion = np.column_stack([last, before])
    return _Fixes(t0, lat0, lon0, motion, p0, (p0 - p12) * scale, history)


def _interp_nan(query: np.ndarray, hours: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation that gives NaN where a bracketing value is NaN."""
    right = np.clip(np.searchsorted(hours, query, side="left"), 0, hours.size - 1)
    left = np.clip(right - 1, 0, hours.size - 1)
    exact = hours[right] == query
    span = np.where(exact, 1.0, hours[right] - hours[left])
    weight = np.where(exact, 1.0, (query - hours[left]) / np.where(span == 0, 1.0, span))
    return np.asarray(values[left] + weight * (values[right] - values[left]), dtype=float)


def _track_arrays(track: xr.Dataset) -> tuple[np.ndarray, ...]:
    return (
        _hours(np.asarray(track["time"].values)),
        np.asarray(track["lat"].values, dtype=float),
        np.asarray(track["lon"].values, dtype=float),
        np.asarray(track["psl_min"].values, dtype=float),
        np.asarray(track["vmax"].values, dtype=float),
    )


# --------------------------------------------------------------------------- forecasting


def _storm_label(track: xr.Dataset) -> str:
    name = str(track.attrs.get("storm_name", "")).strip()
    return f"storm {track.attrs.get('storm_id', '?')}{' ' + name if name else ''}"


def cliper_forecast(model: CliperModel, best_track: xr.Dataset, issue_time: datetime) -> xr.Dataset:
    """CLIPER forecast track from the fixes of ``best_track`` at or before ``issue_time``.

    Parameters
    ----------
    model
        Regressions from :func:`~hazard_models.typhoon.cliper_fit.fit_cliper`.
    best_track
        Best track (or analysis track) of the storm; fixes after ``issue_time`` are ignored.
    issue_time
        Naive UTC time. The forecast starts from the latest fix at or before it.

    Returns
    -------
    xr.Dataset
        Forecast track (contract of :mod:`ingest.tracks`): ``time`` is the valid time,
        ``lead_time`` 0 (the analysis fix) then each lead of the model, ``reference_time``
        the analysis fix; ``lat``, ``lon`` (continuous from the analysis longitude),
        ``psl_min`` (hPa, NaN if the pressure at ``t0`` or at the start of the past
        motion is unknown),
        ``vmax`` (m s-1, the input's averaging period), ``rmw`` (km, persisted) and the
        input's wind radii, persisted (see the module docstring); attributes
        ``forecast_method`` and ``past_motion_hours`` say which regressions were used.

    Raises
    ------
    ValueError
        If ``issue_time`` is before the first fix, a position in the 24 h up to ``t0``
        is NaN (the analysis position, for the climatology-alone regressions), or the
        track spans under 6 h and ``model`` has no climatology-alone regressions.
    """
    label = _storm_label(best_track)
    hours, lat, lon, psl, vmax = _track_arrays(best_track)
    issue_hours = _hours(np.asarray([_utc64(issue_time, "s")]))[0]
    known = int(np.searchsorted(hours, issue_hours, side="right"))
    if known == 0:
        first = np.datetime_as_string(best_track["time"].values[0], unit="m")
        raise ValueError(
            f"CLIPER forecast for {label}: issue time {issue_time:%Y-%m-%dT%H:%M} is before the "
            f"first fix ({first}); issue the forecast at or after the first fix"
        )
    hours, lat, lon, psl, vmax = (a[:known] for a in (hours, lat, lon, psl, vmax))
    rmw = np.asarray(best_track["rmw"].values[:known], dtype=float)
    t0 = hours[-1]
    regressions, method = _regressions(model, t0 - hours[0], label)
    window = hours >= t0 - (2 * HISTORY_HOURS if regressions.past_motion else 0.0)
    if not (np.isfinite(lat[window]).all() and np.isfinite(lon[window]).all()):
        raise ValueError(
            f"CLIPER forecast for {label}: a position within 24 h before t0 is NaN; "
            "the past motion needs the positions of these fixes"
        )
    # Longitudes as the training saw them: continuous, the analysis in [0, 360).
    given_lon0 = float(lon[-1])
    lon = continuous_longitude(lon)
    lon = lon - 360.0 * np.floor(lon[-1] / 360.0)
    fixes = _issue_predictors(hours, lat, lon, psl, np.asarray([known - 1]))
    x, px = _predictors(fixes, past_motion=regressions.past_motion)
    scaled = (x - regressions.track_center) / regressions.track_scale
    displacement = (
        np.einsum("kjp,np->kj", regressions.track_coef, scaled) + regressions.track_intercept
    )
    lat0, lon0 = float(fixes.lat[0]), float(fixes.lon[0])
    lat_f = lat0 + displacement[:, 1] / KM_PER_DEGREE
    lon_f = lon0 + displacement[:, 0] / (np.cos(np.radians(lat0)) * KM_PER_DEGREE)
    lon_f, lon0 = lon_f + (given_lon0 - lon0), given_lon0  # back to the input's convention
    if min(lon0, float(lon_f.min())) < -180.0:  # as continuous_longitude: keep >= -180
        lon_f, lon0 = lon_f + 360.0, lon0 + 360.0
    change = (
        (px - regressions.pressure_center) / regressions.pressure_scale
    ) @ regressions.pressure_coef.T
    p_f = np.clip(
        fixes.pressure[0] + change[0] + regressions.pressure_intercept, MIN_PRESSURE_HPA, 1010
    )
    pressure = np.concatenate([[fixes.pressure[0]], p_f])
    period = str(best_track["vmax"].attrs.get("averaging_period", model.averaging_period))
    wind = _wind_from_pressure(model, pressure, float(vmax[-1]), period)
    lead_hours = [0.0, *(lead / timedelta(hours=1) for lead in model.leads)]
    reference = datetime(1970, 1, 1) + timedelta(hours=float(t0))
    columns = TrackColumns(
        times=[reference + timedelta(hours=h) for h in lead_hours],
        lat=[lat0, *lat_f.tolist()],
        lon=[lon0, *lon_f.tolist()],
        psl_min=pressure.tolist(),
        vmax=wind.tolist(),
        rmw=[float(rmw[-1])] * len(lead_hours),
    )
    until = f"{model.trained_until:%Y-%m-%d}"
    forecast = build_track(
        columns,
        averaging_period=period,
        agency=f"yujing CLIPER baseline (trained on JMA best tracks to {until})",
        attrs={
            "storm_id": best_track.attrs.get("storm_id", ""),
            "storm_name": best_track.attrs.get("storm_name", ""),
            "source": (
                f"CLIPER ({method}) from the {known} fixes of "
                f"{best_track.attrs.get('agency', 'unknown agency')} up to "
                f"{reference:%Y-%m-%dT%H:%MZ}; hazard_models.typhoon.cliper"
            ),
            "forecast_method": method,
            "past_motion_hours": float(fixes.history[0]) if regressions.past_motion else 0.0,
        },
        reference_time=reference,
        **_persisted_radii(best_track, known, len(lead_hours)),
    )
    # build_track brings longitudes into its own convention; keep the analysis' one instead.
    forecast["lon"].values[:] = np.asarray(columns.lon)
    lat_min, lat_max, lon_min, lon_max = model.domain
    if not (lat_min <= lat0 <= lat_max and lon_min <= float(fixes.lon[0]) <= lon_max):
        _LOG.warning(
            "CLIPER forecast for %s: the analysis (%.1f N, %.1f E) is outside the training "
            "domain %s; the regressions are extrapolated",
            label,
            lat0,
            lon0,
            model.domain,
        )
    return validate_tc_track(forecast)


def _regressions(model: CliperModel, history: float, label: str) -> tuple[CliperModel, str]:
    """The regressions for a track of ``history`` hours before its latest fix, and what
    they do in words (the young-storm rule of the module docstring)."""
    if not model.past_motion:
        return model, "climatology alone: position, season and pressure"
    if history >= HISTORY_HOURS:
        return model, "climatology and persistence: motion of the last 12 h"
    if history >= MIN_HISTORY_HOURS:
        return model, (
            f"climatology and persistence: motion of the whole {history:g} h track, "
            "taken as steady over 12 h"
        )
    if model.climatology is None:
        raise ValueError(
            f"CLIPER forecast for {label}: the track spans {history:g} h, under "
            f"{MIN_HISTORY_HOURS:g} h, and the model has no climatology-alone regressions; "
            "fit it with fit_cliper, which adds them"
        )
    return model.climatology, (
        f"climatology alone: the track spans {history:g} h, too short for a past motion"
    )


def _predictors(fixes: _Fixes, *, past_motion: bool) -> tuple[np.ndarray, np.ndarray]:
    """Track and pressure predictors of ``fixes``, with or without the past motion and
    pressure change."""
    motion = fixes.motion if past_motion else fixes.motion[:, :0]
    x = _track_predictors(fixes.lat, fixes.lon, motion, _day_of_year(fixes.hours))
    change = fixes.pressure_change if past_motion else None
    return x, _pressure_predictors(x, fixes.lat, fixes.pressure, change)


def _persisted_radii(best_track: xr.Dataset, known: int, n_times: int) -> dict[str, Any]:
    """``build_track`` arguments repeating, per threshold, the radii of the latest fix up to
    index ``known`` that gives them (all variables of one threshold from the same fix)."""
    names = [name for name in RADIUS_VARIABLES if name in best_track]
    if not names or "wind_threshold_kt" not in best_track.coords:
        return {}
    size = np.asarray(best_track[names[0]].values[:known], dtype=float)
    given = np.isfinite(size).reshape(known, size.shape[1], -1).any(axis=2)  # (time, threshold)
    latest = np.where(given, np.arange(known)[:, None], -1).max(axis=0)
    radii = {}
    for name in names:
        values = np.asarray(best_track[name].values[:known])
        not_given = -1 if values.dtype.kind in "iu" else np.nan  # the contract's "not given"
        persisted = values[np.maximum(latest, 0), np.arange(latest.size)]
        missing = (latest < 0).reshape((-1,) + (1,) * (persisted.ndim - 1))
        persisted = np.where(missing, not_given, persisted).astype(values.dtype)
        radii[name] = np.repeat(persisted[None], n_times, axis=0)
    return {
        "wind_thresholds_kt": [float(k) for k in best_track["wind_threshold_kt"].values],
        "radii": radii,
    }


def _wind_from_pressure(
    model: CliperModel, pressure: np.ndarray, analysis_wind: float, period: str
) -> np.ndarray:
    """Maximum wind from the pressure forecast (see the module docstring)."""
    a, b = model.wind_pressure
    deficit = np.clip(AMBIENT_PRESSURE_HPA - pressure, 0.0, None)
    relation = a * deficit**b
    if np.isfinite(analysis_wind) and relation[0] > 0:
        wind = relation * (analysis_wind / relation[0])
    elif period == model.averaging_period:
        wind = relation
    else:
        wind = relation * conversion_factor(model.averaging_period, period, "at-sea")
    wind[0] = analysis_wind  # lead 0 is the analysis itself (NaN where JMA gives no wind)
    return np.asarray(wind, dtype=float)
