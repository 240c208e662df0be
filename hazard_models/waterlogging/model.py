"""Waterlogging models: the rainstorm models' rainfall against the drainage capacity.

``waterlogging-observed`` and ``waterlogging-nowcast`` are the observed-accumulation and
the radar-nowcast rainstorm models (same inputs, same windows, same per-community
aggregation, same ensemble) with one difference: a waterlogging scheme's criteria test
``pr_excess``, the rainfall over the window beyond what the drains carry
(:func:`~hazard_models.waterlogging.drainage.drainage_excess`), so a criterion
``pr_excess over 1 h >= 10 mm`` with a drainage capacity of 20 mm h-1 is met by 30 mm of
rain in the hour. The result adds ``drainage_excess`` (mm, per window; for the nowcast the
excess of the ensemble-mean rainfall) as the evidence, and names the capacity and its
source.

Run in the same cycle as the rainstorm nowcast on the same radar frames and options, the
waterlogging nowcast reuses its ensemble (:func:`hazard_models.rainstorm.nowcast`'s
cache): one ensemble per cycle, two hazards.

The capacity is configuration with its source (``drainage_capacity``,
``drainage_source``): the design rain rate of the city's storm drains. Nothing here knows
a city's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

import xarray as xr
from pydantic import Field

from hazard_models.config import Criterion, MillimetresPerHour
from hazard_models.interface import ModelOptions, register_model
from hazard_models.rainstorm.nowcast import NowcastModel, NowcastOptions
from hazard_models.rainstorm.observed import (
    ObservedAccumulationModel,
    ObservedAccumulationOptions,
)
from hazard_models.rainstorm.scheme import RainfallCriteria
from hazard_models.region import Region
from hazard_models.waterlogging.drainage import capacity_depth, drainage_excess

__all__ = [
    "DrainageOptions",
    "NowcastWaterloggingModel",
    "NowcastWaterloggingOptions",
    "ObservedWaterloggingModel",
    "ObservedWaterloggingOptions",
]


class DrainageOptions(ModelOptions):
    """The drainage system a waterlogging model measures rainfall against."""

    drainage_capacity: MillimetresPerHour = Field(
        gt=0, description="design rain rate the storm drains carry, e.g. '20 mm h-1'"
    )
    drainage_source: str = Field(
        min_length=3, description="where the capacity comes from (design standard, utility)"
    )


class ObservedWaterloggingOptions(ObservedAccumulationOptions, DrainageOptions):
    """Options of ``waterlogging-observed``: the observed model's plus the drainage."""


class NowcastWaterloggingOptions(NowcastOptions, DrainageOptions):
    """Options of ``waterlogging-nowcast``: the nowcast's plus the drainage."""


class _DrainageCriteria(RainfallCriteria):
    """Criteria on ``pr_excess``: the rainfall that meets one is threshold + capacity."""

    criterion_variable: ClassVar[str] = "pr_excess"
    options: ModelOptions

    def threshold(self, criterion: Criterion) -> float:
        """Rainfall (mm over the window) whose excess meets ``criterion``."""
        assert isinstance(self.options, DrainageOptions)
        capacity = self.options.drainage_capacity
        return criterion.threshold_value + capacity_depth(capacity, criterion.window)

    def _with_excess(self, result: xr.Dataset) -> xr.Dataset:
        """``result`` with ``drainage_excess`` per window and the capacity's provenance."""
        assert isinstance(self.options, DrainageOptions)
        capacity = self.options.drainage_capacity
        hours = result["window_seconds"] / 3600
        excess = drainage_excess(result["accumulation"], capacity, hours)
        excess.attrs = {
            "units": "mm",
            "long_name": "rainfall over the window beyond the drainage capacity",
            "comment": (
                f"accumulation - {capacity:g} mm h-1 x window, at least 0 "
                f"({result['accumulation'].attrs.get('long_name', 'rainfall')})"
            ),
        }
        return result.assign(drainage_excess=excess).assign_attrs(
            drainage_capacity=f"{capacity:g} mm h-1",
            drainage_source=self.options.drainage_source,
        )


@register_model
class ObservedWaterloggingModel(_DrainageCriteria, ObservedAccumulationModel):
    """Observed rainfall beyond the drainage capacity, per community."""

    name = "waterlogging-observed"
    hazard = "waterlogging"
    version = "0.1.0"
    Options: ClassVar[type[ModelOptions]] = ObservedWaterloggingOptions

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """The observed model's result plus the drainage excess."""
        return self._with_excess(super().compute(inputs, region, issue_time))


@register_model
class NowcastWaterloggingModel(_DrainageCriteria, NowcastModel):
    """Probability that nowcast rainfall exceeds the drainage capacity, per community."""

    name = "waterlogging-nowcast"
    hazard = "waterlogging"
    version = "0.1.0"
    Options: ClassVar[type[ModelOptions]] = NowcastWaterloggingOptions

    def compute(
        self, inputs: Mapping[str, xr.Dataset], region: Region, issue_time: datetime
    ) -> xr.Dataset:
        """The nowcast's result plus the drainage excess of the ensemble-mean rainfall."""
        return self._with_excess(super().compute(inputs, region, issue_time))
