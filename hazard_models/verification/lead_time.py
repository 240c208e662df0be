"""Event-based verification of warnings: lead time, hits, misses, false alarms.

Definition (``DESIGN.md``, "Lead time"): the lead time of a warning for an area is the
time the observed hazard first met the criterion there minus the time a warning *at that
level or higher* first covered it. An event never warned is a miss (lead time 0 in
averages); a warning whose event never came is a false alarm.

Matching rule, per area and per level ``L`` (levels ordered lowest to highest):

1. The warnings of level ``L`` or higher for the area are merged into *coverage
   periods*: overlapping or touching periods (Amber 23:00-23:45 then Red 23:45-00:45)
   are one period. An ``end`` of NaT means still in force.
2. An observed onset inside a coverage period (``start <= onset < end``) is a **hit**;
   ``first_warned`` is the period's start and ``lead_time = onset - first_warned``.
3. An onset not covered, but followed within ``late_window`` by the start of a coverage
   period, is a **hit** warned late: negative lead time.
4. Any other onset is a **miss**: ``first_warned`` NaT, ``lead_time`` 0.
5. A coverage period that no onset was matched to is a **false alarm**: ``onset`` and
   ``lead_time`` NaT.

Times must be timezone-aware (UTC inside the pipeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pandas as pd

from hazard_models.verification.categorical import ContingencyTable

__all__ = ["compare_issue_times", "lead_time_summary", "warning_lead_times"]

_OPEN_END = pd.Timestamp.max.tz_localize("UTC")


def _check_columns(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it needs {list(columns)}")


def _aware(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        values = pd.to_datetime(frame[column])
        if values.dt.tz is None:
            raise ValueError(
                f"{name}[{column!r}] is timezone-naive; localise it first, e.g. "
                ".dt.tz_localize('Asia/Hong_Kong') for HKT, then .dt.tz_convert('UTC')"
            )
        frame[column] = values.dt.tz_convert("UTC")
    return frame


def _rank(levels: Sequence[str]) -> dict[str, int]:
    if len(set(levels)) != len(levels) or not levels:
        raise ValueError(f"levels={list(levels)} must be distinct names, lowest first")
    return {level: position for position, level in enumerate(levels)}


def _check_levels(frame: pd.DataFrame, name: str, rank: dict[str, int]) -> None:
    unknown = sorted(set(frame["level"]) - set(rank))
    if unknown:
        raise ValueError(f"{name} has level(s) {unknown} not in levels={list(rank)}")


def _coverage(periods: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Merge [start, end) periods that overlap or touch; NaT end = open."""
    merged: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    ends = periods["end"].fillna(_OPEN_END)
    for start, end in sorted(zip(periods["start"], ends, strict=True)):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def warning_lead_times(
    warnings: pd.DataFrame,
    observed_onsets: pd.DataFrame,
    levels: Sequence[str],
    late_window: timedelta = timedelta(hours=1),
) -> pd.DataFrame:
    """Match warnings to observed onsets per area and level; lead time of every event.

    Parameters
    ----------
    warnings
        One row per warning period: ``area``, ``level``, ``start``, ``end`` (NaT if still
        in force), timezone-aware.
    observed_onsets
        One row per event: ``area``, ``level``, ``onset`` (when the observed hazard first
        met the level's criterion there), timezone-aware. An event that met Red also met
        Amber: give it a row per level it met.
    levels
        Level names lowest first, e.g. ``("Amber", "Red", "Black")`` or
        ``("blue", "yellow", "orange", "red")``.
    late_window
        How long after an uncovered onset a warning may start and still count as a (late)
        hit, with negative lead time; ``timedelta(0)`` counts late warnings as misses
        (and their periods as false alarms).

    Returns
    -------
    pd.DataFrame
        Columns ``area``, ``level``, ``onset``, ``first_warned``, ``lead_time``
        (Timedelta) and ``outcome`` (``"hit"``, ``"miss"`` or ``"false_alarm"``), sorted
        by area, level rank and time. Misses carry ``lead_time`` 0 so that averages follow
        the definition; false alarms carry NaT. The matching rule is in the module
        docstring.
    """
    _check_columns(warnings, "warnings", ["area", "level", "start", "end"])
    _check_columns(observed_onsets, "observed_onsets", ["area", "level", "onset"])
    rank = _rank(levels)
    warnings = _aware(warnings, "warnings", ["start", "end"])
    observed_onsets = _aware(observed_onsets, "observed_onsets", ["onset"])
    _check_levels(warnings, "warnings", rank)
    _check_levels(observed_onsets, "observed_onsets", rank)
    late = pd.Timedelta(late_window)

    rows: list[dict[str, object]] = []
    areas = sorted(set(warnings["area"]) | set(observed_onsets["area"]), key=str)
    for area in areas:
        area_warnings = warnings[warnings["area"] == area]
        area_onsets = observed_onsets[observed_onsets["area"] == area]
        for level in levels:
            covering = area_warnings[area_warnings["level"].map(rank) >= rank[level]]
            periods = _coverage(covering)
            used = [False] * len(periods)
            onsets = sorted(area_onsets.loc[area_onsets["level"] == level, "onset"])
            for onset in onsets:
                match = next(
                    (i for i, (s, e) in enumerate(periods) if s <= onset < e),
                    None,
                )
                if match is None:
                    match = next(
                        (i for i, (s, _) in enumerate(periods) if onset < s <= onset + late),
                        None,
                    )
                if match is None:
                    rows.append(
                        {
                            "area": area,
                            "level": level,
                            "onset": onset,
                            "first_warned": pd.NaT,
                            "lead_time": pd.Timedelta(0),
                            "outcome": "miss",
                        }
                    )
                    continue
                used[match] = True
                first_warned = periods[match][0]
                rows.append(
                    {
                        "area": area,
                        "level": level,
                        "onset": onset,
                        "first_warned": first_warned,
                        "lead_time": onset - first_warned,
                        "outcome": "hit",
                    }
                )
            for (start, _), matched in zip(periods, used, strict=True):
                if not matched:
                    rows.append(
                        {
                            "area": area,
                            "level": level,
                            "onset": pd.NaT,
                            "first_warned": start,
                            # not pd.NaT: a column of false alarms only must stay a timedelta
                            "lead_time": np.timedelta64("NaT", "ns"),
                            "outcome": "false_alarm",
                        }
                    )
    columns = ["area", "level", "onset", "first_warned", "lead_time", "outcome"]
    table = pd.DataFrame(rows, columns=columns)
    table["onset"] = pd.to_datetime(table["onset"], utc=True)
    table["first_warned"] = pd.to_datetime(table["first_warned"], utc=True)
    table["lead_time"] = pd.to_timedelta(table["lead_time"])
    order = table["level"].map(rank)
    when = table["onset"].fillna(table["first_warned"])
    table = table.assign(_rank=order, _when=when).sort_values(["area", "_rank", "_when"])
    return table.drop(columns=["_rank", "_when"]).reset_index(drop=True)


