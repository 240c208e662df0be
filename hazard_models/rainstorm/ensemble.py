"""Nowcasts: Eulerian persistence, extrapolation, and a stochastic extrapolation ensemble.

All three start from the latest frame of ``frames`` (rain rate, mm/h, NaN outside the
radar) and return ``(…, lead_time, y, x)`` with coords ``reference_time`` (the latest frame's
time) and ``valid_time``.

The ensemble (:func:`ensemble_nowcast`) follows the two simplest ideas of STEPS (Seed 2003;
Bowler et al. 2006) without its cascade decomposition:

Motion perturbation ("bps", Bowler et al. 2006, as in pysteps ``noise.motion``)
    Each member draws ``e_par``, ``e_perp`` from a unit-variance Laplace distribution and
    adds to the motion a spatially uniform vector
    ``e_par s_par(t) n_par + e_perp s_perp(t) n_perp`` where ``n_par`` is the direction of the
    rain-weighted mean motion (x if it is zero), ``n_perp`` its normal, and
    ``s(t) = a t^b + c`` km/h at lead ``t`` minutes with pysteps' defaults
    ``(a, b, c) = (10.88, 0.23, -7.68)`` along and ``(5.76, 0.31, -2.72)`` across the motion.
    The perturbed trajectory is the unperturbed one shifted by the accumulated perturbation
    (the motion along it is taken on the unperturbed trajectory: exact for a uniform motion,
    first order for a smooth one) so that the trajectory is traced once for all members.
Growth and decay (multiplicative lognormal noise)
    The source field is multiplied by ``exp(eps_k - k sigma^2 / 2)`` before it is sampled for
    lead ``k``, where ``eps_k = eps_(k-1) + sigma xi_k`` is a random walk of spatially
    correlated unit-variance fields ``xi_k`` (white noise on a grid ``correlation_length``
    pixels coarser, Gaussian-smoothed there over one coarse cell, interpolated bilinearly,
    scaled to unit variance). The standard deviation of the log-rate error therefore grows
    as ``sigma sqrt(k)`` and the expected rate is unchanged. Because the noise multiplies
    the source field, it moves with the rain (Lagrangian growth and decay).

Members are independent dask tasks (one ``dask.delayed`` each on the shared trajectory,
stacked with ``dask.array.stack``), each seeded with ``numpy.random.SeedSequence([seed,
member])``: the same seed gives the same ensemble whatever the scheduler.

References
----------
Seed, A. W., 2003: A dynamic and spatial scaling approach to advection forecasting. J. Appl.
Meteor., 42, 381-388.
Bowler, N. E., C. E. Pierce and A. W. Seed, 2006: STEPS: A probabilistic precipitation
forecasting scheme which merges an extrapolation nowcast with downscaled NWP. Q. J. R.
Meteorol. Soc., 132, 2127-2155.
Pulkkinen, S. et al., 2019: Pysteps v1.0. Geosci. Model Dev., 12, 4185-4219 (``noise.motion``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from hazard_models.errors import ModelError
from hazard_models.rainstorm.extrapolation import (
    backward_trajectory,
    extrapolate,
    fill_missing,
    lead_times,
    sample_filled,
)
from hazard_models.rainstorm.motion import interval_of

__all__ = [
    "ensemble_nowcast",
    "exceedance_probability",
    "extrapolation_nowcast",
    "persistence_nowcast",
]

P_PARALLEL = (10.88, 0.23, -7.68)
P_PERPENDICULAR = (5.76, 0.31, -2.72)


def _forecast_coords(result: xr.DataArray, reference_time: xr.DataArray) -> xr.DataArray:
    result = result.drop_vars("time", errors="ignore")
    if reference_time.size == 1 and np.issubdtype(reference_time.dtype, np.datetime64):
        result = result.assign_coords(
            reference_time=reference_time.values,
            valid_time=("lead_time", reference_time.values + result["lead_time"].values),
        )
    return result


def persistence_nowcast(
    frame: xr.DataArray, n_steps: int, *, interval: str | pd.Timedelta
) -> xr.DataArray:
    """Eulerian persistence: ``frame`` (y, x) repeated for ``n_steps`` leads of ``interval``."""
    step = pd.Timedelta(interval)
    repeated = frame.expand_dims(lead_time=lead_times(n_steps, step), axis=-3)
    result = _forecast_coords(repeated, frame.coords.get("time", xr.DataArray(None)))
    return result.assign_attrs(frame.attrs, nowcast="eulerian persistence")


def extrapolation_nowcast(
    frames: xr.DataArray, motion: xr.DataArray, n_steps: int = 24
) -> xr.DataArray:
    """Deterministic nowcast: the latest frame advected by ``motion`` (lazy if dask)."""
    latest = frames.isel(time=-1)
    result = extrapolate(latest, motion, n_steps)
    result = _forecast_coords(result, latest["time"])
    return result.assign_attrs(nowcast="semi-Lagrangian extrapolation")


def _pixel_size_km(frames: xr.DataArray) -> float:
    x = frames["x"] if "x" in frames.coords else None
    if x is None or x.attrs.get("units") not in {"m", "metre", "meter", "km"} or x.size < 2:
        raise ModelError(
            "cannot tell the pixel size: frames have no x coordinate in 'm' or 'km'; "
            "pass pixel_size_km="
        )
    size = float(abs(x.values[1] - x.values[0]))
    return size if x.attrs["units"] == "km" else size / 1000.0


class _Upsampling(NamedTuple):
    """Bilinear upsampling of a coarse axis to ``fine`` cells, and its moments.

    ``gram`` is ``W.T @ W`` and ``totals`` is ``W.T @ 1`` for the (fine × coarse)
    interpolation matrix ``W``: with them the mean and variance of an upsampled field
    over the whole fine grid come from the coarse field alone.
    """

    lower: np.ndarray
    weight: np.ndarray
    coarse: int
    gram: np.ndarray
    totals: np.ndarray


@functools.lru_cache(maxsize=8)
def _upsampling(fine: int, factor: float) -> _Upsampling:
    """Lower coarse index and weight of the upper one for ``fine`` cells, and moments."""
    coarse = int(np.ceil((fine - 1) / factor)) + 2
    position = np.arange(fine) / factor
    lower = np.floor(position).astype(np.intp)
    weight = (position - lower).astype(np.float32)
    upper = weight.astype(np.float64)
    gram = np.zeros((coarse, coarse))
    np.add.at(gram, (lower, lower), (1.0 - upper) ** 2)
    np.add.at(gram, (lower, lower + 1), (1.0 - upper) * upper)
    np.add.at(gram, (lower + 1, lower), (1.0 - upper) * upper)
    np.add.at(gram, (lower + 1, lower + 1), upper**2)
    totals = np.bincount(lower, 1.0 - upper, coarse) + np.bincount(lower + 1, upper, coarse)
    for array in (lower, weight, gram, totals):
        array.flags.writeable = False  # shared by every member
    return _Upsampling(lower, weight, coarse, gram, totals)


def _upsampled_std(coarse: np.ndarray, rows: _Upsampling, columns: _Upsampling) -> float:
    """Standard deviation over the fine grid of ``coarse`` upsampled bilinearly.

    With ``F = R C Kᵀ`` (``R``, ``K`` the row and column interpolation matrices):
    ``sum F = (Rᵀ1)ᵀ C (Kᵀ1)`` and ``sum F² = sum((RᵀR C) ∘ (C KᵀK))``. ``einsum``
    rather than ``@``: a multithreaded BLAS would compete with the dask threads.
    """
    values = coarse.astype(np.float64)
    cells = rows.lower.size * columns.lower.size
    mean = float(np.einsum("i,ij,j->", rows.totals, values, columns.totals)) / cells
    left = np.einsum("ij,jk->ik", rows.gram, values)
    right = np.einsum("ij,jk->ik", values, columns.gram)
    square = float(np.einsum("ij,ij->", left, right)) / cells
    return float(np.sqrt(max(square - mean * mean, 0.0)))


def _correlated_noise(
    rng: np.random.Generator,
    rows: _Upsampling,
    columns: _Upsampling,
    at: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Noise correlated over about one coarse cell (bilinear upsampling), at the cells
    ``at`` (row and column indices), scaled to unit variance over the whole grid.

    Only the cells asked for are interpolated; the variance comes from the coarse field
    (:func:`_upsampled_std`). Plain indexing rather than interpolation matrices: no BLAS
    threads competing with the dask threads.
    """
    white = rng.standard_normal((rows.coarse, columns.coarse))
    smooth = ndimage.gaussian_filter(white, 1.0, mode="wrap").astype(np.float32)
    row_low, row_weight = rows.lower[at[0]], rows.weight[at[0]]
    column_low, column_weight = columns.lower[at[1]], columns.weight[at[1]]
    left = smooth[row_low, column_low] * (1.0 - row_weight)
    left += smooth[row_low + 1, column_low] * row_weight
    right = smooth[row_low, column_low + 1] * (1.0 - row_weight)
    right += smooth[row_low + 1, column_low + 1] * row_weight
    noise = left * (1.0 - column_weight) + right * column_weight
    std = _upsampled_std(smooth, rows, columns)
    return noise / std if std > 0 else noise


