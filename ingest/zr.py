"""Z–R relations: radar reflectivity (dBZ) ↔ rain rate (mm/h), and rate → accumulation.

Pure, dask-safe maths: every function accepts numpy arrays, dask arrays or
``xr.DataArray``s (lazy ones stay lazy) and uses only elementwise operations, so no data are
loaded. NaN stays NaN.

The power law ``Z = a R^b`` links the radar reflectivity factor ``Z`` (mm⁶ m⁻³) to the rain
rate ``R`` (mm h⁻¹); reflectivity is reported in decibels, ``dBZ = 10 log10(Z)``. The
coefficients depend on the drop-size distribution; :data:`ZR_PRESETS` names the common ones.

>>> round(float(rain_rate_from_dbz(23.0103)), 4)
1.0
>>> round(float(dbz_from_rain_rate(1.0)), 4)
23.0103
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "MARSHALL_PALMER",
    "ZR_PRESETS",
    "ZRRelation",
    "accumulation_from_rate",
    "dbz_from_rain_rate",
    "rain_rate_from_dbz",
    "zr_preset",
]


class ZRRelation(NamedTuple):
    """Coefficients of ``Z = a R^b`` (``Z`` in mm⁶ m⁻³, ``R`` in mm h⁻¹).

    Parameters
    ----------
    a
        Multiplier, > 0.
    b
        Exponent, > 0.
    reference
        Where the coefficients come from.
    """

    a: float
    b: float
    reference: str = ""


#: Marshall & Palmer (1948), stratiform rain: ``Z = 200 R^1.6``.
MARSHALL_PALMER = ZRRelation(
    200.0,
    1.6,
    "Marshall, J. S. and Palmer, W. McK. (1948): The distribution of raindrops with size. "
    "J. Meteor., 5, 165-166 (Z = 200 R^1.6 as given by Marshall, Langille and Palmer 1955)",
)

#: Named Z–R presets; a configuration may name one of these or give ``a`` and ``b``.
ZR_PRESETS: dict[str, ZRRelation] = {
    "marshall-palmer": MARSHALL_PALMER,
    "wsr88d-convective": ZRRelation(
        300.0,
        1.4,
        "Fulton, R. A. et al. (1998): The WSR-88D rainfall algorithm. Wea. Forecasting, 13, "
        "377-395 (default convective relation of the NEXRAD precipitation processing system)",
    ),
    "rosenfeld-tropical": ZRRelation(
        250.0,
        1.2,
        "Rosenfeld, D., Wolff, D. B. and Atlas, D. (1993): General probability-matched "
        "relations between radar reflectivity and rain rate. J. Appl. Meteor., 32, 50-72",
    ),
}


def zr_preset(name: str) -> ZRRelation:
    """Return the Z–R preset called ``name``.

    Raises
    ------
    ValueError
        If there is no such preset; the message lists those that exist.
    """
    try:
        return ZR_PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown Z-R preset {name!r}; available presets: {', '.join(sorted(ZR_PRESETS))}"
        ) from None


def _check(a: float, b: float) -> None:
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"Z-R coefficients must be positive numbers, got a={a!r}, b={b!r}")


def rain_rate_from_dbz(dbz: Any, a: float = 200.0, b: float = 1.6) -> Any:
    """Rain rate from reflectivity.

    Parameters
    ----------
    dbz
        Reflectivity in dBZ (array-like, dask or xarray).
    a, b
        Coefficients of ``Z = a R^b``; the defaults are Marshall & Palmer (1948).

    Returns
    -------
    Same type as ``dbz``
        Rain rate in mm h⁻¹.

    Notes
    -----
    .. math:: R = \\left(10^{\\mathrm{dBZ}/10} / a\\right)^{1/b}

    References
    ----------
    Marshall, J. S. and Palmer, W. McK. (1948): The distribution of raindrops with size.
    J. Meteor., 5, 165-166.

    Examples
    --------
    >>> round(float(rain_rate_from_dbz(23.0103, a=200.0, b=1.6)), 4)
    1.0
    """
    _check(a, b)
    return (10.0 ** (dbz / 10.0) / a) ** (1.0 / b)


def dbz_from_rain_rate(rate: Any, a: float = 200.0, b: float = 1.6) -> Any:
    """Reflectivity from rain rate (the inverse of :func:`rain_rate_from_dbz`).

    Parameters
    ----------
    rate
        Rain rate in mm h⁻¹, > 0 (0 gives ``-inf``).
    a, b
        Coefficients of ``Z = a R^b``.

    Returns
    -------
    Same type as ``rate``
        Reflectivity in dBZ.

    Notes
    -----
    .. math:: \\mathrm{dBZ} = 10 \\log_{10} a + 10 b \\log_{10} R

    Examples
    --------
    >>> round(float(dbz_from_rain_rate(10.0)), 2)
    39.01
    """
    _check(a, b)
    return 10.0 * np.log10(a) + 10.0 * b * np.log10(rate)


def accumulation_from_rate(rate: Any, interval_hours: float) -> Any:
    """Accumulation (mm) of a constant rate (mm h⁻¹) over an interval.

    Parameters
    ----------
    rate
        Rain rate in mm h⁻¹.
    interval_hours
        Length of the interval in hours (e.g. ``5 / 60`` for a 5-minute frame), > 0.

    Returns
    -------
    Same type as ``rate``
        Depth in mm over the interval.

    Examples
    --------
    >>> accumulation_from_rate(12.0, 5 / 60)
    1.0
    """
    if not (np.isfinite(interval_hours) and interval_hours > 0):
        raise ValueError(f"interval_hours must be a positive number, got {interval_hours!r}")
    return rate * interval_hours
