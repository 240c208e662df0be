"""Radar echo motion: dense optical flow on the latest rain-rate frames.

Methods are chosen by name from a registry (``get_motion("lucas-kanade")``), as in
pysteps' ``motion.get_method``. Every method takes two images of the same shape, already
transformed (see below), and returns their displacement ``(row, column)`` in pixels from the
first to the second. :func:`estimate_motion` does the rest, the same for every method:

1. frames are sorted by ``time``; repeated times are dropped (the first is kept); frames
   with no finite value (all-NaN) are skipped; both are counted in the attributes;
2. rain rate ``R`` (mm/h) is transformed to ``log10(max(R, r_min) / r_min) / log10(r_max /
   r_min)`` clipped to [0, 1] (``r_min`` = 0.1, ``r_max`` = 100 mm/h), NaN (outside the radar)
   set to 0, so that one strong cell does not dominate the flow (pysteps does the same with
   its dBR transform);
3. the flow of every consecutive pair is divided by the pair's gap in intervals (a missing
   frame makes a pair 10 minutes apart: its displacement is halved); pairs further apart
   than ``max_gap`` intervals are skipped, pairs without rain are skipped;
4. the pair flows are averaged with weights ``w`` = 1 where either frame has rain and both
   are inside the radar image (eroded by ``edge`` pixels, so the fixed edge of the image does
   not pull the flow to zero), and smoothed by a normalised Gaussian convolution
   (Knutsson and Westin 1993)::

       V = (G * (w V_pairs) + c V_mean) / (G * w + c)

   with ``G`` a Gaussian of ``smoothing`` pixels and ``c`` = ``fill_weight``: where rain is
   dense, ``V`` is the local flow; far from any rain it tends to the rain-weighted domain
   mean ``V_mean``. The result is therefore smooth and defined everywhere.

If no pair has rain, the motion is zero and ``motion_quality = "no_rain"``; fewer than two
frames with data raise :class:`~hazard_models.errors.ModelError`.

Output: ``(component, y, x)`` with ``component = ["x", "y"]``, in grid cells per interval
along increasing array index (``x`` columns, ``y`` rows — not geographic east/north), attrs
``interval`` (``"300 s"``), ``motion_quality``, counts of what was used and skipped, and a
coordinate ``radar_mask`` (y, x), True inside the radar image of the latest frame.

References
----------
Lucas, B. D. and T. Kanade, 1981: An iterative image registration technique with an
application to stereo vision. Proc. 7th IJCAI, 674-679.
Zach, C., T. Pock and H. Bischof, 2007: A duality based approach for realtime TV-L1 optical
flow. Pattern Recognition (DAGM 2007), LNCS 4713, 214-223.
Knutsson, H. and C.-F. Westin, 1993: Normalized and differential convolution. Proc. IEEE
CVPR, 515-523.
Pulkkinen, S. et al., 2019: Pysteps: an open-source Python library for probabilistic
precipitation nowcasting (v1.0). Geosci. Model Dev., 12, 4185-4219.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage
from skimage.registration import optical_flow_ilk, optical_flow_tvl1

from hazard_models.errors import ModelError

__all__ = ["available_motions", "estimate_motion", "get_motion", "interval_of"]

MotionMethod = Callable[..., np.ndarray]

R_MIN = 0.1  # mm/h, below which a pixel counts as dry
R_MAX = 100.0  # mm/h, mapped to 1 by the transform
_RATE_UNITS = {"mm/h", "mm h-1", "mm hr-1", "mm/hr"}


def _lucas_kanade(
    reference: np.ndarray, moving: np.ndarray, radius: int = 7, num_warp: int = 10
) -> np.ndarray:
    """Iterative Lucas-Kanade (skimage ``optical_flow_ilk``), coarse to fine."""
    flow: np.ndarray = optical_flow_ilk(reference, moving, radius=radius, num_warp=num_warp)
    return flow


def _tvl1(
    reference: np.ndarray,
    moving: np.ndarray,
    attachment: float = 15.0,
    tightness: float = 0.3,
    num_warp: int = 5,
    num_iter: int = 10,
) -> np.ndarray:
    """Variational TV-L1 flow (skimage ``optical_flow_tvl1``), coarse to fine."""
    flow: np.ndarray = optical_flow_tvl1(
        reference,
        moving,
        attachment=attachment,
        tightness=tightness,
        num_warp=num_warp,
        num_iter=num_iter,
    )
    return flow


_MOTIONS: dict[str, MotionMethod] = {"lucas-kanade": _lucas_kanade, "tvl1": _tvl1}


_PAIR_CACHE_SIZE = 8  # flows of recent frame pairs kept (each 2 x ny x nx float64)
_pair_cache: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
_pair_lock = threading.Lock()


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest()


def _pair_flow(
    method: str, reference: np.ndarray, moving: np.ndarray, options: dict[str, Any]
) -> np.ndarray:
    """The flow from ``reference`` to ``moving``, computed once per pair of images.

    A cycle every interval sees each consecutive pair of frames again in the next cycles
    (three frames: two pairs, one of them new). The flow depends only on the two
    transformed images, the method and its options, so it is remembered for the last
    few pairs, keyed by a digest of the images' bytes: an identical pair gives the
    identical flow, without computing it again.
    """
    key = (
        method,
        tuple(sorted(options.items())),
        reference.shape,
        _digest(reference),
        _digest(moving),
    )
    with _pair_lock:
        if key in _pair_cache:
            _pair_cache.move_to_end(key)
            return _pair_cache[key]
    flow = get_motion(method)(reference, moving, **options)
    flow.setflags(write=False)
    with _pair_lock:
        _pair_cache[key] = flow
        while len(_pair_cache) > _PAIR_CACHE_SIZE:
            _pair_cache.popitem(last=False)
    return flow


def _block_means(image: np.ndarray, factor: int) -> np.ndarray:
    rows, columns = (-np.asarray(image.shape)) % factor
    padded = np.pad(image, ((0, rows), (0, columns)), mode="edge")
    ny, nx = padded.shape[0] // factor, padded.shape[1] // factor
    blocks: np.ndarray = padded.reshape(ny, factor, nx, factor).mean(axis=(1, 3))
    return blocks


def _block_flow(
    method: str,
    reference: np.ndarray,
    moving: np.ndarray,
    options: dict[str, Any],
    factor: int,
) -> np.ndarray:
    """The pair's flow in input pixels, estimated on ``factor``-pixel block means."""
    if factor == 1:
        return _pair_flow(method, reference, moving, options)
    coarse = _pair_flow(
        method, _block_means(reference, factor), _block_means(moving, factor), options
    )
    fine = np.repeat(np.repeat(coarse * factor, factor, axis=1), factor, axis=2)
    return fine[:, : reference.shape[0], : reference.shape[1]]


