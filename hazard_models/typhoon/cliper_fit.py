"""Fitting the CLIPER regressions on JMA best tracks (the method: :mod:`.cliper`).

Only storms whose last fix is before ``trained_until`` are used, so a replayed season is
forecast by a model that never saw it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from sklearn.linear_model import LinearRegression, Ridge

from hazard_models.typhoon.cliper import (
    AMBIENT_PRESSURE_HPA,
    DEFAULT_LEADS,
    KM_PER_DEGREE,
    MIN_HISTORY_HOURS,
    CliperModel,
    _Fixes,
    _hours,
    _issue_predictors,
    _predictors,
    _track_arrays,
    _utc64,
)
from ingest.readers.jma_besttrack import read_jma_best_tracks

__all__ = ["DEFAULT_DOMAIN", "JMA_TRAINING_FILES", "fit_cliper", "training_tracks"]

_LOG = logging.getLogger(__name__)

#: The JMA best-track files read by :func:`training_tracks`, oldest first (the later file
#: wins where a storm is in two), relative to the shared data folder (SOURCES.md §1.1-1.3).
JMA_TRAINING_FILES: tuple[str, ...] = (
    "tc/jma_rsmc_bst_all_1951_2019mar.zip",
    "tc/jma_rsmc_bst_2015_2021jul.txt",
    "tc/jma_rsmc_bst_2021aug_2025_southchina.txt",
)

#: Issue fixes used in training: (lat_min, lat_max, lon_min, lon_max), degrees.
DEFAULT_DOMAIN: tuple[float, float, float, float] = (10.0, 32.0, 104.0, 135.0)
_RIDGE_ALPHA = 1.0


@dataclass
class _Samples:
    fixes: list[_Fixes] = field(default_factory=list)
    displacement: list[np.ndarray] = field(default_factory=list)  # (n, lead, 2), NaN if none
    pressure_target: list[np.ndarray] = field(default_factory=list)  # (n, lead)
    wind_pairs: list[np.ndarray] = field(default_factory=list)


def _storm_samples(
    track: xr.Dataset,
    lead_hours: np.ndarray,
    domain: tuple[float, float, float, float],
    samples: _Samples,
) -> bool:
    """Add the samples of one storm (every synoptic fix in the domain, its first one
    too); return whether it gave any."""
    hours, lat, lon, psl, vmax = _track_arrays(track)
    if hours.size < 2:
        return False
    lat_min, lat_max, lon_min, lon_max = domain
    synoptic = np.isclose(np.mod(hours, 6.0), 0.0)
    usable = (
        synoptic
        & np.isfinite(lat)
        & np.isfinite(lon)
        & (lat >= lat_min)
        & (lat <= lat_max)
        & (lon >= lon_min)
        & (lon <= lon_max)
    )
    issue = np.flatnonzero(usable)
    pairs = np.isfinite(vmax) & (psl < AMBIENT_PRESSURE_HPA)
    samples.wind_pairs.append(np.column_stack([psl[pairs], vmax[pairs]]))
    if issue.size == 0:
        return False
    fixes = _issue_predictors(hours, lat, lon, psl, issue)
    targets = fixes.hours[:, None] + lead_hours[None, :]
    where = np.clip(np.searchsorted(hours, targets), 0, hours.size - 1)
    found = hours[where] == targets
    lat_t = np.where(found, lat[where], np.nan)
    lon_t = np.where(found, lon[where], np.nan)
    east = (lon_t - fixes.lon[:, None]) * np.cos(np.radians(fixes.lat))[:, None] * KM_PER_DEGREE
    north = (lat_t - fixes.lat[:, None]) * KM_PER_DEGREE
    samples.fixes.append(fixes)
    samples.displacement.append(np.stack([east, north], axis=-1))
    samples.pressure_target.append(np.where(found, psl[where], np.nan) - fixes.pressure[:, None])
    return True


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    return center, np.where(scale > 0, scale, 1.0)


def _fit_wind_pressure(pairs: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``V = a (1010 - p)^b`` by least squares in log-log space."""
    deficit, wind = AMBIENT_PRESSURE_HPA - pairs[:, 0], pairs[:, 1]
    keep = (deficit > 0) & (wind > 0)
    if keep.sum() < 10:
        return (float("nan"), float("nan"))
    fit = LinearRegression().fit(np.log(deficit[keep])[:, None], np.log(wind[keep]))
    return (float(np.exp(fit.intercept_)), float(fit.coef_[0]))


