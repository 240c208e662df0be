"""Impact forecasts for sector operators: their assets, their thresholds, one hazard result.

Each cycle a caller gets the subscribed assets a hazard reaches
(:meth:`~alerting.subscriptions.store.SubscriptionStore.assets_matching`) and passes them,
with the hazard result and the community layer, to :func:`assess`. For every asset and
rule it returns either an :class:`ImpactForecast` (the rule is met) or an
:class:`Unassessed` record saying why the result cannot answer the rule. A rule that is
evaluated and not met gives neither, unless the caller names it in ``not_met`` (an impact
forecast of it is in force): then it is an :class:`ImpactForecast` with ``met=False``, the
end of that forecast. Nothing is read from or written to a database here.

Where an asset is
    The communities whose polygon intersects the asset or comes within its buffer
    (:func:`asset_communities`, the distance of
    :func:`~alerting.subscriptions.geometry.within_distance`). The rule is evaluated in each
    of them and the worst is kept: the highest probability, the highest value and the
    earliest time, each taken on its own. An asset that reaches no community is not
    assessed: each of its rules comes back as :class:`Unassessed`.

How a rule is answered (``basis`` names the variable and the selection)
    *With* ``min_probability``: a probability of reaching the threshold within the window
    from the result's issue time. The ``typhoon-ensemble`` result gives
    ``exceedance_probability(community, threshold, window)`` at fixed thresholds (labels
    starting with ``gust`` are the 3-s gust, ``wsgsmax``; the others the 10-min mean wind,
    ``sfcWind``) and windows, and ``arrival_probability`` within its whole horizon. A rule
    at a computed threshold and window is answered exactly. Otherwise it is answered
    **conservatively**: the probability at the next *lower* computed threshold of the same
    kind and the next *longer* computed window (or the horizon) is an upper bound of the
    rule's probability, and the forecast says so (``bound="upper"``): a subscriber is
    rather told too often than missed. Where no upper bound exists (a threshold below every
    computed one, a window past the horizon) the next *higher* threshold and *shorter*
    window give a lower bound: if it reaches ``min_probability`` the rule is met
    (``bound="lower"``); if not, the rule is unassessed, as it is when neither bound
    exists. The
    expected first time is the result's ``arrival_time`` at the threshold used (median
    first time over the members that reach it within the horizon; the earliest over the
    asset's communities), so it may fall after the window.

    *Without* ``min_probability``: a deterministic value, the highest value of the
    variable over the lead times in the window, and the first valid time it meets the
    comparison. ``sfcWind`` reads ``wind_speed`` and ``wsgsmax`` reads
    ``wind_speed_of_gust`` (typhoon ensemble means); ``pr`` reads a rainstorm result's
    ``accumulation`` over its ``1 h`` window as an hourly rain rate; any other variable a
    result holds under the rule's own name, on (community, lead_time), is read directly.
    A window past the forecast's last lead time is evaluated on the leads there are: met is
    met; not met is unassessed (the rest of the window is unknown).

    A probability the result does not give (e.g. a rain-rate threshold of a rainstorm
    nowcast, whose probabilities are per signal level), a variable it does not hold, a
    rule for another hazard and the ``probability`` variable (which does not say of what)
    are unassessed, with the reason and what would answer it.

Units and averaging periods
    Rules hold thresholds in the units of :data:`~alerting.subscriptions.request.VARIABLES`
    (m s-1, mm h-1, degC, m); result values are converted to them from their ``units``
    attribute before any comparison, and a variable without units is unassessed. A
    subscriber's ``sfcWind`` threshold is a **10-min mean** (a rule has no field for
    another period): it is compared only with a wind whose ``averaging_period`` is
    ``10 min`` (and with the typhoon model's mean-wind thresholds, which are 10-min means);
    ``wsgsmax`` is the 3-s gust. The ``>`` and ``>=`` comparisons are answered by the same
    probability of reaching the threshold (a continuous wind equals it with probability 0).

Sending only changes
    :attr:`ImpactForecast.state_key` changes only when the impact does: the probability in
    tenths (or the value in tenths of the threshold), the first time to the hour, the bound.

The records and their texts are in :mod:`alerting.impact_records`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import shapely
import xarray as xr
from shapely.strtree import STRtree

from alerting.impact_records import (
    Bound,
    ImpactForecast,
    Unassessed,
    parse_window,
    rule_threshold,
)
from alerting.subscriptions.geometry import envelope, within_distance
from alerting.subscriptions.request import VARIABLES, Asset, Rule
from alerting.subscriptions.store import AssetMatch
from ingest.units import UnitsError, convert

__all__ = [
    "CommunityIndex",
    "ImpactForecast",
    "Unassessed",
    "assess",
    "asset_communities",
    "impact_forecasts",
]

_THRESHOLD_TOLERANCE = 0.005  # in the variable's unit: thresholds are written to 0.01 or so

# -- where an asset is -------------------------------------------------------------------


class CommunityIndex:
    """The community polygons in a spatial index, built once and queried per asset.

    Parameters
    ----------
    communities
        A community layer with ``community_id`` and ``geometry_wkt`` (lon/lat WKT).
    """

    def __init__(self, communities: xr.Dataset) -> None:
        for name in ("community_id", "geometry_wkt"):
            if name not in communities.variables:
                raise ValueError(
                    f"the community layer has no {name!r}; pass the region's community "
                    "layer (Region.communities), not a hazard result"
                )
        self.ids = np.asarray(communities["community_id"].values).astype(str)
        self.shapes = shapely.from_wkt(np.asarray(communities["geometry_wkt"].values))
        self._tree = STRtree(self.shapes)

    def communities(self, asset: Asset) -> tuple[str, ...]:
        """Ids of the communities ``asset`` reaches, in the layer's order."""
        shape = asset.geometry.to_shapely()
        buffer_m = asset.buffer_m
        if buffer_m <= 0.0:
            hits = self._tree.query(shape, predicate="intersects")
        else:
            box = shapely.box(*envelope(shape, buffer_m))
            candidates = self._tree.query(box, predicate="intersects")
            hits = np.array(
                [i for i in candidates if within_distance(shape, buffer_m, self.shapes[i])],
                dtype=int,
            )
        return tuple(self.ids[np.sort(hits)].tolist())