def available_motions() -> list[str]:
    """Names of the registered motion methods, sorted."""
    return sorted(_MOTIONS)


def get_motion(name: str) -> MotionMethod:
    """The optical-flow method called ``name``.

    Raises
    ------
    ValueError
        If no method has that name; the message lists the available ones.
    """
    try:
        return _MOTIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown motion method {name!r}; choose one of {available_motions()}"
        ) from None


def interval_of(data: xr.DataArray) -> pd.Timedelta:
    """The data interval stored in the ``interval`` attribute (``"300 s"``)."""
    if "interval" not in data.attrs:
        raise ModelError(
            "the motion field has no 'interval' attribute; make it with estimate_motion "
            "or set attrs['interval'] = '300 s' (the time between frames)"
        )
    return pd.Timedelta(data.attrs["interval"])


def _transform(rate: np.ndarray) -> np.ndarray:
    scaled = np.log10(np.clip(np.nan_to_num(rate, nan=0.0), R_MIN, None) / R_MIN)
    return np.clip(scaled / np.log10(R_MAX / R_MIN), 0.0, 1.0).astype(np.float32)


def _check_frames(frames: xr.DataArray) -> None:
    missing = {"time", "y", "x"} - set(frames.dims)
    if missing or frames.ndim != 3:
        raise ModelError(
            f"frames have dims {frames.dims}; pass a (time, y, x) DataArray of rain rate"
        )
    units = frames.attrs.get("units")
    if units is not None and units not in _RATE_UNITS:
        raise ModelError(
            f"frames are in {units!r}; pass rain rate in mm/h (for 5-minute accumulations "
            "in mm, multiply by 12 and set units='mm/h')"
        )


