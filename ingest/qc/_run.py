"""Orchestration of the QC tests on a station-observation dataset (see :mod:`ingest.qc`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import numpy as np
import xarray as xr

from ingest.contracts import CANONICAL_UNITS, accumulation_interval, validate_station_obs
from ingest.errors import ContractError
from ingest.qc import _kernels
from ingest.qc.config import QcConfig, VariableLimits

__all__ = [
    "QC_FLAG_MASKS",
    "QC_FLAG_MEANINGS",
    "failed_qc",
    "quality_control",
    "usable_observations",
]

#: CF ``flag_meanings`` of every ``<var>_qc`` variable, in the order of :data:`QC_FLAG_MASKS`.
QC_FLAG_MEANINGS: tuple[str, ...] = (
    "range_fail",
    "step_fail",
    "spike_fail",
    "persistence_fail",
    "buddy_fail",
    "buddy_not_checked",
)
#: CF ``flag_masks``: one bit per test.
QC_FLAG_MASKS: tuple[int, ...] = (
    _kernels.RANGE_FAIL,
    _kernels.STEP_FAIL,
    _kernels.SPIKE_FAIL,
    _kernels.PERSISTENCE_FAIL,
    _kernels.BUDDY_FAIL,
    _kernels.BUDDY_NOT_CHECKED,
)
_CONTRACT = "station observations"
_EARTH_RADIUS_KM = 6371.0088


def quality_control(
    obs: xr.Dataset, config: QcConfig | None = None, variables: Iterable[str] | None = None
) -> xr.Dataset:
    """Quality control of station observations: add a ``<var>_qc`` flag per variable.

    Parameters
    ----------
    obs
        A dataset following the station-observation contract (dims ``station``, ``time``).
        It may be dask-backed; chunks along ``station`` (time-series tests) and along
        ``time`` (buddy check) are processed in parallel.
    config
        Thresholds; default :class:`~ingest.qc.config.QcConfig` ``()``.
    variables
        Names to check; default every contract variable present that has settings.

    Returns
    -------
    xr.Dataset
        A shallow copy of ``obs`` with ``<var>_qc`` (``uint8``, CF ``flag_masks`` and
        ``flag_meanings`` = :data:`QC_FLAG_MEANINGS`) per checked variable, its name appended
        to the variable's ``ancillary_variables``, the counts per test in ``<var>_qc``
        attribute ``flag_counts`` and in the dataset attribute ``qc_summary``. Data values
        and the readers' ``<var>_flag`` are not touched.

    Raises
    ------
    ContractError
        If ``obs`` breaks its contract, a requested variable is missing or has no
        settings, its reader flag has no ``good`` meaning, or ``time`` is not increasing.
    """
    validate_station_obs(obs)
    config = QcConfig() if config is None else config
    names = _names_to_check(obs, config, variables)
    seconds = _seconds(obs)
    result = obs.copy()
    summary = []
    for name in names:
        interval = accumulation_interval(obs, name) if name == "pr" else None
        limits = _limits(config, name, interval)
        flags = _flags(obs, name, limits, seconds)
        flags = flags.persist() if flags.chunks is not None else flags
        counts = _counts(flags)
        result[f"{name}_qc"] = flags.assign_attrs(
            long_name=f"quality-control flags of {name}",
            standard_name="status_flag",
            flag_masks=np.asarray(QC_FLAG_MASKS, dtype=np.uint8),
            flag_meanings=" ".join(QC_FLAG_MEANINGS),
            flag_counts=counts,
            qc_thresholds=_describe(limits, CANONICAL_UNITS[name]),
            references="ingest.qc.config (WMO-No. 488 App. VI.2; EPA-454/R-99-005; TITAN)",
        )
        ancillary = str(obs[name].attrs.get("ancillary_variables", "")).split()
        if f"{name}_qc" not in ancillary:
            ancillary.append(f"{name}_qc")
        result[name].attrs["ancillary_variables"] = " ".join(ancillary)
        summary.append(f"{name}: {counts}")
    result.attrs["qc_summary"] = "; ".join(summary)
    return result


def usable_observations(obs: xr.Dataset, name: str) -> xr.DataArray:
    """True where ``obs[name]`` is present, ``good`` for its source, and failed no QC test.

    ``<name>_qc`` is used when present: any ``*_fail`` bit excludes the value, while
    ``buddy_not_checked`` (an isolated station) does not.

    Raises
    ------
    ContractError
        If the reader flag has no ``good`` meaning.
    """
    return _source_good(obs, name) & ~failed_qc(obs, name)


def failed_qc(obs: xr.Dataset, name: str) -> xr.DataArray:
    """True where ``<name>_qc`` has a ``*_fail`` bit set; False everywhere when ``obs``
    was not quality-controlled (no ``<name>_qc``)."""
    qc_name = f"{name}_qc"
    if qc_name not in obs:
        return xr.zeros_like(obs[name], dtype=bool)
    attrs = obs[qc_name].attrs
    fail_mask = sum(
        int(mask)
        for mask, meaning in zip(
            attrs["flag_masks"], str(attrs["flag_meanings"]).split(), strict=True
        )
        if meaning.endswith("_fail")
    )
    return (obs[qc_name] & fail_mask) != 0


def _source_good(obs: xr.Dataset, name: str) -> xr.DataArray:
    return obs[name].notnull() & (obs[f"{name}_flag"] == _good_value(obs, name))


def _names_to_check(
    obs: xr.Dataset, config: QcConfig, variables: Iterable[str] | None
) -> list[str]:
    if variables is None:
        return [n for n in CANONICAL_UNITS if n in obs.data_vars and n in config.variables]
    names = list(variables)
    for name in names:
        if name not in obs.data_vars:
            raise ContractError(_CONTRACT, name, "is not in the dataset", "check 'variables'")
        if name not in config.variables:
            raise ContractError(
                _CONTRACT, name, "has no QC settings", f"add variables.{name} to the QC config"
            )
    return names


def _limits(config: QcConfig, name: str, interval: timedelta | None) -> VariableLimits:
    try:
        return config.limits(name, interval)
    except ValueError as err:
        raise ContractError(_CONTRACT, name, str(err), "fix the QC configuration") from None


def _good_value(obs: xr.Dataset, name: str) -> int:
    attrs = obs[f"{name}_flag"].attrs
    meanings = str(attrs["flag_meanings"]).split()
    if "good" not in meanings:
        raise ContractError(
            _CONTRACT,
            f"{name}_flag",
            f"has flag_meanings {attrs['flag_meanings']!r} without 'good'",
            "the reader must name the value of a good report 'good'",
        )
    return int(np.asarray(attrs["flag_values"]).ravel()[meanings.index("good")])


def _seconds(obs: xr.Dataset) -> xr.DataArray:
    times = np.asarray(obs["time"].values)
    seconds = (times - times[0]) / np.timedelta64(1, "s")
    if np.any(np.diff(seconds) <= 0):
        raise ContractError(
            _CONTRACT, "time", "is not strictly increasing", "sort by time and drop duplicates"
        )
    return xr.DataArray(seconds.astype(np.float64), dims="time")


def _flags(
    obs: xr.Dataset, name: str, limits: VariableLimits, seconds: xr.DataArray
) -> xr.DataArray:
    data = obs[name]
    chunked = data.chunks is not None
    layout = dict(zip(data.dims, data.chunks, strict=True)) if data.chunks else {}
    flags = xr.apply_ufunc(
        _kernels.series_flags,
        data.chunk({"time": -1}) if chunked else data,
        seconds,
        kwargs={"limits": limits},
        input_core_dims=[["time"], ["time"]],
        output_core_dims=[["time"]],
        dask="parallelized",
        output_dtypes=[np.uint8],
        dask_gufunc_kwargs={"allow_rechunk": True},
    )
    if chunked:  # back to the input's layout, explicitly, before combining
        flags = flags.chunk(layout)
    if limits.buddy_radius_km is not None:
        pool = data.where(_source_good(obs, name) & (flags == 0))
        neighbours = _neighbours(obs, limits.buddy_radius_km)
        whole = {"station": -1}
        buddy = xr.apply_ufunc(
            _kernels.buddy_flags,
            data.chunk(whole) if chunked else data,
            pool.chunk(whole) if chunked else pool,
            kwargs={"neighbours": neighbours, "limits": limits},
            input_core_dims=[["station"], ["station"]],
            output_core_dims=[["station"]],
            dask="parallelized",
            output_dtypes=[np.uint8],
            dask_gufunc_kwargs={"allow_rechunk": True},
        ).transpose(*data.dims)
        flags = flags | (buddy.chunk(layout) if chunked else buddy)
    return flags.transpose(*data.dims).astype(np.uint8).rename(f"{name}_qc")


def _neighbours(obs: xr.Dataset, radius_km: float) -> np.ndarray:
    """``(station, k)`` indices of the other stations within ``radius_km``, -1 padded.

    A station without coordinates (NaN lat/lon: the feed gave no position) has no
    neighbours and is nobody's neighbour, so its buddy check reports ``buddy_not_checked``.
    """
    from sklearn.neighbors import BallTree

    points = np.radians(
        np.column_stack([np.asarray(obs["lat"].values), np.asarray(obs["lon"].values)])
    )
    placed = np.flatnonzero(np.isfinite(points).all(axis=1))
    found: list[np.ndarray] = [np.empty(0, dtype=np.intp) for _ in range(len(points))]
    if placed.size:
        tree = BallTree(points[placed], metric="haversine")
        for position, index in zip(
            placed, tree.query_radius(points[placed], r=radius_km / _EARTH_RADIUS_KM), strict=True
        ):
            found[position] = placed[index]
    others = [np.sort(index[index != station]) for station, index in enumerate(found)]
    width = max((len(index) for index in others), default=0)
    neighbours = np.full((len(others), width), -1, dtype=np.intp)
    for station, index in enumerate(others):
        neighbours[station, : len(index)] = index
    return neighbours


def _counts(flags: xr.DataArray) -> str:
    totals = [
        f"{meaning}={int(((flags & mask) != 0).sum())}"
        for mask, meaning in zip(QC_FLAG_MASKS, QC_FLAG_MEANINGS, strict=True)
    ]
    return ", ".join(totals)


def _describe(limits: VariableLimits, units: str) -> str:
    parts = [f"range [{limits.valid_min:g}, {limits.valid_max:g}] {units}"]
    per = f"{limits.step_per:g} s"
    if limits.step is not None:
        parts.append(f"step {limits.step:g} {units} per {per}")
    if limits.spike is not None:
        parts.append(f"spike {limits.spike:g} {units} within {per}")
    if limits.persistence_window is not None:
        exempt = limits.persistence_exempt
        parts.append(
            f"persistence within {limits.persistence_tolerance:g} {units} for "
            f"{limits.persistence_window:g} s"
            + ("" if exempt is None else f" (values <= {exempt:g} {units} exempt)")
        )
    if limits.buddy_radius_km is not None:
        parts.append(
            f"buddy {limits.buddy_radius_km:g} km, >= {limits.buddy_min} buddies, "
            f"|x - median| > {limits.buddy_threshold:g} x max(1.4826 MAD, "
            f"{limits.buddy_min_spread:g} {units})"
        )
    return "; ".join(parts)
