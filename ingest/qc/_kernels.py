"""Private numpy kernels of the QC tests: plain floats in, ``uint8`` bit flags out.

They know nothing of xarray or units; :mod:`ingest.qc._run` wraps each in one
:func:`xarray.apply_ufunc` with ``dask="parallelized"``.
"""

from __future__ import annotations

import numpy as np

from ingest.qc.config import VariableLimits

RANGE_FAIL = 1
STEP_FAIL = 2
SPIKE_FAIL = 4
PERSISTENCE_FAIL = 8
BUDDY_FAIL = 16
BUDDY_NOT_CHECKED = 32

#: 1.4826 · MAD estimates the standard deviation of normally distributed values.
MAD_TO_SIGMA = 1.4826


def series_flags(values: np.ndarray, seconds: np.ndarray, limits: VariableLimits) -> np.ndarray:
    """Range, step, spike and persistence flags of station time series.

    Parameters
    ----------
    values
        ``(..., time)`` floats in the variable's canonical unit; NaN is missing.
    seconds
        ``(time,)`` times of the reports in seconds, increasing.
    limits
        The variable's thresholds.

    Returns
    -------
    np.ndarray
        ``uint8`` flags of the shape of ``values``; missing values get 0.
    """
    flat = values.reshape(-1, values.shape[-1])
    flags = np.zeros(flat.shape, dtype=np.uint8)
    for row, series in enumerate(flat):
        flags[row] = _one_series(series, seconds, limits)
    return flags.reshape(values.shape)


def _one_series(series: np.ndarray, seconds: np.ndarray, limits: VariableLimits) -> np.ndarray:
    flags = np.zeros(series.shape, dtype=np.uint8)
    present = np.flatnonzero(np.isfinite(series))
    outside = (series[present] < limits.valid_min) | (series[present] > limits.valid_max)
    flags[present[outside]] |= RANGE_FAIL
    # The time tests look at the plausible reports only: an impossible value is no neighbour.
    index = present[~outside]
    value, time = series[index].astype(np.float64), seconds[index]
    if limits.step is not None or limits.spike is not None:
        close = np.diff(time) <= limits.step_per
        change = np.diff(value)
        spike = np.zeros(index.size, dtype=bool)
        if limits.spike is not None and index.size >= 3:
            rise, back = change[:-1], -change[1:]
            spike[1:-1] = (
                close[:-1]
                & close[1:]
                & (np.sign(rise) == np.sign(back))
                & (np.minimum(np.abs(rise), np.abs(back)) > limits.spike)
            )
            flags[index[spike]] |= SPIKE_FAIL
        if limits.step is not None and index.size >= 2:
            # The later report of a jump is flagged, unless the earlier one was a spike:
            # coming back from a spike is a return to normal, not a step.
            jump = close & (np.abs(change) > limits.step) & ~spike[:-1]
            flags[index[1:][jump]] |= STEP_FAIL
    if limits.persistence_window is not None:
        for start, stop in _unchanged_runs(value, limits.persistence_tolerance):
            too_short = time[stop - 1] - time[start] < limits.persistence_window
            if too_short or stop - start < limits.persistence_min_reports:
                continue
            exempt = limits.persistence_exempt
            if exempt is not None and value[start:stop].max() <= exempt:
                continue
            flags[index[start:stop]] |= PERSISTENCE_FAIL
    return flags


def _unchanged_runs(value: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Split ``value`` greedily into runs whose spread (max - min) stays within ``tolerance``."""
    runs: list[tuple[int, int]] = []
    start = 0
    low = high = value[0] if value.size else 0.0
    for position in range(1, value.size):
        low, high = min(low, value[position]), max(high, value[position])
        if high - low > tolerance:
            runs.append((start, position))
            start = position
            low = high = value[position]
    if value.size:
        runs.append((start, value.size))
    return runs


def buddy_flags(
    values: np.ndarray, pool: np.ndarray, neighbours: np.ndarray, limits: VariableLimits
) -> np.ndarray:
    """Buddy-check flags of every station at every time.

    Parameters
    ----------
    values
        ``(..., station)`` values to check; NaN is not checked and gets 0.
    pool
        ``(..., station)`` the same values with NaN where a report may not serve as a buddy
        (missing, flagged by the source, or failed by a time-series test).
    neighbours
        ``(station, k)`` indices of each station's neighbours within the radius, ``-1``
        padding.
    limits
        The variable's thresholds.

    Returns
    -------
    np.ndarray
        ``uint8`` flags: :data:`BUDDY_FAIL`, :data:`BUDDY_NOT_CHECKED` or 0.
    """
    if neighbours.shape[-1] == 0:  # nobody within the radius of anybody
        return np.where(np.isfinite(values), BUDDY_NOT_CHECKED, 0).astype(np.uint8)
    target = values.reshape(-1)
    # Two passes (after TITAN's iterations): the failures of the first leave the pool, then
    # every value is judged against the cleaned pool, so one bad station cannot make its
    # neighbours fail or pass.
    fail, _ = _buddy_pass(target, pool, neighbours, limits)
    cleaned = np.where(fail.reshape(pool.shape), np.nan, pool)
    fail, enough = _buddy_pass(target, cleaned, neighbours, limits)
    present = np.isfinite(target)
    flags = np.zeros(target.shape, dtype=np.uint8)
    flags[present & fail] = BUDDY_FAIL
    flags[present & ~enough] = BUDDY_NOT_CHECKED
    return flags.reshape(values.shape)


def _buddy_pass(
    target: np.ndarray, pool: np.ndarray, neighbours: np.ndarray, limits: VariableLimits
) -> tuple[np.ndarray, np.ndarray]:
    """One pass of the buddy test: flat ``fail`` and ``enough`` (buddies) arrays."""
    padded = np.concatenate([pool, np.full((*pool.shape[:-1], 1), np.nan)], axis=-1)
    buddies = padded[..., neighbours].reshape(-1, neighbours.shape[-1])  # -1 picks the NaN
    enough = np.isfinite(buddies).sum(axis=-1) >= limits.buddy_min
    fail = np.zeros(target.shape, dtype=bool)
    if enough.any():
        # Only rows with enough buddies: nanmedian of an all-NaN row would warn.
        chosen = buddies[enough]
        centre = np.nanmedian(chosen, axis=-1)
        spread = MAD_TO_SIGMA * np.nanmedian(np.abs(chosen - centre[:, np.newaxis]), axis=-1)
        spread = np.fmax(spread, limits.buddy_min_spread)
        with np.errstate(invalid="ignore"):
            fail[enough] = np.abs(target[enough] - centre) > limits.buddy_threshold * spread
    return fail, enough