class _Support(NamedTuple):
    """What every member of one ensemble shares (:func:`_support`)."""

    base: np.ndarray
    """(lead, y, x): 0 or NaN where settled for all members, 0 at the candidates."""
    candidates: list[np.ndarray]
    """Per lead, the flat indices each member interpolates."""
    filled: np.ndarray
    """The field as :func:`~hazard_models.rainstorm.extrapolation.sample_filled` reads it."""
    wet: np.ndarray
    """Flat indices of the cells with rain (not 0, not NaN)."""
    wet_cells: tuple[np.ndarray, np.ndarray]
    """Their row and column indices."""
    rain: np.ndarray
    """Their rain rate (float32)."""


def _support(field: np.ndarray, points: np.ndarray, radii: np.ndarray) -> _Support:
    """Which cells of each lead every member must interpolate, and the rest's value.

    A member's departure point is the unperturbed one (``points``) moved by at most
    ``radii[k]`` cells along each axis at lead ``k``. Where every cell within that reach
    of the departure's bilinear stencil is dry, every member is 0 there, whatever its
    growth and decay (which multiplies); where every one is NaN or off the grid, every
    member is NaN. Those cells (most of a radar image: the dry land and what lies beyond
    the radars' range) are settled once here for all members; only the rest, the
    ``candidates`` (flat indices), is interpolated per member. ``base[k]`` holds 0 or NaN
    for the settled cells and 0 at the candidates. The field's filled copy and its wet
    cells are prepared here once too.
    """
    field = np.asarray(field, dtype=np.float32)
    dry = (field == 0).astype(np.uint8)  # NaN is neither dry nor wet
    missing = np.isnan(field).astype(np.uint8)
    n_rows, n_columns = field.shape
    base = np.zeros((len(radii), n_rows, n_columns), dtype=np.float32)
    candidates = []
    for k, radius in enumerate(radii):
        # The stencil spans floor(p) .. floor(p) + 1; a move of up to `radius` cells
        # keeps it within `radius + 1` of floor(p). Off-grid counts as missing.
        reach, pad = 2 * int(radius) + 3, int(radius) + 2
        all_dry = ndimage.minimum_filter(np.pad(dry, pad), reach, mode="constant", cval=0)
        all_missing = ndimage.minimum_filter(
            np.pad(missing, pad, constant_values=1), reach, mode="constant", cval=1
        )
        row = np.floor(points[k, 0]).astype(np.intp) + pad
        column = np.floor(points[k, 1]).astype(np.intp) + pad
        np.clip(row, 0, n_rows + 2 * pad - 1, out=row)
        np.clip(column, 0, n_columns + 2 * pad - 1, out=column)
        settled_dry = all_dry[row, column].astype(bool)
        settled_missing = all_missing[row, column].astype(bool)
        base[k][settled_missing] = np.nan
        candidates.append(np.flatnonzero(~(settled_dry | settled_missing)))
    wet = np.flatnonzero(~(dry | missing).astype(bool))
    return _Support(
        base,
        candidates,
        fill_missing(field),
        wet,
        np.divmod(wet, n_columns),
        field.ravel()[wet],
    )


