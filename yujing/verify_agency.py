"""Our warnings against an agency's own, for ``yujing verify`` (``verify.<hazard>.agency``).

Both sides are taken for the region as a whole: our highest level in force at each cycle
against the agency's warning periods (e.g. the Hong Kong Observatory's rainstorm signals),
paired by :func:`hazard_models.verification.compare_issue_times`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.verification import compare_issue_times
from yujing.pipeline import read_configured
from yujing.settings import Settings

__all__ = ["AGENCY_COLUMNS", "agency_periods", "compare_with_agency", "highest_level_periods"]

AGENCY_COLUMNS = [
    "hazard",
    "level",
    "rank",
    "their_start",
    "their_end",
    "our_start",
    "our_end",
    "difference_min",
]


def highest_level_periods(warnings: pd.DataFrame, hazard: str, every: timedelta) -> pd.DataFrame:
    """The region's highest warning level in force, cycle by cycle: columns ``level``,
    ``start`` (the cycle), ``end`` (the next cycle), for comparison with an agency that
    warns the region as a whole."""
    rows = warnings[warnings["hazard"] == hazard]
    if rows.empty:
        never = pd.Series([], dtype="datetime64[ns, UTC]")
        return pd.DataFrame({"level": pd.Series([], dtype=str), "start": never, "end": never})
    top = rows.sort_values("rank").groupby("cycle", sort=True).tail(1)
    start = pd.to_datetime(top["cycle"], utc=True)
    return pd.DataFrame(
        {"level": top["level"].to_numpy(), "start": start, "end": start + pd.Timedelta(every)}
    ).sort_values("start", ignore_index=True)


def agency_periods(
    agency: xr.Dataset, levels: Sequence[str], first: pd.Timestamp, last: pd.Timestamp
) -> tuple[pd.DataFrame, list[str]]:
    """The agency's warnings issued within ``[first, last]`` (the replay's cycles), at our
    levels: columns ``level``, ``start``, ``end``; and notes on what was left out."""
    frame = pd.DataFrame(
        {
            "level": agency["level"].values.astype(str),
            "start": pd.to_datetime(agency["start"].values, utc=True),
            "end": pd.to_datetime(agency["end"].values, utc=True),
            "problem": agency["problem"].values.astype(str)
            if "problem" in agency
            else np.full(agency.sizes["warning"], ""),
        }
    )
    notes = []
    faulty = frame["problem"].isin(["", "nan"])
    if (~faulty).any():
        notes.append(f"{int((~faulty).sum())} agency rows with a problem left out")
    unknown = ~frame["level"].isin(levels)
    if unknown.any():
        notes.append(
            f"agency levels not in the scheme left out: {sorted(set(frame['level'][unknown]))}"
        )
    inside = (frame["start"] >= first) & (frame["start"] <= last)
    chosen = frame[faulty & ~unknown & inside]
    return chosen[["level", "start", "end"]].reset_index(drop=True), notes


def compare_with_agency(
    settings: Settings,
    source: str,
    warnings: pd.DataFrame,
    hazard: str,
    levels: Sequence[str],
    ranks: Sequence[int],
    cycles: Sequence[pd.Timestamp],
    every: timedelta,
) -> tuple[pd.DataFrame, str, list[str]]:
    """Our warnings of ``hazard`` against the agency's in source ``source``.

    Both sides are taken for the region as a whole (our highest level in force at each
    cycle), a level including the higher ones; periods are paired by
    :func:`hazard_models.verification.compare_issue_times`. Only agency warnings issued
    between the first and the last cycle count: one issued before the replay began could
    not have been matched. Returns the pairs (``agency.csv``: an agency period we matched
    is a hit, one we did not a miss, our period matching none of theirs a false alarm),
    the label of the comparison for ``skill.csv`` and notes.
    """
    theirs, notes = agency_periods(
        read_configured(settings, source), levels, min(cycles), max(cycles)
    )
    ours = highest_level_periods(warnings, hazard, every)
    paired = compare_issue_times(ours, theirs, levels)
    table = pd.DataFrame(
        {
            "hazard": hazard,
            "level": paired["level"],
            "rank": paired["level"].map(dict(zip(levels, ranks, strict=True))),
            "their_start": paired["their_start"],
            "their_end": paired["their_end"],
            "our_start": paired["our_start"],
            "our_end": paired["our_end"],
            "difference_min": paired["difference"].dt.total_seconds() / 60.0,
        },
        columns=AGENCY_COLUMNS,
    )
    reader = settings.sources[source].reader
    return table, f"agency: {source} ({reader}, {len(theirs)} warnings in the replay)", notes
