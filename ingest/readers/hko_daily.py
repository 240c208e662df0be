"""Hong Kong Observatory daily total rainfall (bilingual CSV) → station observations.

Source
    ``obs/hko/daily_HKO_RF_ALL.csv`` (SOURCES.md §4.1): daily total rainfall at the Hong Kong
    Observatory Headquarters from 1884-03-01, published by HKO Climatological Information
    Services under the DATA.GOV.HK terms. The file names no station coordinates, so the
    station metadata are options, with ``station_source`` saying where they come from.

Format
    UTF-8 with a byte-order mark. Two title lines (Chinese, then English, e.g.
    ``Daily Total Rainfall (mm) at the Hong Kong Observatory``), then the header
    ``年/Year,月/Month,日/Day,數值/Value,數據完整性/data Completeness`` and one row per day,
    e.g. ``2023,9,8,425.0,C``. The value is a number, ``Trace`` (less than 0.05 mm) or
    ``***`` (unavailable); the completeness code is ``C`` (complete) or ``#`` (incomplete).
    A blank line and footer lines explaining the codes (starting ``*** ``, ``#``, ``微量``,
    ``C ``) end the file.

Output (contract "station observations")
    dims ``(station=1, time)``; ``pr`` in mm per local day with
    ``cell_methods = "time: sum (interval: 1 day)"`` and ``pr_flag`` (int8, CF flags):

    ===  ====================  ============================================================
    0    ``good``              a number, completeness ``C``
    1    ``missing``           ``***``: ``pr`` is NaN
    2    ``trace``             ``Trace``: ``pr`` is 0.0 (the true amount is below 0.05 mm)
    3    ``incomplete``        a number whose completeness code is not ``C``
    4    ``trace_incomplete``  ``Trace`` whose completeness code is not ``C``
    ===  ====================  ============================================================

Times
    A value is labelled with the *end* of its local day in UTC: the midnight that ends day
    D in ``timezone``. The default is a fixed UTC+8 (``Etc/GMT-8``), because HKO states its
    times in HKT = UTC+8 (SOURCES.md, "Time zones"): day D covers D-1 16:00Z to D 16:00Z and
    is labelled D 16:00Z. Whether HKO's historical records followed civil time (local mean
    time before 1904-10-30, summer time UTC+9 in most summers 1941-1979) is not known; pass
    ``timezone="Asia/Hong_Kong"`` to use the zone's full IANA history instead.

Gaps
    Only the days present in the file are returned; the series is not made continuous.
    The file has no rows for 1940-1946 (war years), so ``time`` jumps from 1939-12-31 to
    1947-01-01. A row whose date does not exist (the file has ``1900,2,29,***,``; 1900 was
    not a leap year) is kept out of the dataset only when it holds no value (``***``); it is
    listed in the dataset attribute ``skipped_rows`` and logged. Such a row with a value is
    an error, since the value could not be placed in time.
"""

from __future__ import annotations

import csv
import itertools
import logging
import re
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import Field, field_validator

from ingest.contracts import validate_station_obs
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.units import UnitsError, convert, parse_quantity

__all__ = ["HkoDailyOptions", "HkoDailyRainfallReader"]

_LOG = logging.getLogger(__name__)

_HEADER = ("年/Year", "月/Month", "日/Day", "數值/Value", "數據完整性/data Completeness")
_TITLE = re.compile(r"Daily Total Rainfall \(([^)]+)\)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?")
_FOOTER_PREFIXES = ("*** ", "#", "微量", "C ")
_TRACE, _MISSING, _COMPLETE = "Trace", "***", "C"
_ONE_DAY = timedelta(days=1)

_FLAG_MEANINGS = ("good", "missing", "trace", "incomplete", "trace_incomplete")
_GOOD, _FLAG_MISSING, _FLAG_TRACE, _INCOMPLETE, _TRACE_INCOMPLETE = range(len(_FLAG_MEANINGS))


class HkoDailyOptions(ReaderOptions):
    """Options of :class:`HkoDailyRainfallReader`.

    Parameters
    ----------
    station_id, station_name
        Identifier and name of the station the file belongs to.
    lat, lon
        Station position, degrees (WGS84).
    elevation
        Station elevation with its unit, e.g. ``"32 m"``.
    station_source
        Where the station metadata come from (the file does not carry them).
    timezone
        IANA time zone of the local day the file reports, default ``"Etc/GMT-8"`` (fixed HKT).
    """

    station_id: str = Field(min_length=1)
    station_name: str = Field(min_length=1)
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=360.0)
    elevation: str
    station_source: str = Field(min_length=1)
    timezone: str = "Etc/GMT-8"

    @field_validator("elevation")
    @classmethod
    def _elevation_has_length_unit(cls, value: str) -> str:
        parse_quantity(value, "m")  # UnitsError is a ValueError: pydantic reports it
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; give an IANA name such as 'Asia/Hong_Kong'"
            ) from None
        return value


