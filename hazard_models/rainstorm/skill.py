"""Skill of the radar nowcast against the frames that came later, and of persistence.

Used after the fact (``yujing run --verify``, replays): the forecasts are made from the
frames up to the issue time only, and the later frames are read as truth only after the
forecasts exist. Scores: CSI at rain-rate thresholds (:mod:`hazard_models.verification.
categorical`) and the fractions skill score (Roberts and Lean 2008) at one neighbourhood,
for the deterministic extrapolation and for Eulerian persistence, every ``every`` of lead
time. Lead times with no truth frame are left out, never scored as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.errors import ModelError
from hazard_models.rainstorm.ensemble import extrapolation_nowcast, persistence_nowcast
from hazard_models.rainstorm.motion import estimate_motion
from hazard_models.verification import contingency_from_threshold, fractions_skill_score
from ingest.contracts import accumulation_interval

__all__ = ["nowcast_skill", "probability_skill"]


def _start(
    radar: xr.Dataset, issue_time: datetime, motion: str, motion_frames: int
) -> tuple[timedelta, xr.DataArray, xr.DataArray, xr.DataArray]:
    """Interval, rain rate (mm/h) of all frames, the frames used at ``issue_time`` and
    their motion: what every forecast scored here starts from."""
    interval = accumulation_interval(radar, "pr")
    rate = (radar["pr"] * (timedelta(hours=1) / interval)).assign_attrs(units="mm h-1")
    issue = np.datetime64(pd.Timestamp(issue_time).tz_convert(None), "ns")
    past = rate.sel(time=rate["time"] <= issue)
    if past.sizes["time"] < 2:
        raise ModelError("nowcast skill: fewer than two radar frames before the issue time")
    frames = past.isel(time=slice(-motion_frames, None)).load()
    return interval, rate, frames, estimate_motion(frames, method=motion)


def nowcast_skill(
    radar: xr.Dataset,
    issue_time: datetime,
    *,
    motion: str = "lucas-kanade",
    motion_frames: int = 3,
    lead_time: timedelta = timedelta(hours=2),
    every: timedelta = timedelta(minutes=10),
    thresholds: Sequence[float] = (1.0, 5.0),
    fss_threshold: float = 1.0,
    fss_scale: int = 21,
) -> pd.DataFrame:
    """CSI and FSS of extrapolation and persistence per lead time.

    Parameters
    ----------
    radar
        Gridded ``pr`` (mm per interval) covering the issue time and the lead times after it.
    issue_time
        Forecasts use frames labelled at or before it.
    motion, motion_frames
        Motion method and number of frames, as in the nowcast model.
    lead_time, every
        Lead times scored: ``every``, ``2 * every`` ... up to ``lead_time``.
    thresholds
        Rain rates (mm/h) for CSI.
    fss_threshold, fss_scale
        Rain rate (mm/h) and neighbourhood width (pixels, odd) for the FSS.

    Returns
    -------
    pandas.DataFrame
        One row per lead time (minutes): ``csi_<t>_nowcast``, ``csi_<t>_persistence`` for each
        threshold, ``fss_nowcast``, ``fss_persistence`` and ``valid_time``.
    """
    interval, rate, frames, field = _start(radar, issue_time, motion, motion_frames)
    n_steps = int(lead_time // interval)
    nowcast = extrapolation_nowcast(frames, field, n_steps).compute()
    persistence = persistence_nowcast(
        frames.isel(time=-1), n_steps, interval=pd.Timedelta(interval)
    )
    start = frames["time"].values[-1]
    rows = []
    stride = int(every // interval)
    for step in range(stride, n_steps + 1, stride):
        valid = start + np.timedelta64(step * interval)
        if valid not in rate["time"].values:
            continue  # no truth frame: not scored
        truth = rate.sel(time=valid).values  # read only now, after the forecasts exist
        row: dict[str, object] = {
            "lead_min": step * interval.total_seconds() / 60,
            "valid_time": pd.Timestamp(valid),
        }
        forecasts = {
            "nowcast": nowcast.isel(lead_time=step - 1).values,
            "persistence": persistence.isel(lead_time=step - 1).values,
        }
        for threshold in thresholds:
            for name, values in forecasts.items():
                counts = contingency_from_threshold(values, truth, threshold)
                row[f"csi_{threshold:g}_{name}"] = float(counts.csi)
        for name, values in forecasts.items():
            row[f"fss_{name}"] = fractions_skill_score(values, truth, fss_threshold, fss_scale)
        rows.append(row)
    scores = pd.DataFrame(rows).set_index("lead_min")
    scores.attrs.update(
        issue_time=pd.Timestamp(issue_time).tz_convert(None).isoformat() + "Z",
        motion=motion,
        fss=f"threshold {fss_threshold:g} mm/h, neighbourhood {fss_scale} px",
        thresholds_mm_h=", ".join(f"{t:g}" for t in thresholds),
    )
    return scores


def probability_skill(
    radar: xr.Dataset,
    issue_time: datetime,
    *,
    threshold: float = 1.0,
    leads: Sequence[timedelta] = (timedelta(minutes=30), timedelta(minutes=60)),
    motion: str = "lucas-kanade",
    motion_frames: int = 3,
    members: int = 20,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Brier score and reliability of the ensemble's pixel probabilities of ``threshold``.

    Returns
    -------
    scores
        Per lead time (minutes): Brier score, Brier skill score against the sample base
        rate, the base rate and the number of pixel pairs.
    reliability
        The reliability table (10 probability bins) of all leads pooled, with a ``lead_min``
        column per lead.
    """
    from hazard_models.rainstorm.ensemble import ensemble_nowcast, exceedance_probability
    from hazard_models.verification import brier_score, brier_skill_score, reliability_table

    interval, rate, frames, field = _start(radar, issue_time, motion, motion_frames)
    steps = [int(lead // interval) for lead in leads]
    ensemble = ensemble_nowcast(frames, field, n_members=members, n_steps=max(steps), seed=seed)
    probability = exceedance_probability(ensemble, threshold).compute()
    start = frames["time"].values[-1]
    rows, tables = [], []
    for lead, step in zip(leads, steps, strict=True):
        valid = start + np.timedelta64(step * interval)
        if valid not in rate["time"].values:
            continue
        truth = rate.sel(time=valid).values  # read only now, after the forecast exists
        forecast = probability.isel(lead_time=step - 1).values
        keep = np.isfinite(truth) & np.isfinite(forecast)
        observed = (truth[keep] >= threshold).astype(float)
        minutes = lead.total_seconds() / 60
        rows.append(
            {
                "lead_min": minutes,
                "brier_score": float(brier_score(forecast[keep], observed)),
                "brier_skill_score": float(brier_skill_score(forecast[keep], observed)),
                "base_rate": float(observed.mean()),
                "pairs": int(keep.sum()),
            }
        )
        tables.append(reliability_table(forecast[keep], observed).assign(lead_min=minutes))
    return pd.DataFrame(rows).set_index("lead_min"), pd.concat(tables, ignore_index=True)
