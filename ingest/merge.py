"""Merge station-observation reports that overlap, arrive late or repeat, deterministically.

A feed polled every few minutes reports the same (station, time) many times: polls
overlap, a station's late report turns up in a later poll, a poll is delivered twice.
:func:`merge_station_reports` folds such reports into one station-observation dataset.

Rules, for each (station, time, variable)
    1. Reports are put in *receipt order*: by receive time, then by content hash. Identical
       content (same hash) counts once, at its latest receive time.
    2. The value is the one of the last report in receipt order with a non-missing (finite)
       value; its flag comes with it. A later missing value never hides an earlier good one.
    3. If no report has a value, the flag is that of the last report that covered the cell
       (e.g. ``missing``), or ``not_reported`` where no report covered it.
    4. When two reports both give a value and the values differ, the cell is a *conflict*;
       the later one wins (rule 2) and the conflict is counted.

Because the order depends only on (receive time, content hash), the result is the same
whatever the order of the input list.

What a report must carry
    dims ``station`` and ``time`` with the ``station_id`` coordinate; attributes
    ``receive_time`` (ISO 8601 with offset, when the report was received) and
    ``content_hash`` (a stable identity of its content, e.g. the SHA-256 of the raw
    snapshot). :func:`with_receipt` sets both. Every ``<var>_flag`` variable carries CF
    ``flag_values`` / ``flag_meanings`` that include ``not_reported`` (or else ``missing``),
    identical in every report.

Output attributes
    ``merged_reports`` (reports used), ``merge_duplicate_reports`` (identical reports
    dropped), ``merge_conflicts`` (cells where reports disagreed; per variable too) and
    ``receive_time_first`` / ``receive_time_last``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import xarray as xr

from ingest.contracts import utc_instant
from ingest.errors import ContractError

__all__ = ["merge_station_reports", "receipt_key", "with_receipt"]

_CONTRACT = "station observations"
_UNCOVERED = -1


def with_receipt(report: xr.Dataset, receive_time: datetime, content_hash: str) -> xr.Dataset:
    """Return ``report`` with the ``receive_time`` and ``content_hash`` attributes set."""
    instant = utc_instant(receive_time, "receive_time")
    return report.assign_attrs(
        receive_time=instant.isoformat().replace("+00:00", "Z"), content_hash=str(content_hash)
    )


def receipt_key(report: xr.Dataset) -> tuple[datetime, str]:
    """The (receive time, content hash) that orders ``report`` among others."""
    for attr in ("receive_time", "content_hash"):
        if attr not in report.attrs:
            raise ContractError(
                _CONTRACT,
                attr,
                "attribute is missing on a report to merge",
                "set it with ingest.merge.with_receipt(report, receive_time, content_hash)",
            )
    return utc_instant(report.attrs["receive_time"], "receive_time"), str(
        report.attrs["content_hash"]
    )


def _ordered(reports: Sequence[xr.Dataset]) -> tuple[list[xr.Dataset], int]:
    """Reports in receipt order, identical content kept once (at its latest receipt)."""
    latest: dict[str, tuple[tuple[datetime, str], xr.Dataset]] = {}
    for report in reports:
        key = receipt_key(report)
        if key[1] not in latest or key > latest[key[1]][0]:
            latest[key[1]] = (key, report)
    ordered = [report for _, report in sorted(latest.values(), key=lambda item: item[0])]
    return ordered, len(reports) - len(ordered)


def _check_dims(report: xr.Dataset) -> None:
    for dim in ("station", "time"):
        if dim not in report.dims:
            raise ContractError(
                _CONTRACT, dim, "dimension is missing", "dims must be (station, time)"
            )
    if "station_id" not in report.coords:
        raise ContractError(_CONTRACT, "station_id", "is missing", "add it as a coordinate")


def _fill_flag(name: str, attrs: dict[str, Any]) -> int:
    meanings = str(attrs.get("flag_meanings", "")).split()
    values = np.atleast_1d(np.asarray(attrs.get("flag_values", [])))
    for meaning in ("not_reported", "missing"):
        if meaning in meanings and len(values) == len(meanings):
            return int(values[meanings.index(meaning)])
    raise ContractError(
        _CONTRACT,
        name,
        "has no 'not_reported' or 'missing' among its flag_meanings",
        "add one, so cells no report covers can be flagged",
    )


def _same_flags(name: str, first: dict[str, Any], other: dict[str, Any]) -> None:
    for attr in ("flag_values", "flag_meanings"):
        if not np.array_equal(np.asarray(first.get(attr)), np.asarray(other.get(attr))):
            raise ContractError(
                _CONTRACT,
                name,
                f"has different {attr} in different reports",
                "give every report of a source the same flag scheme",
            )


def _station_coords(ordered: list[xr.Dataset], stations: list[str]) -> dict[str, Any]:
    """Per-station coordinates (lat, lon, elevation, names...) gathered from all reports."""
    names = sorted(
        {
            str(name)
            for report in ordered
            for name, coord in report.coords.items()
            if coord.dims == ("station",) and name != "station_id"
        }
    )
    position = {station: index for index, station in enumerate(stations)}
    coords: dict[str, Any] = {"station_id": ("station", np.asarray(stations, dtype=object))}
    for name in names:
        values: list[Any] = [None] * len(stations)
        attrs: dict[str, Any] = {}
        for report in ordered:
            if name not in report.coords:
                continue
            attrs = dict(report[name].attrs)
            for station, value in zip(
                report["station_id"].values.tolist(), report[name].values.tolist(), strict=True
            ):
                index = position[str(station)]
                known = values[index]
                if _is_unknown(value):
                    continue
                if not _is_unknown(known) and known != value:
                    raise ContractError(
                        _CONTRACT,
                        name,
                        f"of station {station!r} is {known!r} in one report and {value!r} in "
                        "another",
                        "give each station one set of metadata (check the station file)",
                    )
                values[index] = value
        floats = all(v is None or isinstance(v, float | int) for v in values)
        if floats:
            array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        else:
            array = np.asarray(["" if v is None else v for v in values], dtype=object)
        coords[name] = ("station", array, attrs)
    return coords


def _is_unknown(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value == ""


def merge_station_reports(reports: Sequence[xr.Dataset]) -> xr.Dataset:
    """Merge station-observation reports into one dataset (see the module docstring).

    Parameters
    ----------
    reports
        Station-observation datasets, each with ``receive_time`` and ``content_hash``
        attributes. Their order does not matter.

    Returns
    -------
    xr.Dataset
        Dims ``(station, time)``: stations sorted by ``station_id``, times sorted; the union
        of all variables, each with its ``<var>_flag``.

    Raises
    ------
    ContractError
        If ``reports`` is empty, a report lacks a dim, ``station_id`` or a receipt
        attribute, flag schemes differ between reports, or a station's coordinates differ.
    """
    if not reports:
        raise ContractError(_CONTRACT, "reports", "is empty", "give at least one report")
    for report in reports:
        _check_dims(report)
    ordered, duplicates = _ordered(reports)
    stations = sorted({str(s) for report in ordered for s in report["station_id"].values})
    times = np.unique(np.concatenate([report["time"].values for report in ordered]))
    variables = sorted(
        {
            str(name)
            for report in ordered
            for name in report.data_vars
            if not str(name).endswith("_flag")
        }
    )
    shape = (len(stations), len(times))
    data_vars: dict[Hashable, Any] = {}
    total_conflicts = 0
    for name in variables:
        flag_name = f"{name}_flag"
        having = [report for report in ordered if name in report.data_vars]
        flagged = [report for report in having if flag_name in report.data_vars]
        if flagged and len(flagged) != len(having):
            raise ContractError(
                _CONTRACT, flag_name, "is missing in some reports", "flag every variable"
            )
        flag_attrs = dict(flagged[0][flag_name].attrs) if flagged else {}
        for report in flagged[1:]:
            _same_flags(flag_name, flag_attrs, dict(report[flag_name].attrs))
        value = np.full(shape, np.nan)
        flag = np.full(shape, _fill_flag(flag_name, flag_attrs) if flagged else 0, dtype=np.int16)
        has_value = np.zeros(shape, dtype=bool)
        conflict = np.zeros(shape, dtype=bool)
        for report in having:
            aligned = report.assign_coords(station=report["station_id"].values.astype(str)).reindex(
                station=stations, time=times
            )
            incoming = np.asarray(aligned[name].values, dtype=float)
            if flagged:
                covered = report.assign_coords(station=report["station_id"].values.astype(str))[
                    flag_name
                ].reindex(station=stations, time=times, fill_value=_UNCOVERED)
                incoming_flag = np.asarray(covered.values, dtype=np.int16)
            else:
                incoming_flag = np.zeros(shape, dtype=np.int16)
            good = np.isfinite(incoming)
            conflict |= good & has_value & (incoming != value)
            value = np.where(good, incoming, value)
            flag = np.where(good, incoming_flag, flag)
            has_value |= good
            late_missing = ~has_value & (incoming_flag != _UNCOVERED)
            flag = np.where(late_missing, incoming_flag, flag)
        conflicts = int(conflict.sum())
        total_conflicts += conflicts
        attrs = dict(having[-1][name].attrs)
        attrs["merge_conflicts"] = conflicts
        data_vars[name] = (("station", "time"), value, attrs)
        if flagged:
            dtype = flagged[-1][flag_name].dtype
            data_vars[flag_name] = (("station", "time"), flag.astype(dtype), flag_attrs)
    keys = [receipt_key(report) for report in ordered]
    merged = xr.Dataset(
        data_vars=data_vars,
        coords={"time": ("time", times, dict(ordered[-1]["time"].attrs))}
        | _station_coords(ordered, stations),
        attrs={
            key: value
            for key, value in ordered[-1].attrs.items()
            if key not in ("receive_time", "content_hash")
        },
    )
    merged.attrs.update(
        merged_reports=len(ordered),
        merge_duplicate_reports=duplicates,
        merge_conflicts=total_conflicts,
        receive_time_first=keys[0][0].isoformat().replace("+00:00", "Z"),
        receive_time_last=keys[-1][0].isoformat().replace("+00:00", "Z"),
    )
    return merged
