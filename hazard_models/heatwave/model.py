"""The heat model: 2 m temperature (and humidity) → heat signal probabilities per community.

Registered as ``heatwave-outlook`` (hazard ``heatwave``). Inputs, each a gridded field of
``tas`` (degC) and, where the scheme or a subscriber needs the heat index, ``hurs`` (%):

``analysis`` (optional)
    What was observed: analyses (a reanalysis, an objective analysis of the station
    network) valid up to the issue time. A field with ``reference_time`` and
    ``lead_time`` contributes the shortest lead of each run (lead 0 of an analysis).
``forecast`` (optional)
    An NWP forecast: the latest run available at the issue time (``reference_time`` ≤
    issue time), its lead times as valid times, its ``member`` dimension if an ensemble.

The analyses may also be station observations (the city's weather stations, e.g. the
HKO feed): the stations with coordinates are gridded to the analysis grid by inverse
distance (:func:`ingest.gridding.grid_stations`, ``station_gridding``); where the stations
have elevations and the communities ``elevation_mean`` (a DEM in the community layer), the
temperature is carried to sea level and back to each community's mean height with
``lapse_rate`` (6.5 K km-1, the standard atmosphere), so that a hill station does not cool
the coast nor a coastal one warm the hills.

At least one is needed. With ``baseline: diurnal-persistence`` and no ``forecast``, the
forecast is made from the analyses themselves (:mod:`hazard_models.heatwave.persistence`,
``baseline_members`` past days repeated to the ``horizon``): the reference an NWP-driven
outlook must beat, and how replays without NWP temperature look ahead.

A field on another grid is interpolated (bilinear, or nearest) to
the region's analysis grid from its ``lat``/``lon``; cells outside it stay missing. Then,
per community (area-weighted mean of the cells, or their maximum), one series of samples:
the analyses up to the issue time, the forecast after the last analysis (or, without
analyses, the whole forecast run, whose earlier steps were known at the issue time too).

Criteria (``hazard_models.config.Criterion`` with ``variable`` ``tas`` or ``heat_index``)
    ``tas over 1 d >= 37 degC`` holds at time ``t`` when the highest sample in the 24 h
    ending at ``t`` meets the threshold (CMA orange: "24 h max ≥ 37 °C");
    ``tas over 3 d >= 35 degC`` when each of the three 24-h periods ending at ``t``,
    ``t - 24 h`` and ``t - 48 h`` does (CMA yellow: "daily maximum ≥ 35 °C on 3
    consecutive days"). A criterion is therefore *met* once the heat it describes has been
    reached, the same trailing-window reading as the rainstorm models' accumulations; a
    24-h period reaching before the data is judged on the samples it has (a lower bound);
    a period with no sample is not met. A forecast every 3 or 6 h can miss the afternoon
    peak between its steps: the maxima are those of the samples given.

Result (the hazard-result contract plus)
    At ``lead_time`` 0, ``time_step``, … up to the last sample or ``horizon``:
    ``probability(community, lead_time, level)``, the share of members (1 for a
    deterministic forecast or analyses alone: 0 or 1) meeting the level's criteria at that
    valid time; ``hazard_level``, the highest rank whose probability reaches
    ``warn_probability``; ``onset_time(community, level)``, the median first time the level
    is met over the members that meet it (NaT unless warranted); ``tas`` and
    ``heat_index`` (ensemble mean, linearly interpolated in time between samples, the last
    sample held for one ``time_step``: the analysis of an hour ago stands for now) and
    ``tas_max``/``heat_index_max`` (ensemble mean of the 24-h maximum ending at the valid
    time), in degC. ``heat_index`` is there only when every input has ``hurs``.

No heat is no hazard: a cool day gives level 0 everywhere, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field

from hazard_models.config import HEAT_VARIABLES, Criterion, Duration, KelvinPerKilometre
from hazard_models.errors import ModelError
from hazard_models.grid import AnalysisGrid
from hazard_models.heatwave.indices import consecutive_periods_met, heat_index, trailing_maximum
from hazard_models.heatwave.persistence import diurnal_persistence
from hazard_models.interface import (
    HazardModel,
    InputSpec,
    ModelOptions,
    input_contract,
    register_model,
)
from hazard_models.region import Region
from hazard_models.timing import conditional_median_time
from ingest.contracts import COMMUNITY_COORDS
from ingest.gridding import IdwConfig, build_idw_weights, grid_stations

__all__ = ["HeatOptions", "HeatwaveModel"]

_DAY = np.timedelta64(24, "h")
_COMPARE = {">=": np.greater_equal, ">": np.greater}


class HeatOptions(ModelOptions):
    """Options of ``heatwave-outlook`` (all optional)."""

    horizon: Duration = Field(
        default=timedelta(hours=72), description="last lead time evaluated (at most)"
    )
    time_step: Duration = Field(default=timedelta(hours=1), description="lead-time step")
    lookback: Duration = Field(
        default=timedelta(hours=72),
        description="history used before the issue time; a criterion over n days needs n x 24 h",
    )
    areal_statistic: Literal["mean", "max"] = Field(
        default="mean", description="community value: area-weighted mean or hottest cell"
    )
    warn_probability: float = Field(default=0.5, gt=0.0, le=1.0)
    interpolation: Literal["linear", "nearest"] = Field(
        default="linear", description="from a field's own lat/lon grid to the analysis grid"
    )
    baseline: Literal["none", "diurnal-persistence"] = Field(
        default="none",
        description="without a 'forecast' input, forecast from the analyses themselves "
        "(hazard_models.heatwave.persistence) to the horizon",
    )
    baseline_members: int = Field(default=5, ge=1, le=30, description="past days repeated")
    station_gridding: IdwConfig = Field(
        default_factory=lambda: IdwConfig(radius="20 km"),
        description="how station analyses are gridded (inverse distance)",
    )
    lapse_rate: KelvinPerKilometre = Field(
        default=6.5,
        ge=0.0,
        le=10.0,
        description="temperature decrease with height for station analyses, e.g. '6.5 K km-1'",
    )


def _on_grid(
    field: xr.DataArray,
    grid: AnalysisGrid,
    method: Literal["linear", "nearest"],
    source: str,
) -> xr.DataArray:
    """``field`` (``..., y, x``) on the analysis grid, interpolated from its lat/lon."""
    if grid.matches(field):
        return field
    lat, lon = field.coords.get("lat"), field.coords.get("lon")
    if lat is None or lon is None or lat.dims != ("y",) or lon.dims != ("x",):
        raise ModelError(
            f"heatwave-outlook: input {source!r} is not on the region's analysis grid and has "
            "no 1-D lat/lon to interpolate from; regrid it to the analysis grid at ingest"
        )
    plain = field.drop_vars([n for n in field.coords if n not in field.dims or n in ("y", "x")])
    plain = plain.rename(y="source_lat", x="source_lon").assign_coords(
        source_lat=lat.values, source_lon=lon.values
    )
    plain = plain.sortby("source_lat").sortby("source_lon")
    target = grid.coords()
    return plain.interp(
        source_lat=target["lat"].variable,
        source_lon=target["lon"].variable,
        method=method,
    ).assign_attrs(field.attrs)


def _valid_time_series(dataset: xr.Dataset, latest_run: bool) -> xr.Dataset:
    """``dataset`` along one ``time`` dimension of valid times, increasing.

    A forecast (``latest_run``) keeps its latest run; analyses keep the shortest lead of
    every run, the later run where two give the same valid time.
    """
    if "reference_time" in dataset.dims:
        if latest_run:
            dataset = dataset.isel(reference_time=-1)
            valid = dataset["reference_time"].values + dataset["lead_time"].values
            dataset = dataset.drop_vars(["reference_time", "valid_time"], errors="ignore")
            dataset = dataset.assign_coords(time=("lead_time", valid)).swap_dims(lead_time="time")
            dataset = dataset.drop_vars("lead_time")
        else:
            dataset = dataset.isel(lead_time=int(np.argmin(dataset["lead_time"].values)))
            valid = dataset["reference_time"].values + dataset["lead_time"].values
            dataset = dataset.drop_vars(["lead_time", "valid_time"], errors="ignore")
            dataset = dataset.assign_coords(time=("reference_time", valid)).swap_dims(
                reference_time="time"
            )
            dataset = dataset.drop_vars("reference_time")
    if "time" not in dataset.dims:
        raise ModelError("heatwave-outlook: a gridded input needs a time or reference_time axis")
    dataset = dataset.sortby("time")
    _, last = np.unique(dataset["time"].values[::-1], return_index=True)
    return dataset.isel(time=np.sort(dataset.sizes["time"] - 1 - last))


@register_model
class HeatwaveModel(HazardModel):
    """Heat signals per community from analysed and forecast 2 m temperature."""

    name = "heatwave-outlook"
    hazard = "heatwave"
    version = "0.1.0"
    inputs: ClassVar[Mapping[str, InputSpec]] = {
        "analysis": InputSpec(
            ("gridded field", "station observations"),
            ("tas",),
            "analysed or observed 2 m temperature (and hurs) valid up to the issue time",
            optional=True,
        ),
        "forecast": InputSpec(
            ("gridded field",),
            ("tas",),
            "NWP 2 m temperature (and hurs) forecast, latest run up to the issue time",
            optional=True,
        ),
    }
    Options = HeatOptions

    def _criteria(self) -> list[tuple[int, Criterion, int]]:
        """(level index, criterion, number of 24-h periods) of every criterion, checked."""
        checked = []
        for k, level in enumerate(self.scheme.levels):
            for criterion in level.criteria:
                periods = criterion.window / timedelta(hours=24)
                if (
                    criterion.variable not in HEAT_VARIABLES
                    or criterion.comparison not in _COMPARE
                    or periods != int(periods)
                ):
                    raise ModelError(
                        f"model {self.name!r}: level {level.name!r} tests "
                        f"{criterion.describe()}; a heat scheme tests tas or heat_index over "
                        "a whole number of days ('1 d', '3 d') with >= or >"
                    )
                checked.append((k, criterion, int(periods)))
        return checked

    def _community_series(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue: np.datetime64
    ) -> tuple[np.ndarray, dict[str, np.ndarray], list[str], np.datetime64]:
        """Sample times, per variable the (member, community, time) community series, the
        evidence, and the time of the latest data (analysis, or the forecast's run)."""
        options = self.options
        assert isinstance(options, HeatOptions)
        start = issue - np.timedelta64(options.lookback)
        end = issue + np.timedelta64(options.horizon)
        parts: list[xr.Dataset] = []
        evidence: list[str] = []
        known: list[np.datetime64] = []  # the latest analysis, the forecast's reference time
        names = [name for name in ("analysis", "forecast") if name in inputs]
        with_hurs = all("hurs" in inputs[name].data_vars for name in names)
        variables = ["tas", "hurs"] if with_hurs else ["tas"]
        for name in names:
            dataset, heights = inputs[name], None
            if input_contract(dataset) == "station observations":
                dataset, heights = self._stations_on_grid(dataset, variables, region, evidence)
            series = _valid_time_series(dataset[variables], latest_run=name == "forecast")
            times = series["time"].values
            keep = (times > start) & (times <= (issue if name == "analysis" else end))
            if parts:
                keep &= times > parts[-1]["time"].values[-1]
            series = series.isel(time=np.flatnonzero(keep))
            if series.sizes["time"] == 0:
                continue
            community = xr.Dataset(
                {
                    variable: region.weights.apply(
                        _on_grid(series[variable], region.grid, options.interpolation, name),
                        options.areal_statistic,
                    )
                    for variable in variables
                }
            )
            if heights is not None:  # back from sea level to the communities' heights
                community["tas"] = community["tas"] - options.lapse_rate / 1000.0 * heights
            if "member" not in community.dims:
                community = community.expand_dims("member")
            parts.append(community.transpose("member", "community", "time").compute())
            span = pd.DatetimeIndex(series["time"].values)
            runs = inputs[name].coords.get("reference_time")
            known.append(
                np.datetime64(runs.values.max(), "ns")
                if name == "forecast" and runs is not None
                else np.asarray(span[-1:].values, dtype="datetime64[ns]")[0]
            )
            evidence.append(
                f"{name}: {inputs[name].attrs.get('source', '?')}, {series.sizes['time']} "
                f"steps {span[0]:%Y-%m-%dT%H:%MZ} to {span[-1]:%Y-%m-%dT%H:%MZ}"
            )
        if not parts:
            raise ModelError(
                f"model {self.name!r}: no analysis or forecast of tas from "
                f"{options.lookback} before to {options.horizon} after the issue time "
                f"{pd.Timestamp(issue):%Y-%m-%dT%H:%MZ}; map 'analysis' and/or 'forecast' "
                "to a source under hazards.<name>.inputs and check what it holds"
            )
        members = max(part.sizes["member"] for part in parts)
        if len(parts) == 2 and min(part.sizes["member"] for part in parts) not in (1, members):
            raise ModelError(f"model {self.name!r}: analysis and forecast have different members")
        joined = xr.concat(
            [
                part if part.sizes["member"] == members else part.isel(member=[0] * members)
                for part in parts
            ],
            dim="time",
            coords="minimal",
            compat="override",
        )
        arrays = {"tas": np.asarray(joined["tas"].values, dtype=float)}
        if with_hurs:
            arrays["heat_index"] = np.asarray(
                heat_index(
                    joined["tas"].assign_attrs(units="degC"),
                    joined["hurs"].assign_attrs(units="%"),
                ).values
            )
        times = np.asarray(joined["time"].values, dtype="datetime64[ns]")
        return times, arrays, evidence, max(known)

    def _stations_on_grid(
        self, obs: xr.Dataset, variables: list[str], region: Region, evidence: list[str]
    ) -> tuple[xr.Dataset, xr.DataArray | None]:
        """Station analyses gridded to the analysis grid, and the community heights (m) to
        bring the temperature back to when it was carried to sea level (else ``None``)."""
        options = self.options
        assert isinstance(options, HeatOptions)
        located = np.isfinite(obs["lat"].values) & np.isfinite(obs["lon"].values)
        if not located.any():
            raise ModelError(
                f"model {self.name!r}: no station of the analysis has coordinates; give the "
                "source its station metadata (lat, lon, elevation)"
            )
        kept = [
            name
            for variable in variables
            for name in (variable, f"{variable}_flag", f"{variable}_qc")
            if name in obs.data_vars
        ]
        obs = obs[kept].isel(station=np.flatnonzero(located))
        elevation = np.asarray(obs["elevation"].values, dtype=float)
        heights = region.communities.get("elevation_mean")
        adjust = options.lapse_rate > 0 and heights is not None and np.isfinite(elevation).all()
        if adjust:
            sea_level = obs["tas"] + options.lapse_rate / 1000.0 * obs["elevation"]
            obs = obs.assign(tas=sea_level.assign_attrs(obs["tas"].attrs))
        lon, lat = region.grid.lonlat()
        grid_coords = {name: region.grid.coords()[name] for name in ("y", "x")}
        weights = build_idw_weights(
            np.asarray(obs["lon"].values),
            np.asarray(obs["lat"].values),
            lon,
            lat,
            options.station_gridding,
        )
        fields = {
            variable: grid_stations(
                obs,
                variable,
                lon,
                lat,
                coords=grid_coords,
                weights=weights,
            )[variable]
            for variable in variables
        }
        left_out = int((~located).sum())
        evidence.append(
            f"{obs.sizes['station']} stations gridded by inverse distance "
            f"(radius {options.station_gridding.radius})"
            + (f", {left_out} without coordinates left out" if left_out else "")
            + (
                f", temperature by {options.lapse_rate:g} K km-1 to the communities' heights"
                if adjust
                else ", no height correction (station or community heights unknown)"
            )
        )
        return xr.Dataset(fields, attrs=obs.attrs), heights if adjust else None

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """Heat levels, probabilities, onset and temperatures per community."""
        options = self.options
        assert isinstance(options, HeatOptions)
        if not any(name in inputs for name in self.inputs):
            raise ModelError(
                f"model {self.name!r} needs an 'analysis' or a 'forecast' of tas; map one to "
                "a source under hazards.<name>.inputs"
            )
        criteria = self._criteria()
        issue = np.datetime64(issue_time.astimezone(UTC).replace(tzinfo=None), "ns")
        if options.baseline == "diurnal-persistence" and "forecast" not in inputs:
            if "analysis" not in inputs:
                raise ModelError(
                    f"model {self.name!r}: options.baseline 'diurnal-persistence' forecasts "
                    "from the analyses; map 'analysis' to a source"
                )
            forecast = diurnal_persistence(
                inputs["analysis"], issue_time, options.baseline_members, options.horizon
            )
            inputs = {**inputs, "forecast": forecast}
        times, series, evidence, data_until = self._community_series(inputs, region, issue)
        missing = sorted({c.variable for _, c, _ in criteria} - set(series))
        if missing:
            raise ModelError(
                f"model {self.name!r}: the scheme tests {missing} but an input lacks hurs "
                "(relative humidity, %); give hurs in every input or test tas only"
            )
        step = np.timedelta64(options.time_step)
        steps = int(max(times[-1] - issue, np.timedelta64(0)) // step)
        steps = min(steps, int(np.timedelta64(options.horizon) // step))
        at = issue + np.arange(steps + 1) * step
        # Per variable, the 24-h maxima ending at each evaluation time (k = 0), a day
        # earlier (k = 1) ...: as many days back as its longest criterion needs.
        days_back = {name: 1 for name in series}
        for _, criterion, periods in criteria:
            days_back[criterion.variable] = max(days_back[criterion.variable], periods)
        maxima = {
            name: [trailing_maximum(series[name], times, at - k * _DAY, _DAY) for k in range(n)]
            for name, n in days_back.items()
        }
        members, n_community = series["tas"].shape[:2]
        met = np.zeros((len(self.scheme.levels), members, n_community, at.size), dtype=bool)
        for k, criterion, periods in criteria:
            met[k] |= consecutive_periods_met(
                maxima[criterion.variable][:periods],
                criterion.threshold_value,
                _COMPARE[criterion.comparison],
            )
        daily = {name: days[0] for name, days in maxima.items()}
        result = self._result(met, series, daily, times, at, issue, region, evidence)
        return result.assign_attrs(
            evaluation_time=pd.Timestamp(data_until).strftime("%Y-%m-%dT%H:%M:%SZ")
        )

    def _result(
        self,
        met: np.ndarray,
        series: dict[str, np.ndarray],
        daily: dict[str, np.ndarray],
        times: np.ndarray,
        at: np.ndarray,
        issue: np.datetime64,
        region: Region,
        evidence: list[str],
    ) -> xr.Dataset:
        options = self.options
        assert isinstance(options, HeatOptions)
        levels = self.scheme.levels
        known = np.isfinite(daily["tas"]).any(axis=0)
        probability = np.where(known[None], met.mean(axis=1), np.nan)  # level, community, time
        ranks = np.array([level.rank for level in levels])
        warranted = np.nan_to_num(probability) >= options.warn_probability
        hazard_level = np.where(warranted, ranks[:, None, None], 0).max(axis=0)
        hours = (at - issue) / np.timedelta64(1, "h")
        onset = np.full((len(levels), known.shape[0]), np.datetime64("NaT", "ns"))
        for k in range(len(levels)):
            first = np.where(met[k], hours, np.inf).min(axis=-1)  # member, community
            median = conditional_median_time(first, issue)
            onset[k] = np.where(warranted[k].any(axis=-1), median, onset[k])
        temperatures: dict[str, Any] = {}
        hold = np.timedelta64(options.time_step)
        for name, values in series.items():
            label = "air temperature" if name == "tas" else "heat index"
            attrs = {"units": "degC", "cell_methods": f"community: {options.areal_statistic}"}
            temperatures[name] = (
                ("community", "lead_time"),
                _interpolate_in_time(values, times, at, hold).mean(axis=0),
                {
                    **attrs,
                    "long_name": f"{label}, ensemble mean",
                    "comment": "linear between samples; the last sample held for one time step",
                },
            )
            temperatures[f"{name}_max"] = (
                ("community", "lead_time"),
                _member_mean(daily[name]),
                {**attrs, "long_name": f"ensemble mean of the 24-h maximum {label}"},
            )
        names = [level.name for level in levels]
        members = met.shape[1]
        return xr.Dataset(
            {
                "probability": (
                    ("community", "lead_time", "level"),
                    np.transpose(probability, (1, 2, 0)),
                    {
                        "units": "1",
                        "long_name": "probability that the level's criteria are met at the "
                        "valid time (24-h maxima ending then)",
                        "comment": f"share of {members} member(s); NaN: no data for the community",
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
                "onset_time": (
                    ("community", "level"),
                    onset.T,
                    {
                        "long_name": "expected onset: median first time the level's criteria "
                        "are met, over the members that meet them",
                        "comment": "NaT unless the level is warranted at some lead time",
                    },
                ),
                **temperatures,
            },
            coords={
                "lead_time": at - issue,
                "valid_time": ("lead_time", at),
                "level": names,
                "level_rank": ("level", ranks),
                "level_criteria": (
                    "level",
                    [" or ".join(c.describe() for c in level.criteria) for level in levels],
                ),
                **{
                    name: ("community", region.communities[name].values)
                    for name in COMMUNITY_COORDS
                },
            },
            attrs={
                "members": members,
                "evidence": "; ".join(evidence),
            },
        )


def _interpolate_in_time(
    values: np.ndarray, times: np.ndarray, at: np.ndarray, hold: np.timedelta64
) -> np.ndarray:
    """``values`` (..., time) linearly interpolated to ``at``, the last sample held for up to
    ``hold`` after it; NaN elsewhere outside the samples or next to a missing one."""
    out = np.full((*values.shape[:-1], at.size), np.nan)
    held = (at > times[-1]) & (at - times[-1] <= hold)
    out[..., held] = values[..., -1:]
    inside = (at >= times[0]) & (at <= times[-1])
    if times.size == 1:
        out[..., inside] = values[..., :1]
        return out
    left = np.clip(np.searchsorted(times, at, side="right") - 1, 0, times.size - 2)
    span = (times[left + 1] - times[left]) / np.timedelta64(1, "s")
    weight = np.clip((at - times[left]) / np.timedelta64(1, "s") / span, 0.0, 1.0)
    lower, upper = values[..., left], values[..., left + 1]
    blended = np.where(weight == 0.0, lower, lower * (1.0 - weight) + upper * weight)
    blended = np.where(weight == 1.0, upper, blended)
    return np.where(inside, blended, out)


def _member_mean(values: np.ndarray) -> np.ndarray:
    """Mean over members (axis 0) of the finite values; NaN where a community has none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
