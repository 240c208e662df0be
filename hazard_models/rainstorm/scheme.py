"""What the rainstorm models share about a signal scheme: its windows and result coordinates."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import xarray as xr

from hazard_models.config import Criterion, SignalScheme
from hazard_models.errors import ModelError
from ingest.contracts import COMMUNITY_COORDS

__all__ = ["RainfallCriteria", "format_window", "scheme_coords", "scheme_windows"]


class RainfallCriteria:
    """What a rainfall-window model compares with each criterion's threshold.

    The rainstorm models test the rainfall itself (``pr``); a model that tests something
    derived from it (waterlogging: the rainfall beyond the drainage capacity,
    ``pr_excess``) names that variable and says which rainfall amount meets the criterion.
    """

    criterion_variable: ClassVar[str] = "pr"

    def threshold(self, criterion: Criterion) -> float:
        """The rainfall (mm over the criterion's window) that meets ``criterion``."""
        return criterion.threshold_value


def format_window(window: timedelta) -> str:
    """``"3 h"``, ``"30 min"``: a window as the result's ``window`` labels write it."""
    hours = window.total_seconds() / 3600
    return f"{hours:g} h" if hours >= 1 else f"{hours * 60:g} min"


def scheme_windows(
    scheme: SignalScheme, interval: timedelta, model: str, variable: str = "pr"
) -> list[timedelta]:
    """The scheme's accumulation windows, shortest first; each a whole number of intervals.

    Every criterion must test ``variable`` (rainfall ``pr``; ``pr_excess``, the rainfall
    beyond the drainage capacity, for waterlogging) with ``>=`` or ``>``.

    Raises
    ------
    ModelError
        If a window is not a whole number of the data interval (naming ``model``), or a
        criterion tests something other than ``variable``.
    """
    for level in scheme.levels:
        for criterion in level.criteria:
            if criterion.variable != variable or criterion.comparison not in (">=", ">"):
                raise ModelError(
                    f"model {model!r}: level {level.name!r} tests {criterion.describe()}; "
                    f"this model tests {variable} over a window (comparison >= or >)"
                )
    windows = sorted({c.window for level in scheme.levels for c in level.criteria})
    for window in windows:
        if window % interval:
            raise ModelError(
                f"model {model!r}: window {format_window(window)} is not a whole number of "
                f"the data interval {format_window(interval)}; use data with a shorter "
                "interval or a scheme whose windows fit it"
            )
    return windows


def scheme_coords(
    scheme: SignalScheme, windows: list[timedelta], communities: xr.Dataset
) -> dict[str, Any]:
    """Coordinates every rainstorm result carries: level ranks and criteria, window
    lengths and the community layer's identifiers and codes."""
    return {
        "level_rank": ("level", [level.rank for level in scheme.levels]),
        "level_criteria": (
            "level",
            [" or ".join(c.describe() for c in level.criteria) for level in scheme.levels],
        ),
        "window_seconds": ("window", [w.total_seconds() for w in windows]),
        **{name: ("community", communities[name].values) for name in COMMUNITY_COORDS},
    }