def fit_cliper(
    tracks: Iterable[xr.Dataset],
    *,
    trained_until: datetime,
    leads: Sequence[timedelta] = DEFAULT_LEADS,
    domain: tuple[float, float, float, float] = DEFAULT_DOMAIN,
) -> CliperModel:
    """Fit CLIPER track and pressure regressions on best tracks.

    Parameters
    ----------
    tracks
        Best tracks (contract of :mod:`ingest.tracks`), e.g. from :func:`training_tracks`.
    trained_until
        Naive UTC time. Only storms whose last fix is *before* it are used; the others are
        left out, counted in ``n_storms_after_cutoff`` and logged at INFO.
    leads
        Forecast leads, positive multiples of 6 h.
    domain
        ``(lat_min, lat_max, lon_min, lon_max)`` in degrees: issue fixes outside it are not
        used (see the module docstring).

    Returns
    -------
    CliperModel
        The fitted coefficients: CLIPER on the issue fixes with at least 6 h of track
        before them, and in its ``climatology`` the climatology-alone regressions on every
        issue fix (the young-storm rule of :mod:`.cliper`).

    Raises
    ------
    ValueError
        If a lead is not a positive multiple of 6 h, or the tracks give no sample (or too
        few for a lead).

    Notes
    -----
    For each lead ``τ`` and predictand ``y`` (east and north displacement, pressure change)
    ``y = β0 + Σ βi xi`` with ``xi`` the standardised predictors of the module docstring,
    fitted on the issue fixes whose storm has a fix at ``t0 + τ`` (Neumann 1972; Knaff et
    al. 2003).
    """
    lead_tuple = tuple(sorted(leads))
    lead_hours = np.asarray([lead / timedelta(hours=1) for lead in lead_tuple])
    if lead_hours.size == 0 or np.any(lead_hours <= 0) or np.any(np.mod(lead_hours, 6) != 0):
        raise ValueError(
            f"CLIPER leads must be positive multiples of 6 h, got {list(lead_hours)} h; "
            "the best tracks are 6-hourly"
        )
    cutoff = _hours(np.asarray([_utc64(trained_until, "s")]))[0]
    samples = _Samples()
    n_storms = n_after = 0
    for track in tracks:
        last = _hours(np.asarray(track["time"].values[-1:]))[0]
        if not last < cutoff:
            n_after += 1
            _LOG.info(
                "CLIPER training: storm %s %s left out: its last fix %s is not before %s",
                track.attrs.get("storm_id", "?"),
                track.attrs.get("storm_name", ""),
                np.datetime_as_string(track["time"].values[-1], unit="m"),
                f"{trained_until:%Y-%m-%dT%H:%M}",
            )
            continue
        n_storms += _storm_samples(track, lead_hours, domain, samples)
    if n_after:
        _LOG.info("CLIPER training: %d storms ending after %s left out", n_after, trained_until)
    if not samples.fixes:
        raise ValueError(
            f"CLIPER training: no storm ending before {trained_until:%Y-%m-%d} has a 6-hourly "
            f"fix inside the domain {domain}; pass more best tracks"
        )
    fixes = _Fixes(
        *(np.concatenate([getattr(f, name) for f in samples.fixes]) for name in _FIX_FIELDS)
    )
    displacement = np.concatenate(samples.displacement)
    pressure_target = np.concatenate(samples.pressure_target)
    common: dict[str, Any] = {
        "leads": lead_tuple,
        "trained_until": trained_until,
        "n_storms": n_storms,
        "n_storms_after_cutoff": n_after,
        "domain": domain,
        "wind_pressure": _fit_wind_pressure(np.concatenate(samples.wind_pairs)),
        "averaging_period": "10 min",
    }
    climatology = CliperModel(
        **common,
        **_fit_regressions(fixes, displacement, pressure_target, lead_hours, past_motion=False),
        past_motion=False,
    )
    young = fixes.history >= MIN_HISTORY_HOURS
    persistence = _fit_regressions(
        _Fixes(*(getattr(fixes, name)[young] for name in _FIX_FIELDS)),
        displacement[young],
        pressure_target[young],
        lead_hours,
        past_motion=True,
    )
    return CliperModel(**common, **persistence, past_motion=True, climatology=climatology)