def lead_time_summary(
    table: pd.DataFrame,
    target: timedelta = timedelta(minutes=60),
) -> pd.DataFrame:
    """POD, FAR, CSI and the lead-time distribution per level.

    Parameters
    ----------
    table
        The output of :func:`warning_lead_times`.
    target
        The lead time to reach; the city's climate plan asks for at least 60 min for
        sudden severe weather.

    Returns
    -------
    pd.DataFrame
        Indexed by ``level`` (in the table's order), columns ``hits``, ``misses``,
        ``false_alarms``, ``pod``, ``far``, ``csi`` (NaN when undefined), and over all
        events (misses counted as 0 min) ``mean_lead_time_min``,
        ``median_lead_time_min``, ``p10_lead_time_min``, ``p90_lead_time_min`` and
        ``share_lead_time_at_least_target`` (share of events warned at least ``target``
        ahead). Percentiles use linear interpolation (``numpy.percentile`` default).
    """
    _check_columns(table, "table", ["level", "lead_time", "outcome"])
    target_minutes = pd.Timedelta(target).total_seconds() / 60.0
    records: list[dict[str, object]] = []
    for level in pd.unique(table["level"]):
        rows = table[table["level"] == level]
        counts = rows["outcome"].value_counts()
        scores = ContingencyTable(
            hits=float(counts.get("hit", 0)),
            misses=float(counts.get("miss", 0)),
            false_alarms=float(counts.get("false_alarm", 0)),
            correct_negatives=0.0,
        )
        events = rows[rows["outcome"].isin(["hit", "miss"])]
        minutes = events["lead_time"].dt.total_seconds().to_numpy(dtype=float) / 60.0
        has_events = minutes.size > 0
        records.append(
            {
                "level": level,
                "hits": int(counts.get("hit", 0)),
                "misses": int(counts.get("miss", 0)),
                "false_alarms": int(counts.get("false_alarm", 0)),
                "pod": scores.pod,
                "far": scores.far,
                "csi": scores.csi,
                "mean_lead_time_min": float(np.mean(minutes)) if has_events else np.nan,
                "median_lead_time_min": float(np.median(minutes)) if has_events else np.nan,
                "p10_lead_time_min": float(np.percentile(minutes, 10)) if has_events else np.nan,
                "p90_lead_time_min": float(np.percentile(minutes, 90)) if has_events else np.nan,
                "share_lead_time_at_least_target": float(np.mean(minutes >= target_minutes))
                if has_events
                else np.nan,
            }
        )
    return pd.DataFrame.from_records(records).set_index("level")


