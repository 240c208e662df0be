"""Timing helpers the hazard models share: expected onset over ensemble members."""

from __future__ import annotations

import numpy as np

__all__ = ["conditional_median_time"]


def conditional_median_time(wait: np.ndarray, issue: np.datetime64) -> np.ndarray:
    """Median over members (axis 0) of finite waits (hours from ``issue``) as times; NaT
    where no member reaches the event."""
    finite = np.where(np.isfinite(wait), wait, np.nan)
    any_finite = np.asarray(np.isfinite(finite).any(axis=0))
    safe = np.where(any_finite[None, :], finite, 0.0)
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(np.isfinite(safe), safe, np.nan), axis=0)
    minutes = np.round(np.nan_to_num(median) * 60.0).astype("int64")
    times = issue + minutes.astype("timedelta64[m]")
    return np.where(any_finite, times, np.datetime64("NaT", "ns"))
