"""Hong Kong rainstorm signals from polled district rainfall, checked against HKO's own.

The Hong Kong Observatory's Rainstorm Warning Signals (DESIGN.md, "Warning criteria") are
Amber, Red and Black for hourly rainfall exceeding 30, 50 and 70 mm that has been recorded
or is expected "over Hong Kong generally" and is likely to continue. This module runs that
scheme on the hourly *district* rainfall of :mod:`ingest.readers.hko_district_hourly` and
compares the result with the warnings HKO actually issued
(:mod:`ingest.readers.hko_warnings`).

Criterion
    An hour meets a level when at least ``min_districts`` districts had a *highest gauge*
    (``pr``) above the level's threshold (strictly greater, as HKO's "exceeding"). The
    default ``min_districts = 1`` applies the criterion to the maximum over districts: the
    feed only gives each district's highest and lowest gauge, not an areal mean, so "Hong
    Kong generally" cannot be computed; the maximum is the reading a forecaster sees first
    and errs towards warning. ``min_districts > 1`` is a crude "generally": several
    districts at once. The documentation (``docs/hk_july2025.md``) reports both.

Decision time
    Our decision for an hour can only be made when its data arrived: the poll time
    (``available_at``), never the end of the rainfall window (in July 2025 the poll came
    61-62 minutes after the window end). Hours without a poll are skipped: they neither
    start nor end a warning.

Our warning periods (per level, "that level or higher")
    A period starts at the decision time of the first hour meeting the level and ends at
    the decision time of the ``clear_after_hours``-th consecutive polled hour that does not
    meet it (default 1: the first such hour). A period still open at the end of the data
    ends at the last decision time. Its *evidence start* is the start of the rainfall
    window of its first hour (window end minus one hour).

HKO's periods (per level, "that level or higher")
    Signal rows at the level or higher that touch or overlap are merged: Amber 08:05-08:40,
    Red 08:40-09:10, Black 09:10-11:05, Red 11:05-11:45, Amber 11:45-14:15 HKT on
    29 July 2025 give one Amber-or-higher period 08:05-14:15, one Red-or-higher period
    08:40-11:45 and one Black period 09:10-11:05. Rows whose ``problem`` is not empty are
    left out and reported.

Matching (event-based, by time overlap)
    Our period ``[evidence start, end]`` and HKO's ``[issue, cancel]`` match when they
    overlap (share more than an instant). Using the evidence start, not our decision time,
    asks "did both react to the same rain?"; timing is measured separately. Then

    * hits = HKO periods matched by at least one of ours; misses = HKO periods matched by
      none; false alarms = our periods matching none of HKO's;
    * POD = hits / (hits + misses); FAR = false alarms / number of our periods;
      CSI = hits / (hits + misses + false alarms);
    * decision-time difference (minutes) for a hit = our earliest matching decision start
      minus HKO's issue time (positive: we decided later).

    This is a deliberately simple, documented scoring; ``hazard_models.verification`` is
    to replace it.

Climatology
    :func:`signal_counts` counts signal rows (issuances) per level per year and per July
    from the warning history; :func:`july_rainfall_climatology` compares the July total at
    the HKO Headquarters with the Julys of a reference period (1991-2020 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hazard_models.errors import ModelError

__all__ = [
    "HK_RAINSTORM_LEVELS",
    "LevelScores",
    "SignalOptions",
    "compare_levels",
    "data_coverage",
    "hourly_levels",
    "july_rainfall_climatology",
    "match_periods",
    "observatory_periods",
    "our_periods",
    "score_level",
    "signal_counts",
]

#: Hong Kong rainstorm signals: level and hourly rainfall it must exceed (mm in one hour).
#: Source: DESIGN.md "Warning criteria" (HKO Rainstorm Warning System).
HK_RAINSTORM_LEVELS: tuple[tuple[str, float], ...] = (
    ("amber", 30.0),
    ("red", 50.0),
    ("black", 70.0),
)

_HOUR = pd.Timedelta(hours=1)


class SignalOptions(BaseModel):
    """Options of the Hong Kong signal check.

    Parameters
    ----------
    levels
        ``(level, threshold in mm per hour)`` in increasing order; default
        :data:`HK_RAINSTORM_LEVELS`.
    min_districts
        How many districts must exceed a threshold in the same hour (1 = the maximum
        over districts).
    clear_after_hours
        A period ends after this many consecutive polled hours below its level.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: tuple[tuple[str, float], ...] = HK_RAINSTORM_LEVELS
    min_districts: int = Field(1, ge=1)
    clear_after_hours: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _levels_increase(self) -> SignalOptions:
        thresholds = [t for _, t in self.levels]
        if not thresholds or thresholds != sorted(set(thresholds)):
            raise ValueError(
                f"levels {self.levels!r} must have strictly increasing thresholds; "
                "list them from the lowest signal (amber) to the highest (black)"
            )
        return self