class _Rows:
    """Values parsed from the data rows, in file order."""

    def __init__(self) -> None:
        self.dates: list[date] = []
        self.values: list[float] = []
        self.flags: list[int] = []
        self.lines: list[int] = []
        self.skipped: list[str] = []


@register_reader
class HkoDailyRainfallReader:
    """Reader of the HKO daily total rainfall CSV (``daily_HKO_RF_ALL.csv``)."""

    name: ClassVar[str] = "hko-daily-rainfall"
    contract: ClassVar[str] = "station observations"
    Options: ClassVar[type[ReaderOptions]] = HkoDailyOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the CSV at ``path`` into a station-observation dataset.

        Parameters
        ----------
        path
            The CSV file.
        options
            A :class:`HkoDailyOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            Daily ``pr`` (mm) and ``pr_flag`` on ``(station, time)``.

        Raises
        ------
        SourceError
            If the file is missing or unreadable, its title or header is not the HKO daily
            rainfall one, or a row cannot be parsed (the message names the line and field).
        """
        if not isinstance(options, HkoDailyOptions):
            raise TypeError(f"expected HkoDailyOptions, got {type(options).__name__}")
        location = str(path)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except FileNotFoundError:
            raise SourceError(
                source, location, "file not found", "check the path in the source configuration"
            ) from None
        except (OSError, UnicodeDecodeError) as err:
            raise SourceError(
                source, location, f"cannot be read as UTF-8 text ({err})", "download it again"
            ) from None
        factor = _check_preamble(lines, source, location)
        rows = _parse_rows(lines, source, location)
        for note in rows.skipped:
            _LOG.warning("%s (%s): %s", source, location, note)
        values = np.asarray(rows.values, dtype=np.float64) * factor
        times = _day_ends_utc(rows.dates, options.timezone)
        dataset = _build_dataset(options, times, values, np.asarray(rows.flags, np.int8))
        dataset.attrs.update(
            title=f"Daily total rainfall at {options.station_name}",
            source=f"{path.name}, Hong Kong Observatory Climatological Information Services",
            institution="Hong Kong Observatory",
            references=(
                "DATA.GOV.HK terms and conditions of use: "
                "https://data.gov.hk/en/terms-and-conditions"
            ),
            station_source=options.station_source,
            local_timezone=options.timezone,
            comment=(
                "Only days present in the file are included; the series is not made "
                "continuous. Each value is labelled with the end of its local day in UTC."
            ),
            days_without_rows=_gaps(rows.dates),
            skipped_rows="; ".join(rows.skipped) if rows.skipped else "none",
        )
        return validate_station_obs(dataset)


def _check_preamble(lines: list[str], source: str, location: str) -> float:
    """Check the title and header lines; return the factor from the file's unit to mm."""
    if len(lines) < 4:
        raise SourceError(
            source,
            location,
            f"has {len(lines)} lines; expected two title lines, a header and data rows",
            "download the complete file",
        )
    match = _TITLE.search(lines[1])
    if match is None:
        raise SourceError(
            source,
            location,
            f"line 2: title {lines[1]!r} is not 'Daily Total Rainfall (<unit>) ...'",
            "this reader reads the HKO daily total rainfall CSV only",
        )
    try:
        factor = float(convert(1.0, match.group(1), "mm"))
    except UnitsError as err:
        raise SourceError(
            source, location, f"line 2: rainfall unit {err}", "expected a depth such as 'mm'"
        ) from None
    header = tuple(field.strip() for field in next(csv.reader([lines[2]])))
    if header != _HEADER:
        raise SourceError(
            source,
            location,
            f"line 3: header {','.join(header)!r} is not {','.join(_HEADER)!r}",
            "use the HKO daily CSV as published (two title lines, then the header)",
        )
    return factor


def _parse_rows(lines: list[str], source: str, location: str) -> _Rows:
    """Parse the data rows after the header, stopping at the footer."""
    rows = _Rows()
    in_footer = False
    for number, line in enumerate(lines[3:], start=4):
        text = line.strip()
        if not text or text.startswith(_FOOTER_PREFIXES):
            in_footer = True
            continue
        if in_footer:
            raise SourceError(
                source,
                location,
                f"line {number}: {text!r} follows the footer",
                "remove it, or restore the rows that belong before the footer",
            )
        _parse_row(number, next(csv.reader([text])), rows, source, location)
    if not rows.dates:
        raise SourceError(source, location, "has no data rows", "download the complete file")
    return rows


def _parse_row(number: int, fields: list[str], rows: _Rows, source: str, location: str) -> None:
    """Parse one data row into ``rows``; ``number`` is the line number, for messages."""
    if len(fields) != len(_HEADER):
        raise SourceError(
            source,
            location,
            f"line {number}: {len(fields)} fields in {','.join(fields)!r}, expected 5",
            "repair the row (year,month,day,value,completeness)",
        )
    year_text, month_text, day_text, value_text, completeness = (f.strip() for f in fields)
    parts: list[int] = []
    for label, text in zip(_HEADER[:3], (year_text, month_text, day_text), strict=True):
        if not (text.isascii() and text.isdigit()):
            raise SourceError(
                source,
                location,
                f"line {number}: {label} {text!r} is not a whole number",
                "repair the row's date",
            )
        parts.append(int(text))
    if value_text == _MISSING:
        value, flag = float("nan"), _FLAG_MISSING
    elif value_text == _TRACE:
        value, flag = 0.0, _FLAG_TRACE
    elif _NUMBER.fullmatch(value_text):
        value, flag = float(value_text), _GOOD
    else:
        raise SourceError(
            source,
            location,
            f"line {number}: {_HEADER[3]} {value_text!r} is not a number >= 0, 'Trace' or '***'",
            "repair the value in the source file or download it again",
        )
    if completeness != _COMPLETE and flag != _FLAG_MISSING:
        flag = _TRACE_INCOMPLETE if flag == _FLAG_TRACE else _INCOMPLETE
    try:
        day = date(*parts)
    except ValueError as err:
        if flag != _FLAG_MISSING:
            raise SourceError(
                source,
                location,
                f"line {number}: {year_text}-{month_text}-{day_text} is not a date ({err}) "
                f"but holds the value {value_text!r}",
                "correct the date; the value cannot be placed in time",
            ) from None
        rows.skipped.append(
            f"line {number}: {year_text}-{month_text}-{day_text} is not a calendar date "
            f"({err}); its value is {value_text!r} (unavailable)"
        )
        return
    if rows.dates and day <= rows.dates[-1]:
        raise SourceError(
            source,
            location,
            f"line {number}: {day.isoformat()} does not follow {rows.dates[-1].isoformat()} "
            f"(line {rows.lines[-1]})",
            "rows must be in date order without duplicates; remove the repeated row",
        )
    rows.dates.append(day)
    rows.values.append(value)
    rows.flags.append(flag)
    rows.lines.append(number)


def _gaps(days: list[date]) -> str:
    """Describe the runs of days between the first and last row that have no row."""
    runs = [
        f"{before + _ONE_DAY} to {after - _ONE_DAY} ({(after - before).days - 1} days)"
        for before, after in itertools.pairwise(days)
        if after - before > _ONE_DAY
    ]
    return "; ".join(runs) if runs else "none"


def _day_ends_utc(days: list[date], timezone: str) -> np.ndarray:
    """Return the UTC instants (naive ``datetime64[ns]``) that end each local day."""
    next_midnight = pd.DatetimeIndex(np.asarray(days, dtype="datetime64[D]")) + pd.Timedelta(days=1)
    # A day ends at its next local midnight; where midnight falls in a DST gap, the day ends
    # at the transition (shift_forward); where it repeats, at its first occurrence (DST).
    local = next_midnight.tz_localize(
        ZoneInfo(timezone), ambiguous=np.ones(len(days), dtype=bool), nonexistent="shift_forward"
    )
    ends: np.ndarray = local.tz_convert("UTC").tz_localize(None).as_unit("ns").to_numpy()
    return ends


def _build_dataset(
    options: HkoDailyOptions, times: np.ndarray, values: np.ndarray, flags: np.ndarray
) -> xr.Dataset:
    """Assemble the contract dataset for one station."""
    dims = ("station", "time")
    pr_attrs = {
        "standard_name": "lwe_thickness_of_precipitation_amount",
        "long_name": "daily total rainfall",
        "units": "mm",
        "cell_methods": "time: sum (interval: 1 day)",
        "ancillary_variables": "pr_flag",
        "comment": "'Trace' (less than 0.05 mm) is 0.0 with flag 'trace'",
    }
    flag_attrs = {
        "long_name": "quality flag of pr",
        "standard_name": "status_flag",
        "flag_values": np.arange(len(_FLAG_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(_FLAG_MEANINGS),
    }
    elevation = parse_quantity(options.elevation, "m")
    return xr.Dataset(
        data_vars={
            "pr": (dims, values[np.newaxis, :], pr_attrs),
            "pr_flag": (dims, flags[np.newaxis, :], flag_attrs),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": "end of local day"}),
            "station_id": ("station", [options.station_id]),
            "station_name": ("station", [options.station_name]),
            "lat": ("station", [options.lat], {"units": "degrees_north"}),
            "lon": ("station", [options.lon], {"units": "degrees_east"}),
            "elevation": ("station", [elevation], {"units": "m", "long_name": "station height"}),
        },
    )
