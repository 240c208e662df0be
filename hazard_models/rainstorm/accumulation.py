"""Pure, dask-safe rainfall-accumulation maths.

Accumulations are labelled with the end of their interval (see :mod:`ingest.contracts`),
so the trailing sum at time ``t`` over window ``w`` uses the values labelled
``(t - w, t]`` and nothing later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.errors import ModelError

__all__ = ["exceeds", "onset_of_ongoing_exceedance", "regular_series", "rolling_accumulation"]


def regular_series(
    pr: xr.DataArray,
    interval: timedelta,
    issue_time: datetime,
    span: timedelta,
    model: str,
    max_age: timedelta | None = None,
) -> xr.DataArray:
    """``pr`` on a regular axis of ``interval`` steps covering ``span`` up to ``issue_time``.

    The axis ends at the latest report if it is at most ``max_age`` (default one interval)
    before the issue time — a source with a delivery delay is evaluated at its latest
    frame. Otherwise the axis runs on to the last interval end at or before the issue time,
    and the intervals after the latest report are present and NaN (missing, never zero): a
    feed that stopped is unknown, not dry. Off-axis or duplicate times are a
    :class:`ModelError` naming ``model``.
    """
    step = pd.Timedelta(interval)
    issue = pd.Timestamp(issue_time).tz_convert(None)
    times = pd.DatetimeIndex(pr["time"].values)
    times = times[times <= issue]
    if times.empty:
        raise ModelError(
            f"model {model!r}: the rainfall input has no times at or before "
            f"{issue.isoformat()}Z; check the source covers the issue time"
        )
    anchor = times.max()
    tolerance = pd.Timedelta(max_age if max_age is not None else interval)
    end = anchor if issue - anchor <= tolerance else anchor + ((issue - anchor) // step) * step
    axis = pd.date_range(end=end, periods=int(span / interval), freq=step)
    selected = times[(times > axis[0] - step) & (times <= end)]
    off_axis = selected.difference(axis)
    if len(off_axis):
        raise ModelError(
            f"model {model!r}: rainfall times are not on a regular {interval} axis "
            f"(e.g. {off_axis[0].isoformat()}); resample the source to its interval"
        )
    if selected.has_duplicates:
        raise ModelError(f"model {model!r}: duplicate rainfall times; merge them in ingest")
    return pr.sel(time=selected).reindex(time=axis)


def rolling_accumulation(pr: xr.DataArray, steps: int) -> tuple[xr.DataArray, xr.DataArray]:
    """Trailing accumulation over ``steps`` intervals and the share of intervals with data.

    Parameters
    ----------
    pr
        Precipitation per interval along ``time`` (mm), NaN where missing.
    steps
        Window length in intervals (window / interval).

    Returns
    -------
    accumulation
        Sum of the available values in the window (mm), rounded to 0.0001 mm: a lower bound
        when data are missing. NaN when no value in the window is available.
    coverage
        Share (0-1) of the window's intervals that have data.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> pr = xr.DataArray([1.0, 2.0, np.nan, 4.0], dims="time")
    >>> total, share = rolling_accumulation(pr, 2)
    >>> total.values.tolist(), share.values.tolist()
    ([1.0, 3.0, 2.0, 4.0], [0.5, 1.0, 0.5, 0.5])
    """
    total, count = xr.apply_ufunc(
        _trailing_sum_kernel,
        pr,
        kwargs={"steps": steps},
        input_core_dims=[["time"]],
        output_core_dims=[["time"], ["time"]],
        dask="parallelized",
        output_dtypes=[np.float64, np.float64],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    return total.transpose(*pr.dims), (count / steps).transpose(*pr.dims)


_DECIMALS = 4  # decimals of mm kept in trailing sums


def _trailing_sum_kernel(values: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    # Time is the last axis; moved first so that each shifted add runs over contiguous
    # slabs (a window of n steps costs n array additions, not a strided reduction).
    series = np.moveaxis(np.asarray(values, dtype=np.float64), -1, 0)
    present = np.isfinite(series)
    filled = np.where(present, series, 0.0)
    total = np.zeros_like(filled)
    count = np.zeros_like(filled)
    length = series.shape[0]
    for shift in range(min(steps, length)):
        total[shift:] += filled[: length - shift]
        count[shift:] += present[: length - shift]
    # Rounded to 0.0001 mm, far below any gauge's or radar's resolution: a window whose
    # rain adds up to exactly a threshold (2.00 mm from 0.01-mm float32 steps) meets it
    # whatever the order or precision of the summation.
    np.round(total, _DECIMALS, out=total)
    total[count == 0] = np.nan
    return np.moveaxis(total, 0, -1), np.moveaxis(count, 0, -1)


def exceeds(values: xr.DataArray, threshold: float, comparison: str) -> xr.DataArray:
    """``values >= threshold`` or ``values > threshold``; NaN compares False."""
    if comparison == ">=":
        return values >= threshold
    if comparison == ">":
        return values > threshold
    raise ValueError(f"comparison {comparison!r} is not '>=' or '>'")


def _onset_kernel(met: np.ndarray, times: np.ndarray) -> np.ndarray:
    # Length of the run of True values that ends at the last time step.
    run = np.logical_and.accumulate(met[..., ::-1], axis=-1).sum(axis=-1)
    first = np.clip(met.shape[-1] - run, 0, met.shape[-1] - 1)
    return np.where(run > 0, times[first], np.datetime64("NaT", "ns"))


def onset_of_ongoing_exceedance(met: xr.DataArray) -> xr.DataArray:
    """Start of the exceedance that is still going on at the last time, NaT if none.

    ``met`` is boolean along ``time``; the onset is the first time of the unbroken run of
    ``True`` that ends at the last time step (clipped at the first time given).

    Examples
    --------
    >>> import pandas as pd, xarray as xr
    >>> times = pd.date_range("2023-09-07T20:00", periods=4, freq="h")
    >>> met = xr.DataArray([True, False, True, True], dims="time", coords={"time": times})
    >>> str(onset_of_ongoing_exceedance(met).values)[:19]
    '2023-09-07T22:00:00'
    """
    times = met["time"].values.astype("datetime64[ns]")
    return xr.apply_ufunc(
        _onset_kernel,
        met,
        kwargs={"times": times},
        input_core_dims=[["time"]],
        dask="parallelized",
        output_dtypes=["datetime64[ns]"],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