def hourly_levels(ds: xr.Dataset, options: SignalOptions) -> pd.DataFrame:
    """Tabulate, per polled hour, the districts over each threshold and the level met.

    Parameters
    ----------
    ds
        Hourly district rainfall from the ``hko-district-hourly`` reader (``pr`` on
        ``(station, time)`` with the coordinate ``available_at``).
    options
        The scheme and criterion.

    Returns
    -------
    pandas.DataFrame
        Indexed by window end (UTC, tz-aware), columns ``available_at`` (UTC),
        ``max_pr`` (mm), ``max_district``, ``n_<level>`` (districts above each threshold)
        and ``level`` (highest level met, ``""`` if none). Hours without a poll are left
        out.

    Raises
    ------
    ModelError
        If ``ds`` lacks ``pr`` or ``available_at``.
    """
    for name in ("pr", "available_at"):
        if name not in ds.variables:
            raise ModelError(
                f"hourly district rainfall lacks {name!r}; read it with the "
                "'hko-district-hourly' reader, which records the poll time as available_at"
            )
    polled = ds.isel(time=np.flatnonzero(~np.isnat(ds["available_at"].values)))
    rain = np.asarray(polled["pr"].transpose("station", "time").values, dtype=float)
    names = [str(s) for s in polled["station_id"].values]
    table = pd.DataFrame(
        {
            "available_at": pd.to_datetime(polled["available_at"].values, utc=True),
            "max_pr": np.nanmax(np.where(np.isnan(rain), -np.inf, rain), axis=0),
            "max_district": [names[i] for i in np.argmax(np.nan_to_num(rain, nan=-1), axis=0)],
        },
        index=pd.DatetimeIndex(pd.to_datetime(polled["time"].values, utc=True), name="time"),
    )
    table["level"] = ""
    for level, threshold in options.levels:
        count = (np.nan_to_num(rain, nan=-np.inf) > threshold).sum(axis=0)
        table[f"n_{level}"] = count
        table.loc[count >= options.min_districts, "level"] = level
    return table


def our_periods(hourly: pd.DataFrame, level: str, options: SignalOptions) -> pd.DataFrame:
    """Our warning periods at ``level`` or higher, timed by decision (poll) time.

    Parameters
    ----------
    hourly
        The table of :func:`hourly_levels`.
    level
        One of the levels of ``options``.
    options
        The scheme, criterion and ``clear_after_hours``.

    Returns
    -------
    pandas.DataFrame
        One row per period: ``evidence_start`` (start of the first rainfall window),
        ``start`` (decision time of the first hour meeting the level), ``end`` (decision
        time it was cleared), ``peak_mm`` (highest district maximum in the period),
        ``first_window_end``.
    """
    rank = _rank(options, level)
    ranks = {name: i for i, (name, _) in enumerate(options.levels)}
    met = [ranks.get(str(value), -1) >= rank for value in hourly["level"]]
    window_ends = list(pd.DatetimeIndex(hourly.index))
    decided = list(pd.DatetimeIndex(hourly["available_at"]))
    peaks = hourly["max_pr"].to_numpy(dtype=float)
    rows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    quiet = 0
    for i, is_met in enumerate(met):
        if is_met:
            quiet = 0
            if current is None:
                current = {
                    "evidence_start": window_ends[i] - _HOUR,
                    "first_window_end": window_ends[i],
                    "start": decided[i],
                    "peak_mm": peaks[i],
                }
            current["peak_mm"] = max(float(current["peak_mm"]), float(peaks[i]))
        elif current is not None:
            quiet += 1
            if quiet >= options.clear_after_hours:
                rows.append({**current, "end": decided[i]})
                current, quiet = None, 0
    if current is not None and decided:
        rows.append({**current, "end": decided[-1]})
    columns = ["evidence_start", "start", "end", "peak_mm", "first_window_end"]
    return pd.DataFrame(rows, columns=columns)


