"""The typhoon model: ensemble wind fields → signal levels, probabilities and arrival times.

Registered as ``typhoon-ensemble`` (hazard ``typhoon``). Input ``track``: a tropical-cyclone
track. A *forecast* track (``is_forecast = 1``, e.g. an agency bulletin) is used as it is; a
*best track* known up to the issue time is first turned into a forecast by the baseline
forecaster (:mod:`hazard_models.typhoon.cliper`, trained only on seasons before the issue
year), which is how historical storms are replayed without knowing their future.

Per cycle
    1. storm parameters per fix, hourly (:mod:`~hazard_models.typhoon.track`);
    2. ``members`` perturbed storms (:mod:`~hazard_models.typhoon.ensemble`);
    3. the 10-min wind of each member on the analysis grid, lazily, chunked by member
       (:mod:`~hazard_models.typhoon.windfield`), times each cell's land/sea exposure factor;
       the 3-s gust by the cell's gust factor (:mod:`~hazard_models.typhoon.exposure`);
    4. per community the highest cell value (wind, gust) and the distance from its centre to
       the storm, per member and hour.

Result (the hazard-result contract plus)
    ``probability(community, lead_time, level)``: share of members meeting the level's
    criteria within each criterion's window starting at that lead time (a criterion such as
    ``sfcWind (2 min mean) within 24 h >= 17.2 m s-1`` holds at lead ``L`` when the member's
    wind reaches the threshold between ``L`` and ``L + 24 h``; windows reaching past the
    forecast horizon only see the horizon: a lower bound; attribute ``probability_window``
    ``criteria`` says so to the verification). ``hazard_level`` is the highest
    rank with probability ≥ ``warn_probability``; ``signal`` the index of the highest level
    (rank-0 advisories included) so met. ``onset_time(community, level)``: the median, over
    the members that reach them, of the first time the level's thresholds are met (NaT unless
    the level is warranted at some lead). ``exceedance_probability(community, threshold,
    window)`` for Beaufort 6/8/10/12 (10-min mean) and gusts of Beaufort 8/10/12/14 within
    6/12/24/48 h of the issue time, with ``arrival_time`` (conditional median) and
    ``arrival_probability`` (within the horizon) per threshold; ensemble mean and 90th
    percentile wind and mean gust per community and lead time; the forecast track.

A storm that never comes near gives zeros everywhere: no hazard, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import dask
import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field, field_validator

from hazard_models.config import Criterion, Duration
from hazard_models.errors import ModelError
from hazard_models.grid import AnalysisGrid
from hazard_models.interface import HazardModel, InputSpec, ModelOptions, register_model
from hazard_models.region import Region
from hazard_models.timing import conditional_median_time
from hazard_models.typhoon.ensemble import TrackErrors, perturb_parameters
from hazard_models.typhoon.exposure import (
    gust_factors,
    land_fraction,
    mean_wind_factors,
    roughness_factor,
)
from hazard_models.typhoon.profiles import available_profiles
from hazard_models.typhoon.track import interpolate_parameters, storm_parameters
from hazard_models.typhoon.wind_conversion import conversion_factor
from hazard_models.typhoon.windfield import storm_distance, surface_wind
from ingest.contracts import COMMUNITY_COORDS
from ingest.units import parse_quantity

__all__ = ["TyphoonModel", "TyphoonOptions"]

#: Beaufort lower bounds (m s-1, WMO), as in DESIGN.md.
BEAUFORT = {6: 10.8, 8: 17.2, 10: 24.5, 12: 32.7, 14: 41.5}

_DEFAULT_ERRORS = TrackErrors(
    leads=[timedelta(hours=h) for h in (0, 12, 24, 48, 72)],
    along_track=[20.0, 78.0, 156.0, 381.0, 662.0],
    cross_track=[20.0, 70.0, 147.0, 304.0, 408.0],
    pressure=[3.0, 7.2, 11.0, 14.1, 12.4],
    size=[0.0, 0.21, 0.30, 0.41, 0.51],
    source=(
        "standard deviations of the baseline (CLIPER) forecaster's out-of-sample errors near "
        "Shenzhen, 2015-2025 (docs/typhoon_cliper.md): position, pressure and the persisted "
        "30-kt radius (ln R30); at lead 0 an assumed analysis error of 20 km and 3 hPa and "
        "the analysed size"
    ),
)
"""Default ensemble spread: the errors of the baseline forecaster, which replays use. For an
agency's forecast track configure that agency's own (smaller) verified errors."""

_CLIMATOLOGY_ERRORS = TrackErrors(
    leads=[timedelta(hours=h) for h in (0, 12, 24, 48, 72)],
    along_track=[20.0, 115.0, 226.0, 452.0, 695.0],
    cross_track=[20.0, 122.0, 228.0, 388.0, 409.0],
    pressure=[3.0, 8.1, 12.1, 14.8, 12.9],
    size=[0.0, 0.21, 0.30, 0.41, 0.51],
    source=(
        "standard deviations of the baseline forecaster's climatology-alone regressions' "
        "out-of-sample errors near Shenzhen, 2015-2025 (docs/typhoon_cliper.md), used when "
        "the track has under 6 h of fixes; lead 0 and size as for the CLIPER errors"
    ),
)
"""Spread for a baseline forecast made from a single fix (no past motion known)."""


class TyphoonOptions(ModelOptions):
    """Options of ``typhoon-ensemble`` (all optional)."""

    profile: str = "holland2010"
    members: int = Field(default=50, ge=1, le=1000)
    seed: int = 0
    time_step: Duration = timedelta(hours=1)
    horizon: Duration = timedelta(hours=72)
    warn_probability: float = Field(default=0.3, gt=0.0, le=1.0)
    ambient_pressure_hpa: float = Field(default=1010.0, ge=990.0, le=1030.0)
    asymmetry_fraction: float = Field(default=0.55, ge=0.0, le=1.0)
    exposure: Literal["dem", "land", "sea"] = Field(
        default="land", description="land fraction per cell from options.dem, or all land/sea"
    )
    dem: Path | None = Field(default=None, description="DEM for exposure 'dem' (sea at 0 m)")
    z0_land: float = Field(default=0.03, gt=0.0, lt=10.0)
    z0_sea: float = Field(default=0.001, gt=0.0, lt=10.0)
    reference_height: float = Field(default=500.0, gt=10.0)
    criteria_exposure: Literal["in-land", "off-land", "off-sea", "at-sea"] = Field(
        default="in-land",
        description="exposure used to convert the 10-min wind to a criterion's period",
    )
    track_errors: TrackErrors = _DEFAULT_ERRORS
    climatology_track_errors: TrackErrors = Field(
        default=_CLIMATOLOGY_ERRORS,
        description="spread for a forecast track made without past motion (its attribute "
        "past_motion_hours is 0: the baseline forecaster on a storm's first fix)",
    )
    training_data: Path | None = Field(
        default=None,
        description="the shared data folder holding the JMA best tracks the baseline "
        "forecaster is trained on (hazard_models.typhoon.cliper.JMA_TRAINING_FILES)",
    )
    member_chunk: int = Field(default=10, ge=1)
    max_fix_age: Duration = Field(
        default=timedelta(hours=12),
        description="a best track whose latest fix is older is a storm no longer tracked",
    )
    max_forecast_age: Duration = Field(
        default=timedelta(hours=12),
        description="a forecast track (bulletin) whose reference time is older is refused: "
        "the cycle fails, and is seen, rather than warn from a stale forecast",
    )
    thresholds: dict[str, str] = Field(
        default_factory=lambda: {
            **{f"Beaufort {b} mean": f"{BEAUFORT[b]} m s-1" for b in (6, 8, 10, 12)},
            **{f"gust Beaufort {b}": f"{BEAUFORT[b]} m s-1" for b in (8, 10, 12, 14)},
        },
        description="label -> threshold; labels starting with 'gust' test the 3-s gust",
    )
    windows: list[Duration] = Field(
        default_factory=lambda: [timedelta(hours=h) for h in (6, 12, 24, 48)]
    )

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in available_profiles():
            raise ValueError(
                f"unknown wind profile {value!r}; choose one of {available_profiles()}"
            )
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds_have_units(cls, value: dict[str, str]) -> dict[str, str]:
        for label, text in value.items():
            try:
                parse_quantity(text, "m s-1")
            except ValueError as err:
                raise ValueError(f"thresholds.{label}: {err}") from None
        return value


@lru_cache(maxsize=4)
def _baseline(training_data: Path, year: int) -> Any:
    """The baseline forecaster trained on the storms that ended before ``year``."""
    from hazard_models.typhoon.cliper_fit import fit_cliper, training_tracks

    before = datetime(year, 1, 1, tzinfo=UTC)
    return fit_cliper(training_tracks(training_data, before), trained_until=before)


def _next_event_hours(met: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """For each step, hours until the event next holds (0 if it holds now; inf if never).

    ``met`` has time on the last axis; ``hours`` are the step times.
    """
    when = np.where(met, hours, np.inf)
    following = np.minimum.accumulate(when[..., ::-1], axis=-1)[..., ::-1]
    return np.asarray(following - hours)


@register_model
class TyphoonModel(HazardModel):
    """Ensemble parametric wind fields of a (forecast or baseline-forecast) typhoon track."""

    name = "typhoon-ensemble"
    hazard = "typhoon"
    version = "0.6.0"
    inputs: ClassVar[Mapping[str, InputSpec]] = {
        "track": InputSpec(
            ("tropical cyclone track",),
            ("lat", "lon", "psl_min", "vmax"),
            "a forecast track, or a best track up to the issue time for the baseline forecaster",
        )
    }
    Options = TyphoonOptions

    def _forecast_track(self, track: xr.Dataset, issue_time: datetime) -> xr.Dataset:
        options = self.options
        assert isinstance(options, TyphoonOptions)
        if int(track.attrs.get("is_forecast", 0)) == 1:
            base = track["reference_time"] if "reference_time" in track.coords else track["time"][0]
            reference = pd.Timestamp(base.values.astype("datetime64[ns]").item())
            age = (pd.Timestamp(issue_time).tz_convert(None) - reference) / pd.Timedelta(hours=1)
            if age > options.max_forecast_age / timedelta(hours=1):
                raise ModelError(
                    f"model {self.name!r}: the forecast track of "
                    f"{track.attrs.get('agency', '?')} ({track.attrs.get('source', '?')}) is "
                    f"from {reference:%Y-%m-%dT%H:%M}Z, "
                    f"{age:g} h before the issue time (more than "
                    "options.max_forecast_age); ingest the newer bulletin, the warnings in "
                    "force stay as they are until a cycle succeeds"
                )
            return track
        if options.training_data is None:
            raise ModelError(
                f"model {self.name!r}: input 'track' is a best track "
                f"({track.attrs.get('source', '?')}); to forecast it set "
                "options.training_data to the data folder holding the JMA best tracks, or "
                "give a forecast track"
            )
        from hazard_models.typhoon.cliper import cliper_forecast

        baseline = _baseline(options.training_data, issue_time.year)
        try:
            return cliper_forecast(baseline, track, issue_time)
        except ValueError as err:
            raise ModelError(f"model {self.name!r}: baseline forecast failed: {err}") from None

    def _exposure(self, region: Region) -> tuple[xr.DataArray, xr.DataArray]:
        options = self.options
        assert isinstance(options, TyphoonOptions)
        coords = region.grid.coords()
        if options.exposure == "dem":
            if options.dem is None:
                raise ModelError(
                    f"model {self.name!r}: options.exposure is 'dem' but options.dem is not "
                    "set; give the DEM (GeoTIFF in EPSG:4326, sea at 0 m) or set "
                    "options.exposure to 'land' or 'sea'"
                )
            fraction = _land_fraction(region.grid, options.dem)
        else:
            value = 1.0 if options.exposure == "land" else 0.0
            fraction = xr.full_like(coords["lat"], value).rename("land_fraction")
        factor = roughness_factor(options.z0_land, options.z0_sea, options.reference_height)
        return mean_wind_factors(fraction, factor), gust_factors(fraction)

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """Signal probabilities, levels, arrival times and winds per community."""
        options = self.options
        assert isinstance(options, TyphoonOptions)
        issue = np.datetime64(issue_time.astimezone(UTC).replace(tzinfo=None), "ns")
        track = inputs["track"]
        if track.sizes["time"] == 0:
            return self._no_storm(track, region, issue, "the track has no fix up to the issue time")
        age = issue - np.datetime64(track["time"].values[-1], "ns")
        if not int(track.attrs.get("is_forecast", 0)) and age > np.timedelta64(options.max_fix_age):
            return self._no_storm(
                track,
                region,
                issue,
                f"the latest fix is {age / np.timedelta64(1, 'h'):g} h old (more than "
                f"options.max_fix_age): the storm is no longer tracked",
            )
        forecast = self._forecast_track(track, issue_time)
        reference = np.asarray(
            forecast.coords["reference_time"].values
            if "reference_time" in forecast.coords
            else forecast["time"].values[-1],
            dtype="datetime64[ns]",
        )
        parameters = storm_parameters(forecast, options.ambient_pressure_hpa)
        parameters = interpolate_parameters(parameters, options.time_step)
        end = issue + np.timedelta64(options.horizon)
        parameters = parameters.sel(
            time=(parameters["time"] >= issue) & (parameters["time"] <= end)
        )
        if parameters.sizes["time"] == 0:
            raise ModelError(
                f"model {self.name!r}: the forecast track "
                f"({forecast.attrs.get('agency', '?')}) ends before the issue time "
                f"{issue_time:%Y-%m-%dT%H:%MZ}; a newer forecast is needed"
            )
        errors = options.track_errors
        if float(forecast.attrs.get("past_motion_hours", 12.0)) <= 0.0:
            errors = options.climatology_track_errors
        members = perturb_parameters(
            parameters, reference, errors, options.members, options.seed
        ).chunk({"member": options.member_chunk})
        parameters = parameters.assign_attrs(ensemble=members.attrs["ensemble"])
        wind, gust, distance = self._community_winds(members, region)
        return self._result(forecast, parameters, wind, gust, distance, region, issue)

    def _community_winds(
        self, members: xr.Dataset, region: Region
    ) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
        """Per member, hour and community: the highest cell's 10-min wind and 3-s gust
        (each cell's exposure applied) and the distance to the storm, computed."""
        options = self.options
        assert isinstance(options, TyphoonOptions)
        mean_factor, gust_factor = self._exposure(region)
        coords = region.grid.coords()
        wind = surface_wind(
            members,
            coords["lat"],
            coords["lon"],
            exposure_factor=mean_factor,
            profile=options.profile,
            asymmetry_fraction=options.asymmetry_fraction,
        )
        gust = (wind * gust_factor).assign_attrs(units="m s-1")
        weights = region.weights
        dims = ("member", "time", "community")
        computed = dask.compute(
            weights.apply(wind.transpose("member", "time", "y", "x"), "max"),
            weights.apply(gust.transpose("member", "time", "y", "x"), "max"),
            storm_distance(members, region.communities["lat"], region.communities["lon"]),
        )
        community_wind, community_gust, distance = (part.transpose(*dims) for part in computed)
        return community_wind, community_gust, distance

    def _no_storm(
        self, track: xr.Dataset, region: Region, issue: np.datetime64, reason: str
    ) -> xr.Dataset:
        """The result when there is no storm to forecast: no hazard anywhere, reason kept."""
        options = self.options
        assert isinstance(options, TyphoonOptions)
        steps = int(options.horizon // options.time_step) + 1
        times = issue + np.arange(steps) * np.timedelta64(options.time_step)
        shape = (1, steps, region.communities.sizes["community"])
        dims = ("member", "time", "community")
        zero = xr.DataArray(np.zeros(shape), dims=dims, coords={"time": times})
        far = xr.full_like(zero, np.inf)
        empty = track.isel(time=slice(0, 0))[["lat", "lon", "psl_min"]]
        parameters = xr.Dataset(attrs={**track.attrs, "track_problems": reason})
        result = self._result(empty, parameters, zero, zero, far, region, issue)
        return result.assign_attrs(no_storm=reason)

    def _event(
        self,
        criterion: Criterion,
        wind: xr.DataArray,
        gust: xr.DataArray,
        distance: xr.DataArray,
    ) -> np.ndarray:
        """Where the criterion's variable meets its threshold (member, time, community)."""
        options = self.options
        assert isinstance(options, TyphoonOptions)
        if criterion.variable == "sfcWind":
            period = criterion.averaging_period or "10 min"
            values = wind.values * conversion_factor("10 min", period, options.criteria_exposure)
        elif criterion.variable == "wsgsmax":
            values = gust.values
        elif criterion.variable == "storm_distance":
            values = distance.values
        else:
            raise ModelError(
                f"model {self.name!r}: a typhoon scheme tests sfcWind, wsgsmax or "
                f"storm_distance, not {criterion.variable!r}"
            )
        threshold = criterion.threshold_value
        compare = {
            ">=": np.greater_equal,
            ">": np.greater,
            "<=": np.less_equal,
            "<": np.less,
        }[criterion.comparison]
        return np.asarray(compare(values, threshold) & np.isfinite(values))

    def _result(
        self,
        forecast: xr.Dataset,
        parameters: xr.Dataset,
        wind: xr.DataArray,
        gust: xr.DataArray,
        distance: xr.DataArray,
        region: Region,
        issue: np.datetime64,
    ) -> xr.Dataset:
        options = self.options
        assert isinstance(options, TyphoonOptions)
        times = np.asarray(wind["time"].values, dtype="datetime64[ns]")
        hours = (times - issue) / np.timedelta64(1, "h")
        levels = self.scheme.levels
        probability = np.zeros((len(levels), wind.sizes["community"], times.size))
        onset = np.full((len(levels), wind.sizes["community"]), np.datetime64("NaT", "ns"))
        for k, level in enumerate(levels):
            within = np.zeros(wind.shape, dtype=bool)  # member, time, community
            first = np.full(wind.shape[::2], np.inf)  # member, community
            for criterion in level.criteria:
                met = self._event(criterion, wind, gust, distance)
                wait = _next_event_hours(np.moveaxis(met, 1, -1), hours)  # m, c, t
                window = criterion.window.total_seconds() / 3600.0
                within |= np.moveaxis(wait <= window, -1, 1)
                first = np.minimum(first, wait[..., 0] + hours[0])
            share = within.mean(axis=0)  # time, community
            probability[k] = share.T
            warranted = (share >= options.warn_probability).any(axis=0)
            onset[k] = np.where(warranted, conditional_median_time(first, issue), onset[k])
        names = [level.name for level in levels]
        ranks = np.array([level.rank for level in levels])
        meets = probability >= options.warn_probability  # level, community, time
        hazard_level = np.where(meets, ranks[:, None, None], 0).max(axis=0)
        index = np.arange(1, len(levels) + 1)[:, None, None]
        signal = np.where(meets, index, 0).max(axis=0)
        lead = times - issue
        dims_clt = ("community", "lead_time", "level")
        thresholds, exceed, arrival, reached = self._threshold_tables(wind, gust, hours, issue)
        windows = [w.total_seconds() / 3600.0 for w in options.windows]
        level_criteria = [" or ".join(c.describe() for c in level.criteria) for level in levels]
        result = xr.Dataset(
            {
                "probability": (
                    dims_clt,
                    np.transpose(probability, (1, 2, 0)),
                    {
                        "units": "1",
                        "long_name": "probability that the level's criteria are met within "
                        "their windows from the lead time",
                        "comment": f"share of {options.members} ensemble members",
                    },
                ),
                "hazard_level": (
                    ("community", "lead_time"),
                    hazard_level.astype(np.int8),
                    {
                        "units": "1",
                        "long_name": f"highest rank with probability >= "
                        f"{options.warn_probability:g}",
                    },
                ),
                "signal": (
                    ("community", "lead_time"),
                    signal.astype(np.int8),
                    {
                        "long_name": "highest signal level warranted (rank-0 advisories too)",
                        "flag_values": np.arange(len(levels) + 1, dtype=np.int8),
                        "flag_meanings": " ".join(["none", *names]),
                    },
                ),
                "onset_time": (
                    ("community", "level"),
                    onset.T,
                    {
                        "long_name": "expected onset: median first time the level's thresholds "
                        "are met, over the members that meet them",
                        "comment": "NaT unless the level is warranted at some lead time",
                    },
                ),
                "exceedance_probability": (
                    ("community", "threshold", "window"),
                    exceed,
                    {
                        "units": "1",
                        "long_name": "probability that the threshold is reached within the "
                        "window from the issue time",
                    },
                ),
                "arrival_time": (
                    ("community", "threshold"),
                    arrival,
                    {
                        "long_name": "expected arrival: median first time over the members "
                        "that reach the threshold within the horizon",
                    },
                ),
                "arrival_probability": (
                    ("community", "threshold"),
                    reached,
                    {"units": "1", "long_name": "probability of reaching it within the horizon"},
                ),
                "wind_speed": (
                    ("community", "lead_time"),
                    wind.mean("member").values.T,
                    {**_WIND_ATTRS, "long_name": "ensemble-mean 10-min wind, highest cell"},
                ),
                "wind_speed_p90": (
                    ("community", "lead_time"),
                    wind.quantile(0.9, "member").values.T,
                    {**_WIND_ATTRS, "long_name": "90th percentile of the members' 10-min wind"},
                ),
                "wind_speed_of_gust": (
                    ("community", "lead_time"),
                    gust.mean("member").values.T,
                    {
                        "units": "m s-1",
                        "standard_name": "wind_speed_of_gust",
                        "long_name": "ensemble-mean 3-s gust, highest cell",
                    },
                ),
                **_track_variables(forecast),
            },
            coords={
                "lead_time": lead,
                "valid_time": ("lead_time", times),
                "level": names,
                "level_rank": ("level", ranks),
                "level_criteria": ("level", level_criteria),
                "threshold": list(thresholds),
                "threshold_value": ("threshold", list(thresholds.values()), {"units": "m s-1"}),
                "window": [f"{w:g} h" for w in windows],
                **{
                    name: ("community", region.communities[name].values)
                    for name in COMMUNITY_COORDS
                },
            },
            attrs={
                "evaluation_time": pd.Timestamp(issue).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "probability_window": "criteria",
                "storm": f"{parameters.attrs.get('storm_name', '')} "
                f"{parameters.attrs.get('storm_id', '')}".strip(),
                "forecast_agency": str(forecast.attrs.get("agency", "")),
                "forecast_reference_time": str(forecast.attrs.get("reference_time", "")),
                "profile": options.profile,
                "members": options.members,
                "ensemble": str(parameters.attrs.get("ensemble", ""))
                or f"{options.members} members; errors: {options.track_errors.source}",
                "track_problems": str(parameters.attrs.get("track_problems", "")),
                "fills": str(parameters.attrs.get("fills", "")),
                "exposure": options.exposure,
                "evidence": (
                    f"forecast track of {forecast.attrs.get('agency', '?')} from "
                    f"{forecast.attrs.get('reference_time', '?')}"
                    + (
                        f" ({forecast.attrs['forecast_method']})"
                        if "forecast_method" in forecast.attrs
                        else ""
                    )
                    + f"; {options.members} members; {options.profile} wind profile"
                ),
            },
        )
        return result

    def _threshold_tables(
        self, wind: xr.DataArray, gust: xr.DataArray, hours: np.ndarray, issue: np.datetime64
    ) -> tuple[dict[str, float], np.ndarray, np.ndarray, np.ndarray]:
        options = self.options
        assert isinstance(options, TyphoonOptions)
        thresholds = {
            label: parse_quantity(text, "m s-1") for label, text in options.thresholds.items()
        }
        n_community = wind.sizes["community"]
        exceed = np.zeros((n_community, len(thresholds), len(options.windows)))
        arrival = np.full((n_community, len(thresholds)), np.datetime64("NaT", "ns"))
        reached = np.zeros((n_community, len(thresholds)))
        for j, (label, value) in enumerate(thresholds.items()):
            values = gust.values if label.startswith("gust") else wind.values
            met = np.moveaxis(values >= value, 1, -1)  # member, community, time
            wait = _next_event_hours(met, hours)[..., 0] + hours[0]  # hours from issue
            for k, window in enumerate(options.windows):
                exceed[:, j, k] = (wait <= window.total_seconds() / 3600.0).mean(axis=0)
            reached[:, j] = np.isfinite(wait).mean(axis=0)
            arrival[:, j] = conditional_median_time(wait, issue)
        return thresholds, exceed, arrival, reached


_WIND_ATTRS = {"units": "m s-1", "standard_name": "wind_speed", "averaging_period": "10 min"}


def _track_variables(forecast: xr.Dataset) -> dict[str, Any]:
    """The forecast track itself, on ``track_time``, for maps and reports."""
    track = forecast[["lat", "lon", "psl_min"]].rename(time="track_time")
    return {
        f"track_{name}": (
            "track_time",
            np.asarray(track[name].values, dtype=float),
            dict(track[name].attrs),
        )
        for name in ("lat", "lon", "psl_min")
    } | {"track_time": ("track_time", np.asarray(track["track_time"].values))}


@lru_cache(maxsize=8)
def _land_fraction(grid: AnalysisGrid, dem: Path) -> xr.DataArray:
    """Land fraction of the grid's cells, built once per grid and DEM."""
    return land_fraction(grid, dem)
