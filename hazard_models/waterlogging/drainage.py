"""Drainage capacity and the rainfall beyond it: the maths of the waterlogging models.

A storm-drainage system is designed to carry the rainfall of a design storm (China:
GB 50014-2021, *Standard for design of outdoor wastewater engineering*, which sets the
design return period, 3-5 years for the central districts of a megacity; Europe: EN 752).
Rain falling faster than that stays on the surface and collects in low places: urban
waterlogging (内涝). With a drainage capacity ``c`` (mm h-1, the design rain rate the
network carries), the rainfall over a window of ``w`` hours that the drains cannot take is

.. math:: E_w = \\max(0,\\; P_w - c \\cdot w)

where :math:`P_w` is the rainfall over the window (mm). This is the rational method's
design principle read backwards (rain intensity beyond the design intensity is not
drained), not a hydraulic model: it says *that* water stays on the streets and how much
rain that is, not how deep it gets where; the community's terrain, its official
waterlogging points and its low-lying land say where, through the risk matrix
(:mod:`hazard_models.risk`).

>>> import numpy as np
>>> drainage_excess(np.array([10.0, 25.0, np.nan]), capacity=20.0, window_hours=1.0)
array([ 0.,  5., nan])
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

import numpy as np
import xarray as xr

__all__ = ["capacity_depth", "drainage_excess"]

_Array = TypeVar("_Array", np.ndarray, xr.DataArray)


def capacity_depth(capacity: float, window: timedelta) -> float:
    """Rainfall (mm) the drains carry over ``window`` at ``capacity`` mm h-1."""
    return capacity * window.total_seconds() / 3600


def drainage_excess(accumulation: _Array, capacity: float, window_hours: float | _Array) -> _Array:
    """Rainfall beyond the drainage capacity over a window (mm); NaN stays NaN.

    Parameters
    ----------
    accumulation
        Rainfall over the window, mm.
    capacity
        Drainage capacity, mm h-1 (the design rain rate the network carries).
    window_hours
        Window length in hours (broadcast against ``accumulation``).
    """
    excess = accumulation - capacity * window_hours
    if isinstance(excess, xr.DataArray):
        return excess.clip(min=0)
    return np.where(np.isnan(excess), np.nan, np.maximum(excess, 0.0))
