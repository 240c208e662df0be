"""Explicit conversion between wind averaging periods in tropical-cyclone conditions.

Agencies quote maximum winds over different averaging periods: JMA and HKO 10 min, CMA
2 min, JTWC 1 min. A wind is never compared with a threshold of another period before it is
converted here; a wind whose period is unknown is refused.

Source: Harper, B. A., J. D. Kepert and J. D. Ginger, 2010: *Guidelines for converting
between various wind averaging periods in tropical cyclone conditions*. WMO/TD-No. 1555,
Table 1.1, the gust factors ``G(τ, T_o) = V_τ / V_{T_o}`` (the highest τ-second mean within a
reference period ``T_o``, over the mean over ``T_o``) for four exposures at 10 m:

=========  ==========================================================
exposure   meaning (WMO/TD-No. 1555 §1)
=========  ==========================================================
in-land    open terrain over land, roughness length about 0.03-0.1 m
off-land   wind blowing from land over the coast (offshore wind)
off-sea    wind from the sea at a coastal site (onshore wind)
at-sea     open water, more than about 20 km from land
=========  ==========================================================

Two uses of the table, kept apart:

* :func:`conversion_factor` between "sustained" winds of 1, 2, 3 and 10 minutes. Both are
  taken as the highest mean of their length in the same hour, so
  ``V_b / V_a = G(b, 3600 s) / G(a, 3600 s)``. At sea this gives 10 min = 0.93 × 1 min,
  the factor WMO/TD-No. 1555 recommends (WMO 1993 had used 0.88).
* :func:`gust_factor`: the 3-s peak gust over a mean of a given period, ``G(3 s, T_o)``.

Provenance of the numbers (check against the PDF before operational use): the 3-s gust
factors for ``T_o`` = 1, 2, 3 and 10 min agree with an independent transcription of
Table 1.1 (an R script of the IKI Bangladesh project, "S8 find gust conversion factor");
the hourly-reference values for 1, 2, 3 and 10 min are our transcription of the same table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

__all__ = [
    "AVERAGING_PERIODS",
    "EXPOSURES",
    "conversion_factor",
    "convert_averaging_period",
    "convert_dataarray",
    "gust_factor",
]

EXPOSURES = ("in-land", "off-land", "off-sea", "at-sea")
"""The exposures of WMO/TD-No. 1555 Table 1.1."""

AVERAGING_PERIODS = ("1 min", "2 min", "3 min", "10 min")
"""Averaging periods this module converts between, as written in ``averaging_period``."""

# WMO/TD-No. 1555 Table 1.1, reference period T_o = 3600 s: G(τ, 3600 s) for τ = 60, 120,
# 180 and 600 s.
_HOURLY_REFERENCE: dict[str, dict[str, float]] = {
    "in-land": {"1 min": 1.28, "2 min": 1.24, "3 min": 1.22, "10 min": 1.13},
    "off-land": {"1 min": 1.22, "2 min": 1.19, "3 min": 1.17, "10 min": 1.08},
    "off-sea": {"1 min": 1.16, "2 min": 1.13, "3 min": 1.12, "10 min": 1.05},
    "at-sea": {"1 min": 1.11, "2 min": 1.09, "3 min": 1.08, "10 min": 1.03},
}

# WMO/TD-No. 1555 Table 1.1, gust duration τ = 3 s: G(3 s, T_o) for T_o = 60, 120, 180 and
# 600 s.
_GUST_3S: dict[str, dict[str, float]] = {
    "in-land": {"1 min": 1.49, "2 min": 1.55, "3 min": 1.58, "10 min": 1.66},
    "off-land": {"1 min": 1.36, "2 min": 1.42, "3 min": 1.44, "10 min": 1.52},
    "off-sea": {"1 min": 1.23, "2 min": 1.28, "3 min": 1.31, "10 min": 1.38},
    "at-sea": {"1 min": 1.11, "2 min": 1.15, "3 min": 1.17, "10 min": 1.23},
}


def _period(period: str, what: str) -> str:
    normalised = " ".join(str(period).split())
    if normalised not in AVERAGING_PERIODS:
        raise ValueError(
            f"{what} averaging period {period!r} is not one of {list(AVERAGING_PERIODS)}; "
            "write it as the agency defines its wind (JMA '10 min', CMA '2 min', JTWC '1 min')"
        )
    return normalised


def _exposure(exposure: str) -> str:
    if exposure not in EXPOSURES:
        raise ValueError(f"unknown exposure {exposure!r}; choose one of {list(EXPOSURES)}")
    return exposure


def conversion_factor(from_period: str, to_period: str, exposure: str = "at-sea") -> float:
    """Factor turning a sustained wind of ``from_period`` into one of ``to_period``.

    Parameters
    ----------
    from_period, to_period
        One of :data:`AVERAGING_PERIODS` (``"1 min"``, ``"2 min"``, ``"3 min"``, ``"10 min"``).
    exposure
        One of :data:`EXPOSURES`.

    Returns
    -------
    ``V_to / V_from``.

    Raises
    ------
    ValueError
        For an unknown period or exposure; the message lists the known ones.

    Notes
    -----
    ``V_to / V_from = G(to, 3600 s) / G(from, 3600 s)`` with the hourly-reference gust
    factors of WMO/TD-No. 1555 Table 1.1.

    References
    ----------
    Harper, B. A., J. D. Kepert, and J. D. Ginger, 2010: Guidelines for converting between
    various wind averaging periods in tropical cyclone conditions. WMO/TD-No. 1555.

    Examples
    --------
    >>> round(conversion_factor("1 min", "10 min", "at-sea"), 2)
    0.93
    """
    row = _HOURLY_REFERENCE[_exposure(exposure)]
    return row[_period(to_period, "target")] / row[_period(from_period, "source")]


def gust_factor(mean_period: str, exposure: str = "at-sea") -> float:
    """Ratio of the 3-s peak gust to the mean wind over ``mean_period``.

    Notes
    -----
    ``G(3 s, T_o)`` of WMO/TD-No. 1555 Table 1.1: e.g. 1.23 over a 10-min mean at sea,
    1.66 in-land.

    References
    ----------
    Harper, B. A., J. D. Kepert, and J. D. Ginger, 2010: WMO/TD-No. 1555, Table 1.1.
    """
    return _GUST_3S[_exposure(exposure)][_period(mean_period, "mean")]


def convert_averaging_period(
    wind: npt.ArrayLike, from_period: str, to_period: str, exposure: str = "at-sea"
) -> npt.NDArray[np.float64]:
    """``wind`` (any array, m s-1) converted from ``from_period`` to ``to_period``."""
    factor = conversion_factor(from_period, to_period, exposure)
    return np.asarray(np.asarray(wind, dtype=float) * factor)


def convert_dataarray(wind: xr.DataArray, to_period: str, exposure: str = "at-sea") -> xr.DataArray:
    """A wind variable converted to ``to_period``, read from its ``averaging_period``.

    Lazy inputs stay lazy. The result carries the new ``averaging_period`` and a
    ``history``-style note of the factor.

    Raises
    ------
    ValueError
        If ``wind`` has no ``averaging_period`` attribute or an unknown one.
    """
    source: Any = wind.attrs.get("averaging_period")
    if source is None:
        raise ValueError(
            f"wind variable {wind.name!r} has no 'averaging_period' attribute; set it to the "
            f"agency's period (one of {list(AVERAGING_PERIODS)}) before converting"
        )
    factor = conversion_factor(str(source), to_period, exposure)
    converted = wind * factor
    converted.attrs = {
        **wind.attrs,
        "averaging_period": _period(to_period, "target"),
        "averaging_period_conversion": (
            f"{_period(str(source), 'source')} -> {to_period} x {factor:.4f} "
            f"({exposure}, WMO/TD-No. 1555 Table 1.1)"
        ),
    }
    return converted
