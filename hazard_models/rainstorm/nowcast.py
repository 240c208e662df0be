"""Rainstorm nowcast: radar extrapolation ensemble → probability of each warning level.

At issue time ``T`` the model

1. puts the radar rainfall on a regular axis ending at ``T`` (missing frames are NaN, never
   zero; :func:`~hazard_models.rainstorm.accumulation.regular_series`);
2. estimates the motion from the latest ``motion_frames`` frames
   (:mod:`hazard_models.rainstorm.motion`, method chosen by name);
3. extrapolates an ensemble of ``members`` rain-rate fields to ``lead_time`` in the data's
   own steps (:mod:`hazard_models.rainstorm.ensemble`: perturbed motion and stochastic
   growth and decay; members in parallel with dask); blends with NWP rainfall beyond the
   nowcast's skilful range when an ``nwp`` input is given (:mod:`.blending`);
4. for every window the signal scheme uses and every lead time ``L`` forms the accumulation
   over ``(T + L - window, T + L]``: observed rainfall up to ``T`` plus forecast rainfall
   after it, per member and grid cell, then per community (area maximum or mean);
5. gives per community and lead time the probability that each level's criteria are met
   (share of members), the hazard level (highest level whose probability reaches
   ``warn_probability``), the expected onset (first lead time at which it does) and the
   ensemble-mean accumulation per window as the evidence.

Lead time 0 is the observed state at the latest frame available at ``T`` (the
``evaluation_time``; with a delivery delay it is one frame before ``T``); ``valid_time``
gives each lead time's clock time. Rain advected in from outside the radar image
is unknown (NaN), so a window touching it cannot be said to stay below a threshold: its
probability is computed over the members that know, and is NaN if none does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field

from hazard_models.aggregation import AggregationWeights, Statistic
from hazard_models.config import Duration, SignalScheme
from hazard_models.errors import ModelError
from hazard_models.interface import HazardModel, InputSpec, ModelOptions, register_model
from hazard_models.rainstorm.accumulation import exceeds, regular_series
from hazard_models.rainstorm.memo import ResultMemo
from hazard_models.rainstorm.scheme import (
    RainfallCriteria,
    format_window,
    scheme_coords,
    scheme_windows,
)
from hazard_models.region import Region
from ingest.contracts import accumulation_interval

__all__ = ["NowcastModel", "NowcastOptions"]


Probability = Annotated[float, Field(gt=0, le=1)]
"""A probability from which a level counts as forecast, in (0, 1]."""


class NowcastOptions(ModelOptions):
    """Options of the rainstorm nowcast."""

    motion: str = Field("lucas-kanade", description="motion method (see get_motion)")
    motion_frames: int = Field(3, ge=2, le=12, description="latest frames used for motion")
    motion_downsample: int = Field(
        1,
        ge=1,
        le=8,
        description="estimate motion on block means of this many cells a side (2: 4x faster)",
    )
    members: int = Field(20, ge=1, le=200, description="ensemble members")
    max_age: Duration | None = Field(
        None,
        description=(
            "how old the newest radar frame may be at the issue time and still start the "
            "nowcast (default one data interval); a cycle that runs off the radar's cadence "
            "or a feed with a delivery delay needs its latency plus one interval"
        ),
    )
    lead_time: Duration = Field(
        default_factory=lambda: timedelta(hours=2), description="how far ahead to forecast"
    )
    areal_statistic: Literal["mean", "max"] = Field(
        "max", description="area-weighted mean or maximum of the grid cells in a community"
    )
    warn_probability: Probability | dict[str, Probability] = Field(
        0.5,
        description=(
            "probability from which a level counts as forecast: one for every level, or per "
            "level name (every level of the scheme named; a higher level may be warned at a "
            "lower probability, as its damage justifies acting on less certainty)"
        ),
    )
    seed: int = Field(0, ge=0, description="seed of the ensemble's random perturbations")
    nwp_ramp_start: Duration = Field(
        default_factory=lambda: timedelta(minutes=30),
        description="lead time from which NWP rainfall starts to take weight",
    )
    nwp_skill_horizon: Duration = Field(
        default_factory=lambda: timedelta(hours=2),
        description="lead time from which NWP rainfall has all the weight",
    )
    nwp_weighting: Literal["linear", "exponential"] = "linear"

    def probability_of(self, level: str) -> float:
        """The probability from which ``level`` counts as forecast."""
        if isinstance(self.warn_probability, dict):
            return self.warn_probability[level]
        return self.warn_probability

    def scheme_problems(self, scheme: SignalScheme) -> list[str]:
        """A per-level ``warn_probability`` must name exactly the scheme's levels."""
        if not isinstance(self.warn_probability, dict):
            return []
        names = [level.name for level in scheme.levels]
        missing = [name for name in names if name not in self.warn_probability]
        unknown = sorted(set(self.warn_probability) - set(names))
        if not (missing or unknown):
            return []
        return [
            f"warn_probability: names {unknown}, which the scheme does not have, and lacks "
            f"{missing}; give one probability per level of {names}, or one number"
        ]


