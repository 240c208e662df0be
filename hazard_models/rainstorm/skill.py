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

__all__ = ["nowcast_skill"]


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
    interval = accumulation_interval(radar, "pr")
    per_hour = timedelta(hours=1) / interval
    issue = np.datetime64(pd.Timestamp(issue_time).tz_convert(None), "ns")
    rate = (radar["pr"] * per_hour).assign_attrs(units="mm h-1")
    past = rate.sel(time=rate["time"] <= issue)
    if past.sizes["time"] < 2:
        raise ModelError("nowcast skill: fewer than two radar frames before the issue time")
    frames = past.isel(time=slice(-motion_frames, None)).load()
    n_steps = int(lead_time // interval)
    field = estimate_motion(frames, method=motion)
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
        issue_time=pd.Timestamp(issue).isoformat() + "Z",
        motion=motion,
        fss=f"threshold {fss_threshold:g} mm/h, neighbourhood {fss_scale} px",
        thresholds_mm_h=", ".join(f"{t:g}" for t in thresholds),
    )
    return scores
