"""Semi-Lagrangian extrapolation of a rain field by a steady motion field.

Backward scheme (Staniforth and Côté 1991; Germann and Zawadzki 2002, as in pysteps'
``extrapolation.semilagrangian``): for every output cell the trajectory is traced back one
interval at a time, ``p_k = p_(k-1) - V(p_(k-1))`` with ``V`` interpolated bilinearly at the
current point (``mode="nearest"`` for the motion, which is defined everywhere), and the
field is sampled bilinearly at ``p_k`` for lead ``k``. Iterating the small steps follows
curved trajectories; one jump ``p - k V(p)`` would not.

Values whose departure point lies outside the grid, or whose bilinear stencil touches a NaN
cell (outside the radar image), are NaN: rain that comes in from beyond the edge is unknown,
not zero.

Mass conservation
    The scheme is not conservative by construction. For a uniform motion the bilinear
    weights of each source cell sum to one, so the domain total is conserved to rounding as
    long as nothing crosses the edge (peaks are smoothed by the interpolation: the maximum
    drops, the sum does not). In convergent or divergent flow the total changes by the
    divergence of ``V`` integrated over the rain area. ``tests/test_nowcast_core.py`` measures
    both on a real KNMI frame (rain kept away from the edges).

References
----------
Staniforth, A. and J. Côté, 1991: Semi-Lagrangian integration schemes for atmospheric
models - a review. Mon. Wea. Rev., 119, 2206-2223.
Germann, U. and I. Zawadzki, 2002: Scale-dependence of the predictability of precipitation
from continental radar images. Part I. Mon. Wea. Rev., 130, 2859-2873.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from hazard_models.errors import ModelError
from hazard_models.rainstorm.motion import interval_of

__all__ = [
    "backward_trajectory",
    "extrapolate",
    "extrapolate_array",
    "fill_missing",
    "lead_times",
    "sample",
    "sample_filled",
]

_SENTINEL = 1e30  # stands for NaN inside the interpolation


def backward_trajectory(motion: np.ndarray, n_steps: int) -> np.ndarray:
    """Departure points ``(n_steps, 2, y, x)`` (row, column) of every cell, step by step.

    Parameters
    ----------
    motion
        ``(2, y, x)`` with components ``(x, y)`` in cells per interval.
    n_steps
        Number of intervals to trace back.
    """
    if n_steps < 1:
        raise ModelError(f"n_steps={n_steps}; ask for at least one lead step")
    u, v = (np.asarray(part, dtype=np.float64) for part in motion)
    rows, columns = np.mgrid[0 : u.shape[0], 0 : u.shape[1]].astype(np.float64)
    points = np.empty((n_steps, 2, *u.shape), dtype=np.float32)
    for k in range(n_steps):
        position = np.stack([rows, columns])
        rows = rows - ndimage.map_coordinates(v, position, order=1, mode="nearest")
        columns = columns - ndimage.map_coordinates(u, position, order=1, mode="nearest")
        points[k, 0], points[k, 1] = rows, columns
    return points


def sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear values of ``field`` at ``points`` (2, …) (row, column); NaN outside.

    A value is NaN when a neighbour with a non-zero bilinear weight is NaN or beyond the
    grid; a neighbour of weight zero (a point exactly on a cell) does not count. NaN is
    replaced by a sentinel of 1e30 for the interpolation, so one pass finds both: any
    positive weight on it gives at least ~1e23, far above any rain rate.
    """
    return sample_filled(fill_missing(field), points)


def fill_missing(field: np.ndarray) -> np.ndarray:
    """``field`` as float32 with NaN replaced by the sentinel :func:`sample_filled` reads."""
    return np.where(np.isnan(field), _SENTINEL, field).astype(np.float32)


def sample_filled(filled: np.ndarray, points: np.ndarray) -> np.ndarray:
    """:func:`sample` of a field already through :func:`fill_missing`."""
    values = ndimage.map_coordinates(
        filled, points, order=1, mode="constant", cval=_SENTINEL, prefilter=False
    )
    values[values > _SENTINEL * 1e-12] = np.nan
    return values