def compare_issue_times(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    levels: Sequence[str],
) -> pd.DataFrame:
    """When we first put out each level, minus when the agency did.

    Parameters
    ----------
    ours, theirs
        Warning periods with columns ``level``, ``start``, ``end`` (NaT = in force) and,
        optionally in both, ``area``; timezone-aware.
    levels
        Level names lowest first.

    Returns
    -------
    pd.DataFrame
        One row per coverage period of either side, columns ``area`` (if given),
        ``level``, ``their_start``, ``their_end``, ``our_start``, ``our_end`` and
        ``difference = our_start - their_start`` (negative: we decided earlier); NaT on
        the side that had no matching period.

    Notes
    -----
    Matching rule: per area and level ``L``, each side's warnings of level ``L`` or
    higher are merged into coverage periods (as in :func:`warning_lead_times`), so
    "their Red" includes time under Black. Their periods are taken in order of start;
    each is paired with the earliest-starting of our not-yet-paired periods that
    overlaps it in time (``our_start < their_end`` and ``their_start < our_end``).
    Periods left unpaired on either side get a row with the other side NaT.
    """
    _check_columns(ours, "ours", ["level", "start", "end"])
    _check_columns(theirs, "theirs", ["level", "start", "end"])
    with_area = "area" in ours.columns and "area" in theirs.columns
    rank = _rank(levels)
    ours = _aware(ours, "ours", ["start", "end"])
    theirs = _aware(theirs, "theirs", ["start", "end"])
    _check_levels(ours, "ours", rank)
    _check_levels(theirs, "theirs", rank)
    if not with_area:
        ours = ours.assign(area=None)
        theirs = theirs.assign(area=None)

    def _end(value: pd.Timestamp) -> pd.Timestamp | None:
        return None if value == _OPEN_END else value

    rows: list[dict[str, object]] = []
    areas = sorted(set(ours["area"]) | set(theirs["area"]), key=str)
    for area in areas:
        our_area = ours[ours["area"] == area] if with_area else ours
        their_area = theirs[theirs["area"] == area] if with_area else theirs
        for level in levels:
            our_periods = _coverage(our_area[our_area["level"].map(rank) >= rank[level]])
            their_periods = _coverage(their_area[their_area["level"].map(rank) >= rank[level]])
            paired = [False] * len(our_periods)
            for their_start, their_end in their_periods:
                match = next(
                    (
                        i
                        for i, (our_start, our_end) in enumerate(our_periods)
                        if not paired[i] and our_start < their_end and their_start < our_end
                    ),
                    None,
                )
                row: dict[str, object] = {
                    "area": area,
                    "level": level,
                    "their_start": their_start,
                    "their_end": _end(their_end),
                    "our_start": pd.NaT,
                    "our_end": pd.NaT,
                }
                if match is not None:
                    paired[match] = True
                    row["our_start"] = our_periods[match][0]
                    row["our_end"] = _end(our_periods[match][1])
                rows.append(row)
            for (our_start, our_end), was_paired in zip(our_periods, paired, strict=True):
                if not was_paired:
                    rows.append(
                        {
                            "area": area,
                            "level": level,
                            "their_start": pd.NaT,
                            "their_end": pd.NaT,
                            "our_start": our_start,
                            "our_end": _end(our_end),
                        }
                    )
    columns = ["area", "level", "their_start", "their_end", "our_start", "our_end"]
    result = pd.DataFrame(rows, columns=columns)
    for column in columns[2:]:
        result[column] = pd.to_datetime(result[column], utc=True)
    result["difference"] = result["our_start"] - result["their_start"]
    order = result["level"].map(rank)
    when = result["their_start"].fillna(result["our_start"])
    result = result.assign(_rank=order, _when=when).sort_values(["area", "_rank", "_when"])
    result = result.drop(columns=["_rank", "_when"]).reset_index(drop=True)
    return result if with_area else result.drop(columns=["area"])