@register_model
class NowcastModel(RainfallCriteria, HazardModel):
    """Radar extrapolation ensemble against a rainstorm signal scheme."""

    name = "rainstorm-nowcast"
    hazard = "rainstorm"
    version = "0.1.0"
    inputs: ClassVar[Mapping[str, InputSpec]] = {
        "radar": InputSpec(
            contracts=("gridded field",),
            variables=("pr",),
            description="radar rainfall per interval on the analysis grid",
        ),
        "nwp": InputSpec(
            contracts=("gridded field",),
            variables=("pr",),
            description="NWP rainfall on the analysis grid, blended beyond the nowcast range",
            optional=True,
        ),
    }
    Options: ClassVar[type[ModelOptions]] = NowcastOptions

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """Probabilities, levels and onsets per community and lead time."""
        options = self.options
        assert isinstance(options, NowcastOptions)
        radar = inputs["radar"]
        if not region.grid.matches(radar):
            raise ModelError(
                f"model {self.name!r}: the radar grid is not the analysis grid of "
                f"{region.name}; regrid it in ingest first"
            )
        interval = accumulation_interval(radar, "pr")
        windows = scheme_windows(self.scheme, interval, self.name, self.criterion_variable)
        longest = max(windows[-1], interval * options.motion_frames)
        observed = regular_series(
            radar["pr"], interval, issue_time, longest, self.name, max_age=options.max_age
        )
        _check_newest_frame(observed, issue_time, options, self.name)
        totals = _ensemble_totals(observed, interval, inputs.get("nwp"), options, windows, region)
        areals = totals.areals
        probability, mean_accumulation = [], []
        level_met: dict[str, list[xr.DataArray]] = {level.name: [] for level in self.scheme.levels}
        for window, areal in zip(windows, areals, strict=True):
            mean_accumulation.append(areal.mean("member"))
            for level in self.scheme.levels:
                for criterion in level.criteria:
                    if criterion.window != window:
                        continue
                    met = exceeds(areal, self.threshold(criterion), criterion.comparison)
                    met = met.where(areal.notnull())
                    level_met[level.name].append(met)
        for level in self.scheme.levels:
            stack = xr.concat(level_met[level.name], dim="criterion")
            met_any = xr.where(
                stack.fillna(0).max("criterion") > 0,
                1.0,
                xr.where(stack.notnull().all("criterion"), 0.0, np.nan),
            )
            known = met_any.notnull().sum("member")
            share = met_any.fillna(0).sum("member") / known.where(known > 0)
            probability.append(share)
        names = [level.name for level in self.scheme.levels]
        prob = xr.concat(probability, dim="level").assign_coords(level=names)
        prob = prob.transpose("community", "lead_time", "level").compute()
        ranks = xr.DataArray(
            [level.rank for level in self.scheme.levels], dims="level", coords={"level": names}
        )
        thresholds = xr.DataArray(
            [options.probability_of(name) for name in names], dims="level", coords={"level": names}
        )
        forecast_met = prob >= thresholds
        hazard_level = (ranks * forecast_met).max("level").astype(np.int8)
        lead_values = prob["lead_time"].values
        # Lead times count from the latest radar frame used (the evaluation time).
        issue = np.datetime64(observed["time"].values[-1], "ns")
        first = forecast_met.argmax("lead_time").transpose("community", "level")
        onset = xr.DataArray(
            np.where(
                forecast_met.any("lead_time").transpose("community", "level").values,
                issue + lead_values[first.values],
                np.datetime64("NaT", "ns"),
            ),
            dims=("community", "level"),
            coords={"level": names},
        )
        accumulation = xr.concat(mean_accumulation, dim="window").assign_coords(
            window=[format_window(w) for w in windows]
        )
        return xr.Dataset(
            {
                "probability": prob.assign_attrs(
                    units="1",
                    long_name="probability that the level's criteria are met",
                    comment=(
                        f"share of {options.members} ensemble members; observed rainfall up "
                        "to the issue time plus the nowcast after it"
                    ),
                ),
                "hazard_level": hazard_level.transpose("community", "lead_time").assign_attrs(
                    long_name="highest level whose probability reaches its warn_probability",
                    comment="warn_probability: "
                    + ", ".join(f"{n} {options.probability_of(n):g}" for n in names),
                    units="1",
                ),
                "onset_time": onset.transpose("community", "level").assign_attrs(
                    long_name="expected onset: first valid time the level is forecast",
                    comment="NaT if the level is not forecast within the lead time",
                ),
                "accumulation": accumulation.transpose(
                    "community", "lead_time", "window"
                ).assign_attrs(
                    units="mm",
                    standard_name="precipitation_amount",
                    long_name="ensemble-mean rainfall over the window ending at the valid time",
                    cell_methods=f"area: {options.areal_statistic} time: sum",
                ),
            },
            coords={
                "valid_time": ("lead_time", issue + lead_values),
                **scheme_coords(self.scheme, windows, region.communities),
            },
            attrs={
                "evaluation_time": pd.Timestamp(issue).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "areal_statistic": options.areal_statistic,
                "data_interval": format_window(interval),
                "motion_method": options.motion,
                "motion_quality": totals.motion_quality,
                "members": options.members,
                "blending": totals.blending,
                "evidence": (
                    f"radar frames {totals.motion_frames} for motion; "
                    f"windows {', '.join(format_window(w) for w in windows)}"
                ),
            },
        )