def asset_communities(asset: Asset, communities: xr.Dataset) -> tuple[str, ...]:
    """Return the ids of the communities ``asset`` intersects or has within its buffer.

    An empty tuple when it reaches none. For many assets build a :class:`CommunityIndex`
    once instead.
    """
    return CommunityIndex(communities).communities(asset)


# -- answering one rule ------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    probability: float | None = None
    value: float | None = None
    units: str | None = None
    first_time: datetime | None = None
    basis: str = ""
    bound: Bound = "exact"
    met: bool = False
    reason: str | None = None


def _unanswered(reason: str) -> _Answer:
    return _Answer(reason=reason)


def _utc(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_localize("UTC").to_pydatetime()


def _earliest(times: np.ndarray) -> datetime | None:
    times = np.asarray(times, dtype="datetime64[ns]").ravel()
    times = times[~np.isnat(times)]
    return _utc(times.min()) if times.size else None


def _units_of(variable: xr.DataArray, name: str, target: str) -> tuple[float, str | None]:
    """Factor from ``variable``'s units to ``target`` (no offsets), or a reason."""
    units = variable.attrs.get("units")
    if not units:
        return math.nan, f"the result's {name!r} has no units attribute; it cannot be compared"
    try:
        return float(convert(1.0, str(units), target)), None
    except UnitsError:
        return math.nan, f"the result's {name!r} is in {units!r}, not convertible to {target}"


def _threshold_kind(label: str) -> str:
    return "wsgsmax" if label.startswith("gust") else "sfcWind"


def _probability(
    result: xr.Dataset, rows: np.ndarray, rule: Rule, start: np.datetime64, horizon: timedelta
) -> _Answer:
    """A probability rule from ``exceedance_probability`` / ``arrival_probability``."""
    name = f"{rule.variable} {rule.comparison} {rule.threshold} within {rule.within}"
    if "exceedance_probability" not in result or rule.variable not in ("sfcWind", "wsgsmax"):
        return _unanswered(
            f"the {result.attrs.get('model', '?')} result gives no probability for {name} "
            "(its probabilities are per signal level); drop min_probability to be told of the "
            "forecast value, or subscribe to a threshold the model computes"
        )
    if rule.variable == "sfcWind" and result.get("wind_speed") is not None:
        period = result["wind_speed"].attrs.get("averaging_period")
        if period != "10 min":
            return _unanswered(
                f"the result's mean wind is a {period!r} mean; a sfcWind rule is a 10-min mean"
            )
    factor, problem = _units_of(result["threshold_value"], "threshold_value", "m s-1")
    if problem is not None:
        return _unanswered(problem)
    labels = [str(label) for label in result["threshold"].values]
    values = np.asarray(result["threshold_value"].values, dtype=float) * factor
    same_kind = [
        (value, j)
        for j, (label, value) in enumerate(zip(labels, values, strict=True))
        if _threshold_kind(label) == rule.variable
    ]
    target = rule_threshold(rule)
    computed = ", ".join(f"{value:g}" for value, _ in sorted(same_kind)) or "none"
    windows = [(parse_window(str(w)), k) for k, w in enumerate(result["window"].values)]
    if "arrival_probability" in result:
        windows.append((horizon, -1))  # reaching it at all within the horizon
    within = parse_window(rule.within)
    # Upper bound (or exact): a lower-or-equal threshold within a longer-or-equal window.
    lower = [(v, j) for v, j in same_kind if v <= target + _THRESHOLD_TOLERANCE]
    longer = [(w, k) for w, k in windows if w >= within]
    if lower and longer:
        (value, j), (window, k) = max(lower), min(longer)
        exact = abs(value - target) <= _THRESHOLD_TOLERANCE and window == within
        return _probability_answer(result, rows, rule, j, k, "exact" if exact else "upper")
    # Lower bound: a higher threshold within a shorter window. Met is met; else unknown.
    higher = [(v, j) for v, j in same_kind if v >= target - _THRESHOLD_TOLERANCE]
    shorter = [(w, k) for w, k in windows if w <= within]
    if higher and shorter:
        (value, j), (window, k) = min(higher), max(shorter)
        answer = _probability_answer(result, rows, rule, j, k, "lower")
        if answer.met or answer.reason is not None:
            return answer
        return _unanswered(
            f"{name}: the model computes {rule.variable} thresholds of {computed} m s-1 "
            f"within {_format(window)} at most; the lower bound "
            f"{answer.probability:.2g} from {answer.basis.removeprefix('lower bound from ')} "
            "does not reach min_probability, and the rule's own probability is unknown"
        )
    return _unanswered(
        f"{name}: the model computes {rule.variable} thresholds of {computed} m s-1 within "
        f"windows of up to {_format(horizon)} only; the rule's probability cannot be bounded"
    )


def _probability_answer(
    result: xr.Dataset, rows: np.ndarray, rule: Rule, j: int, k: int, bound: Bound
) -> _Answer:
    """The probability at computed threshold ``j`` and window ``k`` (-1: the horizon)."""
    value = float(result["threshold_value"].values[j])
    units = result["threshold_value"].attrs.get("units", "?")
    described = f"threshold={value:g} {units} ({result['threshold'].values[j]})"
    if k < 0:
        probabilities = result["arrival_probability"].isel(community=rows, threshold=j).values
        where = f"arrival_probability[{described}, window=the forecast horizon]"
    else:
        table = result["exceedance_probability"]
        probabilities = table.isel(community=rows, threshold=j, window=k).values
        where = f"exceedance_probability[{described}, window={result['window'].values[k]}]"
    probabilities = np.asarray(probabilities, dtype=float)
    if not np.isfinite(probabilities).any():
        return _unanswered(f"{where} is unknown (NaN) at this asset")
    probability = float(np.nanmax(probabilities))
    first = None
    if "arrival_time" in result:
        first = _earliest(result["arrival_time"].isel(community=rows, threshold=j).values)
    assert rule.min_probability is not None
    return _Answer(
        probability=probability,
        first_time=first,
        basis=where if bound == "exact" else f"{bound} bound from {where}",
        bound=bound,
        met=probability >= rule.min_probability,
    )


def _format(duration: timedelta) -> str:
    return f"{duration.total_seconds() / 3600:g} h"


def _deterministic_source(
    result: xr.Dataset, rule: Rule
) -> tuple[xr.DataArray | None, str, str | None]:
    """The (community, lead_time) series answering ``rule``, its basis, or a reason."""
    variable = rule.variable
    if variable == "probability":
        return (
            None,
            "",
            (
                "a rule on 'probability' does not say of what; use a threshold on the hazard's "
                "variable with min_probability instead"
            ),
        )
    if variable == "sfcWind" and "wind_speed" in result:
        series = result["wind_speed"]
        period = series.attrs.get("averaging_period")
        if period != "10 min":
            return (
                None,
                "",
                (f"the result's wind_speed is a {period!r} mean; a sfcWind rule is a 10-min mean"),
            )
        return series, "wind_speed (ensemble mean, 10-min)", None
    if variable == "wsgsmax" and "wind_speed_of_gust" in result:
        return result["wind_speed_of_gust"], "wind_speed_of_gust (ensemble mean)", None
    if variable == "pr" and "accumulation" in result and "window" in result.dims:
        labels = [str(label) for label in result["window"].values]
        hourly = [label for label in labels if parse_window(label) == timedelta(hours=1)]
        if not hourly:
            return (
                None,
                "",
                (
                    f"a rain rate in mm h-1 is read from a 1 h accumulation; the result has "
                    f"windows {labels} only"
                ),
            )
        series = result["accumulation"].sel(window=hourly[0])
        return series, f"accumulation[window={hourly[0]}] / 1 h", None
    if variable in result.data_vars and set(result[variable].dims) == {"community", "lead_time"}:
        return result[variable], variable, None
    return (
        None,
        "",
        (
            f"the {result.attrs.get('model', '?')} result does not hold {variable!r}; no "
            "forecast of it is available from this hazard"
        ),
    )


def _deterministic(
    result: xr.Dataset, rows: np.ndarray, rule: Rule, start: np.datetime64, horizon: timedelta
) -> _Answer:
    """A rule without min_probability: the highest value in the window and when it is met."""
    series, basis, reason = _deterministic_source(result, rule)
    if series is None or reason is not None:
        return _unanswered(reason or "no source")
    target_units = VARIABLES[rule.variable].units
    source_units = str(series.attrs.get("units", ""))
    if rule.variable == "pr" and basis.startswith("accumulation"):
        source_units = f"{source_units} h-1" if source_units else ""  # a total over 1 h
    if not source_units:
        return _unanswered(f"the result's {basis} has no units; it cannot be compared")
    valid = np.asarray(result["valid_time"].values, dtype="datetime64[ns]")
    end = start + np.timedelta64(parse_window(rule.within))
    leads = np.flatnonzero(valid <= end)
    if leads.size == 0:
        return _unanswered(f"the result has no lead time within {rule.within}")
    raw = np.asarray(
        series.isel(community=rows, lead_time=leads).transpose("community", "lead_time").values,
        dtype=float,
    )
    try:
        values = np.asarray(convert(raw, source_units, target_units), dtype=float)
    except UnitsError:
        return _unanswered(
            f"the result's {basis} is in {source_units!r}, not convertible to {target_units}"
        )
    if not np.isfinite(values).any():
        return _unanswered(f"{basis} is unknown (NaN) at this asset within {rule.within}")
    peak = float(np.nanmax(values))
    threshold = rule_threshold(rule)
    meets = values >= threshold if rule.comparison == ">=" else values > threshold
    first = _earliest(np.where(meets.any(axis=0), valid[leads], np.datetime64("NaT", "ns")))
    met = peak >= threshold if rule.comparison == ">=" else peak > threshold
    if not met and parse_window(rule.within) > horizon:
        return _unanswered(
            f"{rule.variable} is not met in the {_format(horizon)} the forecast covers, and "
            f"the rule's {rule.within} window goes beyond it"
        )
    return _Answer(
        value=peak,
        units=target_units,
        first_time=first,
        basis=f"max of {basis} over valid times to +{rule.within}",
        met=met,
    )


# -- the cycle ---------------------------------------------------------------------------


def _result_issue(result: xr.Dataset, issue_time: datetime) -> np.datetime64:
    text = result.attrs.get("issue_time") or result.attrs.get("evaluation_time")
    when = pd.Timestamp(text) if text else pd.Timestamp(issue_time)
    when = when.tz_convert("UTC") if when.tzinfo is not None else when.tz_localize("UTC")
    return np.datetime64(int(when.value), "ns")


def assess(
    result: xr.Dataset,
    communities: xr.Dataset,
    matches: Sequence[AssetMatch],
    issue_time: datetime,
    not_met: Collection[tuple[str, str, int]] = (),
) -> tuple[list[ImpactForecast], list[Unassessed]]:
    """Impact forecasts for the matched assets' rules met by ``result``, and those unanswered.

    Parameters
    ----------
    result
        One hazard result (``community``, ``lead_time``; may be dask-backed: only the
        small per-asset selections are computed).
    communities
        The community layer of the result's region (``community_id``, ``geometry_wkt``).
    matches
        From :meth:`SubscriptionStore.assets_matching` for the result's hazard.
    issue_time
        When the forecasts are issued (aware). Windows count from the result's own
        ``issue_time`` attribute, the time it was computed for.
    not_met
        (subscriber, asset, rule position) of rules whose forecast is wanted even when the
        rule is evaluated and not met: those with an impact forecast in force, which a
        caller must tell the subscriber has ended.

    Returns
    -------
    forecasts, unassessed
        One :class:`ImpactForecast` per (asset, rule) met, and one with ``met=False`` per
        rule of ``not_met`` evaluated and not met, in the order of ``matches`` and their
        rules; one :class:`Unassessed` per (asset, rule) the result cannot answer.

    Raises
    ------
    ValueError
        If ``issue_time`` is naive, or the layer's communities are not the result's.
    """
    if issue_time.tzinfo is None:
        raise ValueError("issue_time has no timezone; pass an aware UTC datetime")
    issue = issue_time.astimezone(UTC)
    result_ids = np.asarray(result["community_id"].values).astype(str)
    position = {community: row for row, community in enumerate(result_ids.tolist())}
    index = CommunityIndex(communities)
    missing = sorted(set(index.ids.tolist()) - set(position))
    if missing:
        raise ValueError(
            f"{len(missing)} communities of the layer (e.g. {missing[0]!r}) are not in the "
            "hazard result; pass the community layer of the result's region"
        )
    start = _result_issue(result, issue)
    valid = np.asarray(result["valid_time"].values, dtype="datetime64[ns]")
    horizon = pd.Timedelta(valid.max() - start).to_pytimedelta()
    run_time = pd.Timestamp(start).tz_localize("UTC").to_pydatetime()
    hazard = str(result.attrs.get("hazard", ""))
    model = (
        f"{result.attrs.get('model', '?')} {result.attrs.get('model_version', '?')} "
        f"(run for {pd.Timestamp(start).strftime('%Y-%m-%dT%H:%MZ')})"
    )
    forecasts: list[ImpactForecast] = []
    unassessed: list[Unassessed] = []
    answers: dict[tuple[tuple[str, ...], Rule], _Answer] = {}  # assets share communities
    for match in matches:
        asset = match.asset
        reached = index.communities(asset)
        rows = np.array([position[community] for community in reached], dtype=int)
        positions = match.rule_positions or tuple(range(len(match.rules)))
        for rule_position, rule in zip(positions, match.rules, strict=True):
            if not reached:
                answer = _unanswered(
                    "the asset reaches no community of the layer; it is outside the region or "
                    "needs a buffer"
                )
            elif rule.hazard != hazard:
                answer = _unanswered(
                    f"the rule is for {rule.hazard} but the result is a {hazard or '?'} result"
                )
            elif (reached, rule) in answers:
                answer = answers[reached, rule]
            elif rule.min_probability is not None:
                answer = answers[reached, rule] = _probability(result, rows, rule, start, horizon)
            else:
                answer = answers[reached, rule] = _deterministic(result, rows, rule, start, horizon)
            if answer.reason is not None:
                unassessed.append(
                    Unassessed(match.subscriber_id, asset.id, rule_position, answer.reason)
                )
            elif answer.met or (match.subscriber_id, asset.id, rule_position) in not_met:
                forecasts.append(
                    ImpactForecast(
                        hazard=rule.hazard,
                        subscriber_id=match.subscriber_id,
                        asset_id=asset.id,
                        asset_name=asset.name,
                        rule_position=rule_position,
                        variable=rule.variable,
                        comparison=rule.comparison,
                        threshold=rule.threshold,
                        within=rule.within,
                        probability=answer.probability,
                        value=answer.value,
                        units=answer.units,
                        first_time=answer.first_time if answer.met else None,
                        issue_time=issue,
                        communities=reached,
                        basis=answer.basis,
                        model=model,
                        bound=answer.bound,
                        expires=run_time + parse_window(rule.within),
                        met=answer.met,
                    )
                )
    return forecasts, unassessed


def impact_forecasts(
    result: xr.Dataset,
    communities: xr.Dataset,
    matches: Sequence[AssetMatch],
    issue_time: datetime,
) -> list[ImpactForecast]:
    """The forecasts of :func:`assess` alone.

    Use :func:`assess` wherever the rules the result cannot answer must be reported (they
    are not in this list, and a subscriber would otherwise not know it was not assessed).
    """
    return assess(result, communities, matches, issue_time)[0]