def observatory_periods(
    warnings: pd.DataFrame,
    level: str,
    options: SignalOptions,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """HKO's periods at ``level`` or higher that overlap ``[start, end)``.

    Parameters
    ----------
    warnings
        The table of :func:`ingest.readers.hko_warnings.read_hko_warnings`; rows with a
        ``problem`` are left out.
    level
        One of the levels of ``options``.
    options
        The scheme (for the order of the levels).
    start, end
        Period of interest (UTC), normally the coverage of the rainfall data
        (:func:`data_coverage`); a merged period is kept when it overlaps it.

    Returns
    -------
    pandas.DataFrame
        ``start``, ``end`` (UTC) and ``lines`` (file lines merged) per period.
    """
    rank = _rank(options, level)
    ranks = {name: i for i, (name, _) in enumerate(options.levels)}
    chosen = warnings[
        (warnings["problem"] == "") & (warnings["level"].map(ranks).fillna(-1) >= rank)
    ].sort_values("start")
    merged: list[dict[str, Any]] = []
    for issued, cancelled, line in zip(
        list(chosen["start"]), list(chosen["end"]), list(chosen["line"]), strict=True
    ):
        if merged and issued <= merged[-1]["end"]:
            merged[-1]["end"] = max(merged[-1]["end"], cancelled)
            merged[-1]["lines"] = f"{merged[-1]['lines']},{line}"
        else:
            merged.append({"start": issued, "end": cancelled, "lines": str(line)})
    frame = pd.DataFrame(merged, columns=["start", "end", "lines"])
    return frame[(frame["end"] > start) & (frame["start"] < end)].reset_index(drop=True)


def data_coverage(ds: xr.Dataset) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Period the rainfall data can speak for: first window start to last poll (UTC)."""
    first = pd.Timestamp(ds["time"].values[0], tz="UTC") - _HOUR
    last = pd.Timestamp(np.nanmax(ds["available_at"].values), tz="UTC")
    return first, last


def compare_levels(
    ds: xr.Dataset, warnings: pd.DataFrame, options: SignalOptions
) -> list[LevelScores]:
    """Run the scheme on ``ds`` and score every level against HKO's ``warnings``.

    Parameters
    ----------
    ds
        Hourly district rainfall (``hko-district-hourly`` reader).
    warnings
        HKO's signals (:func:`ingest.readers.hko_warnings.read_hko_warnings`).
    options
        The scheme and criterion.

    Returns
    -------
    list of LevelScores
        One per level, lowest first, over the coverage of ``ds`` (:func:`data_coverage`).
    """
    hourly = hourly_levels(ds, options)
    start, end = data_coverage(ds)
    return [
        score_level(
            level,
            our_periods(hourly, level, options),
            observatory_periods(warnings, level, options, start, end),
        )
        for level, _ in options.levels
    ]


def match_periods(ours: pd.DataFrame, theirs: pd.DataFrame) -> pd.DataFrame:
    """Match HKO's periods with ours by time overlap (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per HKO period: ``start``, ``end``, ``matched`` (bool), ``our_start``
        (earliest matching decision time, NaT if none) and ``decision_minus_issue_min``.
    """
    rows: list[dict[str, Any]] = []
    for issued, cancelled, lines in zip(
        list(theirs["start"]), list(theirs["end"]), list(theirs["lines"]), strict=True
    ):
        overlapping = ours[(ours["evidence_start"] < cancelled) & (issued < ours["end"])]
        matched = bool(len(overlapping))
        first = pd.Timestamp(overlapping["start"].min()) if matched else pd.NaT
        delay = float((first - issued) / pd.Timedelta(minutes=1)) if matched else np.nan
        rows.append(
            {
                "start": issued,
                "end": cancelled,
                "lines": lines,
                "matched": matched,
                "our_start": first,
                "decision_minus_issue_min": delay,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["start", "end", "lines", "matched", "our_start", "decision_minus_issue_min"],
    )


@dataclass(frozen=True)
class LevelScores:
    """Event counts and scores of one level.

    Attributes
    ----------
    level
        Signal level (that level or higher).
    ours, theirs
        Number of our periods and of HKO's.
    hits, misses, false_alarms
        HKO periods matched, HKO periods not matched, our periods matching none.
    pod, far, csi
        Probability of detection, false-alarm ratio, critical success index (NaN when
        undefined).
    delays_min
        Decision-time differences of the hits, minutes (ours minus HKO's issue time).
    """

    level: str
    ours: int
    theirs: int
    hits: int
    misses: int
    false_alarms: int
    pod: float
    far: float
    csi: float
    delays_min: tuple[float, ...]

    @property
    def median_delay_min(self) -> float:
        """Median decision-time difference of the hits, minutes (NaN without hits)."""
        return float(np.median(self.delays_min)) if self.delays_min else float("nan")


def score_level(level: str, ours: pd.DataFrame, theirs: pd.DataFrame) -> LevelScores:
    """Count hits, misses and false alarms of one level and derive POD, FAR and CSI."""
    matches = match_periods(ours, theirs)
    hits = int(matches["matched"].sum())
    misses = len(theirs) - hits
    false_alarms = sum(
        1
        for period in ours.itertuples()
        if not ((theirs["start"] < period.end) & (period.evidence_start < theirs["end"])).any()
    )

    def ratio(num: int, den: int) -> float:
        return num / den if den else float("nan")

    return LevelScores(
        level=level,
        ours=len(ours),
        theirs=len(theirs),
        hits=hits,
        misses=misses,
        false_alarms=false_alarms,
        pod=ratio(hits, hits + misses),
        far=ratio(false_alarms, len(ours)),
        csi=ratio(hits, hits + misses + false_alarms),
        delays_min=tuple(float(d) for d in matches["decision_minus_issue_min"].dropna()),
    )


def signal_counts(warnings: pd.DataFrame, utc_offset: str = "+08:00") -> pd.DataFrame:
    """Number of signal rows (issuances) per level, per year and per July (local time).

    Parameters
    ----------
    warnings
        The table of :func:`ingest.readers.hko_warnings.read_hko_warnings`.
    utc_offset
        Offset of local time, for the year and month of each issue.

    Returns
    -------
    pandas.DataFrame
        Indexed by year; columns ``<level>_year`` and ``<level>_july`` for each level
        present (zero where none was issued).
    """
    sign = -1 if utc_offset.startswith("-") else 1
    hours, minutes = (int(part) for part in utc_offset[1:].split(":"))
    local = warnings["start"].dt.tz_convert(None) + sign * timedelta(hours=hours, minutes=minutes)
    frame = pd.DataFrame(
        {"year": local.dt.year, "july": local.dt.month == 7, "level": warnings["level"]}
    )
    years = pd.RangeIndex(int(frame["year"].min()), int(frame["year"].max()) + 1, name="year")
    columns = {}
    for level in sorted(frame["level"].unique(), key=["amber", "red", "black"].index):
        subset = frame[frame["level"] == level]
        columns[f"{level}_year"] = subset.groupby("year").size().reindex(years, fill_value=0)
        columns[f"{level}_july"] = (
            subset[subset["july"]].groupby("year").size().reindex(years, fill_value=0)
        )
    return pd.DataFrame(columns)


def july_rainfall_climatology(
    daily: xr.Dataset, year: int, reference: tuple[int, int] = (1991, 2020)
) -> dict[str, float]:
    """July total rainfall of ``year`` against the Julys of a reference period.

    Parameters
    ----------
    daily
        Daily rainfall from the ``hko-daily-rainfall`` reader (one station; each value
        labelled with the end of its HKT day, so the local date is label + 8 h - 1 day).
    year
        The July to assess.
    reference
        First and last year of the reference period, inclusive.

    Returns
    -------
    dict
        ``total_mm`` (July of ``year``), ``days`` (days with a value),
        ``reference_mean_mm``, ``reference_median_mm``, ``reference_min_mm``,
        ``reference_max_mm``, ``percentile`` (share of reference Julys below ``year``'s,
        %), ``rank_in_reference`` (1 = wettest, counting ``year`` among the reference
        Julys), ``incomplete_reference_julys``.

    Raises
    ------
    ModelError
        If the July of ``year`` is not complete in ``daily``.
    """
    series = daily["pr"].isel(station=0).to_series()
    flags = daily["pr_flag"].isel(station=0).to_series()
    meanings = str(daily["pr_flag"].attrs.get("flag_meanings", "")).split()
    values = list(daily["pr_flag"].attrs.get("flag_values", []))
    doubtful = [
        int(v)
        for v, m in zip(values, meanings, strict=False)
        if "incomplete" in m or m == "missing"
    ]
    local_day = pd.DatetimeIndex(series.index) + pd.Timedelta(hours=8) - pd.Timedelta(days=1)
    frame = pd.DataFrame({"pr": series.to_numpy(), "flag": flags.to_numpy()}, index=local_day)
    july = frame[local_day.month == 7]
    by_year = july.groupby(local_day[local_day.month == 7].year).agg(
        total=("pr", lambda s: s.sum(min_count=1)),
        days=("pr", "count"),
        flagged=("flag", lambda s: int(s.isin(doubtful).sum())),
    )
    days = by_year["days"].to_dict()
    if days.get(year, 0) != 31:
        raise ModelError(
            f"July {year} is not complete in the daily rainfall "
            f"({int(days.get(year, 0))} of 31 days); use a file covering it"
        )
    ref = by_year.loc[reference[0] : reference[1]]
    total = float(by_year["total"].to_dict()[year])
    below = float((ref["total"] < total).mean() * 100.0)
    return {
        "total_mm": total,
        "days": float(days[year]),
        "reference_mean_mm": float(ref["total"].mean()),
        "reference_median_mm": float(ref["total"].median()),
        "reference_min_mm": float(ref["total"].min()),
        "reference_max_mm": float(ref["total"].max()),
        "percentile": below,
        "rank_in_reference": float(1 + (ref["total"] > total).sum()),
        "reference_years": float(len(ref)),
        "incomplete_reference_julys": float(((ref["days"] != 31) | (ref["flagged"] > 0)).sum()),
    }


def _rank(options: SignalOptions, level: str) -> int:
    names = [name for name, _ in options.levels]
    if level not in names:
        raise ModelError(f"unknown level {level!r}; the scheme has {', '.join(names)}")
    return names.index(level)
