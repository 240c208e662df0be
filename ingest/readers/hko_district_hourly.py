"""Hong Kong Observatory hourly district rainfall, as polled → station observations.

Source
    ``obs/hko/hko_district_hourly_rainfall_202507.csv`` (SOURCES.md §4.1b, DERIVED): the
    "rainfall recorded in various regions" part of HKO's current-weather bulletin, polled
    about once an hour (1-31 July 2025), published by the Hong Kong Observatory under the
    DATA.GOV.HK terms.

Format
    Header ``snapshot,report_time,district,rain_lo_mm,rain_hi_mm``, then one row per district
    listed in one poll, e.g. ``20250729-1001,2025-07-29 09:00:00,Eastern District,62,94``:

    ``snapshot``
        when the bulletin was polled, ``YYYYmmdd-HHMM`` in HKT;
    ``report_time``
        end of the one-hour window the rainfall covers, ``YYYY-mm-dd HH:MM:SS`` in HKT;
    ``district``
        one of the 18 districts of Hong Kong, or empty: a row ``<snapshot>,<time>,,0,0``
        says the bulletin listed no rain anywhere that hour;
    ``rain_lo_mm``, ``rain_hi_mm``
        the lowest and highest past-hour rainfall (mm) among the district's gauges.

    The file carries no zone: its times are HKT (SOURCES.md, "Time zones"); ``utc_offset``
    (default ``+08:00``) converts them to UTC.

Output (contract "station observations")
    One station per district, ``station_id = "district:<name>"`` (``station_kind`` =
    ``district``), with NaN ``lat``/``lon``/``elevation`` (the bulletin gives none; they are
    listed in ``stations_without_coordinates``). On ``(station, time)``:

    ``pr``
        the *highest* gauge in the district (``rain_hi_mm``), mm in the hour ending at
        ``time``, ``cell_methods = "time: sum (interval: 1 hour)"``;
    ``pr_district_min``
        the lowest gauge (``rain_lo_mm``);
    ``pr_flag``
        0 ``good`` (listed, or the hour's "no rain anywhere" row: 0.0), 1 ``missing`` (no
        poll reported this hour: NaN), 2 ``not_listed`` (the poll listed other districts but
        not this one: 0.0, see below), 3 ``rejected`` (this district's row in the kept poll
        was malformed, or the poll had a malformed row that may have been it: NaN).

    ``time`` is hourly and continuous from the first to the last reported hour (UTC, window
    end). The coordinate ``available_at`` (on ``time``) is the UTC poll time of the poll kept
    for that hour (NaT for missing hours): the data cannot have been used before it.

"No rain" versus "not polled"
    The bulletin lists only districts where rain was recorded. So, for an hour that some
    poll reported: a district listed gets its values; a district not listed gets 0.0 with
    flag ``not_listed``; the empty-district row gets 0.0 everywhere with flag ``good``. An
    hour that no poll reported (the feed was not polled, or only a stale copy came back) is
    *missing*: NaN, flag ``missing``, never zero. In July 2025 the hours ending 2025-07-06
    01:00 and 2025-07-07 00:00 HKT are missing this way (attribute ``missing_hours``).

Repeated polls
    When several polls report the same hour, the latest poll (by ``snapshot``) is kept
    whole; every district whose value differs between the kept poll and an earlier one is
    a conflict, counted in ``poll_conflicts`` and listed in ``conflicting_polls``. Rows
    repeated identically within one poll are counted in ``duplicate_rows`` and used once.

Bad rows
    A row that cannot be parsed (wrong field count, a time or number that does not parse,
    ``rain_lo_mm > rain_hi_mm``, a negative amount, an unknown district, an empty district
    with rain, a window end not on the hour, a report time after the poll or more than
    ``max_report_age`` before it, the same district twice in one poll with different values)
    is not used and is listed, with its line number and the field at fault, in the
    attribute ``rejected_rows`` (and logged). Since it may have held a district's rain, the
    districts it could concern in the poll it came from get NaN with flag ``rejected``
    instead of an inferred zero. A wrong header, or a file without a usable row, raises
    :class:`~ingest.errors.SourceError`.

    In the July 2025 file one row is rejected this way: line 349,
    ``20250707-0102,2025-07-06 01:00:00,,0,0``, whose report time is a day before its poll
    (a date slip of the bulletin or its transcription near midnight).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import xarray as xr
from pydantic import Field, field_validator

from ingest.contracts import validate_station_obs
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.readers._csv import read_csv_rows
from ingest.units import parse_quantity

__all__ = ["HK_DISTRICTS", "HkoDistrictHourlyOptions", "HkoDistrictHourlyReader"]

_LOG = logging.getLogger(__name__)

#: The 18 districts of Hong Kong as HKO's bulletin spells them.
HK_DISTRICTS: tuple[str, ...] = (
    "Central & Western District",
    "Eastern District",
    "Islands District",
    "Kowloon City",
    "Kwai Tsing",
    "Kwun Tong",
    "North District",
    "Sai Kung",
    "Sha Tin",
    "Sham Shui Po",
    "Southern District",
    "Tai Po",
    "Tsuen Wan",
    "Tuen Mun",
    "Wan Chai",
    "Wong Tai Sin",
    "Yau Tsim Mong",
    "Yuen Long",
)

_HEADER = ("snapshot", "report_time", "district", "rain_lo_mm", "rain_hi_mm")
_PREFIX = "district:"
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?")
_FLAG_MEANINGS = ("good", "missing", "not_listed", "rejected")
_GOOD, _MISSING, _NOT_LISTED, _REJECTED = range(len(_FLAG_MEANINGS))


class HkoDistrictHourlyOptions(ReaderOptions):
    """Options of :class:`HkoDistrictHourlyReader`.

    Parameters
    ----------
    utc_offset
        UTC offset of the file's naive times, default ``"+08:00"`` (HKT).
    districts
        The districts that become stations (and get 0.0 when a poll does not list them);
        default the 18 districts of Hong Kong, :data:`HK_DISTRICTS`.
    max_report_age
        A row whose window end lies more than this before its poll is stale and rejected,
        default ``"3 hour"`` (the feed's normal lag is 61-62 minutes).
    future_tolerance
        How far after its poll a window end may lie (clock skew), default ``"2 min"``.
    """

    utc_offset: str = "+08:00"
    districts: tuple[str, ...] = Field(default=HK_DISTRICTS, min_length=1)
    max_report_age: str = "3 hour"
    future_tolerance: str = "2 min"

    @field_validator("utc_offset")
    @classmethod
    def _offset_is_hh_mm(cls, value: str) -> str:
        if not _OFFSET.match(value):
            raise ValueError(f"{value!r} is not an offset like '+08:00'")
        return value

    @field_validator("max_report_age", "future_tolerance")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        if parse_quantity(value, "s") < 0:
            raise ValueError(f"{value!r} is negative; give a duration >= 0 such as '3 hour'")
        return value


@dataclass(frozen=True)
class _Row:
    line: int
    snapshot: datetime
    report_time: datetime
    district: str  # "" = the "no rain anywhere" row
    low: float
    high: float


@dataclass
class _Parsed:
    rows: list[_Row] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # (report_time or None, snapshot or None, district or None = any unlisted district)
    taints: list[tuple[datetime | None, datetime | None, str | None]] = field(default_factory=list)
    duplicates: int = 0


def _offset(text: str) -> timedelta:
    match = _OFFSET.match(text)
    assert match is not None  # validated by the options
    sign = -1 if match.group(1) == "-" else 1
    return sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))


def _parse_time(text: str, pattern: str) -> datetime | None:
    try:
        return datetime.strptime(text, pattern)
    except ValueError:
        return None


def _parse_rows(lines: list[list[str]], options: HkoDistrictHourlyOptions) -> _Parsed:
    """Parse and check every data row; bad rows are listed and taint their poll."""
    parsed = _Parsed()
    known = set(options.districts)
    max_age = timedelta(seconds=float(parse_quantity(options.max_report_age, "s")))
    tolerance = timedelta(seconds=float(parse_quantity(options.future_tolerance, "s")))
    seen: dict[tuple[datetime, datetime, str], _Row] = {}
    for number, fields in enumerate(lines, start=2):
        if not fields or not "".join(fields).strip():
            continue
        snapshot = _parse_time(fields[0].strip(), "%Y%m%d-%H%M") if fields else None
        report = _parse_time(fields[1].strip(), "%Y-%m-%d %H:%M:%S") if len(fields) > 1 else None
        district = fields[2].strip() if len(fields) > 2 else None
        taint_district = district if district in known else None

        def reject(
            problem: str,
            fix: str,
            report: datetime | None = report,
            snapshot: datetime | None = snapshot,
            district: str | None = taint_district,
            number: int = number,
        ) -> None:
            parsed.rejected.append(f"line {number}: {problem}; {fix}")
            if report is not None or snapshot is not None:
                parsed.taints.append((report, snapshot, district))

        if len(fields) != len(_HEADER):
            reject(
                f"{len(fields)} fields in {','.join(fields)!r}, expected {len(_HEADER)}",
                "repair the row (snapshot,report_time,district,rain_lo_mm,rain_hi_mm)",
            )
            continue
        if snapshot is None:
            reject(f"snapshot {fields[0]!r} is not YYYYmmdd-HHMM", "repair the poll time")
            continue
        if report is None:
            reject(
                f"report_time {fields[1]!r} is not 'YYYY-mm-dd HH:MM:SS'",
                "repair the window end",
            )
            continue
        if report.minute or report.second:
            reject(f"report_time {fields[1]!r} is not on the hour", "repair the window end")
            continue
        if report > snapshot + tolerance:
            reject(
                f"report_time {fields[1]!r} is after the poll {fields[0]!r}",
                "the data cannot have been received before they were observed; repair the row",
            )
            continue
        if report < snapshot - max_age:
            reject(
                f"report_time {fields[1]!r} is more than {options.max_report_age} before "
                f"the poll {fields[0]!r} (stale or misdated report)",
                "repair the date, or raise max_report_age if the feed really lags",
            )
            continue
        amounts: list[float] = []
        for label, text in zip(_HEADER[3:], (fields[3].strip(), fields[4].strip()), strict=True):
            if not _NUMBER.fullmatch(text):
                reject(f"{label} {text!r} is not a number >= 0", "repair the amount")
                break
            amounts.append(float(text))
        if len(amounts) != 2:
            continue
        low, high = amounts
        if low > high:
            reject(f"rain_lo_mm {low:g} > rain_hi_mm {high:g}", "swap or repair the amounts")
            continue
        if district == "":
            if high > 0:
                reject(
                    f"no district but rain_hi_mm {high:g}",
                    "an empty district means no rain anywhere (0,0); name the district",
                )
                continue
        elif district not in known:
            reject(
                f"district {district!r} is not one of the configured districts",
                "correct the spelling, or add it to the reader option 'districts'",
            )
            continue
        row = _Row(number, snapshot, report, district or "", low, high)
        key = (report, snapshot, row.district)
        if key in seen:
            earlier = seen[key]
            if (earlier.low, earlier.high) == (low, high):
                parsed.duplicates += 1
                continue
            reject(
                f"district {district!r} appears again in poll {fields[0]!r} with "
                f"{low:g}-{high:g} mm (line {earlier.line}: {earlier.low:g}-{earlier.high:g})",
                "keep one row per district and poll",
            )
            continue
        seen[key] = row
        parsed.rows.append(row)
    # A repeated district with two different values: neither row can be trusted.
    bad = {(r, s, d) for r, s, d in parsed.taints if r and s and d}
    parsed.rows = [r for r in parsed.rows if (r.report_time, r.snapshot, r.district) not in bad]
    return parsed


@dataclass
class _Hour:
    poll: datetime
    high: dict[str, float]
    low: dict[str, float]
    flag: dict[str, int]


def _hours(
    parsed: _Parsed, districts: tuple[str, ...]
) -> tuple[dict[datetime, _Hour], list[str], int]:
    """Build each reported hour from its latest poll; return hours, conflicts, polls."""
    polls: dict[datetime, dict[datetime, list[_Row]]] = {}
    for row in parsed.rows:
        polls.setdefault(row.report_time, {}).setdefault(row.snapshot, []).append(row)
    hours: dict[datetime, _Hour] = {}
    conflicts: list[str] = []
    for report, by_poll in polls.items():
        built = {
            poll: _build_hour(report, poll, rows, parsed, districts)
            for poll, rows in by_poll.items()
        }
        latest = max(built)
        kept = built[latest]
        for poll in sorted(built):
            if poll == latest:
                continue
            for name in districts:
                old, new = built[poll].high[name], kept.high[name]
                if not (old == new or (np.isnan(old) and np.isnan(new))):
                    conflicts.append(
                        f"{report:%Y-%m-%d %H:%M} {name}: poll {poll:%Y%m%d-%H%M} "
                        f"{old:g} mm, kept poll {latest:%Y%m%d-%H%M} {new:g} mm"
                    )
        hours[report] = kept
    return hours, conflicts, sum(len(p) for p in polls.values())


def _build_hour(
    report: datetime,
    poll: datetime,
    rows: list[_Row],
    parsed: _Parsed,
    districts: tuple[str, ...],
) -> _Hour:
    """One poll's values for one hour, with zeros for unlisted districts."""
    high = dict.fromkeys(districts, 0.0)
    low = dict.fromkeys(districts, 0.0)
    flag = dict.fromkeys(districts, _NOT_LISTED)
    listed = [r for r in rows if r.district]
    if len(listed) < len(rows) and listed:
        # The "no rain anywhere" row next to districts with rain: the listed rows stand,
        # the unlisted districts cannot be inferred to be dry.
        parsed.rejected.append(
            f"line {min(r.line for r in rows if not r.district)}: poll {poll:%Y%m%d-%H%M} says "
            "no rain anywhere but lists districts with rain; repair the poll"
        )
        parsed.taints.append((report, poll, None))
    if not listed:
        flag = dict.fromkeys(districts, _GOOD)
    for row in listed:
        high[row.district], low[row.district], flag[row.district] = row.high, row.low, _GOOD
    for taint_report, taint_poll, name in parsed.taints:
        if taint_report not in (None, report) or taint_poll not in (None, poll):
            continue
        targets = [name] if name is not None else [d for d in districts if flag[d] != _GOOD]
        if name is None and not listed:
            targets = list(districts)
        for target in targets:
            high[target], low[target], flag[target] = np.nan, np.nan, _REJECTED
    return _Hour(poll, high, low, flag)


@register_reader
class HkoDistrictHourlyReader:
    """Reader of the polled HKO hourly district rainfall CSV (SOURCES.md §4.1b)."""

    name: ClassVar[str] = "hko-district-hourly"
    contract: ClassVar[str] = "station observations"
    Options: ClassVar[type[ReaderOptions]] = HkoDistrictHourlyOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the CSV at ``path`` into a station-observation dataset, one station a district.

        Parameters
        ----------
        path
            The CSV file.
        options
            A :class:`HkoDistrictHourlyOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            ``pr``, ``pr_district_min`` and ``pr_flag`` on ``(station, time)`` with the
            coordinate ``available_at`` on ``time``; attributes ``rejected_rows``,
            ``missing_hours``, ``poll_conflicts``, ``conflicting_polls``,
            ``duplicate_rows``, ``polls_read``, ``stations_without_coordinates``.

        Raises
        ------
        SourceError
            If the file is missing or unreadable, its header is not the expected one, or it
            has no usable row.
        """
        if not isinstance(options, HkoDistrictHourlyOptions):
            raise TypeError(f"expected HkoDistrictHourlyOptions, got {type(options).__name__}")
        location = str(path)
        rows = read_csv_rows(
            Path(path), source, _HEADER, "the polled HKO district rainfall CSV (SOURCES.md §4.1b)"
        )
        parsed = _parse_rows(rows, options)
        if not parsed.rows:
            raise SourceError(
                source,
                location,
                f"has no usable data row ({len(parsed.rejected)} rejected)",
                "check the file; rejected rows: " + "; ".join(parsed.rejected[:5]),
            )
        hours, conflicts, polls = _hours(parsed, options.districts)
        for note in parsed.rejected:
            _LOG.warning("%s (%s): row rejected: %s", source, location, note)
        dataset = _build_dataset(hours, options)
        missing = [
            f"{t:%Y-%m-%d %H:%M} HKT" for t in _hourly(min(hours), max(hours)) if t not in hours
        ]
        dataset.attrs.update(
            title="Hong Kong Observatory past-hour rainfall per district, polled hourly",
            institution="Hong Kong Observatory",
            source=f"{Path(path).name} (HKO current weather bulletin, polled)",
            references="DATA.GOV.HK terms: https://data.gov.hk/en/terms-and-conditions",
            local_utc_offset=options.utc_offset,
            polls_read=polls,
            missing_hours="; ".join(missing) if missing else "none",
            rejected_rows="; ".join(parsed.rejected) if parsed.rejected else "none",
            poll_conflicts=len(conflicts),
            conflicting_polls="; ".join(conflicts) if conflicts else "none",
            duplicate_rows=parsed.duplicates,
            stations_without_coordinates="; ".join(_PREFIX + name for name in options.districts),
            comment=(
                "Districts not listed in a poll had no rain recorded (0.0, flag not_listed); "
                "hours without a poll are NaN (flag missing). pr is the highest gauge in the "
                "district, pr_district_min the lowest."
            ),
        )
        return validate_station_obs(dataset)


def _hourly(first: datetime, last: datetime) -> list[datetime]:
    count = int((last - first) / timedelta(hours=1)) + 1
    return [first + timedelta(hours=i) for i in range(count)]


def _build_dataset(hours: dict[datetime, _Hour], options: HkoDistrictHourlyOptions) -> xr.Dataset:
    """Assemble the continuous hourly dataset (times converted to UTC)."""
    offset = _offset(options.utc_offset)
    local_times = _hourly(min(hours), max(hours))
    districts = options.districts
    shape = (len(districts), len(local_times))
    high = np.full(shape, np.nan)
    low = np.full(shape, np.nan)
    flags = np.full(shape, _MISSING, dtype=np.int8)
    available = np.full(len(local_times), np.datetime64("NaT", "ns"))
    for j, when in enumerate(local_times):
        hour = hours.get(when)
        if hour is None:
            continue
        available[j] = np.datetime64(hour.poll - offset, "ns")
        for i, name in enumerate(districts):
            high[i, j], low[i, j], flags[i, j] = hour.high[name], hour.low[name], hour.flag[name]
    times = np.asarray([t - offset for t in local_times], dtype="datetime64[ns]")
    dims = ("station", "time")
    amount = {
        "standard_name": "lwe_thickness_of_precipitation_amount",
        "units": "mm",
        "cell_methods": "time: sum (interval: 1 hour)",
        "ancillary_variables": "pr_flag",
    }
    n = len(districts)
    return xr.Dataset(
        data_vars={
            "pr": (dims, high, dict(amount, long_name="past-hour rainfall, highest gauge")),
            "pr_district_min": (
                dims,
                low,
                dict(amount, long_name="past-hour rainfall, lowest gauge"),
            ),
            "pr_flag": (
                dims,
                flags,
                {
                    "long_name": "quality flag of pr and pr_district_min",
                    "standard_name": "status_flag",
                    "flag_values": np.arange(len(_FLAG_MEANINGS), dtype=np.int8),
                    "flag_meanings": " ".join(_FLAG_MEANINGS),
                },
            ),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": "end of the hour"}),
            "available_at": (
                "time",
                available,
                {"long_name": "time the kept poll was received (UTC); NaT: no poll"},
            ),
            "station_id": ("station", np.asarray([_PREFIX + d for d in districts], dtype=object)),
            "station_name": ("station", np.asarray(list(districts), dtype=object)),
            "station_kind": ("station", np.asarray(["district"] * n, dtype=object)),
            "lat": ("station", np.full(n, np.nan), {"units": "degrees_north"}),
            "lon": ("station", np.full(n, np.nan), {"units": "degrees_east"}),
            "elevation": ("station", np.full(n, np.nan), {"units": "m"}),
        },
    )