def _check_newest_frame(
    observed: xr.DataArray, issue_time: datetime, options: NowcastOptions, model: str
) -> None:
    """The nowcast starts from the newest frame of ``observed``: it must hold data.

    Raises
    ------
    ModelError
        If that frame has no value: the feed stopped, or its newest frame is older than
        ``max_age`` at the issue time (the frames after it are missing, not dry).
    """
    newest = observed.isel(time=-1)
    if bool(newest.notnull().any()):
        return
    frame = pd.Timestamp(newest["time"].item()).strftime("%Y-%m-%dT%H:%MZ")
    allowed = format_window(options.max_age) if options.max_age else "one data interval"
    raise ModelError(
        f"model {model!r}: the nowcast would start from the radar frame of {frame}, which has "
        f"no data at the issue time {issue_time.astimezone(UTC):%Y-%m-%dT%H:%MZ} (max_age "
        f"{allowed}: an older newest frame counts as missing); set the hazard's max_age to "
        "the source's latency plus one interval, or check the radar feed"
    )


@dataclass(frozen=True)
class _EnsembleTotals:
    """Per member, lead time and community: rainfall over each window (observed + forecast)."""

    areals: tuple[xr.DataArray, ...]
    motion_quality: str
    motion_frames: str
    blending: str


_ENSEMBLES: ResultMemo[_EnsembleTotals] = ResultMemo(size=2)


