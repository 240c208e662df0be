"""Spatial (neighbourhood) verification: the fractions skill score of Roberts & Lean (2008).

Both fields are turned into binary event fields (``value >= threshold``), each binary
field into a field of *fractions* (the share of event pixels in the ``scale`` x ``scale``
square centred on each pixel), and the fractions are compared:

.. math::

    \\mathrm{FBS} = \\frac{1}{N} \\sum (O - M)^2, \\qquad
    \\mathrm{FBS}_\\mathrm{worst} = \\frac{1}{N} \\left(\\sum O^2 + \\sum M^2\\right), \\qquad
    \\mathrm{FSS} = 1 - \\frac{\\mathrm{FBS}}{\\mathrm{FBS}_\\mathrm{worst}}

(Roberts & Lean 2008: fractions Eqs. 2-3, scores Eqs. 5-7), with ``O`` the observed and
``M`` the model fractions.

Edge and missing-data treatment (ours, documented because it changes the numbers):

- **Zero padding.** Pixels outside the domain count as non-events in the fractions, and
  every window is divided by its full area ``scale**2`` (``scipy.ndimage.uniform_filter``
  with ``mode="constant", cval=0``, as pysteps' ``verification.spatialscores.fss`` does).
- **NaN pixels.** A pixel where either field is NaN is a non-event in *both* binary fields
  (so both fractions see the same holes) and is left out of both sums above. pysteps
  instead counts them as non-events and keeps them in both sums, so pixels nobody
  observed (a radar's out-of-range area) still add to the score.

References
----------
Roberts, N. M., and H. W. Lean, 2008: Scale-selective verification of rainfall
accumulations from high-resolution forecasts of convective events. *Mon. Wea. Rev.*,
136, 78-97, https://doi.org/10.1175/2007MWR2123.1
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr
from scipy.ndimage import uniform_filter

__all__ = [
    "fractions_skill_score",
    "fractions_skill_score_by_lead_time",
    "fractions_skill_score_target",
]


def _check_scale(scale: int) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer):
        raise TypeError(f"scale={scale!r} is not an integer number of pixels")
    if scale < 1 or scale % 2 == 0:
        raise ValueError(
            f"scale={scale} pixels: use an odd width >= 1 so the square is centred on the "
            "pixel (1, 3, 5, ...)"
        )


def _fss_kernel(
    forecast: np.ndarray, observed: np.ndarray, threshold: float, scale: int
) -> np.ndarray:
    """FSS over the last two axes of ``forecast`` and ``observed`` (any leading axes)."""
    forecast = np.asarray(forecast, dtype=float)
    observed = np.asarray(observed, dtype=float)
    valid = np.isfinite(forecast) & np.isfinite(observed)
    with np.errstate(invalid="ignore"):
        forecast_event = ((forecast >= threshold) & valid).astype(float)
        observed_event = ((observed >= threshold) & valid).astype(float)
    size = (1,) * (forecast.ndim - 2) + (scale, scale)
    model_fraction = uniform_filter(forecast_event, size=size, mode="constant", cval=0.0)
    observed_fraction = uniform_filter(observed_event, size=size, mode="constant", cval=0.0)
    spatial_axes = (-2, -1)
    fbs = np.where(valid, (observed_fraction - model_fraction) ** 2, 0.0).sum(spatial_axes)
    worst = np.where(valid, observed_fraction**2 + model_fraction**2, 0.0).sum(spatial_axes)
    safe_worst = np.where(worst > 0, worst, 1.0)
    return np.where(worst > 0, 1.0 - fbs / safe_worst, np.nan)


def fractions_skill_score(
    forecast: np.ndarray | xr.DataArray,
    observed: np.ndarray | xr.DataArray,
    threshold: float,
    scale: int,
) -> float:
    """Fractions skill score of one 2-D forecast field against the observed field.

    Parameters
    ----------
    forecast, observed
        2-D fields of the same shape, in the units of ``threshold``; NaN where missing.
    threshold
        Event criterion; a pixel is an event where ``value >= threshold``.
    scale
        Width of the square neighbourhood in pixels (odd: 1, 3, 5, ...). ``scale=1`` is
        the pixel-by-pixel comparison.

    Returns
    -------
    float
        FSS in [0, 1]; 1 for a perfect forecast, 0 for no overlap at this scale; NaN when
        neither field has an event (the score is undefined).

    Notes
    -----
    FSS = 1 - FBS / FBS_worst (Roberts & Lean 2008, Eqs. 5-7); see the module docstring
    for the zero padding at the edges and the exclusion of NaN pixels.

    Examples
    --------
    >>> import numpy as np
    >>> forecast = np.zeros((3, 3)); forecast[0, 0] = 1.0
    >>> observed = np.zeros((3, 3)); observed[0, 1] = 1.0
    >>> fractions_skill_score(forecast, observed, 1.0, 1)
    0.0
    >>> round(fractions_skill_score(forecast, observed, 1.0, 3), 6)
    0.8
    """
    _check_scale(scale)
    forecast_values = np.asarray(forecast, dtype=float)
    observed_values = np.asarray(observed, dtype=float)
    if forecast_values.ndim != 2 or forecast_values.shape != observed_values.shape:
        raise ValueError(
            f"forecast {forecast_values.shape} and observed {observed_values.shape} must be "
            "2-D fields of the same shape; for (lead_time, y, x) use "
            "fractions_skill_score_by_lead_time"
        )
    return float(_fss_kernel(forecast_values, observed_values, threshold, scale))


def fractions_skill_score_by_lead_time(
    forecast: xr.DataArray,
    observed: xr.DataArray,
    threshold: float,
    scale: int,
    spatial_dims: Sequence[Hashable] = ("y", "x"),
) -> xr.DataArray:
    """Fractions skill score for every field in a stack, e.g. per ``lead_time``.

    Parameters
    ----------
    forecast, observed
        DataArrays with the two ``spatial_dims`` and any other dimensions (``lead_time``,
        ``member``, ...), aligned and broadcast against each other.
    threshold, scale
        As in :func:`fractions_skill_score`.
    spatial_dims
        The two spatial dimensions, ``(y, x)`` by default.

    Returns
    -------
    xr.DataArray
        FSS over the non-spatial dimensions, attribute ``scale_pixels`` and
        ``threshold``; lazy when the inputs are dask-backed (each chunk must hold whole
        fields: chunk along ``lead_time``, not along ``y``/``x``).
    """
    _check_scale(scale)
    if len(spatial_dims) != 2:
        raise ValueError(f"spatial_dims={tuple(spatial_dims)} must name two dimensions")
    core = list(spatial_dims)
    fss = xr.apply_ufunc(
        _fss_kernel,
        forecast,
        observed,
        kwargs={"threshold": threshold, "scale": scale},
        input_core_dims=[core, core],
        output_core_dims=[[]],
        dask="parallelized",
        output_dtypes=[float],
    )
    return fss.rename("fractions_skill_score").assign_attrs(
        long_name="fractions skill score (Roberts and Lean 2008)",
        units="1",
        scale_pixels=scale,
        threshold=threshold,
    )


def fractions_skill_score_target(observed_fraction: float) -> float:
    """The "useful" FSS, ``0.5 + f0 / 2``, halfway between random and perfect skill.

    Parameters
    ----------
    observed_fraction
        ``f0``: the share of the domain where the event was observed.

    Returns
    -------
    float
        FSS_uniform = 0.5 + f0 / 2 (Roberts & Lean 2008, Section 5): the FSS at pixel
        scale of a forecast of ``f0`` everywhere; a forecast is deemed skilful at the
        scales where its FSS exceeds this target. (FSS_random, the FSS of a random
        forecast with the observed base rate, is ``f0``.)
    """
    if not 0.0 <= observed_fraction <= 1.0:
        raise ValueError(f"observed_fraction={observed_fraction} is not a share in [0, 1]")
    return 0.5 + observed_fraction / 2.0
