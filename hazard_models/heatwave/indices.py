"""Heat indices: pure numpy/xarray maths, no configuration, no I/O.

``heat_index(tas, hurs)``
    The US National Weather Service heat index (apparent temperature in the shade) from
    air temperature and relative humidity, by the NWS procedure: Steadman's simple
    formula, and where that gives 80 °F or more the Rothfusz regression with its two
    adjustments.
``trailing_maximum(values, times, at, period)``
    The highest value in the ``period`` ending at each of the times ``at``: the 24-h
    maximum temperature of a criterion such as CMA's "24 h max ≥ 37 °C".
``consecutive_periods_met(maxima, threshold, compare)``
    Whether consecutive 24-h maxima all meet a threshold: CMA's "daily maximum ≥ 35 °C on
    3 consecutive days".

References
----------
Rothfusz, L. P., 1990: The heat index "equation" (or, more than you ever wanted to know
about heat index). NWS Southern Region Technical Attachment SR 90-23.
Steadman, R. G., 1979: The assessment of sultriness. Part I. J. Appl. Meteor., 18, 861-873.
NOAA/NWS Weather Prediction Center: The Heat Index Equation,
https://www.wpc.ncep.noaa.gov/html/heatindex_equation.shtml (the procedure coded here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

__all__ = ["consecutive_periods_met", "heat_index", "trailing_maximum"]

_ROTHFUSZ = (
    -42.379,
    2.04901523,
    10.14333127,
    -0.22475541,
    -6.83783e-3,
    -5.481717e-2,
    1.22874e-3,
    8.5282e-4,
    -1.99e-6,
)


def _heat_index_kernel(tas: np.ndarray, hurs: np.ndarray) -> np.ndarray:
    """Heat index (degC) of ``tas`` (degC) and ``hurs`` (%), elementwise; NaN stays NaN."""
    t = np.asarray(tas, dtype=float) * 9.0 / 5.0 + 32.0
    rh = np.asarray(hurs, dtype=float)
    simple = 0.5 * (t + 61.0 + (t - 68.0) * 1.2 + rh * 0.094)
    c = _ROTHFUSZ
    full = (
        c[0]
        + c[1] * t
        + c[2] * rh
        + c[3] * t * rh
        + c[4] * t**2
        + c[5] * rh**2
        + c[6] * t**2 * rh
        + c[7] * t * rh**2
        + c[8] * t**2 * rh**2
    )
    with np.errstate(invalid="ignore"):
        dry = (rh < 13.0) & (t >= 80.0) & (t <= 112.0)
        dry_term = (13.0 - rh) / 4.0 * np.sqrt(np.clip(17.0 - np.abs(t - 95.0), 0.0, None) / 17.0)
        humid = (rh > 85.0) & (t >= 80.0) & (t <= 87.0)
        humid_term = (rh - 85.0) / 10.0 * (87.0 - t) / 5.0
        full = full - np.where(dry, dry_term, 0.0) + np.where(humid, humid_term, 0.0)
        index = np.where((simple + t) / 2.0 >= 80.0, full, simple)
    return np.asarray((index - 32.0) * 5.0 / 9.0)


def heat_index(tas: xr.DataArray, hurs: xr.DataArray) -> xr.DataArray:
    """Heat index.

    Parameters
    ----------
    tas
        Air temperature, degC (``units`` checked).
    hurs
        Relative humidity, % (``units`` checked).

    Returns
    -------
    xr.DataArray
        The heat index in degC, lazy if an input is (dask).

    Notes
    -----
    With ``T`` in °F and ``RH`` in %, the simple formula
    ``HI = 0.5 [T + 61 + 1.2 (T - 68) + 0.094 RH]`` is used when its mean with ``T`` is
    below 80 °F; otherwise the Rothfusz (1990) regression
    ``HI = -42.379 + 2.04901523 T + 10.14333127 RH - 0.22475541 T RH - 6.83783e-3 T²
    - 5.481717e-2 RH² + 1.22874e-3 T² RH + 8.5282e-4 T RH² - 1.99e-6 T² RH²``,
    less ``(13 - RH)/4 · sqrt((17 - |T - 95|)/17)`` where RH < 13 % and 80 ≤ T ≤ 112 °F,
    plus ``(RH - 85)/10 · (87 - T)/5`` where RH > 85 % and 80 ≤ T ≤ 87 °F. The regression
    was fitted to Steadman's (1979) apparent temperatures; it is not meant for
    temperatures far outside the NWS chart (80-110 °F).

    References
    ----------
    Rothfusz (1990); NOAA/NWS WPC, The Heat Index Equation (module docstring).

    Examples
    --------
    96 °F (35.56 °C) at 65 % is 121 °F (49.4 °C) in the NWS heat index chart:

    >>> t = xr.DataArray([35.5556], attrs={"units": "degC"})
    >>> rh = xr.DataArray([65.0], attrs={"units": "%"})
    >>> round(float(heat_index(t, rh)[0] * 9 / 5 + 32))
    121
    """
    for name, array, units in (("tas", tas, "degC"), ("hurs", hurs, "%")):
        if array.attrs.get("units") != units:
            raise ValueError(
                f"heat_index: {name} has units {array.attrs.get('units')!r}; convert it to "
                f"{units!r} first (ingest.units)"
            )
    index = xr.apply_ufunc(
        _heat_index_kernel, tas, hurs, dask="parallelized", output_dtypes=[float]
    )
    return index.rename("heat_index").assign_attrs(
        units="degC",
        long_name="heat index (NWS: Steadman / Rothfusz)",
        references="Rothfusz (1990), NWS SR 90-23; NOAA/NWS WPC heat index equation",
    )


def trailing_maximum(
    values: np.ndarray, times: np.ndarray, at: np.ndarray, period: np.timedelta64
) -> np.ndarray:
    """Highest value in the ``period`` ending at each time of ``at``.

    Parameters
    ----------
    values
        Samples with time on the last axis (NaN = missing).
    times
        The samples' times (``datetime64``), increasing.
    at
        The times at which to evaluate (``datetime64``).
    period
        Length of the window ``(t - period, t]``.

    Returns
    -------
    np.ndarray
        ``values.shape[:-1] + (len(at),)``: the maximum over the window's non-missing
        samples, NaN where it has none. A window reaching before the first sample sees only
        the samples there are: the maximum is then a lower bound.

    Examples
    --------
    >>> hours = np.datetime64("2019-03-01T00") + np.arange(4) * np.timedelta64(1, "h")
    >>> trailing_maximum(np.array([1.0, 5.0, np.nan, 2.0]), hours, hours[2:],
    ...                  np.timedelta64(2, "h")).tolist()
    [5.0, 2.0]
    """
    values = np.asarray(values, dtype=float)
    times = np.asarray(times, dtype="datetime64[ns]")
    at = np.asarray(at, dtype="datetime64[ns]")
    result = np.full((*values.shape[:-1], at.size), np.nan)
    starts = np.searchsorted(times, at - period, side="right")
    ends = np.searchsorted(times, at, side="right")
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        window = values[..., start:end]
        if window.shape[-1] and np.isfinite(window).any():
            with np.errstate(invalid="ignore"):
                result[..., k] = np.nanmax(np.where(np.isfinite(window), window, -np.inf), -1)
    return np.where(np.isneginf(result), np.nan, result)


def consecutive_periods_met(
    maxima: Sequence[np.ndarray],
    threshold: float,
    compare: Callable[[np.ndarray, float], np.ndarray],
) -> np.ndarray:
    """Whether consecutive period maxima all meet the threshold.

    Parameters
    ----------
    maxima
        ``maxima[k]``: the maximum of the period ending ``k`` periods before each
        evaluation time (e.g. :func:`trailing_maximum` at ``at - k * 24 h``), NaN where
        unknown; as many as the criterion's consecutive periods.
    threshold, compare
        The criterion, e.g. ``35.0`` and ``np.greater_equal``.

    Returns
    -------
    np.ndarray of bool
        True where every one of the periods has a maximum meeting the threshold; a period
        without data does not.

    Examples
    --------
    Daily maxima of 36, 35, 34, 36 and 37 °C: no 3 days in a row reach 35 °C (the 34 °C day
    breaks every run); 2 days in a row do, on the second and the fifth day.

    >>> daily = np.array([36.0, 35.0, 34.0, 36.0, 37.0])
    >>> back = lambda k: np.concatenate([np.full(k, np.nan), daily[: daily.size - k]])
    >>> consecutive_periods_met([back(k) for k in range(3)], 35.0, np.greater_equal).tolist()
    [False, False, False, False, False]
    >>> consecutive_periods_met([back(k) for k in range(2)], 35.0, np.greater_equal).tolist()
    [False, True, False, False, True]
    """
    if not maxima:
        raise ValueError("consecutive_periods_met needs at least one period's maxima")
    met = np.ones(np.shape(maxima[0]), dtype=bool)
    for values in maxima:
        with np.errstate(invalid="ignore"):
            met &= np.asarray(compare(values, threshold)) & np.isfinite(values)
    return met
