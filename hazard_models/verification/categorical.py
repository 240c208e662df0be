"""Categorical (yes/no) verification: the 2 x 2 contingency table and its scores.

Notation follows Wilks (2011, Section 8.2): ``a`` hits (forecast yes, observed yes),
``b`` false alarms (yes, no), ``c`` misses (no, yes), ``d`` correct negatives (no, no),
``n = a + b + c + d``. Counts are summed over the dimensions asked for, so a table per
lead time is ``contingency_table(forecast, observed, dim=("y", "x"))``. Every score is
NaN, never an exception and never 0, when its denominator is zero (e.g. POD when no
event was observed).

References
----------
Wilks, D. S., 2011: *Statistical Methods in the Atmospheric Sciences*, 3rd ed., Academic
Press, Section 8.2 (nonprobabilistic forecasts of discrete predictands).

Jolliffe, I. T., and D. B. Stephenson, Eds., 2012: *Forecast Verification: A
Practitioner's Guide in Atmospheric Science*, 2nd ed., Wiley, Chapter 3.

Ebert, E., and others: *Forecast verification methods across time and space scales*,
WWRP/WGNE Joint Working Group on Forecast Verification Research,
https://www.cawcr.gov.au/projects/verification/ (the Finley tornado example).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import xarray as xr

__all__ = ["ContingencyTable", "contingency_from_threshold", "contingency_table"]

Count = float | xr.DataArray
Dims = str | Sequence[Hashable] | None


def _ratio(numerator: Count, denominator: Count) -> Count:
    """``numerator / denominator``, NaN where the denominator is zero (lazy-safe)."""
    if isinstance(denominator, xr.DataArray):
        return numerator / denominator.where(denominator != 0)
    if denominator == 0:
        return numerator * np.nan
    return numerator / denominator


@dataclass(frozen=True)
class ContingencyTable:
    """Contingency table of a yes/no forecast against yes/no observations.

    Each count is a number or an ``xr.DataArray`` (one table per element, e.g. per lead
    time); the scores are computed element-wise and stay lazy on dask-backed counts.

    Parameters
    ----------
    hits
        ``a``: event forecast and observed.
    misses
        ``c``: event observed, not forecast.
    false_alarms
        ``b``: event forecast, not observed.
    correct_negatives
        ``d``: event neither forecast nor observed.

    Notes
    -----
    With ``n = a + b + c + d`` (Wilks 2011, Section 8.2.2):

    - ``pod = a / (a + c)`` (hit rate, probability of detection)
    - ``far = b / (a + b)`` (false alarm *ratio*)
    - ``pofd = b / (b + d)`` (probability of false detection, false alarm *rate*)
    - ``csi = a / (a + b + c)`` (threat score, critical success index)
    - ``frequency_bias = (a + b) / (a + c)``
    - ``accuracy = (a + d) / n`` (proportion correct)
    - ``hss = 2 (a d - b c) / ((a + c)(c + d) + (a + b)(b + d))`` (Heidke)
    - ``ets = (a - a_r) / (a + b + c - a_r)``, ``a_r = (a + b)(a + c) / n`` (Gilbert)
    - ``peirce_skill_score = pod - pofd`` (Hanssen-Kuipers, true skill statistic)

    Examples
    --------
    Finley's (1884) tornado forecasts, as tabulated by the WWRP/WGNE verification page:

    >>> finley = ContingencyTable(hits=28, misses=23, false_alarms=72, correct_negatives=2680)
    >>> round(finley.accuracy, 3), round(finley.far, 2), round(finley.csi, 2)
    (0.966, 0.72, 0.23)
    """

    hits: Count
    misses: Count
    false_alarms: Count
    correct_negatives: Count

    @property
    def total(self) -> Count:
        """``n``: the number of forecast-observation pairs."""
        return self.hits + self.misses + self.false_alarms + self.correct_negatives

    @property
    def pod(self) -> Count:
        """Probability of detection (hit rate), ``a / (a + c)``."""
        return _ratio(self.hits, self.hits + self.misses)

    @property
    def far(self) -> Count:
        """False alarm ratio, ``b / (a + b)``: the share of "yes" forecasts that failed."""
        return _ratio(self.false_alarms, self.hits + self.false_alarms)

    @property
    def pofd(self) -> Count:
        """Probability of false detection (false alarm rate), ``b / (b + d)``."""
        return _ratio(self.false_alarms, self.false_alarms + self.correct_negatives)

    @property
    def csi(self) -> Count:
        """Critical success index (threat score), ``a / (a + b + c)``."""
        return _ratio(self.hits, self.hits + self.false_alarms + self.misses)

    @property
    def frequency_bias(self) -> Count:
        """Frequency bias, ``(a + b) / (a + c)``: forecast events per observed event."""
        return _ratio(self.hits + self.false_alarms, self.hits + self.misses)

    @property
    def accuracy(self) -> Count:
        """Proportion correct, ``(a + d) / n``."""
        return _ratio(self.hits + self.correct_negatives, self.total)

    @property
    def hss(self) -> Count:
        """Heidke skill score, ``2 (ad - bc) / ((a + c)(c + d) + (a + b)(b + d))``."""
        a, b, c, d = self.hits, self.false_alarms, self.misses, self.correct_negatives
        return _ratio(2 * (a * d - b * c), (a + c) * (c + d) + (a + b) * (b + d))

    @property
    def ets(self) -> Count:
        """Equitable threat score (Gilbert skill score), hits corrected for chance."""
        a, b, c = self.hits, self.false_alarms, self.misses
        random_hits = _ratio((a + b) * (a + c), self.total)
        return _ratio(a - random_hits, a + b + c - random_hits)

    @property
    def peirce_skill_score(self) -> Count:
        """Peirce skill score (Hanssen-Kuipers discriminant), ``pod - pofd``."""
        return self.pod - self.pofd


def _as_array(values: xr.DataArray | np.ndarray, name: str) -> xr.DataArray:
    if isinstance(values, xr.DataArray):
        return values
    array = np.asarray(values)
    return xr.DataArray(array, dims=[f"dim_{axis}" for axis in range(array.ndim)], name=name)


def contingency_table(
    forecast: xr.DataArray | np.ndarray,
    observed: xr.DataArray | np.ndarray,
    mask: xr.DataArray | np.ndarray | None = None,
    dim: Dims = None,
) -> ContingencyTable:
    """Contingency table of boolean forecasts against boolean observations.

    Parameters
    ----------
    forecast, observed
        Boolean arrays of the same shape (or DataArrays that broadcast): ``True`` where
        the event is forecast / observed.
    mask
        Optional boolean array, ``True`` where a pair counts; pairs outside are ignored.
    dim
        Dimension(s) to sum over (DataArrays); ``None`` sums over all of them. Plain
        numpy arrays get dimensions ``dim_0, dim_1, ...``.

    Returns
    -------
    ContingencyTable
        Counts as DataArrays over the dimensions not summed (0-d when all are summed);
        lazy when the inputs are dask-backed.

    Raises
    ------
    TypeError
        If an input is not boolean: thresholding a float field (and dropping NaN) is
        :func:`contingency_from_threshold`'s job.
    """
    forecast_da = _as_array(forecast, "forecast")
    observed_da = _as_array(observed, "observed")
    for name, values in (("forecast", forecast_da), ("observed", observed_da)):
        if values.dtype != bool:
            raise TypeError(
                f"{name} has dtype {values.dtype}, not bool; threshold float fields with "
                "contingency_from_threshold(forecast, observed, threshold)"
            )
    valid: xr.DataArray | bool = True
    if mask is not None:
        valid = _as_array(mask, "mask").astype(bool)
    no_forecast = ~forecast_da
    no_event = ~observed_da
    return ContingencyTable(
        hits=(forecast_da & observed_da & valid).sum(dim),
        misses=(no_forecast & observed_da & valid).sum(dim),
        false_alarms=(forecast_da & no_event & valid).sum(dim),
        correct_negatives=(no_forecast & no_event & valid).sum(dim),
    )


def contingency_from_threshold(
    forecast: xr.DataArray | np.ndarray,
    observed: xr.DataArray | np.ndarray,
    threshold: float,
    dim: Dims = None,
    comparison: Literal[">=", ">"] = ">=",
) -> ContingencyTable:
    """Contingency table of two float fields against one threshold, NaN pairs excluded.

    Parameters
    ----------
    forecast, observed
        Float fields in the same units as ``threshold``; NaN where missing.
    threshold
        The criterion (e.g. 30.0 for 30 mm h-1), in the fields' units.
    dim
        Dimension(s) to sum over; ``None`` sums over all.
    comparison
        ``">="`` (default) or ``">"``: the event is ``value >= threshold`` or
        ``value > threshold`` (Hong Kong's signals are "exceeding", i.e. ``">"``).

    Returns
    -------
    ContingencyTable
        Counts over the pairs where *both* forecast and observation are present.
    """
    if comparison not in (">=", ">"):
        raise ValueError(f"comparison {comparison!r} is not '>=' or '>'")
    forecast_da = _as_array(forecast, "forecast")
    observed_da = _as_array(observed, "observed")
    valid = forecast_da.notnull() & observed_da.notnull()
    if comparison == ">=":
        forecast_yes, observed_yes = forecast_da >= threshold, observed_da >= threshold
    else:
        forecast_yes, observed_yes = forecast_da > threshold, observed_da > threshold
    return contingency_table(forecast_yes, observed_yes, mask=valid, dim=dim)
