"""Probabilistic verification of yes/no events: Brier score, skill, reliability.

``probability`` is the forecast probability of the event (0-1), ``observed`` the outcome
(boolean, or 1.0/0.0 with NaN where missing). Pairs where either is missing are left out
of every sum.

References
----------
Brier, G. W., 1950: Verification of forecasts expressed in terms of probability.
*Mon. Wea. Rev.*, 78, 1-3.

Murphy, A. H., 1973: A new vector partition of the probability score. *J. Appl.
Meteor.*, 12, 595-600.

Wilks, D. S., 2011: *Statistical Methods in the Atmospheric Sciences*, 3rd ed., Academic
Press, Section 8.4 (the Brier score, its algebraic decomposition, the reliability
diagram).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "BrierDecomposition",
    "brier_decomposition",
    "brier_score",
    "brier_skill_score",
    "reliability_table",
]

Dims = str | Sequence[Hashable] | None


def _pairs(
    probability: xr.DataArray | np.ndarray, observed: xr.DataArray | np.ndarray
) -> tuple[xr.DataArray, xr.DataArray]:
    """Probability and outcome (float, 1/0) as DataArrays, NaN where either is missing."""
    if not isinstance(probability, xr.DataArray):
        values = np.asarray(probability, dtype=float)
        probability = xr.DataArray(values, dims=[f"dim_{i}" for i in range(values.ndim)])
    if not isinstance(observed, xr.DataArray):
        values = np.asarray(observed, dtype=float)
        observed = xr.DataArray(values, dims=[f"dim_{i}" for i in range(values.ndim)])
    outcome = observed.astype(float)
    valid = probability.notnull() & outcome.notnull()
    return probability.where(valid), outcome.where(valid)


def brier_score(
    probability: xr.DataArray | np.ndarray,
    observed: xr.DataArray | np.ndarray,
    dim: Dims = None,
) -> xr.DataArray:
    """Brier score: the mean squared error of probability forecasts of an event.

    Parameters
    ----------
    probability
        Forecast probability of the event, 0-1.
    observed
        Outcome: ``True``/1 where the event happened, ``False``/0 where not, NaN missing.
    dim
        Dimension(s) to average over; ``None`` averages over all.

    Returns
    -------
    xr.DataArray
        ``BS = (1/n) sum (p_k - o_k)^2`` (Brier 1950; Wilks 2011, Section
        8.4.2), 0 for a perfect forecast; NaN where no pair is present.

    Examples
    --------
    >>> float(brier_score([0.9, 0.1, 0.6], [1, 0, 0]))  # (0.01 + 0.01 + 0.36) / 3
    0.12666666666666668
    """
    forecast, outcome = _pairs(probability, observed)
    return ((forecast - outcome) ** 2).mean(dim, skipna=True)


def brier_skill_score(
    probability: xr.DataArray | np.ndarray,
    observed: xr.DataArray | np.ndarray,
    climatology: float | xr.DataArray | None = None,
    dim: Dims = None,
) -> xr.DataArray:
    """Brier skill score against a constant climatological probability.

    Parameters
    ----------
    probability, observed, dim
        As in :func:`brier_score`.
    climatology
        The reference probability (e.g. the long-term base rate of the event). ``None``
        uses the sample base rate ``o_bar``, whose Brier score is the uncertainty term
        ``o_bar (1 - o_bar)``.

    Returns
    -------
    xr.DataArray
        ``BSS = 1 - BS / BS_ref`` (Wilks 2011, Section 8.4.2): 1 perfect, 0 no better than
        climatology, negative worse; NaN where ``BS_ref`` is 0 (e.g. the event never or
        always happened and the reference is the sample base rate).
    """
    forecast, outcome = _pairs(probability, observed)
    score = ((forecast - outcome) ** 2).mean(dim, skipna=True)
    if climatology is None:
        base_rate = outcome.mean(dim, skipna=True)
        reference = base_rate * (1.0 - base_rate)
    else:
        reference_forecast = xr.zeros_like(forecast) + climatology
        reference = ((reference_forecast.where(forecast.notnull()) - outcome) ** 2).mean(
            dim, skipna=True
        )
    return 1.0 - score / reference.where(reference != 0)


def _bin_edges(bins: int | Sequence[float]) -> np.ndarray:
    if isinstance(bins, int):
        if bins < 1:
            raise ValueError(f"bins={bins} must be a positive number of bins")
        return np.linspace(0.0, 1.0, bins + 1)
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins={list(edges)} must be increasing edges, at least two")
    if edges[0] > 0.0 or edges[-1] < 1.0:
        raise ValueError(f"bins={list(edges)} must cover [0, 1]")
    return edges


def reliability_table(
    probability: xr.DataArray | np.ndarray,
    observed: xr.DataArray | np.ndarray,
    bins: int | Sequence[float] = 10,
) -> pd.DataFrame:
    """Observed frequency of the event per bin of forecast probability.

    Parameters
    ----------
    probability, observed
        As in :func:`brier_score`; all pairs are pooled (computes dask inputs).
    bins
        Number of equal-width bins on [0, 1], or the bin edges. Bins are closed on the
        left, ``[lower, upper)``, except the last, which includes 1.

    Returns
    -------
    pd.DataFrame
        One row per bin, columns ``bin_lower``, ``bin_upper``, ``count`` (pairs in the
        bin), ``forecast_mean`` (mean forecast probability in the bin) and
        ``observed_frequency`` (share of those pairs where the event happened); the two
        means are NaN for an empty bin. Plotted against each other they are the
        reliability diagram (Wilks 2011, Section 8.4.4).

    Examples
    --------
    >>> table = reliability_table([0.05, 0.05, 0.95, 0.95], [0, 1, 1, 1], bins=2)
    >>> table[["count", "observed_frequency"]].values.tolist()
    [[2.0, 0.5], [2.0, 1.0]]
    """
    forecast, outcome = _pairs(probability, observed)
    flat_forecast = np.asarray(forecast.values, dtype=float).ravel()
    flat_outcome = np.asarray(outcome.values, dtype=float).ravel()
    keep = np.isfinite(flat_forecast) & np.isfinite(flat_outcome)
    flat_forecast, flat_outcome = flat_forecast[keep], flat_outcome[keep]
    if np.any((flat_forecast < 0.0) | (flat_forecast > 1.0)):
        raise ValueError("probability has values outside [0, 1]; pass probabilities, not %")
    edges = _bin_edges(bins)
    n_bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, flat_forecast, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(index, minlength=n_bins).astype(float)
    forecast_sum = np.bincount(index, weights=flat_forecast, minlength=n_bins)
    event_sum = np.bincount(index, weights=flat_outcome, minlength=n_bins)
    occupied = count > 0
    safe_count = np.where(occupied, count, 1.0)
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "count": count,
            "forecast_mean": np.where(occupied, forecast_sum / safe_count, np.nan),
            "observed_frequency": np.where(occupied, event_sum / safe_count, np.nan),
        }
    )


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy's (1973) partition ``BS = reliability - resolution + uncertainty``."""

    brier_score: float
    reliability: float
    resolution: float
    uncertainty: float