def extrapolate_array(field: np.ndarray, motion: np.ndarray, n_steps: int) -> np.ndarray:
    """Numpy kernel: ``field`` (y, x) advected to ``n_steps`` leads → (lead, y, x) float32."""
    points = backward_trajectory(motion, n_steps)
    return np.stack([sample(field, step) for step in points])


def _kernel(field: np.ndarray, motion: np.ndarray, n_steps: int) -> np.ndarray:
    # apply_ufunc moves core dims last: field (..., y, x), motion (..., component, y, x).
    out = np.empty((*field.shape[:-2], n_steps, *field.shape[-2:]), dtype=np.float32)
    motion = np.broadcast_to(motion, (*field.shape[:-2], *motion.shape[-3:]))
    for index in np.ndindex(field.shape[:-2]):
        out[index] = extrapolate_array(field[index], motion[index], n_steps)
    return out


def lead_times(n_steps: int, interval: pd.Timedelta) -> pd.TimedeltaIndex:
    """``interval, 2 interval, …, n_steps interval``."""
    return pd.to_timedelta(np.arange(1, n_steps + 1) * interval.value, unit="ns")


def extrapolate(field: xr.DataArray, motion: xr.DataArray, n_steps: int) -> xr.DataArray:
    """Rain field advected by ``motion`` to ``n_steps`` leads, lazily if ``field`` is dask.

    Parameters
    ----------
    field
        Rain rate (mm/h) on ``(…, y, x)``, NaN outside the radar image. Each of ``y`` and
        ``x`` must be one chunk (the advection moves values across the grid).
    motion
        ``(component, y, x)`` from :func:`~hazard_models.rainstorm.motion.estimate_motion`
        (cells per interval, attribute ``interval``).
    n_steps
        Number of lead steps of one interval.

    Returns
    -------
    xr.DataArray
        ``(…, lead_time, y, x)`` float32 with the coords and attrs of ``field``;
        ``lead_time`` is a timedelta coordinate, ``interval`` to ``n_steps × interval``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> field = xr.DataArray(np.eye(4), dims=("y", "x"))
    >>> motion = xr.DataArray(np.stack([np.ones((4, 4)), np.zeros((4, 4))]),
    ...     dims=("component", "y", "x"), attrs={"interval": "300 s"})
    >>> extrapolate(field, motion, 1).isel(lead_time=0).values[1].tolist()
    [nan, 0.0, 1.0, 0.0]
    """
    if motion.sizes.get("component") != 2 or {"y", "x"} - set(field.dims):
        raise ModelError(
            "extrapolate needs a field on (..., y, x) and a motion on (component, y, x); "
            f"got {field.dims} and {motion.dims}"
        )
    if motion.sizes["y"] != field.sizes["y"] or motion.sizes["x"] != field.sizes["x"]:
        raise ModelError(
            f"motion grid {motion.sizes['y']}x{motion.sizes['x']} differs from the field "
            f"grid {field.sizes['y']}x{field.sizes['x']}; estimate the motion on this grid"
        )
    interval = interval_of(motion)
    motion = motion.drop_vars([n for n in motion.coords if n not in motion.dims])
    motion = motion.assign_coords(y=field["y"], x=field["x"]) if "y" in field.coords else motion
    result = xr.apply_ufunc(
        _kernel,
        field,
        motion.transpose("component", "y", "x"),
        input_core_dims=[["y", "x"], ["component", "y", "x"]],
        output_core_dims=[["lead_time", "y", "x"]],
        kwargs={"n_steps": n_steps},
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"lead_time": n_steps}},
        keep_attrs=True,
    )
    result = result.assign_coords(lead_time=lead_times(n_steps, interval))
    return result.assign_attrs(interval=f"{interval.total_seconds():g} s")
