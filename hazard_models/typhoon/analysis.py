"""The typhoon analysis: the wind field of the best track itself, level by level.

Registered as ``typhoon-analysis`` (hazard ``typhoon``). The bundled data hold no observed
winds for Shenzhen (SOURCES.md, known gaps), so the typhoon replays are verified against
an *analysis*: the same parametric wind field as ``typhoon-ensemble`` (profile, land/sea
exposure, gust factors, averaging-period conversions), driven by the best-track fixes
themselves instead of a forecast. Scores against it measure what the forecast track and
its ensemble cost, not how good the wind model is (that is ``docs/typhoon_wind_radii.md``,
against JMA's analysed 30- and 50-kt radii). It is the usual stand-in where no wind
observations exist, and it is named as such wherever a score uses it.

Per cycle (issue time ``T``)
    1. the best-track fixes known at ``T`` (nothing later; the pipeline applies the
       source's latency), the latest one no older than ``max_fix_age``;
    2. the storm parameters interpolated hourly (``time_step``) over the ``lookback`` that
       ends at the latest fix: only between known fixes, never extrapolated;
    3. the unperturbed storm's wind and gust per community (highest cell) and its
       distance, each hour;
    4. a level is *met* in the span when any of its criteria holds at some hour of it.
       A criterion's window is the forecast's look-ahead ("within 24 h"); the analysis
       tests the present, each hour.

Result (hazard-result contract, one lead time: the latest fix)
    ``hazard_level``: the highest rank met in the span; ``probability`` 1 where a level
    was met, else 0; ``onset_time``: the first hour it was met in the span (NaT if not);
    ``wind_speed`` and ``wind_speed_of_gust``: the highest of the span. With ``lookback``
    equal to the replay's interval, consecutive cycles cover the storm's life without gaps
    or overlaps.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field

from hazard_models.config import Duration
from hazard_models.errors import ModelError
from hazard_models.interface import register_model
from hazard_models.region import Region
from hazard_models.typhoon.ensemble import perturb_parameters
from hazard_models.typhoon.model import _WIND_ATTRS, TyphoonModel, TyphoonOptions
from hazard_models.typhoon.track import interpolate_parameters, storm_parameters
from ingest.contracts import COMMUNITY_COORDS

__all__ = ["TyphoonAnalysisModel", "TyphoonAnalysisOptions"]


class TyphoonAnalysisOptions(TyphoonOptions):
    """Options of ``typhoon-analysis``: the wind-field options of ``typhoon-ensemble``
    (its ensemble and forecaster options are not used) and the span analysed."""

    lookback: Duration = Field(
        default=timedelta(hours=6),
        description="span analysed, ending at the latest fix: the replay's interval",
    )


@register_model
class TyphoonAnalysisModel(TyphoonModel):
    """Deterministic wind field of the best track up to the issue time (the replays' truth)."""

    name = "typhoon-analysis"
    hazard = "typhoon"
    version = "0.1.0"
    Options = TyphoonAnalysisOptions

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """Levels met, their first hour and the highest winds over the span analysed."""
        options = self.options
        assert isinstance(options, TyphoonAnalysisOptions)
        track = inputs["track"]
        if int(track.attrs.get("is_forecast", 0)) == 1:
            raise ModelError(
                f"model {self.name!r}: input 'track' is a forecast track "
                f"({track.attrs.get('agency', '?')}); the analysis needs the best track"
            )
        issue = np.datetime64(issue_time.astimezone(UTC).replace(tzinfo=None), "ns")
        if track.sizes["time"] == 0:
            return self._quiet(region, issue, "the track has no fix up to the issue time")
        latest = np.datetime64(track["time"].values[-1], "ns")
        if issue - latest > np.timedelta64(options.max_fix_age):
            return self._quiet(
                region,
                issue,
                f"the latest fix ({pd.Timestamp(latest):%Y-%m-%dT%H:%MZ}) is older than "
                "options.max_fix_age: the storm is no longer tracked",
            )
        parameters = storm_parameters(track, options.ambient_pressure_hpa)
        parameters = interpolate_parameters(parameters, options.time_step)
        start = latest - np.timedelta64(options.lookback)
        times = parameters["time"].values
        parameters = parameters.sel(time=(times > start) & (times <= latest))
        if parameters.sizes["time"] == 0:
            return self._quiet(region, issue, "no usable fix in the span analysed")
        storm = perturb_parameters(parameters, latest, options.track_errors, 1, options.seed)
        wind, gust, distance = self._community_winds(storm, region)
        return self._analysed(wind, gust, distance, region, latest, track)

    def _quiet(self, region: Region, issue: np.datetime64, reason: str) -> xr.Dataset:
        """No storm to analyse: no level met anywhere, the reason kept."""
        n = region.communities.sizes["community"]
        shape = (1, 1, n)
        dims = ("member", "time", "community")
        zero = xr.DataArray(np.zeros(shape), dims=dims, coords={"time": [issue]})
        far = xr.full_like(zero, np.inf)
        result = self._analysed(zero, zero, far, region, issue, None)
        return result.assign_attrs(no_storm=reason)

    def _analysed(
        self,
        wind: xr.DataArray,
        gust: xr.DataArray,
        distance: xr.DataArray,
        region: Region,
        evaluation: np.datetime64,
        track: xr.Dataset | None,
    ) -> xr.Dataset:
        options = self.options
        assert isinstance(options, TyphoonAnalysisOptions)
        times = np.asarray(wind["time"].values, dtype="datetime64[ns]")
        levels = self.scheme.levels
        names = [level.name for level in levels]
        ranks = np.array([level.rank for level in levels])
        n_community = wind.sizes["community"]
        met = np.zeros((len(levels), n_community), dtype=bool)
        onset = np.full((len(levels), n_community), np.datetime64("NaT", "ns"))
        for k, level in enumerate(levels):
            hourly = np.zeros((times.size, n_community), dtype=bool)
            for criterion in level.criteria:
                hourly |= self._event(criterion, wind, gust, distance)[0]
            met[k] = hourly.any(axis=0)
            onset[k] = np.where(met[k], times[hourly.argmax(axis=0)], onset[k])
        hazard_level = np.where(met, ranks[:, None], 0).max(axis=0).astype(np.int8)
        level_criteria = [" or ".join(c.describe() for c in level.criteria) for level in levels]
        evidence = (
            f"best track of {track.attrs.get('agency', '?')}, fixes up to "
            f"{pd.Timestamp(evaluation):%Y-%m-%dT%H:%MZ}; {options.profile} wind profile; "
            "an analysis, not observed winds"
            if track is not None
            else "no storm analysed"
        )
        return xr.Dataset(
            {
                "probability": (
                    ("community", "lead_time", "level"),
                    met.T[:, None, :].astype(float),
                    {"units": "1", "long_name": "1 where the level was met in the span"},
                ),
                "hazard_level": (
                    ("community", "lead_time"),
                    hazard_level[:, None],
                    {"units": "1", "long_name": "highest rank met in the span analysed"},
                ),
                "onset_time": (
                    ("community", "level"),
                    onset.T,
                    {"long_name": "first analysed hour the level was met in the span"},
                ),
                "wind_speed": (
                    ("community", "lead_time"),
                    wind.values[0].max(axis=0)[:, None],
                    {**_WIND_ATTRS, "long_name": "highest analysed 10-min wind, highest cell"},
                ),
                "wind_speed_of_gust": (
                    ("community", "lead_time"),
                    gust.values[0].max(axis=0)[:, None],
                    {
                        "units": "m s-1",
                        "standard_name": "wind_speed_of_gust",
                        "long_name": "highest analysed 3-s gust, highest cell",
                    },
                ),
            },
            coords={
                "lead_time": np.array([0], dtype="timedelta64[ns]"),
                "valid_time": ("lead_time", [evaluation]),
                "level": names,
                "level_rank": ("level", ranks),
                "level_criteria": ("level", level_criteria),
                **{
                    name: ("community", region.communities[name].values)
                    for name in COMMUNITY_COORDS
                },
            },
            attrs={
                "evaluation_time": pd.Timestamp(evaluation).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "analysed_from": pd.Timestamp(times[0]).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "storm": ""
                if track is None
                else f"{track.attrs.get('storm_name', '')} {track.attrs.get('storm_id', '')}",
                "profile": options.profile,
                "exposure": options.exposure,
                "evidence": evidence,
            },
        )
