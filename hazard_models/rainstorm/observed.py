"""Rainstorm, observed accumulation: the reference model of the framework.

At issue time ``T`` the model sums the rainfall observed over each window the signal scheme
uses (1/3/6/12 h ...), per community, and reports which levels' criteria are met ("reached
and continuing" in the CMA wording). It is the observed half of every rainstorm warning and
the truth the nowcast is verified against.

Steps: (1) put the input on a regular time axis ending at the last label at or before
``T`` (missing intervals become NaN, never zero); (2) aggregate to communities, with the
region's cached grid weights or, for stations, the nearest station within
``station_radius``; (3) trailing sums per window with the share of intervals present;
(4) compare with each level's criteria. A criterion is *met* when the available rain alone
reaches it; it is *not met* only when enough of the window has data
(``min_coverage``); otherwise its probability is NaN (unknown) and the hazard level does
not count it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field

from hazard_models.aggregation import (
    AggregationWeights,
    all_station_weights,
    nearest_station_weights,
)
from hazard_models.config import Duration, Kilometres
from hazard_models.errors import ModelError
from hazard_models.interface import HazardModel, InputSpec, ModelOptions, register_model
from hazard_models.rainstorm.accumulation import (
    exceeds,
    onset_of_ongoing_exceedance,
    regular_series,
    rolling_accumulation,
)
from hazard_models.rainstorm.memo import ResultMemo
from hazard_models.rainstorm.scheme import (
    RainfallCriteria,
    format_window,
    scheme_coords,
    scheme_windows,
)
from hazard_models.region import Region
from ingest.contracts import accumulation_interval

__all__ = ["ObservedAccumulationModel", "ObservedAccumulationOptions"]

_Sums = tuple[dict[timedelta, xr.DataArray], dict[timedelta, xr.DataArray]]
_ACCUMULATIONS: ResultMemo[_Sums] = ResultMemo(size=2)


class ObservedAccumulationOptions(ModelOptions):
    """Options of the observed-accumulation model."""

    areal_statistic: Literal["mean", "max"] = Field(
        "mean", description="area-weighted mean or maximum of the grid cells in a community"
    )
    station_radius: Kilometres | None = Field(
        None, description="stations: nearest station within this distance (e.g. '10 km')"
    )
    stations: Literal["nearest", "all"] = Field(
        "nearest",
        description=(
            "stations: 'nearest' within station_radius, or 'all': every station counts for "
            "every community (named areas without coordinates, a region warned as a whole)"
        ),
    )
    max_age: Duration | None = Field(
        None,
        description=(
            "how old the latest report may be at the issue time and still be evaluated "
            "(default one data interval); a feed that arrives late after its window needs more"
        ),
    )
    lookback: Duration = Field(
        default_factory=lambda: timedelta(hours=24),
        description="how far back the onset of an ongoing exceedance is searched",
    )
    min_coverage: float = Field(
        1.0, ge=0, le=1, description="share of a window with data needed to say 'not met'"
    )


@register_model
class ObservedAccumulationModel(RainfallCriteria, HazardModel):
    """Observed rainfall accumulations per community against a rainstorm signal scheme."""

    name = "rainstorm-observed"
    hazard = "rainstorm"
    version = "1.0.0"
    inputs: ClassVar[Mapping[str, InputSpec]] = {
        "pr": InputSpec(
            contracts=("gridded field", "station observations"),
            variables=("pr",),
            description="rainfall per interval (radar QPE, gridded analysis or gauges)",
        )
    }
    Options: ClassVar[type[ModelOptions]] = ObservedAccumulationOptions

    def _weights(self, dataset: xr.Dataset, region: Region) -> AggregationWeights:
        options = self.options
        assert isinstance(options, ObservedAccumulationOptions)
        if "station" in dataset.dims:
            if options.stations == "all":
                return all_station_weights(
                    region.communities.sizes["community"], dataset.sizes["station"]
                )
            if options.station_radius is None:
                raise ModelError(
                    f"model {self.name!r}: station input needs options.station_radius "
                    "(e.g. '10 km'), the distance within which a gauge represents a community"
                )
            weights, _ = nearest_station_weights(
                region.communities["lon"].values,
                region.communities["lat"].values,
                dataset["lon"].values,
                dataset["lat"].values,
                options.station_radius,
            )
            return weights
        if not region.grid.matches(dataset):
            raise ModelError(
                f"model {self.name!r}: the rainfall grid ({dataset.sizes.get('y')}x"
                f"{dataset.sizes.get('x')}) is not the analysis grid of {region.name} "
                f"{region.grid.shape}; regrid it in ingest first"
            )
        return region.weights

    def _accumulate(
        self,
        pr: xr.DataArray,
        weights: AggregationWeights,
        windows: list[timedelta],
        interval: timedelta,
    ) -> tuple[dict[timedelta, xr.DataArray], dict[timedelta, xr.DataArray]]:
        """Per-community trailing accumulations and their data coverage for each window.

        An areal mean is linear, so the field is aggregated first and summed in time
        (cheap). An areal maximum is not: the wettest cell over three hours is not the sum
        of each hour's wettest cell, so sums are taken per cell, then the maximum.
        """
        options = self.options
        assert isinstance(options, ObservedAccumulationOptions)
        accumulation, coverage = {}, {}
        if options.areal_statistic == "mean":
            areal = weights.apply(pr, "mean").transpose("community", "time")
            areal.attrs = {}
            for window in windows:
                accumulation[window], coverage[window] = rolling_accumulation(
                    areal, window // interval
                )
            return accumulation, coverage
        for window in windows:
            total, share = rolling_accumulation(pr, window // interval)
            total.attrs = {}
            accumulation[window] = weights.apply(total, "max").transpose("community", "time")
            coverage[window] = weights.apply(share, "mean").transpose("community", "time")
        return accumulation, coverage

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """Accumulations, criteria, levels and onsets at the last data time ≤ ``issue_time``."""
        options = self.options
        assert isinstance(options, ObservedAccumulationOptions)
        dataset = inputs["pr"]
        interval = accumulation_interval(dataset, "pr")
        windows = scheme_windows(self.scheme, interval, self.name, self.criterion_variable)
        span = windows[-1] + options.lookback
        # Before the input's first time every window is empty (NaN: not met, coverage 0), so
        # the axis starts there at the earliest: the same levels, onsets and coverage at the
        # last step, without summing hours of NaN frames every cycle.
        since_first = pd.Timestamp(issue_time).tz_convert(None) - pd.Timestamp(
            dataset["time"].values.min()
        )
        span = min(span, (since_first // interval + 1) * interval)
        pr = regular_series(
            dataset["pr"], interval, issue_time, span, self.name, max_age=options.max_age
        )
        weights = self._weights(dataset, region)
        # The waterlogging model sums the same rainfall over the same windows in the same
        # cycle: the second one reuses the sums (memo keyed by the rainfall's values).
        accumulation, coverage = _ACCUMULATIONS.get_or_compute(
            (pr.data, pr["time"].values),
            (options.areal_statistic, windows, interval),
            weights,
            lambda: self._accumulate(pr, weights, windows, interval),
        )
        template = next(iter(accumulation.values()))

        level_met, level_known, onsets = [], [], []
        for level in self.scheme.levels:
            met = xr.zeros_like(template, dtype=bool)
            known = xr.ones_like(template, dtype=bool)
            for criterion in level.criteria:
                met = met | exceeds(
                    accumulation[criterion.window], self.threshold(criterion), criterion.comparison
                )
                known = known & (coverage[criterion.window] >= options.min_coverage)
            level_met.append(met.isel(time=-1))
            level_known.append((met | known).isel(time=-1))
            onsets.append(onset_of_ongoing_exceedance(met))
        names = [level.name for level in self.scheme.levels]
        met_now = xr.concat(level_met, dim="level").assign_coords(level=names)
        known_now = xr.concat(level_known, dim="level").assign_coords(level=names)
        probability = xr.where(met_now, 1.0, xr.where(known_now, 0.0, np.nan))
        ranks = xr.DataArray(
            [level.rank for level in self.scheme.levels], dims="level", coords={"level": names}
        )
        hazard_level = (ranks * met_now).max("level").astype(np.int8)

        window_names = [format_window(w) for w in windows]
        evaluation_time = pr["time"].values[-1]
        stacked = xr.concat([accumulation[w].isel(time=-1) for w in windows], dim="window")
        stacked_coverage = xr.concat([coverage[w].isel(time=-1) for w in windows], dim="window")
        lead = ("lead_time", np.array([0], dtype="timedelta64[ns]"))
        result = xr.Dataset(
            {
                "probability": probability.transpose("community", "level")
                .expand_dims(lead_time=1, axis=1)
                .assign_attrs(
                    units="1",
                    long_name="probability that the level's criteria are met",
                    comment="observed model: 1 met, 0 not met, NaN unknown (data missing)",
                ),
                "hazard_level": hazard_level.expand_dims(lead_time=1, axis=1).assign_attrs(
                    long_name="highest level whose criteria are met", units="1"
                ),
                "onset_time": xr.concat(onsets, dim="level")
                .assign_coords(level=names)
                .transpose("community", "level")
                .assign_attrs(
                    long_name="start of the ongoing exceedance (data time)",
                    comment=f"searched back {format_window(options.lookback)}; NaT if not met",
                ),
                "accumulation": stacked.assign_coords(window=window_names)
                .transpose("community", "window")
                .expand_dims(lead_time=1, axis=1)
                .assign_attrs(
                    units="mm",
                    standard_name="precipitation_amount",
                    long_name="observed rainfall over the trailing window",
                    cell_methods=f"area: {options.areal_statistic} time: sum",
                ),
                "accumulation_coverage": stacked_coverage.assign_coords(window=window_names)
                .transpose("community", "window")
                .expand_dims(lead_time=1, axis=1)
                .assign_attrs(units="1", long_name="share of the window with data"),
            },
            coords={
                "lead_time": lead,
                "valid_time": ("lead_time", [np.datetime64(evaluation_time, "ns")]),
                **scheme_coords(self.scheme, windows, region.communities),
            },
            attrs={
                "evaluation_time": pd.Timestamp(evaluation_time).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "areal_statistic": options.areal_statistic,
                "data_interval": format_window(interval),
            },
        )
        return result