def _ensemble_totals(
    observed: xr.DataArray,
    interval: timedelta,
    nwp: xr.Dataset | None,
    options: NowcastOptions,
    windows: list[timedelta],
    region: Region,
) -> _EnsembleTotals:
    """Motion, ensemble and the community window totals, computed once per input.

    Two hazards of one cycle that nowcast the same radar frames with the same ensemble
    options and windows (the rainstorm and the waterlogging nowcast) share one ensemble
    (:class:`~hazard_models.rainstorm.memo.ResultMemo`, keyed by the rainfall and NWP
    values, the options that shape the ensemble and the windows).
    """
    # Only the nowcast's own options shape the ensemble (not a subclass's, nor the
    # probability from which a level is warned).
    shaping = options.model_dump(include=set(NowcastOptions.model_fields) - {"warn_probability"})
    arrays: tuple[Any, ...] = (observed.data, observed["time"].values)
    if nwp is not None:
        arrays += (nwp["pr"].data, nwp["reference_time"].values)
    return _ENSEMBLES.get_or_compute(
        arrays,
        (sorted(shaping.items()), windows, nwp is not None),
        region.weights,
        lambda: _run_ensemble(observed, interval, nwp, options, windows, region.weights),
    )


def _run_ensemble(
    observed: xr.DataArray,
    interval: timedelta,
    nwp: xr.Dataset | None,
    options: NowcastOptions,
    windows: list[timedelta],
    weights: AggregationWeights,
) -> _EnsembleTotals:
    from hazard_models.rainstorm.ensemble import ensemble_nowcast
    from hazard_models.rainstorm.motion import estimate_motion

    n_steps = int(options.lead_time // interval)
    hours = interval.total_seconds() / 3600
    rate = (observed / hours).assign_attrs(units="mm h-1")
    frames = rate.isel(time=slice(-options.motion_frames, None))
    motion = estimate_motion(frames, method=options.motion, downsample=options.motion_downsample)
    members = ensemble_nowcast(
        frames, motion, n_members=options.members, n_steps=n_steps, seed=options.seed
    )
    blending = "none: no NWP input configured"
    if nwp is not None:
        from hazard_models.rainstorm.blending import blend_with_nwp

        start = np.datetime64(observed["time"].values[-1], "ns")
        nwp_rate, run = _nwp_rates(nwp, start, members["lead_time"].values)
        members = blend_with_nwp(
            members,
            nwp_rate,
            skill_horizon=f"{options.nwp_skill_horizon.total_seconds():g} s",
            ramp_start=f"{options.nwp_ramp_start.total_seconds():g} s",
            weighting=options.nwp_weighting,
        )
        blending = f"{members.attrs['blending']}; NWP run of {run}"
    forecast = (members * hours).transpose("member", "lead_time", "y", "x")
    # Community totals of every window in one pass, so the ensemble is computed once
    # (small: member x lead x community); everything after works on those.
    areals = dask.compute(
        *(
            _community_window_totals(
                observed, forecast, int(window // interval), weights, options.areal_statistic
            )
            for window in windows
        )
    )
    return _EnsembleTotals(
        areals=tuple(areals),
        motion_quality=str(motion.attrs.get("motion_quality", "")),
        motion_frames=f"{frames['time'].values[0]} .. {frames['time'].values[-1]}",
        blending=blending,
    )


def _community_window_totals(
    observed: xr.DataArray,
    forecast: xr.DataArray,
    steps: int,
    weights: AggregationWeights,
    statistic: Statistic,
) -> xr.DataArray:
    """Community rainfall (mm) over the ``steps`` intervals ending at each lead time.

    Lead time 0 is the observed trailing sum; lead ``k`` adds the first ``k`` forecast
    steps and drops the oldest observed ones. A missing observed interval makes the total a
    lower bound (summed without it); a missing forecast value makes it unknown (NaN), and
    a community with no known cell is NaN. Lead 0 is the same for every member and is
    aggregated once; the forecast leads, one numpy kernel per member (``map_blocks``, in
    float32), only over the cells that member forecasts at its first lead (a cell missing
    then stays unknown at every later lead).
    """
    history = np.nan_to_num(
        np.asarray(observed.isel(time=slice(-steps, None)).values, dtype=np.float32)
    )
    # tail[j] = sum of the newest j observed intervals (j = 0 ... steps)
    tail = np.concatenate(
        [np.zeros((1, *history.shape[1:]), np.float32), np.cumsum(history[::-1], axis=0)]
    )
    tail = tail.reshape(tail.shape[0], -1)
    now = weights.aggregate(tail[steps], statistic)
    data = da.asarray(forecast.data).astype(np.float32).rechunk({0: 1, 1: -1, 2: -1, 3: -1})
    n_lead = forecast.sizes["lead_time"]
    totals = data.map_blocks(
        _community_totals_kernel,
        tail,
        now,
        steps,
        weights,
        statistic,
        chunks=(1, n_lead + 1, weights.n_community),
        drop_axis=3,
        dtype=np.float64,
    )
    step = forecast["lead_time"].values[0]
    return xr.DataArray(
        totals,
        dims=("member", "lead_time", "community"),
        coords={"lead_time": np.arange(n_lead + 1) * step},
        attrs={"units": "mm"},
    )


def _community_totals_kernel(
    block: np.ndarray,
    tail: np.ndarray,
    now: np.ndarray,
    steps: int,
    weights: AggregationWeights,
    statistic: Statistic,
) -> np.ndarray:
    """``(1, lead, y, x)`` forecast amounts → ``(1, lead + 1, community)`` window totals."""
    amounts = block.reshape(block.shape[1], -1)
    cells = np.flatnonzero(~np.isnan(amounts[0]))
    # future[k] = forecast rain of the first k steps, at the cells known at the first lead
    future = np.cumsum(amounts[:, cells], axis=0, dtype=np.float32)
    totals = np.empty_like(future)
    for k in range(1, future.shape[0] + 1):
        total = future[k - 1] - future[k - 1 - steps] if k > steps else future[k - 1].copy()
        if k < steps:
            total += tail[steps - k, cells]
        totals[k - 1] = total
    result = np.empty((1, future.shape[0] + 1, weights.n_community))
    result[0, 0] = now
    result[0, 1:] = weights.restricted(cells).aggregate(totals, statistic)
    return result


def _nwp_rates(
    nwp: xr.Dataset, start: np.datetime64, lead_times: np.ndarray
) -> tuple[xr.DataArray, str]:
    """NWP rain rate (mm/h) at ``start + lead_times`` from the latest run not after ``start``.

    Each target time takes the NWP accumulation interval that contains it (the next label
    at or after it, within one NWP interval); times no run covers are NaN, and the blend
    then keeps the nowcast there.
    """
    interval = accumulation_interval(nwp, "pr")
    runs = nwp["reference_time"].values
    usable = runs[runs <= start]
    if usable.size == 0:
        raise ModelError(
            "model 'rainstorm-nowcast': no NWP run at or before the radar time "
            f"{pd.Timestamp(start).isoformat()}Z; ingest an earlier run or drop the NWP input"
        )
    run = nwp["pr"].sel(reference_time=usable.max())
    valid = run["reference_time"].values + run["lead_time"].values
    series = run.drop_vars([c for c in run.coords if c not in ("y", "x")])
    series = series.assign_coords(lead_time=valid).sortby("lead_time")
    targets = start + lead_times
    tolerance: Any = pd.Timedelta(interval)  # xarray's stub says float; a Timedelta works
    matched = series.reindex(lead_time=targets, method="bfill", tolerance=tolerance)
    rate = matched / (interval.total_seconds() / 3600)
    rate = rate.assign_coords(lead_time=lead_times).assign_attrs(units="mm h-1")
    return rate, pd.Timestamp(usable.max()).strftime("%Y-%m-%dT%H:%MZ")