def brier_decomposition(
    probability: xr.DataArray | np.ndarray,
    observed: xr.DataArray | np.ndarray,
    bins: int | Sequence[float] = 10,
) -> BrierDecomposition:
    """Reliability, resolution and uncertainty terms of the Brier score.

    Parameters
    ----------
    probability, observed, bins
        As in :func:`reliability_table`.

    Returns
    -------
    BrierDecomposition
        With ``n`` pairs, ``N_i`` pairs in bin ``i``, ``y_i`` their mean forecast,
        ``o_i`` their observed frequency and ``o_bar`` the overall base rate
        (Murphy 1973; Wilks 2011, Section 8.4.3):

        - ``reliability = (1/n) sum N_i (y_i - o_i)^2``
        - ``resolution = (1/n) sum N_i (o_i - o_bar)^2``
        - ``uncertainty = o_bar (1 - o_bar)``

    Notes
    -----
    ``brier_score == reliability - resolution + uncertainty`` holds exactly when the
    forecasts within each bin are all equal (forecasts issued as discrete values, one
    per bin, as in Wilks' treatment); with continuous probabilities binned, the identity
    is off by the within-bin variance and covariance terms (Stephenson, Coelho and
    Jolliffe 2008, *Wea. Forecasting*, 23, 752-757). ``brier_score`` here is always the
    exact score of the pairs, not the sum of the terms.
    """
    table = reliability_table(probability, observed, bins)
    occupied = table[table["count"] > 0]
    n = float(occupied["count"].sum())
    if n == 0:
        nan = float("nan")
        return BrierDecomposition(nan, nan, nan, nan)
    base_rate = float((occupied["count"] * occupied["observed_frequency"]).sum()) / n
    weights = occupied["count"].to_numpy()
    mean_forecast = occupied["forecast_mean"].to_numpy()
    frequency = occupied["observed_frequency"].to_numpy()
    reliability = float(np.sum(weights * (mean_forecast - frequency) ** 2)) / n
    resolution = float(np.sum(weights * (frequency - base_rate) ** 2)) / n
    return BrierDecomposition(
        brier_score=float(brier_score(probability, observed)),
        reliability=reliability,
        resolution=resolution,
        uncertainty=base_rate * (1.0 - base_rate),
    )
