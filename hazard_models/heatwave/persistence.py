"""Diurnal persistence: a baseline temperature forecast made of past analyses only.

Member ``j`` (0, 1, …) repeats, hour by hour, the 24 hours that ended ``24 j`` hours before
the latest analysis: member 0 says the next day is the last one again, member 1 the day
before, and so on. The run starts at the latest analysis known at the issue time.
The spread of the members is the day-to-day variability of the recent past. It is the
reference a heat forecast must beat, and what replays and tests use where no NWP
temperature is at hand; it knows nothing that was not observed at the issue time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import xarray as xr

from hazard_models.errors import ModelError

__all__ = ["diurnal_persistence"]


def diurnal_persistence(
    analysis: xr.Dataset,
    issue_time: datetime,
    members: int,
    horizon: timedelta = timedelta(hours=48),
) -> xr.Dataset:
    """A persistence ensemble forecast of ``analysis`` from ``issue_time``.

    Parameters
    ----------
    analysis
        Hourly analyses (gridded field with ``reference_time`` and a single ``lead_time``,
        e.g. ERA5 as read by the GRIB reader), up to the issue time.
    issue_time
        Analyses after it are not used; the forecast's reference time is the latest analysis
        up to it.
    members
        Number of members: past days repeated.
    horizon
        Last lead time (whole hours).

    Returns
    -------
    xr.Dataset
        A gridded-field forecast: ``reference_time`` (one), ``member``, ``lead_time`` (1 h
        to ``horizon``), ``y``, ``x``, the analysis's variables and ``lat``/``lon``.

    Raises
    ------
    ModelError
        If an hour of the ``members`` past days is missing from the analyses.
    """
    issue = np.datetime64(issue_time.astimezone(UTC).replace(tzinfo=None), "ns")
    steps = int(horizon / timedelta(hours=1))
    leads = np.arange(1, steps + 1) * np.timedelta64(1, "h")
    fields = analysis.isel(lead_time=0).sel(reference_time=slice(None, issue))
    if fields.sizes["reference_time"] == 0:
        raise ModelError("diurnal persistence: no analysis up to the issue time")
    issue = np.datetime64(fields["reference_time"].values[-1], "ns")  # the latest analysis
    available = set(fields["reference_time"].values.astype("datetime64[ns]").tolist())
    hours = (np.arange(steps) % 24 + 1) * np.timedelta64(1, "h")
    runs = []
    for member in range(members):
        wanted = issue - np.timedelta64(24 * (member + 1), "h") + hours
        lacking = [t for t in wanted.astype("datetime64[ns]").tolist() if t not in available]
        if lacking:
            raise ModelError(
                f"diurnal persistence: member {member} needs the analyses of the day ending "
                f"{24 * member} h before the latest one; {len(lacking)} hours are missing "
                f"(first {np.datetime64(lacking[0], 'ns')}); use fewer members"
            )
        run = fields.sel(reference_time=wanted).drop_vars(
            ["valid_time", "lead_time"], errors="ignore"
        )
        runs.append(run.rename(reference_time="lead_time").assign_coords(lead_time=leads))
    stacked = xr.concat(runs, dim="member").assign_coords(member=np.arange(members))
    forecast = stacked.expand_dims(reference_time=[issue]).transpose(
        "reference_time", "member", "lead_time", ...
    )
    forecast = forecast.assign_coords(valid_time=forecast["reference_time"] + forecast["lead_time"])
    return forecast.assign_attrs(
        analysis.attrs,
        source=f"diurnal persistence ({members} past days) of {analysis.attrs.get('source', '?')}",
    )