def _member(
    points: np.ndarray,
    support: _Support,
    offsets: np.ndarray,
    seed: int,
    member: int,
    growth_decay: float,
    correlation_length: float,
) -> np.ndarray:
    """One member (lead, y, x): perturbed trajectory and Lagrangian growth/decay.

    The same values as sampling the whole perturbed field at every cell, computed only
    at the candidates of :func:`_support` (the noise only at the wet cells).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, member, 1]))
    rows = _upsampling(support.filled.shape[0], correlation_length)
    columns = _upsampling(support.filled.shape[1], correlation_length)
    log_factor = np.zeros(support.wet.size, dtype=np.float32)
    out = support.base.copy()
    source = support.filled.copy()
    for k in range(points.shape[0]):
        if growth_decay > 0:
            noise = _correlated_noise(rng, rows, columns, support.wet_cells)
            log_factor += growth_decay * noise
            bias = 0.5 * (k + 1) * growth_decay**2
            source.ravel()[support.wet] = support.rain * np.exp(log_factor - bias)
        cells = support.candidates[k]
        step = points[k].reshape(2, -1)[:, cells] - offsets[k][:, None]
        out[k].ravel()[cells] = sample_filled(source, step)
    return out


def _offsets(
    mean_motion: np.ndarray,
    n_members: int,
    n_steps: int,
    seed: int,
    minutes: float,
    pixel_size_km: float,
    perturb_motion: bool,
) -> np.ndarray:
    """Accumulated (row, column) perturbation of each member and lead: (member, lead, 2)."""
    offsets = np.zeros((n_members, n_steps, 2))
    if not perturb_motion:
        return offsets
    speed = float(np.hypot(*mean_motion))
    along = mean_motion / speed if speed > 1e-6 else np.array([1.0, 0.0])
    across = np.array([-along[1], along[0]])
    t = minutes * np.arange(1, n_steps + 1)
    km_h_to_pixels = minutes / 60.0 / pixel_size_km
    std_par = (P_PARALLEL[0] * t ** P_PARALLEL[1] + P_PARALLEL[2]) * km_h_to_pixels
    std_perp = (P_PERPENDICULAR[0] * t ** P_PERPENDICULAR[1] + P_PERPENDICULAR[2]) * km_h_to_pixels
    for member in range(n_members):
        rng = np.random.default_rng(np.random.SeedSequence([seed, member, 0]))
        e_par, e_perp = rng.laplace(scale=1.0 / np.sqrt(2.0), size=2)
        vector = e_par * std_par[:, None] * along + e_perp * std_perp[:, None] * across  # (x, y)
        offsets[member] = np.cumsum(vector, axis=0)[:, ::-1]  # -> (row, column)
    return offsets


def ensemble_nowcast(
    frames: xr.DataArray,
    motion: xr.DataArray,
    n_members: int = 20,
    n_steps: int = 24,
    seed: int = 0,
    *,
    growth_decay: float = 0.1,
    correlation_length: float = 16.0,
    perturb_motion: bool = True,
    pixel_size_km: float | None = None,
) -> xr.DataArray:
    """Stochastic extrapolation ensemble (lazy), see the module docstring.

    Parameters
    ----------
    frames
        Rain rate (mm/h) on ``(time, y, x)``; the latest frame is advected.
    motion
        ``(component, y, x)`` from :func:`~hazard_models.rainstorm.motion.estimate_motion`.
    n_members, n_steps, seed
        Ensemble size, number of lead steps of one interval, base seed.
    growth_decay
        ``sigma``: standard deviation of the log-rate noise added per interval (0: none).
    correlation_length
        Pixels between the nodes of the coarse noise grid.
    perturb_motion
        Add the Bowler et al. (2006) motion perturbation.
    pixel_size_km
        Grid spacing; default from the ``x`` coordinate (units ``m`` or ``km``).

    Returns
    -------
    xr.DataArray
        ``(member, lead_time, y, x)`` float32 rain rate (mm/h), dask-backed with one chunk
        per member.
    """
    if n_members < 1:
        raise ModelError(f"n_members={n_members}; ask for at least one member")
    interval = interval_of(motion)
    size_km = _pixel_size_km(frames) if pixel_size_km is None else pixel_size_km
    latest = frames.isel(time=-1).transpose("y", "x")
    vectors = motion.transpose("component", "y", "x").data
    weights = latest.notnull() & (latest > 0)
    rain_mean = motion.where(weights).mean(("y", "x")) if bool(weights.any()) else motion.mean()
    mean_motion = np.broadcast_to(np.asarray(rain_mean, dtype=np.float64), (2,))
    offsets = _offsets(
        np.nan_to_num(mean_motion),
        n_members,
        n_steps,
        seed,
        interval.total_seconds() / 60.0,
        size_km,
        perturb_motion,
    )
    points = dask.delayed(backward_trajectory, pure=True)(vectors, n_steps)
    radii = np.ceil(np.abs(offsets).max(axis=(0, 2)))
    support = dask.delayed(_support, pure=True)(latest.data, points, radii)
    shape = (n_steps, latest.sizes["y"], latest.sizes["x"])
    members = [
        da.from_delayed(
            dask.delayed(_member, pure=True)(
                points, support, offsets[m], seed, m, growth_decay, correlation_length
            ),
            shape=shape,
            dtype=np.float32,
        )
        for m in range(n_members)
    ]
    result = xr.DataArray(
        da.stack(members),
        dims=("member", "lead_time", "y", "x"),
        coords={
            "member": np.arange(n_members),
            "lead_time": lead_times(n_steps, interval),
            **{name: latest.coords[name] for name in ("y", "x") if name in latest.coords},
        },
        name=frames.name,
        attrs={
            **frames.attrs,
            "nowcast": "stochastic extrapolation ensemble (motion bps + lognormal growth/decay)",
            "seed": seed,
            "growth_decay": growth_decay,
            "interval": f"{interval.total_seconds():g} s",
        },
    )
    return _forecast_coords(result, latest["time"]) if "time" in latest.coords else result


def exceedance_probability(
    ensemble: xr.DataArray, threshold_mm_h: float | Sequence[float]
) -> xr.DataArray:
    """Share of members with rain rate ``>= threshold_mm_h`` (lazy if the ensemble is).

    NaN members (outside the radar) are left out; the probability is NaN where every member
    is NaN. A sequence of thresholds adds a ``threshold`` dimension first.
    """
    if ensemble.sizes["member"] > 255:
        raise ModelError("exceedance_probability counts in uint8; use at most 255 members")
    if not isinstance(threshold_mm_h, int | float):
        return xr.concat(
            [exceedance_probability(ensemble, float(value)) for value in threshold_mm_h],
            dim="threshold",
        )
    # Counts in uint8 (at most 255 members): partial sums of a chunked ensemble stay small.
    valid = ensemble.notnull().astype(np.uint8).sum("member", dtype=np.uint8)
    hits = (ensemble >= threshold_mm_h).astype(np.uint8).sum("member", dtype=np.uint8)
    probability = (hits / valid.where(valid > 0)).astype(np.float32)
    return probability.assign_coords(threshold=float(threshold_mm_h)).assign_attrs(
        long_name=f"probability of rain rate >= {threshold_mm_h:g} mm/h",
        units="1",
        threshold=f"{threshold_mm_h:g} mm/h",
    )