def estimate_motion(
    frames: xr.DataArray,
    method: str = "lucas-kanade",
    *,
    interval: pd.Timedelta | None = None,
    max_gap: float = 3.0,
    smoothing: float = 10.0,
    fill_weight: float = 0.01,
    edge: int = 8,
    downsample: int = 1,
    **options: Any,
) -> xr.DataArray:
    """Motion field of the rain, averaged over consecutive pairs of ``frames``.

    Parameters
    ----------
    frames
        Rain rate (mm/h) on ``(time, y, x)``, NaN outside the radar image; the latest few
        frames (3 is typical). Computed here if lazy: the flow is a global operation.
    method
        Name of a registered method, see :func:`available_motions`.
    interval
        Time between frames; default the smallest positive spacing of ``time``.
    max_gap
        Pairs more than this many intervals apart are skipped.
    smoothing
        Standard deviation (pixels) of the Gaussian of the normalised convolution.
    fill_weight
        Weight ``c`` of the domain-mean motion in the normalised convolution.
    edge
        Pixels eroded from the radar image before weighting.
    downsample
        Estimate the flow on block means of ``downsample`` x ``downsample`` pixels (2: a
        quarter of the pixels, about four times faster), then scale it back to pixels of
        the input and repeat it over each block; the smoothing below makes it smooth
        again. Weights, edge and smoothing stay at full resolution.
    **options
        Passed to the method (e.g. ``radius=7`` for Lucas-Kanade).

    Returns
    -------
    xr.DataArray
        ``(component, y, x)`` in pixels per interval; see the module docstring.

    Raises
    ------
    ModelError
        Fewer than two frames with data, or frames that are not a rain rate.
    """
    get_motion(method)  # unknown names fail before any work
    _check_frames(frames)
    if downsample < 1:
        raise ModelError(f"downsample={downsample}; use 1 (full resolution) or more")
    frames = frames.transpose("time", "y", "x").sortby("time").compute()
    times = pd.DatetimeIndex(frames["time"].values)
    duplicates = int(times.duplicated().sum())
    frames = frames.isel(time=~times.duplicated())
    data = np.asarray(frames.values, dtype=np.float64)
    has_data = np.isfinite(data).any(axis=(1, 2))
    all_nan = int((~has_data).sum())
    data = data[has_data]
    kept_times = pd.DatetimeIndex(frames["time"].values[has_data])
    if len(kept_times) < 2:
        raise ModelError(
            f"motion needs at least two frames with data; got {len(kept_times)} "
            f"({all_nan} all-NaN, {duplicates} repeated times); pass more recent frames"
        )
    steps = np.diff(kept_times.values).astype("timedelta64[ns]").astype(np.int64)
    step_ns = int(steps.min()) if interval is None else int(pd.Timedelta(interval).value)
    gaps = steps / step_ns

    images = [_transform(frame) for frame in data]
    inside = [
        ndimage.binary_erosion(np.isfinite(frame), iterations=edge) if edge else np.isfinite(frame)
        for frame in data
    ]
    weighted = np.zeros((2, *data.shape[1:]))
    weights = np.zeros(data.shape[1:])
    used = skipped_gap = 0
    for k, gap in enumerate(gaps):
        if gap > max_gap:
            skipped_gap += 1
            continue
        rain = (images[k] > 0) | (images[k + 1] > 0)
        weight = (rain & inside[k] & inside[k + 1]).astype(np.float64)
        if not weight.any():
            continue
        flow = _block_flow(method, images[k], images[k + 1], options, downsample) / gap
        weighted += weight * flow[::-1]  # (row, column) -> (x, y)
        weights += weight
        used += 1

    total = weights.sum()
    quality = "ok" if total > 0 else "no_rain"
    if total > 0:
        mean = weighted.sum(axis=(1, 2)) / total
        density = ndimage.gaussian_filter(weights, smoothing)
        smoothed = np.stack([ndimage.gaussian_filter(part, smoothing) for part in weighted])
        motion = (smoothed + fill_weight * mean[:, None, None]) / (density + fill_weight)
    else:
        motion = np.zeros_like(weighted)

    latest = frames.isel(time=-1)
    return xr.DataArray(
        motion.astype(np.float32),
        dims=("component", "y", "x"),
        coords={
            "component": ["x", "y"],
            "y": frames["y"],
            "x": frames["x"],
            "radar_mask": (("y", "x"), np.isfinite(data[-1])),
            "time": latest["time"],
        },
        name="motion",
        attrs={
            "long_name": "radar echo motion",
            "units": "pixel per interval",
            "interval": f"{step_ns / 1e9:g} s",
            "method": method,
            "motion_quality": quality,
            "pairs_used": used,
            "pairs_skipped_gap": skipped_gap,
            "frames_all_nan": all_nan,
            "frames_repeated": duplicates,
            "smoothing_pixels": smoothing,
        },
    )