_FIX_FIELDS = tuple(f.name for f in fields(_Fixes))


def _fit_regressions(
    fixes: _Fixes,
    displacement: np.ndarray,
    pressure_target: np.ndarray,
    lead_hours: np.ndarray,
    *,
    past_motion: bool,
) -> dict[str, Any]:
    """Track and pressure regressions per lead on the samples ``fixes``: the arrays and
    sample counts of :class:`CliperModel`."""
    track_x, pressure_x = _predictors(fixes, past_motion=past_motion)
    track_center, track_scale = _standardise(track_x)
    scaled = (track_x - track_center) / track_scale
    pressure_ok = np.isfinite(pressure_x).all(axis=1)
    pressure_center, pressure_scale = _standardise(pressure_x[pressure_ok])
    pressure_scaled = (pressure_x - pressure_center) / pressure_scale
    n_leads = lead_hours.size
    track_coef = np.zeros((n_leads, 2, track_x.shape[1]))
    track_intercept = np.zeros((n_leads, 2))
    pressure_coef = np.zeros((n_leads, pressure_x.shape[1]))
    pressure_intercept = np.zeros(n_leads)
    counts = []
    for k in range(n_leads):
        rows = np.isfinite(displacement[:, k]).all(axis=1)
        if rows.sum() <= track_x.shape[1]:
            raise ValueError(
                f"CLIPER training: only {int(rows.sum())} samples reach lead "
                f"{lead_hours[k]:.0f} h (need more than {track_x.shape[1]}); "
                "pass more best tracks or shorter leads"
            )
        counts.append(int(rows.sum()))
        fit = Ridge(alpha=_RIDGE_ALPHA).fit(scaled[rows], displacement[rows, k])
        track_coef[k], track_intercept[k] = fit.coef_, fit.intercept_
        rows_p = pressure_ok & np.isfinite(pressure_target[:, k])
        fit_p = Ridge(alpha=_RIDGE_ALPHA).fit(pressure_scaled[rows_p], pressure_target[rows_p, k])
        pressure_coef[k], pressure_intercept[k] = fit_p.coef_, float(fit_p.intercept_)
    return {
        "n_samples": counts[0],
        "samples_per_lead": tuple(counts),
        "track_center": track_center,
        "track_scale": track_scale,
        "track_coef": track_coef,
        "track_intercept": track_intercept,
        "pressure_center": pressure_center,
        "pressure_scale": pressure_scale,
        "pressure_coef": pressure_coef,
        "pressure_intercept": pressure_intercept,
    }


@lru_cache(maxsize=8)
def _read_cached(path: Path) -> dict[str, xr.Dataset]:
    return read_jma_best_tracks(path)


def training_tracks(data_root: Path, before: datetime) -> list[xr.Dataset]:
    """The JMA best tracks that ended before ``before``, for :func:`fit_cliper`.

    Parameters
    ----------
    data_root
        The shared data folder holding :data:`JMA_TRAINING_FILES`.
    before
        Naive UTC time: a storm is returned only if its last fix is before it.

    Returns
    -------
    list of xr.Dataset
        One best track per storm id, from the latest file holding it, in id order of
        first appearance. The parsed files are cached per path (reading the 1951-2019
        archive takes seconds); the tracks are shared, so do not modify them.

    Notes
    -----
    From August 2021 only the storms that came within 600 km of Shenzhen are in the data
    (SOURCES.md §1.3).
    """
    merged: dict[str, xr.Dataset] = {}
    for name in JMA_TRAINING_FILES:
        merged.update(_read_cached(Path(data_root) / name))
    limit = _utc64(before, "ns")
    return [track for track in merged.values() if track["time"].values[-1] < limit]
